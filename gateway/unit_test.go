package gateway

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"log"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/rs/zerolog"

	"github.com/waitroom/waitroom/internal/httpx"
	"github.com/waitroom/waitroom/internal/testenv"
	"github.com/waitroom/waitroom/queue"
	"github.com/waitroom/waitroom/token"
)

// The visitor cookie accepts only values this gateway signed.
func TestVisitorCookieDecode(t *testing.T) {
	vc := visitorCookies{key: []byte("k1k1k1k1k1k1k1k1k1k1k1k1k1k1k1k1")}
	other := visitorCookies{key: []byte("k2k2k2k2k2k2k2k2k2k2k2k2k2k2k2k2")}
	id := newVisitorID()
	good := vc.encode(id)
	flip := func(c byte) string {
		if c == 'A' {
			return "B"
		}
		return "A"
	}
	cases := []struct {
		name, value string
		ok          bool
	}{
		{"signed here", good, true},
		{"signed with another key", other.encode(id), false},
		{"id only", id, false},
		{"altered id", flip(good[0]) + good[1:], false},
		{"altered mac", good[:len(good)-1] + flip(good[len(good)-1]), false},
		{"empty", "", false},
		{"oversized", strings.Repeat("a", 10000), false},
		{"two dots", id + "." + strings.Repeat("A", 20) + "." + strings.Repeat("A", 22), false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got, ok := vc.decode(tc.value)
			if ok != tc.ok || (ok && got != id) {
				t.Fatalf("decode(%q) = %q, %v; want ok=%v", tc.value, got, ok, tc.ok)
			}
		})
	}
}

func FuzzVisitorCookie(f *testing.F) {
	vc := visitorCookies{key: []byte("k1k1k1k1k1k1k1k1k1k1k1k1k1k1k1k1")}
	f.Add(vc.encode(newVisitorID()))
	f.Add("x.y")
	f.Fuzz(func(t *testing.T, v string) {
		id, ok := vc.decode(v)
		if ok && vc.encode(id) != v {
			t.Fatalf("accepted %q that this key did not sign", v)
		}
	})
}

// Path patterns: exact, prefix with "*", pass-through wins, first room wins.
func TestRouterMatch(t *testing.T) {
	rt := newRouter([]queue.Room{
		{Name: "a", Paths: []string{"/events/42", "/events/42/*"}},
		{Name: "b", Paths: []string{"/events/*"}},
	}, []string{"/events/42/static/*", "/favicon.ico"})
	cases := map[string]string{
		"/events/42":          "a",
		"/events/42/buy":      "a",
		"/events/421":         "b",
		"/events/42/static/x": "",
		"/favicon.ico":        "",
		"/other":              "",
		"/events":             "",
	}
	for path, want := range cases {
		r, ok := rt.match(path)
		got := ""
		if ok {
			got = r.Name
		}
		if got != want {
			t.Errorf("%s: %q, want %q", path, got, want)
		}
	}
}

// checkPass refuses every pass that is not a live pass of this gateway for
// this room, with a reason for the metrics.
func TestCheckPassRefusals(t *testing.T) {
	g := newBareGateway(t)
	now := time.Now()
	good, _, _ := g.signer.Sign(now, "v1", "default", "sid-1", time.Minute)
	otherRoom, _, _ := g.signer.Sign(now, "v1", "elsewhere", "sid-1", time.Minute)
	expired, _, _ := g.signer.Sign(now.Add(-time.Hour), "v1", "default", "sid-1", time.Minute)
	foreign, _ := token.NewHS256Signer([]byte(strings.Repeat("x", 32)))
	forged, _, _ := foreign.Sign(now, "v1", "default", "sid-1", time.Minute)
	edKey, _ := token.GenerateEd25519()
	edSigner, _ := token.NewEd25519Signer(edKey)
	edPass, _, _ := edSigner.Sign(now, "v1", "default", "sid-1", time.Minute)
	parts := strings.Split(good, ".")
	none := base64.RawURLEncoding.EncodeToString([]byte(`{"alg":"none","typ":"JWT"}`)) + "." + parts[1] + "."

	cases := []struct {
		name, tok, want string
	}{
		{"good", good, ""},
		{"other room", otherRoom, "wrong_room"},
		{"expired", expired, "expired"},
		{"other secret", forged, "signature"},
		{"EdDSA pass at an HS256 gateway", edPass, "algorithm"},
		{"alg none", none, "algorithm"},
		{"garbage", "not-a-jwt", "malformed"},
		{"oversized", strings.Repeat("a", 100_000), "malformed"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			e, reason := g.checkPass(context.Background(), tc.tok, "default", g.cookies.encode("v1"), now)
			if (e != nil) != (tc.want == "") || (tc.want != "" && reason != tc.want) {
				t.Fatalf("got entry=%v reason=%q, want %q", e != nil, reason, tc.want)
			}
		})
	}
	// A cached pass is still refused for another room.
	if e, reason := g.checkPass(context.Background(), good, "elsewhere", g.cookies.encode("v1"), now); e != nil || reason != "wrong_room" {
		t.Fatalf("cached pass in another room: %v %q", e != nil, reason)
	}
	// A pass admits only the visitor it was issued to: shown by another
	// visitor, or with no visitor cookie at all, it is no admission, cached
	// or not.
	stranger, _, _ := g.signer.Sign(now, "v1", "default", "sid-2", time.Minute)
	forgedCookie := g.cookies.encode("v1")[:visitorIDLen] + "." + strings.Repeat("A", 43)
	for _, tok := range []string{good, stranger} {
		for _, visitor := range []string{g.cookies.encode("v2"), forgedCookie, ""} {
			if e, reason := g.checkPass(context.Background(), tok, "default", visitor, now); e != nil || reason != "wrong_visitor" {
				t.Fatalf("pass of v1 shown by %q: entry=%v reason=%q", visitor, e != nil, reason)
			}
		}
	}
}

