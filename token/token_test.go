package token

import (
	"crypto/ed25519"
	"encoding/base64"
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

var t0 = time.Date(2026, 11, 22, 10, 0, 0, 0, time.UTC)

func mustKey(t testing.TB) ed25519.PrivateKey {
	t.Helper()
	k, err := GenerateEd25519()
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func mustHS(t testing.TB, secret string) *Signer {
	t.Helper()
	s, err := NewHS256Signer([]byte(secret))
	if err != nil {
		t.Fatal(err)
	}
	return s
}

const secret32 = "0123456789abcdef0123456789abcdef"

// forge builds a compact token from a raw header and payload and a signature
// function, so tests can make every kind of bad pass.
func forge(header, payload any, sign func(input string) []byte) string {
	enc := func(v any) string {
		if s, ok := v.(string); ok {
			return base64.RawURLEncoding.EncodeToString([]byte(s))
		}
		b, _ := json.Marshal(v)
		return base64.RawURLEncoding.EncodeToString(b)
	}
	input := enc(header) + "." + enc(payload)
	var sig []byte
	if sign != nil {
		sig = sign(input)
	}
	return input + "." + base64.RawURLEncoding.EncodeToString(sig)
}

func payload(iss, sub, aud, jti string, iat, exp int64) map[string]any {
	return map[string]any{"iss": iss, "sub": sub, "aud": aud, "sid": "sid-" + jti, "jti": jti, "iat": iat, "nbf": iat, "exp": exp}
}

// mustEd is NewEd25519Signer for keys the test made.
func mustEd(keys ...ed25519.PrivateKey) *Signer {
	s, err := NewEd25519Signer(keys...)
	if err != nil {
		panic(err)
	}
	return s
}

// A pass signed by either algorithm verifies with the signer's verifier and
// gives back exactly the claims that were signed.
func TestSignVerifyRoundTrip(t *testing.T) {
	for _, s := range []*Signer{mustEd(mustKey(t)), mustHS(t, secret32)} {
		t.Run(s.Algorithm(), func(t *testing.T) {
			tok, signed, err := s.Sign(t0, "visitor-1", "concert-42", "sid-1", 10*time.Minute)
			if err != nil {
				t.Fatal(err)
			}
			got, err := s.Verifier().VerifyAt(t0.Add(time.Minute), tok, "concert-42")
			if err != nil {
				t.Fatalf("verify: %v", err)
			}
			if got != signed {
				t.Fatalf("claims = %+v, want %+v", got, signed)
			}
			if got.Visitor != "visitor-1" || got.Room != "concert-42" || got.Session != "sid-1" || !got.ExpiresAt.Equal(t0.Add(10*time.Minute)) {
				t.Fatalf("unexpected claims %+v", got)
			}
			if id, err := base64.RawURLEncoding.DecodeString(got.ID); err != nil || len(id) < 16 {
				t.Fatalf("jti %q is not 128 random bits", got.ID)
			}
			if _, err := s.Verifier().VerifyAt(t0, tok, ""); err != nil {
				t.Fatalf("room \"\" must accept any room: %v", err)
			}
		})
	}
}

// Every pass gets its own jti (so an origin can spot a replayed pass),
// while the passes of one admission share its sid (so an origin can let one
// admission buy once, whichever of its passes comes).
func TestSignUniqueIDs(t *testing.T) {
	s := mustEd(mustKey(t))
	seen := map[string]bool{}
	for range 1000 {
		_, c, err := s.Sign(t0, "v", "r", "sid-1", time.Minute)
		if err != nil {
			t.Fatal(err)
		}
		if seen[c.ID] {
			t.Fatalf("jti %q repeated", c.ID)
		}
		if c.Session != "sid-1" {
			t.Fatalf("sid = %q, want the session given to Sign", c.Session)
		}
		seen[c.ID] = true
	}
}

// The verifier refuses every forged, altered, misdirected or stale pass with
// the reason an operator would want to see.
func TestVerifyRefuses(t *testing.T) {
	key := mustKey(t)
	pub := key.Public().(ed25519.PublicKey)
	ed := mustEd(key)
	hs := mustHS(t, secret32)
	good, _, _ := ed.Sign(t0, "v1", "concert-42", "sid-1", 10*time.Minute)
	goodHS, _, _ := hs.Sign(t0, "v1", "concert-42", "sid-1", 10*time.Minute)
	kid := KeyID(pub)
	edSign := func(k ed25519.PrivateKey) func(string) []byte {
		return func(in string) []byte { return ed25519.Sign(k, []byte(in)) }
	}
	iat := t0.Unix()
	exp := t0.Add(10 * time.Minute).Unix()
	hdr := map[string]any{"alg": "EdDSA", "kid": kid, "typ": "JWT"}
	parts := strings.Split(good, ".")

	// HS256 signed with the EdDSA public key as the HMAC secret: the
	// classic algorithm-confusion attack.
	confusion, err := jwt.NewWithClaims(jwt.SigningMethodHS256, jwt.MapClaims(payload(Issuer, "v1", "concert-42", "x", iat, exp))).
		SignedString([]byte(pub))
	if err != nil {
		t.Fatal(err)
	}
	pemPub, _ := MarshalEd25519PublicKeyPEM(pub)
	confusionPEM, _ := jwt.NewWithClaims(jwt.SigningMethodHS256, jwt.MapClaims(payload(Issuer, "v1", "concert-42", "x", iat, exp))).
		SignedString(pemPub)

	altered := payload(Issuer, "v1", "vip-room", "x", iat, exp)
	alteredTok := parts[0] + "." + base64.RawURLEncoding.EncodeToString(mustJSON(altered)) + "." + parts[2]

	tests := []struct {
		name string
		v    *Verifier
		tok  string
		room string
		at   time.Time
		want error
	}{
		{"alg none", ed.Verifier(), forge(map[string]any{"alg": "none", "typ": "JWT"}, payload(Issuer, "v1", "concert-42", "x", iat, exp), nil), "concert-42", t0, ErrAlgorithm},
		{"alg none unsigned to HS256 verifier", hs.Verifier(), forge(map[string]any{"alg": "none"}, payload(Issuer, "v1", "concert-42", "x", iat, exp), nil), "concert-42", t0, ErrAlgorithm},
		{"HS256 signed with EdDSA public key", ed.Verifier(), confusion, "concert-42", t0, ErrAlgorithm},
		{"HS256 signed with EdDSA public key PEM", ed.Verifier(), confusionPEM, "concert-42", t0, ErrAlgorithm},
		{"EdDSA pass to HS256 verifier", hs.Verifier(), good, "concert-42", t0, ErrAlgorithm},
		{"HS256 pass with another secret", hs.Verifier(), mustTok(mustHS(t, secret32+"x").Sign(t0, "v1", "concert-42", "sid-1", time.Minute)), "concert-42", t0, ErrSignature},
		{"altered payload", ed.Verifier(), alteredTok, "", t0, ErrSignature},
		{"altered HS256 payload", hs.Verifier(), strings.Split(goodHS, ".")[0] + "." + base64.RawURLEncoding.EncodeToString(mustJSON(altered)) + "." + strings.Split(goodHS, ".")[2], "", t0, ErrSignature},
		{"signature from another key, same kid", ed.Verifier(), forge(hdr, payload(Issuer, "v1", "concert-42", "x", iat, exp), edSign(mustKey(t))), "concert-42", t0, ErrSignature},
		{"truncated signature", ed.Verifier(), parts[0] + "." + parts[1] + "." + base64.RawURLEncoding.EncodeToString(mustB64(parts[2])[:40]), "concert-42", t0, ErrSignature},
		{"unknown kid", ed.Verifier(), forge(map[string]any{"alg": "EdDSA", "kid": "nope"}, payload(Issuer, "v1", "concert-42", "x", iat, exp), edSign(key)), "concert-42", t0, ErrUnknownKey},
		{"expired", ed.Verifier(), good, "concert-42", t0.Add(10*time.Minute + Leeway + time.Second), ErrExpired},
		{"not yet valid", ed.Verifier(), good, "concert-42", t0.Add(-Leeway - time.Second), ErrNotYetValid},
		{"wrong room", ed.Verifier(), good, "other-room", t0, ErrWrongRoom},
		{"wrong issuer", ed.Verifier(), forge(hdr, payload("evil", "v1", "concert-42", "x", iat, exp), edSign(key)), "concert-42", t0, ErrIssuer},
		{"no jti", ed.Verifier(), forge(hdr, map[string]any{"iss": Issuer, "sub": "v", "aud": "concert-42", "exp": exp}, edSign(key)), "", t0, ErrMalformed},
		{"no sid", ed.Verifier(), forge(hdr, map[string]any{"iss": Issuer, "sub": "v", "aud": "concert-42", "jti": "x", "exp": exp}, edSign(key)), "", t0, ErrMalformed},
		{"sid longer than MaxSessionBytes", ed.Verifier(), forge(hdr, map[string]any{"iss": Issuer, "sub": "v", "aud": "concert-42", "sid": strings.Repeat("s", MaxSessionBytes+1), "jti": "x", "exp": exp}, edSign(key)), "", t0, ErrMalformed},
		{"no exp", ed.Verifier(), forge(hdr, map[string]any{"iss": Issuer, "sub": "v", "aud": "concert-42", "jti": "x"}, edSign(key)), "", t0, ErrMalformed},
		{"no aud with any-room verify", ed.Verifier(), forge(hdr, map[string]any{"iss": Issuer, "sub": "v", "jti": "x", "exp": exp}, edSign(key)), "", t0, ErrMalformed},
		{"exp is a string", ed.Verifier(), forge(hdr, map[string]any{"iss": Issuer, "sub": "v", "aud": "r", "jti": "x", "exp": "soon"}, edSign(key)), "", t0, ErrMalformed},
		{"aud lists two rooms", ed.Verifier(), forge(hdr, map[string]any{"iss": Issuer, "sub": "v", "aud": []string{"a", "b"}, "jti": "x", "exp": exp}, edSign(key)), "", t0, ErrMalformed},
		{"crit header", ed.Verifier(), forge(map[string]any{"alg": "EdDSA", "kid": kid, "crit": []string{"exp"}}, payload(Issuer, "v1", "concert-42", "x", iat, exp), edSign(key)), "", t0, ErrMalformed},
		{"payload not JSON", ed.Verifier(), forge(hdr, "not json", edSign(key)), "", t0, ErrMalformed},
		{"empty", ed.Verifier(), "", "", t0, ErrMalformed},
		{"two segments", ed.Verifier(), parts[0] + "." + parts[1], "", t0, ErrMalformed},
		{"four segments", ed.Verifier(), good + ".x", "", t0, ErrMalformed},
		{"padded base64", ed.Verifier(), parts[0] + "=." + parts[1] + "." + parts[2], "", t0, ErrMalformed},
		{"oversized", ed.Verifier(), good + strings.Repeat("A", MaxTokenBytes), "", t0, ErrMalformed},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := tt.v.VerifyAt(tt.at, tt.tok, tt.room)
			if !errors.Is(err, tt.want) {
				t.Fatalf("err = %v, want %v", err, tt.want)
			}
			if Reason(err) == "invalid" || Reason(err) == "" {
				t.Fatalf("Reason(%v) = %q", err, Reason(err))
			}
		})
	}
}

