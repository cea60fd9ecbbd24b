package token

import (
	"bytes"
	"encoding/json"
	"fmt"
	"time"

	"github.com/golang-jwt/jwt/v5"
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

// MaxSessionBytes bounds the sid claim a verifier accepts (the gateway's
// are 22 bytes: 128 random bits, base64url).
const MaxSessionBytes = 128

// Claims are the verified contents of a pass.
type Claims struct {
	// Visitor is the visitor id (sub).
	Visitor string
	// Room is the room the pass admits to (aud).
	Room string
	// Session is the admission session the pass belongs to (sid): one
	// admission is one session, and every pass issued for it (the first,
	// each renewal, a re-entry on any gateway instance) carries the same
	// sid. An origin that sells once per admission keys its orders on it.
	Session string
	// Network, when set (the net claim), is the client network the pass
	// was issued to (an IPv4 /24 or IPv6 /48, in CIDR form): the gateway
	// honours it only from there. Empty: any network.
	Network string
	// ID is the pass's unique id (jti): 128 random bits, base64url.
	ID string
	// IssuedAt (iat), NotBefore (nbf) and ExpiresAt (exp) have one-second
	// resolution. IssuedAt and NotBefore are zero when the pass omits them.
	IssuedAt, NotBefore, ExpiresAt time.Time
}

// passClaims is the JSON payload of a pass, as golang-jwt signs and parses it.
type passClaims struct {
	Iss string           `json:"iss"`
	Sub string           `json:"sub"`
	Aud audience         `json:"aud"`
	Iat *jwt.NumericDate `json:"iat,omitempty"`
	Nbf *jwt.NumericDate `json:"nbf,omitempty"`
	Exp *jwt.NumericDate `json:"exp"`
	Sid string           `json:"sid"`
	Net string           `json:"net,omitempty"`
	Jti string           `json:"jti"`
}

var _ jwt.Claims = (*passClaims)(nil)

func (c *passClaims) GetExpirationTime() (*jwt.NumericDate, error) { return c.Exp, nil }
func (c *passClaims) GetIssuedAt() (*jwt.NumericDate, error)       { return c.Iat, nil }
func (c *passClaims) GetNotBefore() (*jwt.NumericDate, error)      { return c.Nbf, nil }
func (c *passClaims) GetIssuer() (string, error)                   { return c.Iss, nil }
func (c *passClaims) GetSubject() (string, error)                  { return c.Sub, nil }

func (c *passClaims) GetAudience() (jwt.ClaimStrings, error) {
	if c.Aud == "" {
		return nil, nil
	}
	return jwt.ClaimStrings{string(c.Aud)}, nil
}

// maxNumericDate bounds exp, nbf and iat (about the year 36812); dates before
// 1970 are refused too.
const maxNumericDate = 1 << 40

// check refuses, as ErrMalformed, a payload that golang-jwt would let through
// but a pass must not have: sub, aud, jti or exp missing, or a date out of
// range. It runs after the signature and before the time and audience checks,
// which is the order Reason reports.
func (c *passClaims) check() error {
	switch {
	case c.Sub == "":
		return refuse(ErrMalformed, "no sub")
	case c.Aud == "":
		return refuse(ErrMalformed, "no aud")
	case c.Sid == "":
		return refuse(ErrMalformed, "no sid")
	case len(c.Sid) > MaxSessionBytes:
		return refuse(ErrMalformed, "sid of %d bytes, limit %d", len(c.Sid), MaxSessionBytes)
	case len(c.Net) > 64:
		return refuse(ErrMalformed, "net of %d bytes", len(c.Net))
	case c.Jti == "":
		return refuse(ErrMalformed, "no jti")
	case c.Exp == nil:
		return refuse(ErrMalformed, "no exp")
	}
	for _, d := range [...]struct {
		name string
		date *jwt.NumericDate
	}{{"exp", c.Exp}, {"nbf", c.Nbf}, {"iat", c.Iat}} {
		if d.date != nil && (d.date.Unix() < 0 || d.date.Unix() > maxNumericDate) {
			return refuse(ErrMalformed, "%s %d out of range", d.name, d.date.Unix())
		}
	}
	return nil
}

// claims returns the verified claims, with times at one-second resolution
// whatever jwt.TimePrecision says.
func (c *passClaims) claims() Claims {
	return Claims{
		Visitor: c.Sub, Room: string(c.Aud), Session: c.Sid, Network: c.Net, ID: c.Jti,
		IssuedAt: seconds(c.Iat), NotBefore: seconds(c.Nbf), ExpiresAt: seconds(c.Exp),
	}
}

func seconds(d *jwt.NumericDate) time.Time {
	if d == nil {
		return time.Time{}
	}
	return time.Unix(d.Unix(), 0)
}

// audience is the aud claim: a string, or (as RFC 7519 allows and some
// libraries write) an array holding exactly one string. It is written as a
// plain string. (jwt.ClaimStrings would accept a list of several rooms and,
// by default, write one room as an array.)
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
