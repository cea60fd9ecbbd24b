package token

import (
	"crypto/ed25519"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/pem"
	"errors"
	"fmt"
)

// GenerateEd25519 returns a new random Ed25519 private key.
func GenerateEd25519() (ed25519.PrivateKey, error) {
	_, priv, err := ed25519.GenerateKey(rand.Reader)
	return priv, err
}

// ParseEd25519PrivateKeyPEM reads an Ed25519 private key from a PEM block
// "PRIVATE KEY" holding PKCS#8 (what `openssl genpkey -algorithm ed25519`
// writes).
func ParseEd25519PrivateKeyPEM(data []byte) (ed25519.PrivateKey, error) {
	der, err := pemBlock(data, "PRIVATE KEY")
	if err != nil {
		return nil, err
	}
	k, err := x509.ParsePKCS8PrivateKey(der)
	if err != nil {
		return nil, fmt.Errorf("parse PKCS#8 private key: %w", err)
	}
	priv, ok := k.(ed25519.PrivateKey)
	if !ok {
		return nil, fmt.Errorf("private key is %T, want Ed25519", k)
	}
	return priv, nil
}

// ParseEd25519PublicKeyPEM reads an Ed25519 public key from a PEM block
// "PUBLIC KEY" holding PKIX (what `openssl pkey -pubout` writes).
func ParseEd25519PublicKeyPEM(data []byte) (ed25519.PublicKey, error) {
	der, err := pemBlock(data, "PUBLIC KEY")
	if err != nil {
		return nil, err
	}
	k, err := x509.ParsePKIXPublicKey(der)
	if err != nil {
		return nil, fmt.Errorf("parse PKIX public key: %w", err)
	}
	pub, ok := k.(ed25519.PublicKey)
	if !ok {
		return nil, fmt.Errorf("public key is %T, want Ed25519", k)
	}
	return pub, nil
}

// MarshalEd25519PrivateKeyPEM writes priv as a PKCS#8 "PRIVATE KEY" PEM block.
func MarshalEd25519PrivateKeyPEM(priv ed25519.PrivateKey) ([]byte, error) {
	der, err := x509.MarshalPKCS8PrivateKey(priv)
	if err != nil {
		return nil, err
	}
	return pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}), nil
}

// MarshalEd25519PublicKeyPEM writes pub as a PKIX "PUBLIC KEY" PEM block.
func MarshalEd25519PublicKeyPEM(pub ed25519.PublicKey) ([]byte, error) {
	der, err := x509.MarshalPKIXPublicKey(pub)
	if err != nil {
		return nil, err
	}
	return pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der}), nil
}

func pemBlock(data []byte, want string) ([]byte, error) {
	block, _ := pem.Decode(data)
	if block == nil {
		return nil, errors.New("no PEM block found")
	}
	if block.Type != want {
		return nil, fmt.Errorf("PEM block is %q, want %q", block.Type, want)
	}
	return block.Bytes, nil
}

// KeyID returns the RFC 7638 JWK thumbprint of pub: base64url(SHA-256 of
// {"crv":"Ed25519","kty":"OKP","x":"…"}). It is the kid of every pass the
// key signs, so the same key has the same id on every gateway instance.
func KeyID(pub ed25519.PublicKey) string {
	// Members in lexicographic order, no whitespace, as RFC 7638 §3 requires.
	canon := `{"crv":"Ed25519","kty":"OKP","x":"` + b64.EncodeToString(pub) + `"}`
	sum := sha256.Sum256([]byte(canon))
	return b64.EncodeToString(sum[:])
}

// b64 is the unpadded base64url of JOSE; Strict refuses non-canonical
// trailing bits, so one pass has exactly one spelling.
var b64 = base64.RawURLEncoding.Strict()
