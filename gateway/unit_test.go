package gateway

import (
	"context"
	"fmt"
	"log"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/rs/zerolog"

	"github.com/waitroom/waitroom/internal/testenv"
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
