package gateway_test

import (
	"encoding/json"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/waitroom/waitroom/internal/testenv"
	"github.com/waitroom/waitroom/queue"
	"github.com/waitroom/waitroom/token"
)

// An empty room admits the first visitor at once: the request is proxied
// with the verified pass in Waitroom-Pass and the pass cookie is set, so the
// queue only shows itself when the site is busy.
func TestEmptyRoomAdmitsAtOnceWithPass(t *testing.T) {
	r := newRig(t, rigOpts{})
	b := newBrowser(t)
	res, body := b.get(r.pub.URL+"/events/1", true, token.HeaderPass, "forged.client.pass")
	if res.StatusCode != http.StatusOK || body != "origin:/events/1" {
		t.Fatalf("got %d %q, want the origin's page", res.StatusCode, body)
	}
	pass := b.cookie(r.pub.URL, token.CookieName("default"))
	if pass == "" {
		t.Fatal("no wr_pass_default cookie after admission")
	}
	for _, c := range res.Cookies() {
		if !c.HttpOnly || c.SameSite != http.SameSiteLaxMode || c.Path != "/" || c.Secure {
			t.Errorf("cookie %s flags: HttpOnly=%v SameSite=%v Path=%q Secure=%v", c.Name, c.HttpOnly, c.SameSite, c.Path, c.Secure)
		}
	}
	got := r.origin.requests()
	if len(got) != 1 {
		t.Fatalf("origin saw %d requests", len(got))
	}
	h := got[0].Header.Values(token.HeaderPass)
	if len(h) != 1 || h[0] != pass {
		t.Fatalf("origin saw Waitroom-Pass %q, want exactly the verified pass", h)
	}
	claims, err := r.g.Verifier().Verify(h[0], "default")
	if err != nil {
		t.Fatalf("pass does not verify: %v", err)
	}
	if claims.Room != "default" || claims.ID == "" {
		t.Fatalf("claims %+v", claims)
	}
	// The next request reuses the pass: no new pass cookie, proxied.
	res, _ = b.get(r.pub.URL+"/events/2", true)
	if res.StatusCode != http.StatusOK {
		t.Fatalf("second request: %d", res.StatusCode)
	}
	for _, c := range res.Cookies() {
		if c.Name == token.CookieName("default") {
			t.Errorf("pass re-issued on a fresh pass")
		}
	}
}

// A client-sent Waitroom-Pass never reaches the origin, whatever path it
// is sent on, and a forged pass cookie gains nothing.
func TestClientPassNeverReachesOrigin(t *testing.T) {
	r := newRig(t, rigOpts{rooms: []queue.Room{room("shop", 0, 10, "/shop/*")}})
	forger := r.g.Verifier() // a valid pass for another room is also refused
	_ = forger
	cases := []struct {
		name, path string
		cookie     string
	}{
		{"pass-through path", "/static/app.css", ""},
		{"unprotected path", "/about", ""},
		{"protected path, no cookie", "/shop/1", ""},
		{"protected path, forged cookie", "/shop/1", "eyJhbGciOiJub25lIn0.eyJzdWIiOiJ4In0."},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			b := newBrowser(t)
			hdr := []string{token.HeaderPass, "client-sent"}
			if tc.cookie != "" {
				hdr = append(hdr, "Cookie", token.CookieName("shop")+"="+tc.cookie)
			}
			b.get(r.pub.URL+tc.path, false, hdr...)
		})
	}
	for _, req := range r.origin.requests() {
		if v := req.Header.Values(token.HeaderPass); len(v) > 0 {
			t.Errorf("origin saw Waitroom-Pass %q on %s", v, req.URL.Path)
		}
		if strings.HasPrefix(req.URL.Path, "/shop/") {
			t.Errorf("a visitor without a valid pass reached the protected %s", req.URL.Path)
		}
	}
}

