package token

import (
	"testing"
	"time"
)

// FuzzVerify feeds arbitrary strings to the verifier of both algorithms: it
// never panics, and whatever it accepts names a visitor, a room and an id.
func FuzzVerify(f *testing.F) {
	key := mustKey(f)
	ed := mustEd(key)
	hs := mustHS(f, secret32)
	for _, s := range []*Signer{ed, hs} {
		tok, _, _ := s.Sign(t0, "visitor", "room", "sid-1", time.Minute)
		f.Add(tok)
	}
	f.Add("")
	f.Add("..")
	f.Add("eyJhbGciOiJub25lIn0.e30.")
	f.Add(forge(map[string]any{"alg": "EdDSA"}, map[string]any{"aud": []any{1, 2}}, nil))
	f.Fuzz(func(t *testing.T, tok string) {
		for _, v := range []*Verifier{ed.Verifier(), hs.Verifier()} {
			c, err := v.VerifyAt(t0, tok, "")
			if err == nil && (c.Visitor == "" || c.Room == "" || c.ID == "") {
				t.Fatalf("accepted a pass with empty claims: %q", tok)
			}
			if err != nil && Reason(err) == "invalid" {
				t.Fatalf("unlabelled refusal %v", err)
			}
		}
	})
}

// FuzzParseJWKS: a key server's answer never panics the client, and every
// key it yields is a 32-byte Ed25519 key.
func FuzzParseJWKS(f *testing.F) {
	f.Add(mustEd(mustKey(f)).jwks)
	f.Add([]byte(`{"keys":[]}`))
	f.Add([]byte(`{"keys":[{"kty":"OKP","crv":"Ed25519","x":""}]}`))
	f.Fuzz(func(t *testing.T, body []byte) {
		keys, err := parseJWKS(body)
		if err != nil {
			return
		}
		for kid, k := range keys {
			if kid == "" || len(k) != 32 {
				t.Fatalf("bad key %q %x", kid, k)
			}
		}
	})
}