// Passes that are wrong in more than one way, or in ways only a foreign
// signer would produce, get the reason that comes first in VerifyAt's order:
// the claims' shape, then iss, exp, nbf, aud.
func TestVerifyRefusalOrder(t *testing.T) {
	key := mustKey(t)
	ed := mustEd(key)
	hs := mustHS(t, secret32)
	kid := KeyID(key.Public().(ed25519.PublicKey))
	hdr := map[string]any{"alg": "EdDSA", "kid": kid, "typ": "JWT"}
	sign := func(in string) []byte { return ed25519.Sign(key, []byte(in)) }
	iat := t0.Unix()
	exp := t0.Add(10 * time.Minute).Unix()
	late := t0.Add(time.Hour)
	stranger := mustKey(t)
	claims := func(edit func(map[string]any)) map[string]any {
		p := payload(Issuer, "v1", "concert-42", "x", iat, exp)
		edit(p)
		return p
	}
	hs512, err := jwt.NewWithClaims(jwt.SigningMethodHS512, jwt.MapClaims(payload(Issuer, "v1", "concert-42", "x", iat, exp))).
		SignedString([]byte(secret32))
	if err != nil {
		t.Fatal(err)
	}

	tests := []struct {
		name string
		v    *Verifier
		tok  string
		room string
		at   time.Time
		want error
	}{
		{"HS512 with the right secret to HS256 verifier", hs.Verifier(), hs512, "", t0, ErrAlgorithm},
		{"alg RS256", ed.Verifier(), forge(map[string]any{"alg": "RS256", "kid": kid}, claims(func(map[string]any) {}), sign), "", t0, ErrAlgorithm},
		{"no alg", ed.Verifier(), forge(map[string]any{"kid": kid}, claims(func(map[string]any) {}), sign), "", t0, ErrAlgorithm},
		{"kid not a string", ed.Verifier(), forge(map[string]any{"alg": "EdDSA", "kid": 7}, claims(func(map[string]any) {}), sign), "", t0, ErrMalformed},
		{"no iss", ed.Verifier(), forge(hdr, claims(func(p map[string]any) { delete(p, "iss") }), sign), "", t0, ErrIssuer},
		{"exp before 1970", ed.Verifier(), forge(hdr, claims(func(p map[string]any) { p["exp"] = -5 }), sign), "", t0, ErrMalformed},
		{"nbf past year 36812", ed.Verifier(), forge(hdr, claims(func(p map[string]any) { p["nbf"] = 1e15 }), sign), "", t0, ErrMalformed},
		{"no jti and expired", ed.Verifier(), forge(hdr, claims(func(p map[string]any) { delete(p, "jti") }), sign), "", late, ErrMalformed},
		{"wrong issuer and expired", ed.Verifier(), forge(hdr, claims(func(p map[string]any) { p["iss"] = "evil" }), sign), "", late, ErrIssuer},
		{"expired and wrong room", ed.Verifier(), forge(hdr, claims(func(map[string]any) {}), sign), "other", late, ErrExpired},
		{"not yet valid and wrong room", ed.Verifier(), forge(hdr, claims(func(map[string]any) {}), sign), "other", t0.Add(-time.Hour), ErrNotYetValid},
		{"aud lists two rooms, one of them right", ed.Verifier(), forge(hdr, claims(func(p map[string]any) { p["aud"] = []string{"concert-42", "vip"} }), sign), "concert-42", t0, ErrMalformed},
		{"altered and expired", ed.Verifier(), forge(hdr, claims(func(map[string]any) {}), func(in string) []byte { return ed25519.Sign(stranger, []byte(in)) }), "", late, ErrSignature},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := tt.v.VerifyAt(tt.at, tt.tok, tt.room)
			if !errors.Is(err, tt.want) {
				t.Fatalf("err = %v, want %v", err, tt.want)
			}
		})
	}
}