// A busy room queues: browsers get the queue page (200, no-store,
// Waitroom-State), API clients 429 + Retry-After + the status JSON.
func TestQueuedResponses(t *testing.T) {
	r := newRig(t, rigOpts{rooms: []queue.Room{room("busy", 0, 10, "/busy/*")}})
	b := newBrowser(t)

	res, body := b.get(r.pub.URL+"/busy/x", true, "Accept-Language", "ko-KR,ko;q=0.9")
	if res.StatusCode != http.StatusOK || res.Header.Get("Cache-Control") != "no-store" || res.Header.Get("Waitroom-State") != "queued" {
		t.Fatalf("HTML: %d cache=%q state=%q", res.StatusCode, res.Header.Get("Cache-Control"), res.Header.Get("Waitroom-State"))
	}
	if !strings.Contains(body, "/_waitroom/ws?room=busy") || !strings.Contains(body, `lang="ko"`) {
		t.Errorf("queue page lacks the socket URL or the Korean language:\n%.400s", body)
	}

	res, body = b.get(r.pub.URL+"/busy/x", false)
	if res.StatusCode != http.StatusTooManyRequests || res.Header.Get("Retry-After") == "" ||
		res.Header.Get("Cache-Control") != "no-store" || res.Header.Get("Waitroom-State") != "queued" {
		t.Fatalf("API: %d retry=%q cache=%q state=%q", res.StatusCode, res.Header.Get("Retry-After"), res.Header.Get("Cache-Control"), res.Header.Get("Waitroom-State"))
	}
	if n, err := strconv.Atoi(res.Header.Get("Retry-After")); err != nil || n < 1 {
		t.Errorf("Retry-After %q is not a positive number of seconds", res.Header.Get("Retry-After"))
	}
	var doc map[string]any
	if err := json.Unmarshal([]byte(body), &doc); err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{"room", "state", "position", "waiting", "eta_seconds", "admit_per_minute", "opens_at", "ticket"} {
		if _, ok := doc[k]; !ok {
			t.Errorf("status JSON lacks %q: %s", k, body)
		}
	}
	if doc["position"].(float64) != 1 || doc["room"] != "busy" {
		t.Errorf("status %s, want position 1 in room busy", body)
	}
	if len(r.origin.requests()) != 0 {
		t.Errorf("origin saw a queued visitor")
	}
}

// A forged or altered wr_id is replaced by a new visitor id: it neither
// takes over another visitor's place nor keeps its own.
func TestForgedVisitorCookieGainsNothing(t *testing.T) {
	r := newRig(t, rigOpts{rooms: []queue.Room{room("busy", 0, 10, "/busy/*")}})
	alice := newBrowser(t)
	alice.get(r.pub.URL+"/busy/x", false)
	aliceID := alice.cookie(r.pub.URL, "wr_id")
	if st := alice.status(r, "busy"); st.Position != 1 {
		t.Fatalf("alice at %d, want 1", st.Position)
	}
	id, _, _ := strings.Cut(aliceID, ".")
	for _, forged := range []string{
		id,           // no MAC
		id + ".AAAA", // wrong MAC
		id + "." + strings.Repeat("A", 43),
		aliceID + "x", // altered
		strings.Repeat("x", 5000),
	} {
		mallory := newBrowser(t)
		res, body := mallory.get(r.pub.URL+"/busy/x", false, "Cookie", "wr_id="+forged)
		var st map[string]any
		_ = json.Unmarshal([]byte(body), &st)
		if res.StatusCode != http.StatusTooManyRequests || st["position"].(float64) == 1 {
			t.Errorf("forged %q: %d %s, want a new place behind alice", forged[:min(len(forged), 40)], res.StatusCode, body)
		}
		if got := mallory.cookie(r.pub.URL, "wr_id"); got == "" || strings.HasPrefix(got, id) {
			t.Errorf("forged %q kept visitor id %q", forged[:min(len(forged), 40)], got)
		}
	}
}

