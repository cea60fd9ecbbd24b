package token

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"errors"
	"fmt"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// Verifier checks passes. It accepts exactly one algorithm, fixed when it is
// built: NewEd25519Verifier and NewJWKSVerifier accept only EdDSA,
// NewHS256Verifier only HS256. It is safe for concurrent use.
type Verifier struct {
	method jwt.SigningMethod            // the only method accepted
	keys   map[string]ed25519.PublicKey // static EdDSA keys by kid
	all    jwt.VerificationKeySet       // every static EdDSA key, for a pass without kid
	secret []byte
	jwks   *JWKSClient
	opts   []jwt.ParserOption // the options every VerifyAt shares
}

func newVerifier(method jwt.SigningMethod) *Verifier {
	return &Verifier{
		method: method,
		opts: []jwt.ParserOption{
			jwt.WithValidMethods([]string{method.Alg()}),
			jwt.WithIssuer(Issuer),
			// golang-jwt refuses a pass from exactly exp+leeway on; Leeway
			// is inclusive (still good at exp+Leeway), hence the extra
			// nanosecond. The nbf bound moves by the same nanosecond.
			jwt.WithLeeway(Leeway + time.Nanosecond),
			jwt.WithExpirationRequired(),
			// One pass has exactly one spelling: no padding, no
			// non-canonical trailing bits.
			jwt.WithStrictDecoding(),
		},
	}
}

// NewEd25519Verifier returns a Verifier of EdDSA passes signed by any of keys.
// A pass is matched to a key by its kid (the key's KeyID); a pass without a
// kid is tried against every key.
func NewEd25519Verifier(keys ...ed25519.PublicKey) *Verifier {
	v := newVerifier(jwt.SigningMethodEdDSA)
	v.keys = make(map[string]ed25519.PublicKey, len(keys))
	for _, k := range keys {
		k = bytes.Clone(k)
		v.keys[KeyID(k)] = k
	}
	for _, k := range v.keys {
		v.all.Keys = append(v.all.Keys, k)
	}
	return v
}

// NewHS256Verifier returns a Verifier of HS256 passes made with secret, which
// must be at least MinSecretBytes long. The secret is copied.
func NewHS256Verifier(secret []byte) (*Verifier, error) {
	if len(secret) < MinSecretBytes {
		return nil, fmt.Errorf("token: HS256 secret is %d bytes, want at least %d", len(secret), MinSecretBytes)
	}
	v := newVerifier(jwt.SigningMethodHS256)
	v.secret = bytes.Clone(secret)
	return v, nil
}

// NewJWKSVerifier returns a Verifier of EdDSA passes whose keys come from c.
func NewJWKSVerifier(c *JWKSClient) *Verifier {
	v := newVerifier(jwt.SigningMethodEdDSA)
	v.jwks = c
	return v
}

// Algorithm returns "EdDSA" or "HS256": the only alg this Verifier accepts.
func (v *Verifier) Algorithm() string { return v.method.Alg() }

// Verify checks tok at the current time; see VerifyAt.
func (v *Verifier) Verify(tok string, room string) (Claims, error) {
	return v.VerifyAt(time.Now(), tok, room)
}

// VerifyAt checks tok as of now and returns its claims. room is the room the
// request is for; "" accepts a pass for any room (the pass must still name
// one).
//
// The checks run in this order, and the first failure is returned: size
// (ErrMalformed, before any decoding), shape, base64 and JSON of header and
// payload (ErrMalformed), header alg (ErrAlgorithm), crit header
// (ErrMalformed), key (ErrUnknownKey), signature (ErrSignature), required
// claims and their syntax (ErrMalformed), iss (ErrIssuer), exp (ErrExpired),
// nbf (ErrNotYetValid), aud (ErrWrongRoom). No claim is looked at before
// the signature is checked.
func (v *Verifier) VerifyAt(now time.Time, tok string, room string) (Claims, error) {
	if len(tok) > MaxTokenBytes {
		return Claims{}, refuse(ErrMalformed, "%d bytes, limit %d", len(tok), MaxTokenBytes)
	}
	opts := make([]jwt.ParserOption, len(v.opts), len(v.opts)+2)
	copy(opts, v.opts)
	opts = append(opts, jwt.WithTimeFunc(func() time.Time { return now }))
	if room != "" {
		opts = append(opts, jwt.WithAudience(room))
	}
	var pc passClaims
	var keyErr error
	t, err := jwt.NewParser(opts...).ParseWithClaims(tok, &pc, func(t *jwt.Token) (any, error) {
		key, err := v.key(t)
		keyErr = err
		return key, err
	})
	if err != nil && !errors.Is(err, jwt.ErrTokenInvalidClaims) {
		// Refused before the claims were validated: the signature (or
		// what leads to it) is at fault.
		return Claims{}, v.unverified(t, keyErr, err)
	}
	// The signature is good; from here the claims are trusted enough to
	// check.
	if cerr := pc.check(); cerr != nil {
		return Claims{}, cerr
	}
	if err != nil {
		return Claims{}, invalidClaims(&pc, room, err)
	}
	return pc.claims(), nil
}

