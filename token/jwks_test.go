package token

import (
	"context"
	"crypto/ed25519"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// keyServer is a gateway's JWKS endpoint whose signer (or failure) the test
// switches, counting the requests it gets.
type keyServer struct {
	*httptest.Server
	mu     sync.Mutex
	signer *Signer
	status int // non-zero: answer with this status instead
	body   string
	hits   atomic.Int64
}

func newKeyServer(t *testing.T, s *Signer) *keyServer {
	t.Helper()
	ks := &keyServer{signer: s}
	ks.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ks.hits.Add(1)
		ks.mu.Lock()
		s, status, body := ks.signer, ks.status, ks.body
		ks.mu.Unlock()
		if status != 0 {
			w.WriteHeader(status)
			_, _ = w.Write([]byte(body))
			return
		}
		s.JWKS().ServeHTTP(w, r)
	}))
	t.Cleanup(ks.Close)
	return ks
}

func (ks *keyServer) set(s *Signer, status int, body string) {
	ks.mu.Lock()
	ks.signer, ks.status, ks.body = s, status, body
	ks.mu.Unlock()
}

// fakeClock is a steerable clock for the client's rate limit and refresh.
type fakeClock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *fakeClock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.now }
func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	c.now = c.now.Add(d)
	c.mu.Unlock()
}

// A gateway rotating its key mid-run: the origin's JWKS verifier picks up the
// new key on the first pass that names it, and passes signed with the old key
// stay valid until they expire.
func TestJWKSRotationMidRun(t *testing.T) {
	oldKey, newKey := mustKey(t), mustKey(t)
	gw := mustEd(oldKey)
	ks := newKeyServer(t, gw)
	clock := &fakeClock{now: time.Now()}
	v := NewJWKSVerifier(NewJWKSClient(ks.URL, JWKSConfig{Now: clock.Now, MinRefreshInterval: time.Second}))

	oldPass, _, _ := gw.Sign(clock.Now(), "v1", "r", "sid-1", 10*time.Minute)
	if _, err := v.VerifyAt(clock.Now(), oldPass, "r"); err != nil {
		t.Fatalf("before rotation: %v", err)
	}
	clock.Advance(2 * time.Second)
	rotated := mustEd(oldKey, newKey)
	ks.set(rotated, 0, "")
	newPass, _, _ := rotated.Sign(clock.Now(), "v2", "r", "sid-1", 10*time.Minute)
	if _, err := v.VerifyAt(clock.Now(), newPass, "r"); err != nil {
		t.Fatalf("new key after rotation: %v", err)
	}
	if _, err := v.VerifyAt(clock.Now(), oldPass, "r"); err != nil {
		t.Fatalf("old pass after rotation: %v", err)
	}
	if _, err := v.VerifyAt(clock.Now().Add(10*time.Minute+Leeway+time.Second), oldPass, "r"); !errors.Is(err, ErrExpired) {
		t.Fatalf("old pass past its expiry: %v", err)
	}
	if got := ks.hits.Load(); got != 2 {
		t.Fatalf("key server hit %d times, want 2 (first use, rotation)", got)
	}
}

// A flood of passes with made-up kids costs the key server at most one
// request per MinRefreshInterval, however many arrive and however
// concurrently.
func TestJWKSUnknownKidRateLimited(t *testing.T) {
	key := mustKey(t)
	ks := newKeyServer(t, mustEd(key))
	clock := &fakeClock{now: time.Now()}
	c := NewJWKSClient(ks.URL, JWKSConfig{Now: clock.Now, MinRefreshInterval: 10 * time.Second})
	if err := c.Refresh(context.Background()); err != nil {
		t.Fatal(err)
	}
	ks.hits.Store(0)

	flood := func() {
		var wg sync.WaitGroup
		for i := range 200 {
			wg.Go(func() {
				_, err := c.Key(context.Background(), fmt.Sprintf("made-up-%d", i))
				if !errors.Is(err, ErrUnknownKey) {
					t.Errorf("made-up kid: %v", err)
				}
			})
		}
		wg.Wait()
	}
	flood()
	if got := ks.hits.Load(); got != 0 {
		t.Fatalf("%d fetches right after a refresh, want 0", got)
	}
	for round := int64(1); round <= 3; round++ {
		clock.Advance(10 * time.Second)
		flood()
		if got := ks.hits.Load(); got != round {
			t.Fatalf("after %d intervals: %d fetches, want %d", round, got, round)
		}
	}
	// The real key is still served from the cache without a fetch.
	if _, err := c.Key(context.Background(), KeyID(key.Public().(ed25519.PublicKey))); err != nil {
		t.Fatal(err)
	}
}

