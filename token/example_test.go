package token_test

import (
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"time"

	"github.com/waitroom/waitroom/token"
)

// An origin protects its order endpoint with the middleware. The gateway
// signs passes; the origin only needs the verifier (from a public key PEM,
// a shared secret, or the gateway's JWKS URL).
func ExampleMiddleware() {
	key, _ := token.GenerateEd25519()
	signer, _ := token.NewEd25519Signer(key) // in the gateway
	verifier := signer.Verifier()            // in the origin: token.NewEd25519Verifier(pub) or NewJWKSVerifier

	orders := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		pass, _ := token.FromContext(r.Context())
		fmt.Fprintf(w, "order for %s in %s, admission %s", pass.Visitor, pass.Room, pass.Session)
	})
	origin := httptest.NewServer(token.Middleware(verifier, "concert-42")(orders))
	defer origin.Close()

	pass, _, _ := signer.Sign(time.Now(), "visitor-1", "concert-42", "adm-1", 10*time.Minute)
	for _, p := range []string{pass, ""} {
		req, _ := http.NewRequest("POST", origin.URL+"/api/events/42/orders", nil)
		if p != "" {
			req.Header.Set(token.HeaderPass, p)
		}
		resp, _ := http.DefaultClient.Do(req)
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		fmt.Printf("%d %s", resp.StatusCode, body)
		fmt.Println()
	}
	// Output:
	// 200 order for visitor-1 in concert-42, admission adm-1
	// 401 {"error":"pass_missing"}
}

// Verify says why a pass is refused.
func ExampleVerifier_VerifyAt() {
	secret := []byte("a shared secret of at least 32 bytes!")
	signer, _ := token.NewHS256Signer(secret)
	verifier, _ := token.NewHS256Verifier(secret)

	now := time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC)
	pass, _, _ := signer.Sign(now, "visitor-1", "concert-42", "sid-1", 10*time.Minute)

	c, err := verifier.VerifyAt(now.Add(time.Minute), pass, "concert-42")
	fmt.Println(c.Visitor, c.Room, err)
	_, err = verifier.VerifyAt(now.Add(time.Minute), pass, "other-room")
	fmt.Println(token.Reason(err))
	_, err = verifier.VerifyAt(now.Add(time.Hour), pass, "concert-42")
	fmt.Println(token.Reason(err))
	// Output:
	// visitor-1 concert-42 <nil>
	// wrong_room
	// expired
}
