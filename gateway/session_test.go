package gateway_test

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"strings"
	"testing"

	"github.com/rs/zerolog"

	"github.com/waitroom/waitroom/gateway"
	"github.com/waitroom/waitroom/internal/testenv"
	"github.com/waitroom/waitroom/internal/ticketd"
	"github.com/waitroom/waitroom/queue"
	"github.com/waitroom/waitroom/token"
)

// shopRig is a gateway in front of a real ticketd (SQLite, demo events).
type shopRig struct {
	*rig
	ticketd *httptest.Server // ticketd's own listener, reachable around the gateway
	room    queue.Room
}

func newShopRig(t *testing.T, rm queue.Room) *shopRig {
	t.Helper()
	rdb, prefix := testenv.Redis(t)
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	cfg := gateway.DefaultConfig("http://placeholder")
	cfg.Redis, cfg.RedisPrefix = rdb, prefix
	cfg.Rooms = []queue.Room{rm}
	cfg.CookieSecret = strings.Repeat("c", 32)
	cfg.PassSecret = strings.Repeat("p", 32)
	originSrv := httptest.NewUnstartedServer(nil)
	cfg.Origin = url.URL{Scheme: "http", Host: originSrv.Listener.Addr().String()}
	g, err := gateway.New(ctx, cfg, zerolog.Nop())
	if err != nil {
		t.Fatal(err)
	}
	td, err := ticketd.New(ctx, ticketd.Config{
		Listen:      originSrv.Listener.Addr().String(),
		DatabaseURL: "sqlite://" + filepath.Join(t.TempDir(), "t.db"),
		DBMaxConns:  2, SeedDemo: true, LogFormat: "json", LogLevel: "warn",
		Verifier: g.Verifier(),
	}, zerolog.Nop())
	if err != nil {
		t.Fatal(err)
	}
	originSrv.Config.Handler = td.Handler()
	originSrv.Start()
	g.Start(ctx)
	pub := httptest.NewServer(g.Public())
	t.Cleanup(func() {
		pub.Close()
		_ = g.Shutdown(context.Background())
		originSrv.Close()
		td.Close()
	})
	return &shopRig{rig: &rig{g: g, pub: pub, rdb: rdb, cfg: cfg}, ticketd: originSrv, room: rm}
}

// passFrom is the pass cookie a response set, or "".
func passFrom(res *http.Response, room string) string {
	for _, c := range res.Cookies() {
		if c.Name == token.CookieName(room) && c.MaxAge >= 0 {
			return c.Value
		}
	}
	return ""
}

// getWithCookie sends a request with exactly the Cookie header given (no jar).
func getWithCookie(t *testing.T, url, cookie string) *http.Response {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, url, nil)
	req.Header.Set("Accept", "application/json")
	if cookie != "" {
		req.Header.Set("Cookie", cookie)
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	_, _ = io.Copy(io.Discard, res.Body)
	res.Body.Close()
	return res
}

// buyDirect posts an order straight to ticketd with pass in Waitroom-Pass.
func buyDirect(t *testing.T, base, pass string) (int, string) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPost, base+"/api/events/1/orders", strings.NewReader(`{"quantity":4}`))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set(token.HeaderPass, pass)
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	return res.StatusCode, string(b)
}

// An admitted visitor who asks for a protected page again and again with
// only its visitor cookie gets a pass each time, but every one of them is
// a pass of the same admission session: the room counts one active
// visitor, and everything the visitor collected buys once, whether sent
// through the gateway or straight to the origin.
func TestOneAdmissionOneOrder(t *testing.T) {
	s := newShopRig(t, room("default", 0, 100, "/*"))
	ctx := context.Background()
	b := newBrowser(t)
	if res, _ := b.get(s.pub.URL+"/events/1", false); res.StatusCode != http.StatusTooManyRequests {
		t.Fatalf("first visit: %d, want queued", res.StatusCode)
	}
	if _, err := s.g.Queue().AdmitNext(ctx, s.room, 1); err != nil {
		t.Fatal(err)
	}
	wrID := "wr_id=" + b.cookie(s.pub.URL, "wr_id")
	var passes []string
	var sid string
	jtis := map[string]bool{}
	for i := range 21 {
		res := getWithCookie(t, s.pub.URL+"/events/1", wrID)
		p := passFrom(res, "default")
		if res.StatusCode != http.StatusOK || p == "" {
			t.Fatalf("request %d after admission: %d, pass %t", i+1, res.StatusCode, p != "")
		}
		c, err := s.g.Verifier().Verify(p, "default")
		if err != nil {
			t.Fatalf("pass %d: %v", i+1, err)
		}
		if sid == "" {
			sid = c.Session
		}
		if c.Session != sid {
			t.Fatalf("pass %d carries session %q, the first %q: one admission made two sessions", i+1, c.Session, sid)
		}
		jtis[c.ID] = true
		passes = append(passes, p)
	}
	if len(jtis) != len(passes) {
		t.Fatalf("%d distinct jti among %d passes", len(jtis), len(passes))
	}
	if f, _ := s.g.Queue().Figures(ctx, []queue.Room{s.room}); f[0].Active != 1 {
		t.Fatalf("active %d while one visitor holds %d passes, want 1", f[0].Active, len(passes))
	}
	// The visitor buys through the gateway with the first pass.
	res, body := b.post(s.pub.URL+"/api/events/1/orders", `{"quantity":4}`)
	if res.StatusCode != http.StatusCreated {
		t.Fatalf("order through the gateway: %d %s", res.StatusCode, body)
	}
	// Every other pass it collected: through the gateway it is refused
	// (the session ended) and the visitor queues again; straight at the
	// origin it is pass_used.
	orders := 1
	for i, p := range passes {
		req, _ := http.NewRequest(http.MethodPost, s.pub.URL+"/api/events/1/orders", strings.NewReader(`{"quantity":4}`))
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Cookie", wrID+"; "+token.CookieName("default")+"="+p)
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		if res.StatusCode == http.StatusCreated {
			orders++
		}
		if status, body := buyDirect(t, s.ticketd.URL, p); status == http.StatusCreated {
			orders++
		} else if status != http.StatusConflict || !strings.Contains(body, "pass_used") {
			t.Fatalf("pass %d straight at ticketd: %d %s", i+1, status, body)
		}
	}
	if orders != 1 {
		t.Fatalf("one admission completed %d orders with the passes it collected, want 1", orders)
	}
	if f, _ := s.g.Queue().Figures(ctx, []queue.Room{s.room}); f[0].Active != 0 {
		t.Fatalf("active %d after the order ended the session", f[0].Active)
	}
}

