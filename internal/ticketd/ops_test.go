package ticketd

import (
	"crypto/ed25519"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/waitroom/waitroom/token"
)

func t0() time.Time { return time.Date(2026, 11, 22, 0, 0, 0, 0, time.UTC) }

// /metrics carries the series surge reads, with the orders made.
func TestMetrics(t *testing.T) {
	b := newBackend(t, "sqlite")
	ev := b.createEvent(t, "M", "default", 1)
	b.buy(t, ev, b.pass(t, "default"), 1)
	b.buy(t, ev, b.pass(t, "default"), 1)
	b.buy(t, ev, "", 1)
	_, body := b.do(t, "GET", "/metrics", nil, nil)
	for _, want := range []string{
		`ticketd_orders_total{result="created"} 1`,
		`ticketd_orders_total{result="sold_out"} 1`,
		`ticketd_orders_total{result="rejected"} 1`,
		`ticketd_orders_total{result="pass_used"} 0`,
		`ticketd_pass_rejections_total{reason="missing"} 1`,
		`ticketd_sold_out_total 1`,
		`ticketd_http_inflight 1`, // the /metrics request itself
		`ticketd_http_inflight_max `,
		`ticketd_db_seconds_bucket{op="order"`,
	} {
		if !strings.Contains(string(body), want) {
			t.Errorf("metrics lack %q", want)
		}
	}
}

func TestHealth(t *testing.T) {
	b := newBackend(t, "sqlite")
	for _, path := range []string{"/healthz", "/readyz"} {
		if status, _ := b.do(t, "GET", path, nil, nil); status != 200 {
			t.Errorf("%s: %d", path, status)
		}
	}
}

// With TICKETD_PASS_JWKS_URL ticketd takes the gateway's keys from its JWKS,
// and a key rotation on the gateway mid-run keeps both old and new passes
// buying.
func TestJWKSVerification(t *testing.T) {
	oldKey, _ := token.GenerateEd25519()
	newKey, _ := token.GenerateEd25519()
	current := mustEd(oldKey)
	var signer atomic.Pointer[token.Signer]
	signer.Store(current)
	gw := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { signer.Load().JWKS().ServeHTTP(w, r) }))
	defer gw.Close()

	b := newBackend(t, "sqlite", func(c *Config) {
		c.Verifier = nil
		c.PassJWKSURL = gw.URL
		c.PassJWKS.MinRefreshInterval = time.Nanosecond // the test rotates at once
	})
	ev := b.createEvent(t, "J", "default", 10)
	oldPass, _, _ := current.Sign(time.Now(), "v1", "default", "sid-v1", time.Hour)

	signer.Store(mustEd(oldKey, newKey))
	newPass, _, _ := signer.Load().Sign(time.Now(), "v2", "default", "sid-v2", time.Hour)
	for name, p := range map[string]string{"new key": newPass, "old key": oldPass} {
		if status, body, _ := b.buy(t, ev, p, 1); status != 201 {
			t.Fatalf("%s: %d %s", name, status, body)
		}
	}
	hs, _ := token.NewHS256Signer([]byte(strings.Repeat("k", 32)))
	hsPass, _, _ := hs.Sign(time.Now(), "v3", "default", "sid-v3", time.Hour)
	if status, body, _ := b.buy(t, ev, hsPass, 1); status != 401 || !strings.Contains(string(body), "algorithm") {
		t.Fatalf("HS256 pass against a JWKS verifier: %d %s", status, body)
	}
}

// Each way of configuring pass verification from the environment works end
// to end: the public key file and the shared secret.
func TestPassSources(t *testing.T) {
	key, _ := token.GenerateEd25519()
	pubPEM, _ := token.MarshalEd25519PublicKeyPEM(key.Public().(ed25519.PublicKey))
	keyFile := filepath.Join(t.TempDir(), "pass.pub.pem")
	if err := os.WriteFile(keyFile, pubPEM, 0o600); err != nil {
		t.Fatal(err)
	}
	secret := strings.Repeat("z", 40)
	hs, _ := token.NewHS256Signer([]byte(secret))
	tests := []struct {
		name   string
		set    func(*Config)
		signer *token.Signer
	}{
		{"TICKETD_PASS_KEY_FILE", func(c *Config) { c.Verifier = nil; c.PassKeyFile = keyFile }, mustEd(key)},
		{"TICKETD_PASS_SECRET", func(c *Config) { c.Verifier = nil; c.PassSecret = secret }, hs},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b := newBackend(t, "sqlite", tt.set)
			ev := b.createEvent(t, "P", "default", 5)
			p, _, _ := tt.signer.Sign(time.Now(), "v", "default", "sid-1", time.Minute)
			if status, body, _ := b.buy(t, ev, p, 1); status != 201 {
				t.Fatalf("%d %s", status, body)
			}
			other := mustEd(key)
			if tt.signer.Algorithm() == "EdDSA" {
				other = hs
			}
			p, _, _ = other.Sign(time.Now(), "v", "default", "sid-1", time.Minute)
			if status, body, _ := b.buy(t, ev, p, 1); status != 401 || !strings.Contains(string(body), `"reason":"algorithm"`) {
				t.Fatalf("other algorithm: %d %s", status, body)
			}
		})
	}
}
