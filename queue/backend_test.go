package queue

import (
	"context"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/waitroom/waitroom/internal/testenv"
)

// backend is one Redis the conformance suite runs against: the real Redis,
// a Redis Cluster of three masters and the embedded server must behave the
// same. The Queue takes any go-redis client, so each gives its own kind.
type backend struct {
	name string
	open func(t *testing.T) (redis.UniversalClient, string)
}

var backends = []backend{
	{"redis", func(t *testing.T) (redis.UniversalClient, string) { return testenv.Redis(t) }},
	// Every script's keys carry the room's {hash tag}: on a cluster a
	// script with keys in two slots would fail with CROSSSLOT.
	{"cluster", func(t *testing.T) (redis.UniversalClient, string) { return testenv.RedisCluster(t) }},
	{"embedded", func(t *testing.T) (redis.UniversalClient, string) {
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
func eachBackend(t *testing.T, f func(t *testing.T, q *Queue, rdb redis.UniversalClient)) {
	t.Helper()
	for _, b := range backends {
		t.Run(b.name, func(t *testing.T) {
			rdb, prefix := b.open(t)
			f(t, New(rdb, Config{Prefix: prefix}), rdb)
		})
	}
}

// keysMatching returns the keys matching pattern, on every master of a
// cluster (KEYS on a cluster client asks one node only).
func keysMatching(t *testing.T, rdb redis.UniversalClient, pattern string) []string {
	t.Helper()
	cc, ok := rdb.(*redis.ClusterClient)
	if !ok {
		keys, err := rdb.Keys(ctx, pattern).Result()
		if err != nil {
			t.Fatal(err)
		}
		return keys
	}
	var mu sync.Mutex
	var keys []string
	err := cc.ForEachMaster(ctx, func(ctx context.Context, node *redis.Client) error {
		k, err := node.Keys(ctx, pattern).Result()
		mu.Lock()
		keys = append(keys, k...)
		mu.Unlock()
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return keys
}

// slow reports whether t runs on the embedded server, which starts a Lua
// state per script call (several times slower than Redis, more under -race):
// the long statistical tests run smaller there.
func slow(t *testing.T) bool { return strings.Contains(t.Name(), "/embedded") }

// clock is a steered test clock starting at Redis's own time.
type clock struct{ now time.Time }

func newClock(t *testing.T, rdb redis.UniversalClient) *clock {
	t.Helper()
	now, err := rdb.Time(context.Background()).Result()
	if err != nil {
		t.Fatal(err)
	}
	return &clock{now: now.Truncate(time.Second)}
}

func (c *clock) add(d time.Duration) time.Time { c.now = c.now.Add(d); return c.now }

// TestMain stops the shared local Redis Cluster, if a test started one.
func TestMain(m *testing.M) {
	code := m.Run()
	testenv.StopRedisCluster()
	os.Exit(code)
}