// The admin PATCH parser never panics and rejects what it cannot apply.
func FuzzRoomPatch(f *testing.F) {
	f.Add(`{"admit_per_minute":10,"paused":true,"opens_at":null}`)
	f.Add(`{"mode":"random","opens_at":"2026-12-01T10:00:00+09:00"}`)
	f.Add(`{"session_ttl_seconds":-5}`)
	f.Fuzz(func(t *testing.T, body string) {
		var p roomPatch
		if err := httpx.Unmarshal([]byte(body), &p); err != nil {
			return
		}
		qp, err := p.toPatch()
		if err != nil {
			return
		}
		if qp.AdmitPerMinute != nil && *qp.AdmitPerMinute < 0 {
			t.Fatalf("negative rate accepted: %s", body)
		}
		if qp.Mode != nil && *qp.Mode != queue.FIFO && *qp.Mode != queue.Random {
			t.Fatalf("mode %q accepted", *qp.Mode)
		}
		_, _ = json.Marshal(p)
	})
}

// A revocation message evicts exactly the passes of the session it names,
// in whichever shard they sit, and makes them refused even when one is
// shown to this instance for the first time; malformed or oversized
// payloads on the channel are ignored without touching the cache.
func TestApplyRevocation(t *testing.T) {
	g := newBareGateway(t)
	now := time.Now()
	var toks, ids, visitors []string
	for i := range 50 {
		v := "v" + string(rune('a'+i%26))
		// Passes 7 and 8 are two passes of one session.
		sid := fmt.Sprintf("sid-%d", i)
		if i == 8 {
			sid = "sid-7"
		}
		tok, _, _ := g.signer.Sign(now, v, "default", sid, time.Minute)
		if e, reason := g.checkPass(context.Background(), tok, "default", g.cookies.encode(v), now); e == nil {
			t.Fatalf("pass %d refused: %s", i, reason)
		}
		toks, ids, visitors = append(toks, tok), append(ids, sid), append(visitors, v)
	}
	for _, bad := range []string{"", ids[0], " 123", ids[0] + " soon", strings.Repeat("x", 200) + " 123", "\x00 1"} {
		g.applyRevocation(bad, now)
	}
	for i, tok := range toks {
		if !g.PassCached(tok, "default", now) {
			t.Fatalf("a malformed message evicted pass %d", i)
		}
	}
	g.applyRevocation(revocationMessage(ids[7], now.Add(time.Minute)), now)
	for i, tok := range toks {
		if got := g.PassCached(tok, "default", now); got != (i != 7 && i != 8) {
			t.Fatalf("pass %d cached=%t after revoking the session of passes 7 and 8", i, got)
		}
	}
	if e, reason := g.checkPass(context.Background(), toks[8], "default", g.cookies.encode(visitors[8]), now); e != nil || reason != "revoked" {
		t.Fatalf("second pass of a revoked session: entry=%t reason=%q", e != nil, reason)
	}
	// A pass of a session revoked through another instance, never seen
	// here before.
	fresh, claims, _ := g.signer.Sign(now, "w", "default", "sid-fresh", time.Minute)
	g.applyRevocation(revocationMessage(claims.Session, claims.ExpiresAt), now)
	if e, reason := g.checkPass(context.Background(), fresh, "default", g.cookies.encode("w"), now); e != nil || reason != "revoked" {
		t.Fatalf("revoked pass seen first: entry=%t reason=%q", e != nil, reason)
	}
}

