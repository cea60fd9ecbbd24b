package queue

import (
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

// When Redis goes away every call returns an error promptly (the gateway
// turns it into its fail mode); nothing panics or hangs.
func TestRedisDown(t *testing.T) {
	own := ownRedis(t)
	// no retries: the figure of interest is that errors come back at all
	rdb := redis.NewClient(&redis.Options{Addr: own.Options().Addr, MaxRetries: -1, DialTimeout: time.Second})
	defer rdb.Close()
	q := New(rdb, Config{Prefix: "wr:"})
	room := Room{Name: "down", AdmitPerMinute: 60, MaxActive: 10}
	if _, err := q.Join(ctx, room, "a"); err != nil {
		t.Fatal(err)
	}
	_ = rdb.Shutdown(ctx).Err() // the connection drops: an error is expected
	start := time.Now()
	calls := map[string]error{}
	_, calls["join"] = q.Join(ctx, room, "b")
	_, calls["status"] = q.Status(ctx, room, "a")
	_, calls["admit"] = q.Admit(ctx, room)
	_, calls["enter"] = q.Enter(ctx, room, "a")
	_, calls["figures"] = q.Figures(ctx, []Room{room})
	calls["heartbeat"] = q.Heartbeat(ctx, room.Name, []string{"a"})
	calls["update"] = q.Update(ctx, room.Name, Patch{Paused: ptr(true)})
	calls["release"] = q.Release(ctx, room.Name, "a")
	for name, err := range calls {
		if err == nil {
			t.Errorf("%s: no error with Redis down", name)
		}
	}
	if d := time.Since(start); d > 30*time.Second {
		t.Errorf("calls took %s with Redis down", d)
	}
}
