package queue

import (
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/waitroom/waitroom/internal/testenv"
)

// When Redis goes away every call returns an error promptly (the gateway
// turns it into its fail mode); nothing panics or hangs.
func TestRedisDown(t *testing.T) {
	// no retries: the figure of interest is that errors come back at all
	rdb := testenv.StartRedis(t).Client(&redis.Options{MaxRetries: -1, DialTimeout: time.Second})
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
	_, calls["revoke"] = q.Revoke(ctx, room.Name, "a", "session-a", time.Now(), time.Second)
	_, calls["revoked"] = q.Revoked(ctx, room.Name, "session-a")
	for name, err := range calls {
		if err == nil {
			t.Errorf("%s: no error with Redis down", name)
		}
	}
	if d := time.Since(start); d > 30*time.Second {
		t.Errorf("calls took %s with Redis down", d)
	}
}

// The embedded server answers only clients that know its password.
func TestEmbeddedNeedsPassword(t *testing.T) {
	e, err := StartEmbedded()
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	opt, err := redis.ParseURL(e.URL())
	if err != nil {
		t.Fatal(err)
	}
	good := redis.NewClient(opt)
	defer good.Close()
	if err := good.Ping(ctx).Err(); err != nil {
		t.Fatalf("with the URL's password: %v", err)
	}
	bare := redis.NewClient(&redis.Options{Addr: opt.Addr, MaxRetries: -1})
	defer bare.Close()
	if err := bare.Set(ctx, "k", "v", 0).Err(); err == nil {
		t.Fatal("a client without the password was served")
	}
}
