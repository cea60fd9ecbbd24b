package token

import (
	"crypto/ed25519"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// algEdDSA is the alg of EdDSA passes and of the keys in a JWK Set.
const algEdDSA = "EdDSA"

// MinSecretBytes is the shortest HS256 secret accepted (RFC 7518 §3.2: a key
// at least as long as the hash output).
const MinSecretBytes = 32

// Signer makes passes. Build it with NewEd25519Signer or NewHS256Signer; it
// is safe for concurrent use and never changes after construction.
type Signer struct {
	method jwt.SigningMethod // jwt.SigningMethodEdDSA or jwt.SigningMethodHS256
	kid    string            // EdDSA: KeyID of the signing key
	key    any               // ed25519.PrivateKey or the HS256 secret
	jwks   []byte
	verify *Verifier
}

// NewEd25519Signer returns a Signer that signs with EdDSA using the last key
// given (the newest) and whose JWK Set and Verifier include every key, so
// passes made with an older key stay valid until they expire. It needs at
// least one key, each of ed25519.PrivateKeySize bytes.
func NewEd25519Signer(keys ...ed25519.PrivateKey) (*Signer, error) {
	if len(keys) == 0 {
		return nil, errors.New("token: NewEd25519Signer needs at least one key")
	}
	pubs := make([]ed25519.PublicKey, len(keys))
	for i, k := range keys {
		if len(k) != ed25519.PrivateKeySize {
			return nil, fmt.Errorf("token: key %d is %d bytes, want an Ed25519 private key (%d)", i+1, len(k), ed25519.PrivateKeySize)
		}
		pubs[i] = k.Public().(ed25519.PublicKey)
	}
	return &Signer{
		method: jwt.SigningMethodEdDSA,
		kid:    KeyID(pubs[len(pubs)-1]),
		key:    keys[len(keys)-1],
		jwks:   marshalJWKS(pubs),
		verify: NewEd25519Verifier(pubs...),
	}, nil
}

// NewHS256Signer returns a Signer that signs with HMAC-SHA256. The secret must
// be at least MinSecretBytes long. The secret is copied.
func NewHS256Signer(secret []byte) (*Signer, error) {
	v, err := NewHS256Verifier(secret)
	if err != nil {
		return nil, err
	}
	return &Signer{
		method: jwt.SigningMethodHS256,
		key:    v.secret,
		jwks:   []byte(`{"keys":[]}`),
		verify: v,
	}, nil
}

// Algorithm returns "EdDSA" or "HS256".
func (s *Signer) Algorithm() string { return s.method.Alg() }

// Sign makes a pass for visitor in room, belonging to the admission session
// session (the sid claim), valid from now for ttl. It returns the compact
// token and the claims it holds (times rounded down to the second, as they
// travel). Each call makes a new jti; the session stays what the caller
// gives, so every pass of one admission carries the same sid.
func (s *Signer) Sign(now time.Time, visitor, room, session string, ttl time.Duration) (string, Claims, error) {
	return s.SignClaims(now, Claims{Visitor: visitor, Room: room, Session: session, ExpiresAt: now.Add(ttl)})
}

// SignClaims is Sign with the claims given as Claims: Visitor, Room,
// Session, ExpiresAt and, optionally, Network (a pass bound to the client
// network it was issued to). IssuedAt and NotBefore are now; ID is made.
func (s *Signer) SignClaims(now time.Time, c Claims) (string, Claims, error) {
	visitor, room, session, ttl := c.Visitor, c.Room, c.Session, c.ExpiresAt.Sub(now)
	switch {
	case visitor == "":
		return "", Claims{}, errors.New("token: empty visitor")
	case room == "":
		return "", Claims{}, errors.New("token: empty room")
	case session == "" || len(session) > MaxSessionBytes:
		return "", Claims{}, fmt.Errorf("token: session id must be 1 to %d bytes", MaxSessionBytes)
	case ttl < time.Second:
		return "", Claims{}, fmt.Errorf("token: ttl %v shorter than a second", ttl)
	}
	var id [16]byte
	if _, err := rand.Read(id[:]); err != nil {
		return "", Claims{}, fmt.Errorf("token: jti: %w", err)
	}
	iat := &jwt.NumericDate{Time: time.Unix(now.Unix(), 0)}
	pc := &passClaims{
		Iss: Issuer, Sub: visitor, Aud: audience(room),
		Iat: iat, Nbf: iat, Exp: &jwt.NumericDate{Time: time.Unix(now.Add(ttl).Unix(), 0)},
		Sid: session, Net: c.Network, Jti: b64.EncodeToString(id[:]),
	}
	t := jwt.NewWithClaims(s.method, pc)
	if s.kid != "" {
		t.Header["kid"] = s.kid
	}
	tok, err := t.SignedString(s.key)
	if err != nil {
		return "", Claims{}, fmt.Errorf("token: sign: %w", err)
	}
	return tok, pc.claims(), nil
}

// Verifier returns a Verifier that accepts what this Signer signs, with every
// key it holds.
func (s *Signer) Verifier() *Verifier { return s.verify }

// JWKS returns a handler that serves the public keys as a JWK Set (RFC 7517):
// one {"kty":"OKP","crv":"Ed25519","x","kid","alg":"EdDSA","use":"sig"} per
// key. An HS256 signer has no public key and serves {"keys":[]}.
func (s *Signer) JWKS() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			w.Header().Set("Allow", "GET, HEAD")
			http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		// Short enough that a rotation reaches caching clients soon; they
		// also refresh on their own when they meet an unknown kid.
		w.Header().Set("Cache-Control", "public, max-age=60")
		_, _ = w.Write(s.jwks)
	})
}

type jwk struct {
	Kty string `json:"kty"`
	Crv string `json:"crv"`
	X   string `json:"x"`
	Kid string `json:"kid,omitempty"`
	Alg string `json:"alg,omitempty"`
	Use string `json:"use,omitempty"`
}

type jwkSet struct {
	Keys []jwk `json:"keys"`
}

func marshalJWKS(pubs []ed25519.PublicKey) []byte {
	set := jwkSet{Keys: make([]jwk, 0, len(pubs))}
	// Newest first: the key most passes are signed with.
	for i := len(pubs) - 1; i >= 0; i-- {
		set.Keys = append(set.Keys, jwk{
			Kty: "OKP", Crv: "Ed25519", X: b64.EncodeToString(pubs[i]),
			Kid: KeyID(pubs[i]), Alg: algEdDSA, Use: "sig",
		})
	}
	b, _ := json.Marshal(set)
	return b
}