// The origin's Waitroom-Command: revoke ends the session: the header never
// reaches the browser, the pass cookie is cleared, the slot is freed, and a
// replayed copy of the pass is refused.
func TestRevokeEndsSessionAndRefusesReplay(t *testing.T) {
	o := newOrigin(t)
	o.respond = func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/buy" {
			w.Header().Set("Waitroom-Command", "revoke")
		}
		w.WriteHeader(http.StatusOK)
	}
	r := newRig(t, rigOpts{origin: o, rooms: []queue.Room{room("shop", 6000, 1, "/*")}})
	b := newBrowser(t)
	if res, _ := b.get(r.pub.URL+"/event", true); res.StatusCode != http.StatusOK {
		t.Fatalf("first visit: %d", res.StatusCode)
	}
	pass := b.cookie(r.pub.URL, token.CookieName("shop"))
	cookies := b.cookieHeader(r.pub.URL) // the visitor's wr_id and pass
	// Another instance has seen (and cached) the pass before the revoke.
	warm := newRig(t, rigOpts{rdb: r.rdb, prefix: r.cfg.RedisPrefix, rooms: r.cfg.Rooms, origin: o})
	if res, _ := newBrowser(t).get(warm.pub.URL+"/event", false, "Cookie", cookies); res.StatusCode != http.StatusOK {
		t.Fatalf("pass on the second instance: %d", res.StatusCode)
	}
	res, _ := b.get(r.pub.URL+"/buy", false)
	if res.Header.Get("Waitroom-Command") != "" {
		t.Errorf("Waitroom-Command reached the browser")
	}
	if b.cookie(r.pub.URL, token.CookieName("shop")) != "" {
		t.Errorf("pass cookie not cleared after revoke")
	}
	// The slot is free: with max_active 1 a second visitor gets in.
	testenv.WaitFor(t, 3*time.Second, "the freed slot", func() bool {
		res, _ := newBrowser(t).get(r.pub.URL+"/event", false)
		return res.StatusCode == http.StatusOK
	})
	// The instance that had cached the pass drops it as soon as the
	// revocation message arrives (well before its periodic recheck), and
	// refuses it on the very next request.
	waitRefused(t, warm, o, cookies, pass)
	carried := proxiedWith(o, pass) // the first visit, the warm-up and the order
	if newBrowser(t).get(warm.pub.URL+"/event", false, "Cookie", cookies); proxiedWith(o, pass) != carried {
		t.Errorf("the instance that had cached the pass still proxies it after the revoke")
	}
	// A replay of the revoked pass (with its visitor's cookie), on this
	// instance and on a fresh one: the pass never reaches the origin again.
	other := newRig(t, rigOpts{rdb: r.rdb, prefix: r.cfg.RedisPrefix, rooms: r.cfg.Rooms, origin: o})
	for _, base := range []string{r.pub.URL, other.pub.URL} {
		newBrowser(t).get(base+"/buy", false, "Cookie", cookies)
		if n := proxiedWith(o, pass); n != carried {
			t.Errorf("%s: a revoked pass was proxied (%d requests carried it)", base, n)
		}
	}
}

// Oversized headers and bodies are refused before they reach the origin.
func TestOversizedInputRefused(t *testing.T) {
	r := newRig(t, rigOpts{})
	cases := []struct {
		name string
		req  func() *http.Request
		want int
	}{
		{"header", func() *http.Request {
			req, _ := http.NewRequest(http.MethodGet, r.pub.URL+"/x", nil)
			req.Header.Set("X-Big", strings.Repeat("a", 200<<10))
			return req
		}, http.StatusRequestHeaderFieldsTooLarge},
		{"declared body", func() *http.Request {
			req, _ := http.NewRequest(http.MethodPost, r.pub.URL+"/x", strings.NewReader(strings.Repeat("a", 11<<20)))
			return req
		}, http.StatusRequestEntityTooLarge},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			res, err := http.DefaultClient.Do(tc.req())
			if err != nil {
				t.Fatal(err)
			}
			res.Body.Close()
			if res.StatusCode != tc.want {
				t.Fatalf("got %d, want %d", res.StatusCode, tc.want)
			}
		})
	}
	if n := len(r.origin.requests()); n != 0 {
		t.Errorf("origin saw %d oversized requests", n)
	}
}