// A pass is bound to the visitor it was issued to: copied to another
// client, with no visitor cookie or with that client's own, it admits
// nobody: the client joins the line like anyone else and the pass never
// reaches the origin from it.
func TestPassReplayedFromAnotherClientIsQueued(t *testing.T) {
	o := newOrigin(t)
	r := newRig(t, rigOpts{origin: o, rooms: []queue.Room{room("shop", 0, 1, "/*")}})
	alice := newBrowser(t)
	alice.get(r.pub.URL+"/event", false)
	if _, err := r.g.Queue().AdmitNext(context.Background(), r.cfg.Rooms[0], 1); err != nil {
		t.Fatal(err)
	}
	if res, _ := alice.get(r.pub.URL+"/event", false); res.StatusCode != http.StatusOK {
		t.Fatalf("alice after admission: %d", res.StatusCode)
	}
	pass := alice.cookie(r.pub.URL, token.CookieName("shop"))
	mallory := newBrowser(t)
	mallory.get(r.pub.URL+"/", false) // a visitor cookie of mallory's own
	for _, tc := range []struct{ name, cookie string }{
		{"pass alone", token.CookieName("shop") + "=" + pass},
		{"pass with another visitor's cookie", "wr_id=" + mallory.cookie(r.pub.URL, "wr_id") + "; " + token.CookieName("shop") + "=" + pass},
	} {
		t.Run(tc.name, func(t *testing.T) {
			before := proxiedWith(o, pass)
			res := getWithCookie(t, r.pub.URL+"/event", tc.cookie)
			if res.StatusCode != http.StatusTooManyRequests || res.Header.Get("Waitroom-State") != "queued" {
				t.Fatalf("replayed pass: %d state %q, want 429 queued", res.StatusCode, res.Header.Get("Waitroom-State"))
			}
			if n := proxiedWith(o, pass) - before; n != 0 {
				t.Fatalf("the pass reached the origin %d times from another client", n)
			}
		})
	}
	// Alice herself still goes through.
	if res, _ := alice.get(r.pub.URL+"/event", false); res.StatusCode != http.StatusOK {
		t.Fatalf("alice after the replays: %d", res.StatusCode)
	}
}

// The origin's revoke ends the session on every instance: a second pass of
// the same admission, issued by another instance that never saw the first,
// is refused there within a second, and the slot is freed once.
func TestRevokeEndsEveryPassOfTheSession(t *testing.T) {
	o := revokeOrigin(t)
	rooms := []queue.Room{room("shop", 0, 5, "/*")}
	a := newRig(t, rigOpts{origin: o, rooms: rooms})
	b := newRig(t, rigOpts{rdb: a.rdb, prefix: a.cfg.RedisPrefix, origin: o, rooms: rooms})
	waitSubscribers(t, a.rdb, a.cfg.RedisPrefix+"revoked", 2)
	v := newBrowser(t)
	v.get(a.pub.URL+"/event", false)
	if _, err := a.g.Queue().AdmitNext(context.Background(), rooms[0], 1); err != nil {
		t.Fatal(err)
	}
	res := getWithCookie(t, a.pub.URL+"/event", "wr_id="+v.cookie(a.pub.URL, "wr_id"))
	first := passFrom(res, "shop")
	res = getWithCookie(t, b.pub.URL+"/event", "wr_id="+v.cookie(a.pub.URL, "wr_id"))
	second := passFrom(res, "shop")
	if first == "" || second == "" || first == second {
		t.Fatalf("passes from the two instances: %t %t", first != "", second != "")
	}
	c1, _ := a.g.Verifier().Verify(first, "shop")
	c2, _ := b.g.Verifier().Verify(second, "shop")
	if c1.Session == "" || c1.Session != c2.Session {
		t.Fatalf("sessions %q and %q: one admission must be one session on every instance", c1.Session, c2.Session)
	}
	wr := "wr_id=" + v.cookie(a.pub.URL, "wr_id") + "; "
	if res := getWithCookie(t, a.pub.URL+"/buy", wr+token.CookieName("shop")+"="+first); res.StatusCode != http.StatusOK {
		t.Fatalf("revoking request: %d", res.StatusCode)
	}
	waitRefused(t, b, o, wr+token.CookieName("shop")+"="+second, second)
	before := proxiedWith(o, second) + proxiedWith(o, first)
	for _, base := range []string{a.pub.URL, b.pub.URL} {
		for _, p := range []string{first, second} {
			getWithCookie(t, base+"/event", wr+token.CookieName("shop")+"="+p)
		}
	}
	if n := proxiedWith(o, second) + proxiedWith(o, first) - before; n != 0 {
		t.Fatalf("passes of the revoked session reached the origin %d more times", n)
	}
	if f, _ := a.g.Queue().Figures(context.Background(), rooms); f[0].Active != 0 {
		t.Fatalf("active %d after the revoke, want 0", f[0].Active)
	}
}