// Passes written the other ways RFC 7519 allows still verify: aud as an
// array of one room, no kid (tried against every key of the verifier), no
// iat or nbf.
func TestVerifyAcceptsVariants(t *testing.T) {
	oldKey, newKey := mustKey(t), mustKey(t)
	v := mustEd(oldKey, newKey).Verifier()
	exp := t0.Add(10 * time.Minute).Unix()
	for name, tc := range map[string]struct {
		hdr     map[string]any
		payload map[string]any
	}{
		"aud array": {map[string]any{"alg": "EdDSA", "kid": KeyID(newKey.Public().(ed25519.PublicKey))},
			map[string]any{"iss": Issuer, "sub": "v", "aud": []string{"r"}, "sid": "s", "jti": "x", "exp": exp}},
		"no kid, old key": {map[string]any{"alg": "EdDSA"},
			map[string]any{"iss": Issuer, "sub": "v", "aud": "r", "sid": "s", "jti": "x", "exp": exp}},
	} {
		t.Run(name, func(t *testing.T) {
			key := newKey
			if _, ok := tc.hdr["kid"]; !ok {
				key = oldKey
			}
			tok := forge(tc.hdr, tc.payload, func(in string) []byte { return ed25519.Sign(key, []byte(in)) })
			c, err := v.VerifyAt(t0, tok, "r")
			if err != nil {
				t.Fatal(err)
			}
			if c.Room != "r" || !c.IssuedAt.IsZero() || !c.NotBefore.IsZero() || c.ExpiresAt.Unix() != exp {
				t.Fatalf("claims %+v", c)
			}
		})
	}
	// A verifier without keys refuses a pass without kid instead of
	// accepting it.
	tok := forge(map[string]any{"alg": "EdDSA"}, payload(Issuer, "v", "r", "x", t0.Unix(), exp), func(in string) []byte { return ed25519.Sign(oldKey, []byte(in)) })
	if _, err := NewEd25519Verifier().VerifyAt(t0, tok, "r"); !errors.Is(err, ErrSignature) {
		t.Fatalf("keyless verifier: %v", err)
	}
}

