package gateway

import (
	"context"
	"encoding/json"
	"fmt"
	"log"
	"net"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/rs/zerolog"

	"github.com/waitroom/waitroom/internal/testenv"
	"github.com/waitroom/waitroom/queue"
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
	cfg.RedisURL, _ = ParseRedisURL(testenv.RedisURL())
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

// go-redis's own lines (Sentinel failovers, dial failures) reach the
// gateway's log as JSON objects, not as plain text among them.
func TestRedisLoggerWritesJSON(t *testing.T) {
	var buf strings.Builder
	l := zerolog.New(&buf)
	RedisLogger(l).Printf(context.Background(), "sentinel: new master=%q addr=%q", "mymaster", "127.0.0.1:6380")
	var line map[string]any
	if err := json.Unmarshal([]byte(buf.String()), &line); err != nil {
		t.Fatalf("not JSON: %q", buf.String())
	}
	if line["source"] != "go-redis" || !strings.Contains(line["message"].(string), "new master") || line["level"] != "warn" {
		t.Fatalf("line %v", line)
	}
}

// A gateway whose origin does not answer at start says so once, naming
// it, and /readyz tells it in its body without failing readiness (the
// queue works while the site is down).
func TestOriginDownAtStart(t *testing.T) {
	rdb, prefix := testenv.Redis(t)
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	dead := "http://" + l.Addr().String()
	l.Close() // nothing listens there now
	cfg := DefaultConfig(dead)
	cfg.Redis, cfg.RedisPrefix = rdb, prefix
	cfg.CookieSecret, cfg.PassSecret = strings.Repeat("c", 32), strings.Repeat("p", 32)
	var buf syncBuffer
	g, err := New(context.Background(), cfg, zerolog.New(&buf))
	if err != nil {
		t.Fatal(err)
	}
	g.Start(context.Background())
	defer g.Shutdown(context.Background())
	warns := 0
	for _, line := range strings.Split(strings.TrimSpace(buf.String()), "\n") {
		if strings.Contains(line, `"level":"warn"`) && strings.Contains(line, "origin does not answer") {
			warns++
			if !strings.Contains(line, dead) {
				t.Errorf("warning does not name the origin %s: %s", dead, line)
			}
		}
	}
	if warns != 1 {
		t.Fatalf("%d warnings about the origin, want 1:\n%s", warns, buf.String())
	}
	rec := httptest.NewRecorder()
	g.Admin().ServeHTTP(rec, httptest.NewRequest("GET", "/readyz", nil))
	if rec.Code != 200 || !strings.Contains(rec.Body.String(), "does not answer") {
		t.Fatalf("/readyz: %d %s", rec.Code, rec.Body)
	}
}

// syncBuffer is a strings.Builder safe for the logger's goroutines.
type syncBuffer struct {
	mu sync.Mutex
	b  strings.Builder
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// Behind a proxy that is not trusted every visitor seems to come from the
// proxy, and the per-client limits would count the whole crowd as one
// client: the first such refusal of a private address says so in the log,
// once; with trusted proxies set it says nothing.
func TestUntrustedProxyHint(t *testing.T) {
	for _, trusted := range []bool{false, true} {
		rdb, prefix := testenv.Redis(t)
		cfg := DefaultConfig("http://127.0.0.1:1")
		cfg.Redis, cfg.RedisPrefix = rdb, prefix
		cfg.CookieSecret, cfg.PassSecret = strings.Repeat("c", 32), strings.Repeat("p", 32)
		cfg.Rooms = []queue.Room{{Name: "r", Paths: []string{"/*"}, MaxActive: 10, ClientPlacesPerMinute: 2}}
		if trusted {
			_ = cfg.TrustedProxies.UnmarshalText([]byte("192.0.2.1"))
		}
		var buf syncBuffer
		g, err := New(context.Background(), cfg, zerolog.New(&buf))
		if err != nil {
			t.Fatal(err)
		}
		for range 4 { // one place, then three refusals, each a new visitor
			rec := httptest.NewRecorder()
			req := httptest.NewRequest("GET", "/_waitroom/api/status?room=r", nil)
			req.RemoteAddr = "10.1.2.3:5555"
			g.Public().ServeHTTP(rec, req)
		}
		_ = g.Shutdown(context.Background())
		hints := strings.Count(buf.String(), "WAITROOM_TRUSTED_PROXIES")
		if want := map[bool]int{false: 1, true: 0}[trusted]; hints != want {
			t.Fatalf("trusted proxies %v: %d hints, want %d:\n%s", trusted, hints, want, buf.String())
		}
	}
}
