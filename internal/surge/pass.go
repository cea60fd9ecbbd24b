package surge

import (
	"crypto/ed25519"
	"crypto/rand"
	"crypto/x509"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// passSigner mints admission passes for direct-mode visitors, the way the
// gateway would, so that a direct run exercises the origin's real order path
// (pass check, locked decrement) rather than its 401.
type passSigner struct {
	method jwt.SigningMethod
	key    any
}

func newPassSigner(c Config) (*passSigner, error) {
	switch {
	case len(c.PassKeyPEM) > 0:
		k, err := parsePassKey(c.PassKeyPEM)
		if err != nil {
			return nil, err
		}
		return &passSigner{method: jwt.SigningMethodEdDSA, key: k}, nil
	case len(c.PassSecret) > 0:
		return &passSigner{method: jwt.SigningMethodHS256, key: c.PassSecret}, nil
	}
	return nil, nil
}

// sign returns a pass for visitor in room, valid for ten minutes.
func (s *passSigner) sign(visitor, room string, now time.Time) (string, error) {
	jti := make([]byte, 16)
	_, _ = rand.Read(jti)
	claims := jwt.RegisteredClaims{
		Issuer:    "waitroom",
		Subject:   visitor,
		Audience:  jwt.ClaimStrings{room},
		IssuedAt:  jwt.NewNumericDate(now),
		NotBefore: jwt.NewNumericDate(now),
		ExpiresAt: jwt.NewNumericDate(now.Add(10 * time.Minute)),
		ID:        hex.EncodeToString(jti),
	}
	return jwt.NewWithClaims(s.method, claims).SignedString(s.key)
}

// parsePassKey reads an Ed25519 private key (PEM, PKCS#8).
func parsePassKey(b []byte) (ed25519.PrivateKey, error) {
	blk, _ := pem.Decode(b)
	if blk == nil {
		return nil, errors.New("not a PEM file")
	}
	k, err := x509.ParsePKCS8PrivateKey(blk.Bytes)
	if err != nil {
		return nil, err
	}
	ek, ok := k.(ed25519.PrivateKey)
	if !ok {
		return nil, errors.New("not an Ed25519 private key")
	}
	return ek, nil
}