// Clock skew up to Leeway on either side does not refuse a pass.
func TestVerifyLeeway(t *testing.T) {
	s := mustEd(mustKey(t))
	tok, _, _ := s.Sign(t0, "v", "r", "sid-1", time.Minute)
	for _, at := range []time.Time{t0.Add(-Leeway), t0.Add(time.Minute + Leeway)} {
		if _, err := s.Verifier().VerifyAt(at, tok, "r"); err != nil {
			t.Errorf("at %v: %v", at.Sub(t0), err)
		}
	}
}

// Passes made by another JWT implementation verify, and ours verify there:
// the wire format is plain RFC 7519/8037.
func TestInteropWithGolangJWT(t *testing.T) {
	key := mustKey(t)
	pub := key.Public().(ed25519.PublicKey)
	s := mustEd(key)
	now := time.Now()

	ours, _, _ := s.Sign(now, "v1", "room-a", "sid-1", time.Minute)
	parsed, err := jwt.Parse(ours, func(*jwt.Token) (any, error) { return pub, nil },
		jwt.WithValidMethods([]string{"EdDSA"}), jwt.WithIssuer(Issuer), jwt.WithAudience("room-a"))
	if err != nil || !parsed.Valid {
		t.Fatalf("golang-jwt refused our pass: %v", err)
	}
	if parsed.Header["kid"] != KeyID(pub) {
		t.Fatalf("kid = %v", parsed.Header["kid"])
	}

	type withSession struct {
		jwt.RegisteredClaims
		Sid string `json:"sid"`
	}
	theirs := jwt.NewWithClaims(jwt.SigningMethodEdDSA, withSession{Sid: "s-9", RegisteredClaims: jwt.RegisteredClaims{
		Issuer: Issuer, Subject: "v2", Audience: jwt.ClaimStrings{"room-a"}, ID: "abc",
		IssuedAt: jwt.NewNumericDate(now), NotBefore: jwt.NewNumericDate(now), ExpiresAt: jwt.NewNumericDate(now.Add(time.Minute)),
	}})
	theirs.Header["kid"] = KeyID(pub)
	tok, err := theirs.SignedString(key)
	if err != nil {
		t.Fatal(err)
	}
	c, err := s.Verifier().Verify(tok, "room-a")
	if err != nil || c.Visitor != "v2" || c.Room != "room-a" || c.Session != "s-9" || c.ID != "abc" {
		t.Fatalf("claims %+v, err %v", c, err)
	}
}

