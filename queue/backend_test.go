package queue

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/waitroom/waitroom/internal/testenv"
)

// backend is one Redis the conformance suite runs against: the real Redis
// and the embedded server must behave the same.
type backend struct {
	name string
	open func(t *testing.T) (*redis.Client, string)
}

var backends = []backend{
	{"redis", func(t *testing.T) (*redis.Client, string) { return testenv.Redis(t) }},
	{"embedded", func(t *testing.T) (*redis.Client, string) {
		t.Helper()
		e, err := StartEmbedded()
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(e.Close)
		opt, err := redis.ParseURL(e.URL())
		if err != nil {
			t.Fatal(err)
		}
		opt.ReadTimeout = 30 * time.Second // a Lua state per call, slow under -race
		rdb := redis.NewClient(opt)
		t.Cleanup(func() { _ = rdb.Close() })
		return rdb, "wrtest:" + testenv.RandomID(4) + ":"
	}},
}

// eachBackend runs f once per backend as a subtest, with a fresh queue.
func eachBackend(t *testing.T, f func(t *testing.T, q *Queue, rdb *redis.Client)) {
	t.Helper()
	for _, b := range backends {
		t.Run(b.name, func(t *testing.T) {
			rdb, prefix := b.open(t)
			f(t, New(rdb, Config{Prefix: prefix}), rdb)
		})
	}
}

// slow reports whether t runs on the embedded server, which starts a Lua
// state per script call (several times slower than Redis, more under -race):
// the long statistical tests run smaller there.
func slow(t *testing.T) bool { return strings.Contains(t.Name(), "/embedded") }

// clock is a steered test clock starting at Redis's own time.
type clock struct{ now time.Time }

func newClock(t *testing.T, rdb *redis.Client) *clock {
	t.Helper()
	now, err := rdb.Time(context.Background()).Result()
	if err != nil {
		t.Fatal(err)
	}
	return &clock{now: now.Truncate(time.Second)}
}

func (c *clock) add(d time.Duration) time.Time { c.now = c.now.Add(d); return c.now }