// A status poll answered from the hub's figures (up to a tick old) must not
// tell a visitor a higher position than a fresher Redis answer gave before:
// positions never go up for a visitor who keeps their place.
func TestTicketBookNeverRaisesPosition(t *testing.T) {
	var b ticketBook
	fresh := func(ticket, pos int64) queue.Status {
		return queue.Status{State: queue.StateQueued, Ticket: ticket, Position: pos}
	}
	b.put("r", "v", fresh(40, 5))
	steps := []struct {
		name       string
		ticket     int64
		figurePos  int64
		want       int64
		freshAfter int64 // a Redis answer after this step (0: none)
	}{
		{"stale figures after a fresh answer", 40, 7, 5, 0},
		{"figures catch up", 40, 4, 4, 0},
		{"stale figures again", 40, 6, 4, 2},
		{"after a fresher Redis answer", 40, 3, 2, 0},
		{"another ticket (a new place) starts afresh", 90, 30, 30, 0},
	}
	for _, s := range steps {
		if got := b.told("r", "v", s.ticket, s.figurePos); got != s.want {
			t.Errorf("%s: told position %d, want %d", s.name, got, s.want)
		}
		if s.freshAfter > 0 {
			b.put("r", "v", fresh(s.ticket, s.freshAfter))
		}
	}
}

// newBareGateway is a gateway on the test Redis with HS256 passes and no
// loops started: for tests of its parts.
func newBareGateway(t *testing.T) *Gateway {
	t.Helper()
	rdb, prefix := testenv.Redis(t)
	cfg := DefaultConfig("http://127.0.0.1:1")
	cfg.Redis, cfg.RedisPrefix = rdb, prefix
	cfg.PassSecret = strings.Repeat("s", 32)
	cfg.CookieSecret = strings.Repeat("c", 32)
	g, err := New(context.Background(), cfg, zerolog.Nop())
	if err != nil {
		t.Fatal(err)
	}
	return g
}

// Admission messages round-trip in batches, and anything else on the
// channel is refused.
func TestAdmittedMessages(t *testing.T) {
	until := time.UnixMilli(1_800_000_000_000)
	vs := make([]string, maxBroadcastVisitors+3)
	for i := range vs {
		vs[i] = "v" + strings.Repeat("x", i%40)
	}
	msgs := admittedMessages("inst", "room-1", until, vs)
	if len(msgs) != 2 {
		t.Fatalf("%d messages for %d visitors", len(msgs), len(vs))
	}
	var got []string
	for _, m := range msgs {
		b, ok := parseAdmittedMessage(m)
		if !ok || b.Instance != "inst" || b.Room != "room-1" || b.Until != until.UnixMilli() {
			t.Fatalf("round trip: %+v %v", b, ok)
		}
		got = append(got, b.Visitors...)
	}
	if !slices.Equal(got, vs) {
		t.Fatal("visitors changed on the way")
	}
	long := strings.Repeat("v", queue.MaxVisitorLen+1)
	for _, bad := range []string{
		"", "not json", "[]", `{"i":"x","r":"room","u":1}`,
		`{"i":"","r":"room","u":1,"v":["a"]}`,
		`{"i":"x","r":"bad room!","u":1,"v":["a"]}`,
		`{"i":"x","r":"room","u":0,"v":["a"]}`,
		`{"i":"x","r":"room","u":1,"v":[""]}`,
		`{"i":"x","r":"room","u":1,"v":["` + long + `"]}`,
		`{"i":"x","r":"room","u":1,"v":"a"}`,
		strings.Repeat(" ", maxBroadcastVisitors*(queue.MaxVisitorLen+8)+2048),
	} {
		if m, ok := parseAdmittedMessage(bad); ok {
			t.Errorf("accepted %.60q as %+v", bad, m)
		}
	}
}

// redisLines collects what go-redis would print on its own.
type redisLines struct {
	mu    sync.Mutex
	lines []string
}

func (l *redisLines) Printf(_ context.Context, format string, v ...any) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.lines = append(l.lines, fmt.Sprintf(format, v...))
}

// A gateway on a redis:// URL starts without go-redis printing anything of
// its own: every line of the gateway's log is zerolog JSON.
func TestRedisClientsStartQuietly(t *testing.T) {
	_, prefix := testenv.Redis(t) // a Redis (or skip / fail as CI wants); its keys under prefix go at cleanup
	var l redisLines
	redis.SetLogger(&l)
	t.Cleanup(func() { redis.SetLogger(stdRedisLogger{}) })
	cfg := DefaultConfig("http://127.0.0.1:1")
	cfg.RedisURL = testenv.RedisURL()
	cfg.RedisPrefix = prefix
	cfg.CookieSecret = strings.Repeat("c", 32)
	cfg.PassSecret = strings.Repeat("p", 32)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	g, err := New(ctx, cfg, zerolog.Nop())
	if err != nil {
		t.Fatal(err)
	}
	g.Start(ctx)
	time.Sleep(300 * time.Millisecond) // a tick, an admission step, the subscription
	sctx, scancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer scancel()
	_ = g.Shutdown(sctx)
	l.mu.Lock()
	defer l.mu.Unlock()
	if len(l.lines) > 0 {
		t.Fatalf("go-redis printed %d lines of its own, first: %s", len(l.lines), l.lines[0])
	}
}

// stdRedisLogger prints as go-redis does by default.
type stdRedisLogger struct{}

func (stdRedisLogger) Printf(_ context.Context, format string, v ...any) {
	log.Printf("redis: "+format, v...)
}