// key is the keyfunc: it gets the parsed header after golang-jwt has checked
// alg against the one valid method, and returns the key to check the
// signature with.
func (v *Verifier) key(t *jwt.Token) (any, error) {
	// golang-jwt checked alg already; refuse by type too, so no other
	// implementation registered under the same name can get a key.
	if t.Method != v.method {
		return nil, refuse(ErrAlgorithm, "alg %q, want %q", t.Method.Alg(), v.method.Alg())
	}
	// RFC 7515 §4.1.11: extensions we do not understand must be refused.
	if _, ok := t.Header["crit"]; ok {
		return nil, refuse(ErrMalformed, "header: crit extensions not supported")
	}
	if v.method == jwt.SigningMethodHS256 {
		return v.secret, nil
	}
	kid := ""
	if raw, ok := t.Header["kid"]; ok && raw != nil {
		s, ok := raw.(string)
		if !ok {
			return nil, refuse(ErrMalformed, "header: kid is %T, want a string", raw)
		}
		kid = s
	}
	if v.jwks != nil {
		return v.jwks.Key(context.Background(), kid)
	}
	if kid == "" {
		if len(v.all.Keys) == 0 {
			return nil, refuse(ErrSignature, "EdDSA mismatch (no kid, no keys)")
		}
		return v.all, nil
	}
	key, ok := v.keys[kid]
	if !ok {
		return nil, refuse(ErrUnknownKey, "kid %q", kid)
	}
	return key, nil
}

// unverified maps a refusal that came before claim validation onto the
// package's errors. keyErr is what the keyfunc returned, if it ran.
func (v *Verifier) unverified(t *jwt.Token, keyErr, err error) error {
	switch {
	case keyErr != nil:
		return keyErr
	case errors.Is(err, jwt.ErrTokenMalformed):
		return refuse(ErrMalformed, "%v", err)
	case errors.Is(err, jwt.ErrTokenUnverifiable):
		// alg missing, not a string, or naming no method golang-jwt has.
		return refuse(ErrAlgorithm, "%v", err)
	case errors.Is(err, jwt.ErrTokenSignatureInvalid):
		if t != nil && t.Method != v.method {
			// WithValidMethods refused the header's alg.
			return refuse(ErrAlgorithm, "alg %q, want %q", t.Method.Alg(), v.method.Alg())
		}
		return refuse(ErrSignature, "%s mismatch: %v", v.method.Alg(), err)
	}
	return refuse(ErrMalformed, "%v", err)
}

// invalidClaims maps golang-jwt's claim validation errors (several may come
// joined) onto the package's errors, first issuer, then exp, nbf and aud.
func invalidClaims(pc *passClaims, room string, err error) error {
	c := pc.claims()
	switch {
	case errors.Is(err, jwt.ErrTokenInvalidIssuer),
		errors.Is(err, jwt.ErrTokenRequiredClaimMissing) && pc.Iss == "":
		return refuse(ErrIssuer, "iss %q", pc.Iss)
	case errors.Is(err, jwt.ErrTokenExpired):
		return refuse(ErrExpired, "expired at %s", c.ExpiresAt.UTC().Format(time.RFC3339))
	case errors.Is(err, jwt.ErrTokenNotValidYet):
		return refuse(ErrNotYetValid, "valid from %s", c.NotBefore.UTC().Format(time.RFC3339))
	case errors.Is(err, jwt.ErrTokenInvalidAudience):
		return refuse(ErrWrongRoom, "pass for room %q, request for %q", c.Room, room)
	}
	return refuse(ErrMalformed, "%v", err)
}
