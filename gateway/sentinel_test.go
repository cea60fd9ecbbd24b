package gateway_test

import (
	"context"
	"fmt"
	"github.com/caarlos0/env/v11"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/waitroom/waitroom/gateway"
	"github.com/waitroom/waitroom/internal/testenv"
	"github.com/waitroom/waitroom/queue"
)

// sentinelRedis starts a master and one Sentinel that monitors it under
// the name "mymaster", and returns the Sentinel's address.
func sentinelRedis(t *testing.T) (sentinelAddr string) {
	t.Helper()
	master := testenv.StartRedis(t)
	sentinel := testenv.StartRedis(t, "--sentinel", "--sentinel", "monitor", "mymaster", "127.0.0.1", fmt.Sprint(master.Port), "1")
	sc := redis.NewSentinelClient(&redis.Options{Addr: sentinel.Addr})
	defer sc.Close()
	testenv.WaitFor(t, 10*time.Second, "the Sentinel to know its master", func() bool {
		a, err := sc.GetMasterAddrByName(context.Background(), "mymaster").Result()
		return err == nil && len(a) == 2 && a[1] == fmt.Sprint(master.Port)
	})
	return sentinel.Addr
}

// A gateway given a Sentinel URL finds the master through the Sentinel and
// queues and admits visitors as with a plain Redis URL.
func TestSentinelURLAdmitsVisitor(t *testing.T) {
	sentinel := sentinelRedis(t)
	url := "redis://" + sentinel + "/0?master_name=mymaster"
	r := newRig(t, rigOpts{
		rdb: redis.NewClient(&redis.Options{Addr: "127.0.0.1:1"}), prefix: "wr:",
		rooms: []queue.Room{room("s", 60, 1, "/s/*")},
		mutate: func(c *gateway.Config) {
			c.Redis = nil
			c.RedisURL, _ = gateway.ParseRedisURL(url)
		},
	})
	first, second := newBrowser(t), newBrowser(t)
	if res, body := first.get(r.pub.URL+"/s/x", false); res.StatusCode != http.StatusOK || body != "origin:/s/x" {
		t.Fatalf("first visitor: %d %q, want the origin's page", res.StatusCode, body)
	}
	// The room holds one: the second waits in the queue on the master
	// until the operator makes room and the admission step lets them in.
	if res, _ := second.get(r.pub.URL+"/s/x", false); res.StatusCode != http.StatusTooManyRequests {
		t.Fatalf("second visitor: %d, want 429 (queued)", res.StatusCode)
	}
	if st := second.status(r, "s"); st.State != "queued" || st.Position != 1 {
		t.Fatalf("second visitor's status: %+v, want queued at 1", st)
	}
	if res, body := r.admin(t, http.MethodPatch, "/admin/rooms/s", `{"max_active":2}`); res.StatusCode != http.StatusOK {
		t.Fatalf("PATCH max_active: %d %s", res.StatusCode, body)
	}
	testenv.WaitFor(t, 10*time.Second, "the admitted visitor to reach the origin", func() bool {
		res, _ := second.get(r.pub.URL+"/s/x", false)
		return res.StatusCode == http.StatusOK
	})
}

// Every malformed Sentinel URL is refused at start with a line that names
// the variable and the problem.
func TestSentinelURLValidation(t *testing.T) {
	cases := []struct{ url, want string }{
		{"redis://127.0.0.1:26379/0?master_name=", "master_name"},
		{"redis://127.0.0.1:26379/0?master_name=m&route_randomly=true", "route_randomly"},
		{"redis://127.0.0.1:26379/0?master_name=m&addr=nonsense", "addr"},
		{"redis://127.0.0.1:26379/0?master_name=m&bogus=1", "unexpected option"},
		{"http://127.0.0.1:26379/0?master_name=m", "scheme"},
	}
	load := func(u string) error {
		_, err := gateway.LoadConfig(env.Options{Environment: map[string]string{
			"WAITROOM_ORIGIN": "http://127.0.0.1:8081", "WAITROOM_REDIS_URL": u}})
		return err
	}
	for _, c := range cases {
		err := load(c.url)
		if err == nil || !strings.Contains(err.Error(), "WAITROOM_REDIS_URL") || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: error %v, want WAITROOM_REDIS_URL and %q", c.url, err, c.want)
		}
	}
	if err := load("redis://:secret@127.0.0.1:26379/2?master_name=m&addr=127.0.0.1:26380&password=p"); err != nil {
		t.Errorf("valid Sentinel URL refused: %v", err)
	}
}