// Rotation: a signer holding the old and the new key signs with the new one
// and still accepts passes made with the old one.
func TestRotationKeepsOldPasses(t *testing.T) {
	oldKey, newKey := mustKey(t), mustKey(t)
	before := mustEd(oldKey)
	oldPass, _, _ := before.Sign(t0, "v", "r", "sid-1", 10*time.Minute)

	after := mustEd(oldKey, newKey)
	newPass, _, _ := after.Sign(t0, "v", "r", "sid-1", 10*time.Minute)
	if kidOf(t, newPass) != KeyID(newKey.Public().(ed25519.PublicKey)) {
		t.Fatal("rotated signer does not sign with the newest key")
	}
	for _, p := range []string{oldPass, newPass} {
		if _, err := after.Verifier().VerifyAt(t0, p, "r"); err != nil {
			t.Fatalf("rotated verifier: %v", err)
		}
	}
	if _, err := before.Verifier().VerifyAt(t0, newPass, "r"); !errors.Is(err, ErrUnknownKey) {
		t.Fatalf("old verifier on new pass: %v", err)
	}
}

func kidOf(t *testing.T, tok string) string {
	t.Helper()
	parsed, _, err := jwt.NewParser().ParseUnverified(tok, jwt.MapClaims{})
	if err != nil {
		t.Fatal(err)
	}
	kid, _ := parsed.Header["kid"].(string)
	return kid
}

// KeyID is the RFC 7638 thumbprint, checked against RFC 8037 Appendix A.3.
func TestKeyIDRFC8037(t *testing.T) {
	x, _ := base64.RawURLEncoding.DecodeString("11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo")
	if got, want := KeyID(ed25519.PublicKey(x)), "kPrK_qmxVWaYVA9wwBF6Iuo3vVzz7TxHCTwXBygrS4k"; got != want {
		t.Fatalf("KeyID = %s, want %s", got, want)
	}
}