// The key server going down, or answering garbage, does not take the keys
// away: passes keep verifying from the cache.
func TestJWKSSurvivesOutage(t *testing.T) {
	key := mustKey(t)
	gw := mustEd(key)
	ks := newKeyServer(t, gw)
	clock := &fakeClock{now: time.Now()}
	c := NewJWKSClient(ks.URL, JWKSConfig{Now: clock.Now, RefreshInterval: time.Minute, MinRefreshInterval: time.Second})
	v := NewJWKSVerifier(c)
	pass, _, _ := gw.Sign(clock.Now(), "v", "r", "sid-1", time.Hour)
	if _, err := v.VerifyAt(clock.Now(), pass, "r"); err != nil {
		t.Fatal(err)
	}
	for _, outage := range []struct {
		name   string
		status int
		body   string
	}{
		{"503", http.StatusServiceUnavailable, "down"},
		{"garbage", http.StatusOK, "<html>proxy error</html>"},
		{"bad key", http.StatusOK, `{"keys":[{"kty":"OKP","crv":"Ed25519","x":"AAAA"}]}`},
	} {
		t.Run(outage.name, func(t *testing.T) {
			ks.set(gw, outage.status, outage.body)
			clock.Advance(2 * time.Minute) // cache is stale: a refresh is due
			if err := c.Refresh(context.Background()); err == nil {
				t.Fatal("refresh succeeded against a broken key server")
			}
			if c.LastError() == nil {
				t.Fatal("LastError is nil after a failed refresh")
			}
			if _, err := v.VerifyAt(clock.Now(), pass, "r"); err != nil {
				t.Fatalf("known key refused during outage: %v", err)
			}
			other, _, _ := mustEd(mustKey(t)).Sign(clock.Now(), "v", "r", "sid-1", time.Minute)
			if _, err := v.VerifyAt(clock.Now(), other, "r"); !errors.Is(err, ErrUnknownKey) {
				t.Fatalf("unknown key during outage: %v", err)
			}
		})
	}
	// Closed listener: connection refused.
	ks.Close()
	clock.Advance(2 * time.Minute)
	if _, err := v.VerifyAt(clock.Now(), pass, "r"); err != nil {
		t.Fatalf("known key refused with the key server gone: %v", err)
	}
}

// A JWKS verifier is still EdDSA-only: an HS256 pass is refused before any
// key lookup, so it cannot make the client fetch.
func TestJWKSVerifierRefusesHS256(t *testing.T) {
	ks := newKeyServer(t, mustEd(mustKey(t)))
	v := NewJWKSVerifier(NewJWKSClient(ks.URL, JWKSConfig{}))
	tok, _, _ := mustHS(t, secret32).Sign(time.Now(), "v", "r", "sid-1", time.Minute)
	if _, err := v.Verify(tok, "r"); !errors.Is(err, ErrAlgorithm) {
		t.Fatalf("err = %v", err)
	}
	if ks.hits.Load() != 0 {
		t.Fatal("an HS256 pass made the client fetch keys")
	}
}

// Keys of other types are skipped; a key set without kids gets thumbprints.
func TestParseJWKS(t *testing.T) {
	pub := mustKey(t).Public().(ed25519.PublicKey)
	body := fmt.Sprintf(`{"keys":[{"kty":"RSA","n":"x","e":"AQAB"},{"kty":"OKP","crv":"X25519","x":"abc"},{"kty":"OKP","crv":"Ed25519","x":%q}]}`, b64.EncodeToString(pub))
	keys, err := parseJWKS([]byte(body))
	if err != nil {
		t.Fatal(err)
	}
	if len(keys) != 1 || !keys[KeyID(pub)].Equal(pub) {
		t.Fatalf("keys = %v", keys)
	}
	for _, bad := range []string{``, `[]`, `{}`, `{"keys":[{"kty":"OKP","crv":"Ed25519","x":"!!"}]}`} {
		if _, err := parseJWKS([]byte(bad)); err == nil {
			t.Errorf("parseJWKS(%q) succeeded", bad)
		}
	}
}

// Past RefreshInterval a lookup of a known key still answers from the cache
// at once and refreshes in the background, so a key the gateway withdrew
// stops verifying.
func TestJWKSBackgroundRefresh(t *testing.T) {
	a, b := mustKey(t), mustKey(t)
	ks := newKeyServer(t, mustEd(a, b))
	clock := &fakeClock{now: time.Now()}
	c := NewJWKSClient(ks.URL, JWKSConfig{Now: clock.Now, RefreshInterval: time.Minute, MinRefreshInterval: time.Second})
	kidA := KeyID(a.Public().(ed25519.PublicKey))
	if _, err := c.Key(context.Background(), kidA); err != nil {
		t.Fatal(err)
	}
	ks.set(mustEd(b), 0, "") // the gateway drops key a
	clock.Advance(2 * time.Minute)
	if _, err := c.Key(context.Background(), kidA); err != nil {
		t.Fatalf("stale cache must still answer: %v", err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		if _, err := c.Key(context.Background(), kidA); errors.Is(err, ErrUnknownKey) {
			return
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Fatal("withdrawn key still accepted after the background refresh")
}

// The JWKS endpoint is read-only.
func TestJWKSHandlerMethods(t *testing.T) {
	h := mustEd(mustKey(t)).JWKS()
	for method, want := range map[string]int{"GET": 200, "HEAD": 200, "POST": 405, "DELETE": 405} {
		w := httptest.NewRecorder()
		h.ServeHTTP(w, httptest.NewRequest(method, "/_waitroom/jwks.json", nil))
		if w.Code != want {
			t.Errorf("%s: %d, want %d", method, w.Code, want)
		}
	}
}
