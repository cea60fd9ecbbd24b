package token

import (
	"errors"
	"fmt"
)

// The reasons a pass is refused. Verify returns them wrapped with detail;
// test with errors.Is.
var (
	// ErrMalformed: not a compact JWS, bad base64 or JSON, too long, or a
	// required claim (iss, sub, aud, exp, jti) missing or of the wrong type.
	ErrMalformed = errors.New("malformed pass")
	// ErrAlgorithm: the header's alg is not the one this verifier accepts.
	ErrAlgorithm = errors.New("pass algorithm not accepted")
	// ErrSignature: the signature does not match the header and claims.
	ErrSignature = errors.New("pass signature invalid")
	// ErrUnknownKey: the kid names no key this verifier knows (after a
	// refresh, for a JWKS verifier).
	ErrUnknownKey = errors.New("pass signed with an unknown key")
	// ErrExpired: exp is more than Leeway in the past.
	ErrExpired = errors.New("pass expired")
	// ErrNotYetValid: nbf is more than Leeway in the future.
	ErrNotYetValid = errors.New("pass not valid yet")
	// ErrIssuer: iss is not "waitroom".
	ErrIssuer = errors.New("pass issuer not accepted")
	// ErrWrongRoom: the pass admits to another room.
	ErrWrongRoom = errors.New("pass is for another room")
)

// reasons maps each refusal to its label, in the order Reason tests them.
var reasons = []struct {
	err   error
	label string
}{
	{ErrMalformed, "malformed"},
	{ErrAlgorithm, "algorithm"},
	{ErrSignature, "signature"},
	{ErrUnknownKey, "unknown_key"},
	{ErrExpired, "expired"},
	{ErrNotYetValid, "not_yet_valid"},
	{ErrIssuer, "issuer"},
	{ErrWrongRoom, "wrong_room"},
}

// Reason returns a short, stable label for why a pass was refused, for
// metric labels and logs: "malformed", "algorithm", "signature",
// "unknown_key", "expired", "not_yet_valid", "issuer" or "wrong_room".
// It returns "" for a nil error and "invalid" for an error that is none of
// these.
func Reason(err error) string {
	if err == nil {
		return ""
	}
	for _, r := range reasons {
		if errors.Is(err, r.err) {
			return r.label
		}
	}
	return "invalid"
}

func refuse(kind error, format string, args ...any) error {
	return fmt.Errorf("%w: "+format, append([]any{kind}, args...)...)
}
