package token

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math"
	"time"
)

// Issuer is the iss claim of every pass.
const Issuer = "waitroom"

// Leeway is the clock skew allowed when checking exp and nbf: a pass is still
// accepted up to Leeway after exp and from Leeway before nbf.
const Leeway = 30 * time.Second

// MaxTokenBytes bounds the length of a pass the verifier will look at. A real
// pass is about 300 bytes; anything past this is refused as malformed before
// any decoding.
const MaxTokenBytes = 4096

// Claims are the verified contents of a pass.
type Claims struct {
	// Visitor is the visitor id (sub).
	Visitor string
	// Room is the room the pass admits to (aud).
	Room string
	// ID is the pass's unique id (jti): 128 random bits, base64url.
	ID string
	// IssuedAt (iat), NotBefore (nbf) and ExpiresAt (exp) have one-second
	// resolution. IssuedAt and NotBefore are zero when the pass omits them.
	IssuedAt, NotBefore, ExpiresAt time.Time
}

// wireClaims is the JSON payload of a pass.
type wireClaims struct {
	Iss string       `json:"iss"`
	Sub string       `json:"sub"`
	Aud audience     `json:"aud"`
	Iat *numericDate `json:"iat,omitempty"`
	Nbf *numericDate `json:"nbf,omitempty"`
	Exp *numericDate `json:"exp"`
	Jti string       `json:"jti"`
}

// audience is the aud claim: a string, or (as RFC 7519 allows and some
// libraries write) an array holding exactly one string. It is written as a
// plain string.
type audience string

func (a *audience) UnmarshalJSON(b []byte) error {
	b = bytes.TrimSpace(b)
	if len(b) > 0 && b[0] == '[' {
		var list []string
		if err := json.Unmarshal(b, &list); err != nil {
			return err
		}
		if len(list) != 1 {
			return fmt.Errorf("aud lists %d rooms, want 1", len(list))
		}
		*a = audience(list[0])
		return nil
	}
	var s string
	if err := json.Unmarshal(b, &s); err != nil {
		return err
	}
	*a = audience(s)
	return nil
}

// numericDate is seconds since the epoch; fractions are accepted and
// truncated, values outside year 1970..~36812 are refused.
type numericDate int64

const maxNumericDate = 1 << 40

func (d *numericDate) UnmarshalJSON(b []byte) error {
	var f float64
	if err := json.Unmarshal(b, &f); err != nil {
		return err
	}
	if math.IsNaN(f) || f < 0 || f > maxNumericDate {
		return fmt.Errorf("date %v out of range", f)
	}
	*d = numericDate(f)
	return nil
}

func (d *numericDate) time() time.Time {
	if d == nil {
		return time.Time{}
	}
	return time.Unix(int64(*d), 0)
}