// Keys round-trip through PEM, and the wrong kind of PEM is refused with a
// message that says what was expected.
func TestPEM(t *testing.T) {
	key := mustKey(t)
	privPEM, err := MarshalEd25519PrivateKeyPEM(key)
	if err != nil {
		t.Fatal(err)
	}
	pubPEM, _ := MarshalEd25519PublicKeyPEM(key.Public().(ed25519.PublicKey))
	got, err := ParseEd25519PrivateKeyPEM(privPEM)
	if err != nil || !got.Equal(key) {
		t.Fatalf("private round trip: %v", err)
	}
	gotPub, err := ParseEd25519PublicKeyPEM(pubPEM)
	if err != nil || !gotPub.Equal(key.Public()) {
		t.Fatalf("public round trip: %v", err)
	}
	// openssl genpkey -algorithm ed25519 (RFC 8410 example key).
	openssl := []byte("-----BEGIN PRIVATE KEY-----\nMC4CAQAwBQYDK2VwBCIEINTuctv5E1hK1bbY8fdp+K06/nwoy/HU++CXqI9EdVhC\n-----END PRIVATE KEY-----\n")
	if _, err := ParseEd25519PrivateKeyPEM(openssl); err != nil {
		t.Fatalf("openssl key: %v", err)
	}
	for name, fn := range map[string]func([]byte) error{
		"private from public PEM": func(b []byte) error { _, err := ParseEd25519PrivateKeyPEM(b); return err },
		"public from private PEM": func(b []byte) error { _, err := ParseEd25519PublicKeyPEM(b); return err },
	} {
		in := pubPEM
		if strings.HasPrefix(name, "public") {
			in = privPEM
		}
		if err := fn(in); err == nil {
			t.Errorf("%s: accepted", name)
		}
		if err := fn([]byte("garbage")); err == nil {
			t.Errorf("%s: accepted garbage", name)
		}
	}
}

// A short HS256 secret is refused at construction, for signer and verifier.
func TestHS256SecretLength(t *testing.T) {
	if _, err := NewHS256Signer([]byte("short")); err == nil {
		t.Fatal("signer accepted a 5-byte secret")
	}
	if _, err := NewHS256Verifier(make([]byte, 31)); err == nil {
		t.Fatal("verifier accepted a 31-byte secret")
	}
}

// Building a signer without a usable key is an error, not a panic.
func TestEd25519SignerNeedsAKey(t *testing.T) {
	if _, err := NewEd25519Signer(); err == nil {
		t.Fatal("a signer without keys was built")
	}
	if _, err := NewEd25519Signer(ed25519.PrivateKey("short")); err == nil {
		t.Fatal("a signer with a 5-byte key was built")
	}
}

// Sign refuses arguments that would make a useless pass.
func TestSignRefusesBadArguments(t *testing.T) {
	s := mustEd(mustKey(t))
	for _, tt := range []struct {
		visitor, room, session string
		ttl                    time.Duration
	}{
		{"", "r", "s", time.Minute}, {"v", "", "s", time.Minute}, {"v", "r", "s", 0},
		{"v", "r", "", time.Minute}, {"v", "r", strings.Repeat("s", MaxSessionBytes+1), time.Minute},
	} {
		if _, _, err := s.Sign(t0, tt.visitor, tt.room, tt.session, tt.ttl); err == nil {
			t.Errorf("Sign(%q, %q, %q, %v) succeeded", tt.visitor, tt.room, tt.session, tt.ttl)
		}
	}
}

// The JWK Set lists every key newest first with kid, alg and use.
func TestSignerJWKS(t *testing.T) {
	a, b := mustKey(t), mustKey(t)
	s := mustEd(a, b)
	keys, err := parseJWKS(s.jwks)
	if err != nil || len(keys) != 2 {
		t.Fatalf("keys %v err %v", keys, err)
	}
	var set jwkSet
	_ = json.Unmarshal(s.jwks, &set)
	if set.Keys[0].Kid != KeyID(b.Public().(ed25519.PublicKey)) || set.Keys[0].Alg != "EdDSA" || set.Keys[0].Use != "sig" || set.Keys[0].Crv != "Ed25519" {
		t.Fatalf("first key %+v", set.Keys[0])
	}
	if string(mustHS(t, secret32).jwks) != `{"keys":[]}` {
		t.Fatal("HS256 signer must publish an empty set")
	}
}

func TestReason(t *testing.T) {
	if Reason(nil) != "" || Reason(errors.New("x")) != "invalid" {
		t.Fatal("Reason of nil / foreign error")
	}
}

func mustJSON(v any) []byte {
	b, _ := json.Marshal(v)
	return b
}

func mustTok(tok string, _ Claims, err error) string {
	if err != nil {
		panic(err)
	}
	return tok
}

func mustB64(s string) []byte {
	b, err := base64.RawURLEncoding.DecodeString(s)
	if err != nil {
		panic(err)
	}
	return b
}
