package token

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"strings"
	"time"
)

// Verifier checks passes. It accepts exactly one algorithm, fixed when it is
// built: NewEd25519Verifier and NewJWKSVerifier accept only EdDSA,
// NewHS256Verifier only HS256. It is safe for concurrent use.
type Verifier struct {
	alg    string
	keys   map[string]ed25519.PublicKey // static EdDSA keys by kid
	secret []byte
	jwks   *JWKSClient
}

// NewEd25519Verifier returns a Verifier of EdDSA passes signed by any of keys.
// A pass is matched to a key by its kid (the key's KeyID); a pass without a
// kid is tried against every key.
func NewEd25519Verifier(keys ...ed25519.PublicKey) *Verifier {
	m := make(map[string]ed25519.PublicKey, len(keys))
	for _, k := range keys {
		m[KeyID(k)] = append(ed25519.PublicKey(nil), k...)
	}
	return &Verifier{alg: algEdDSA, keys: m}
}

// NewHS256Verifier returns a Verifier of HS256 passes made with secret, which
// must be at least MinSecretBytes long. The secret is copied.
func NewHS256Verifier(secret []byte) (*Verifier, error) {
	if len(secret) < MinSecretBytes {
		return nil, fmt.Errorf("token: HS256 secret is %d bytes, want at least %d", len(secret), MinSecretBytes)
	}
	return &Verifier{alg: algHS256, secret: bytes.Clone(secret)}, nil
}

// NewJWKSVerifier returns a Verifier of EdDSA passes whose keys come from c.
func NewJWKSVerifier(c *JWKSClient) *Verifier {
	return &Verifier{alg: algEdDSA, jwks: c}
}

// Algorithm returns "EdDSA" or "HS256": the only alg this Verifier accepts.
func (v *Verifier) Algorithm() string { return v.alg }

// Verify checks tok at the current time; see VerifyAt.
func (v *Verifier) Verify(tok string, room string) (Claims, error) {
	return v.VerifyAt(time.Now(), tok, room)
}

// VerifyAt checks tok as of now and returns its claims. room is the room the
// request is for; "" accepts a pass for any room (the pass must still name
// one).
//
// The checks run in this order, and the first failure is returned: shape and
// size (ErrMalformed), header alg (ErrAlgorithm), key (ErrUnknownKey),
// signature (ErrSignature), claims syntax (ErrMalformed), iss (ErrIssuer),
// exp (ErrExpired), nbf (ErrNotYetValid), aud (ErrWrongRoom). Nothing in the
// payload is trusted before the signature is checked.
func (v *Verifier) VerifyAt(now time.Time, tok string, room string) (Claims, error) {
	if len(tok) > MaxTokenBytes {
		return Claims{}, refuse(ErrMalformed, "%d bytes, limit %d", len(tok), MaxTokenBytes)
	}
	h, p, ok := strings.Cut(tok, ".")
	if !ok {
		return Claims{}, refuse(ErrMalformed, "not a compact JWS")
	}
	p, s, ok := strings.Cut(p, ".")
	if !ok || strings.IndexByte(s, '.') >= 0 {
		return Claims{}, refuse(ErrMalformed, "not a compact JWS")
	}
	hdr, err := decodeHeader(h)
	if err != nil {
		return Claims{}, err
	}
	if hdr.Alg != v.alg {
		return Claims{}, refuse(ErrAlgorithm, "alg %q, want %q", hdr.Alg, v.alg)
	}
	sig, err := b64.DecodeString(s)
	if err != nil {
		return Claims{}, refuse(ErrMalformed, "signature: %v", err)
	}
	input := tok[:len(h)+1+len(p)]
	if err := v.checkSignature(hdr.Kid, input, sig); err != nil {
		return Claims{}, err
	}
	return checkClaims(now, p, room)
}

type header struct {
	Alg  string          `json:"alg"`
	Kid  string          `json:"kid"`
	Crit json.RawMessage `json:"crit"`
}

func decodeHeader(seg string) (header, error) {
	raw, err := b64.DecodeString(seg)
	if err != nil {
		return header{}, refuse(ErrMalformed, "header: %v", err)
	}
	var h header
	if err := json.Unmarshal(raw, &h); err != nil {
		return header{}, refuse(ErrMalformed, "header: %v", err)
	}
	// RFC 7515 §4.1.11: extensions we do not understand must be refused.
	if h.Crit != nil {
		return header{}, refuse(ErrMalformed, "header: crit extensions not supported")
	}
	return h, nil
}

func (v *Verifier) checkSignature(kid, input string, sig []byte) error {
	if v.alg == algHS256 {
		m := hmac.New(sha256.New, v.secret)
		m.Write([]byte(input))
		if !hmac.Equal(m.Sum(nil), sig) {
			return refuse(ErrSignature, "HS256 mismatch")
		}
		return nil
	}
	if len(sig) != ed25519.SignatureSize {
		return refuse(ErrSignature, "EdDSA signature is %d bytes", len(sig))
	}
	if v.jwks != nil {
		key, err := v.jwks.Key(context.Background(), kid)
		if err != nil {
			return err
		}
		if !ed25519.Verify(key, []byte(input), sig) {
			return refuse(ErrSignature, "EdDSA mismatch (kid %q)", kid)
		}
		return nil
	}
	if kid == "" {
		for _, key := range v.keys {
			if ed25519.Verify(key, []byte(input), sig) {
				return nil
			}
		}
		return refuse(ErrSignature, "EdDSA mismatch (no kid)")
	}
	key, ok := v.keys[kid]
	if !ok {
		return refuse(ErrUnknownKey, "kid %q", kid)
	}
	if !ed25519.Verify(key, []byte(input), sig) {
		return refuse(ErrSignature, "EdDSA mismatch (kid %q)", kid)
	}
	return nil
}

func checkClaims(now time.Time, seg string, room string) (Claims, error) {
	raw, err := b64.DecodeString(seg)
	if err != nil {
		return Claims{}, refuse(ErrMalformed, "payload: %v", err)
	}
	var wc wireClaims
	if err := json.Unmarshal(raw, &wc); err != nil {
		return Claims{}, refuse(ErrMalformed, "payload: %v", err)
	}
	switch {
	case wc.Sub == "":
		return Claims{}, refuse(ErrMalformed, "no sub")
	case wc.Aud == "":
		return Claims{}, refuse(ErrMalformed, "no aud")
	case wc.Jti == "":
		return Claims{}, refuse(ErrMalformed, "no jti")
	case wc.Exp == nil:
		return Claims{}, refuse(ErrMalformed, "no exp")
	}
	c := Claims{
		Visitor: wc.Sub, Room: string(wc.Aud), ID: wc.Jti,
		IssuedAt: wc.Iat.time(), NotBefore: wc.Nbf.time(), ExpiresAt: wc.Exp.time(),
	}
	if wc.Iss != Issuer {
		return Claims{}, refuse(ErrIssuer, "iss %q", wc.Iss)
	}
	if now.After(c.ExpiresAt.Add(Leeway)) {
		return Claims{}, refuse(ErrExpired, "expired at %s", c.ExpiresAt.UTC().Format(time.RFC3339))
	}
	if wc.Nbf != nil && now.Add(Leeway).Before(c.NotBefore) {
		return Claims{}, refuse(ErrNotYetValid, "valid from %s", c.NotBefore.UTC().Format(time.RFC3339))
	}
	if room != "" && c.Room != room {
		return Claims{}, refuse(ErrWrongRoom, "pass for room %q, request for %q", c.Room, room)
	}
	return c, nil
}
