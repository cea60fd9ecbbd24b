package testenv_test

import (
	"context"
	"fmt"
	"os"
	"sync/atomic"
	"testing"

	"github.com/redis/go-redis/v9"

	"github.com/waitroom/waitroom/internal/testenv"
)

// The local cluster has three masters sharing every slot, a client reaches
// keys in all of them, a script with hash-tagged keys runs in one slot, and
// the test's keys are gone after cleanup.
func TestRedisCluster(t *testing.T) {
	ctx := context.Background()
	var prefix string
	t.Run("use", func(t *testing.T) {
		var rdb *redis.ClusterClient
		rdb, prefix = testenv.RedisCluster(t)
		slots, err := rdb.ClusterSlots(ctx).Result()
		if err != nil || len(slots) != testenv.ClusterSize {
			t.Fatalf("slots: %v %v", slots, err)
		}
		for i := range 50 {
			if err := rdb.Set(ctx, fmt.Sprintf("%sk%d", prefix, i), i, 0).Err(); err != nil {
				t.Fatal(err)
			}
		}
		keys := []string{prefix + "{room}:a", prefix + "{room}:b"}
		n, err := redis.NewScript(`redis.call("SET", KEYS[1], 1) return redis.call("INCR", KEYS[2])`).Run(ctx, rdb, keys).Int()
		if err != nil || n != 1 {
			t.Fatalf("script on hash-tagged keys: %d %v", n, err)
		}
	})
	// A fresh client from the URL form the gateway accepts.
	opt, err := redis.ParseClusterURL(testenv.RedisClusterURL())
	if err != nil || len(opt.Addrs) != testenv.ClusterSize {
		t.Fatalf("RedisClusterURL %q: %v", testenv.RedisClusterURL(), err)
	}
	rdb := redis.NewClusterClient(opt)
	defer rdb.Close()
	var left atomic.Int64
	_ = rdb.ForEachMaster(ctx, func(ctx context.Context, c *redis.Client) error {
		keys, _ := c.Keys(ctx, prefix+"*").Result()
		left.Add(int64(len(keys)))
		return nil
	})
	if left.Load() != 0 {
		t.Errorf("%d keys left after cleanup", left.Load())
	}
}

func TestMain(m *testing.M) {
	code := m.Run()
	testenv.StopRedisCluster()
	testenv.RemoveBinaries()
	os.Exit(code)
}
