package surge

import (
	"crypto/rand"
	"encoding/base64"
	"time"

	"github.com/waitroom/waitroom/token"
)

// passSigner mints admission passes for direct-mode visitors, the way the
// gateway would, so that a direct run exercises the origin's real order path
// (pass check, one order per admission, locked decrement) rather than its
// 401.
type passSigner struct{ s *token.Signer }

func newPassSigner(c Config) (*passSigner, error) {
	switch {
	case len(c.PassKeyPEM) > 0:
		k, err := token.ParseEd25519PrivateKeyPEM(c.PassKeyPEM)
		if err != nil {
			return nil, err
		}
		s, err := token.NewEd25519Signer(k)
		if err != nil {
			return nil, err
		}
		return &passSigner{s: s}, nil
	case len(c.PassSecret) > 0:
		s, err := token.NewHS256Signer(c.PassSecret)
		if err != nil {
			return nil, err
		}
		return &passSigner{s: s}, nil
	}
	return nil, nil
}

// sign returns a pass for visitor in room, valid for ten minutes, of an
// admission session of its own (each direct-mode visitor is one admission).
func (s *passSigner) sign(visitor, room string, now time.Time) (string, error) {
	var sid [16]byte
	_, _ = rand.Read(sid[:])
	tok, _, err := s.s.Sign(now, visitor, room, base64.RawURLEncoding.EncodeToString(sid[:]), 10*time.Minute)
	return tok, err
}
