package gateway_test

import (
	"context"
	"fmt"
	"net/http"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/waitroom/waitroom/internal/testenv"
	"github.com/waitroom/waitroom/queue"
	"github.com/waitroom/waitroom/token"
)

// waitRefused replays the visitor's cookies (holding pass) on instance r
// until r no longer proxies the pass: within a second, since revocations
// travel as news, far below the 5 s periodic recheck.
func waitRefused(t *testing.T, r *rig, o *origin, cookies, pass string) {
	t.Helper()
	testenv.WaitFor(t, time.Second, "the revocation to reach the other instance", func() bool {
		before := proxiedWith(o, pass)
		newBrowser(t).get(r.pub.URL+"/event", false, "Cookie", cookies)
		return proxiedWith(o, pass) == before
	})
}

// waitSubscribers polls until n instances listen on the revocation channel.
func waitSubscribers(t *testing.T, rdb redis.UniversalClient, channel string, n int64) {
	t.Helper()
	testenv.WaitFor(t, 10*time.Second, fmt.Sprintf("%d revocation subscribers", n), func() bool {
		got, err := rdb.PubSubNumSub(context.Background(), channel).Result()
		return err == nil && got[channel] == n
	})
}

// revokeOrigin answers /buy with Waitroom-Command: revoke and records the
// pass of every request it receives.
func revokeOrigin(t *testing.T) *origin {
	o := newOrigin(t)
	o.respond = func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/buy" {
			w.Header().Set("Waitroom-Command", "revoke")
		}
		w.WriteHeader(http.StatusOK)
	}
	return o
}

// proxiedWith counts the origin's requests that carried pass.
func proxiedWith(o *origin, pass string) int {
	n := 0
	for _, r := range o.requests() {
		if r.Header.Get(token.HeaderPass) == pass {
			n++
		}
	}
	return n
}

// A revoke handled by one instance reaches every other instance at once:
// an instance that had verified and cached the pass refuses it on its very
// next request, without waiting for its periodic recheck. After Redis goes
// away and comes back (a restart loses every subscription), the instances
// subscribe again on their own and revocations keep arriving at once.
func TestRevocationReachesEveryInstance(t *testing.T) {
	cmd := testenv.StartRedis(t)
	rdb := cmd.Client(failFast())
	o := revokeOrigin(t)
	rooms := []queue.Room{room("shop", 6000, 10, "/*")}
	a := newRig(t, rigOpts{rdb: rdb, prefix: "wr:", origin: o, rooms: rooms})
	b := newRig(t, rigOpts{rdb: rdb, prefix: "wr:", origin: o, rooms: rooms})
	const channel = "wr:revoked"
	waitSubscribers(t, rdb, channel, 2)

	for _, restart := range []bool{false, true} {
		t.Run(fmt.Sprintf("redis restarted=%t", restart), func(t *testing.T) {
			visitor := newBrowser(t)
			if res, _ := visitor.get(a.pub.URL+"/event", false); res.StatusCode != http.StatusOK {
				t.Fatalf("first visit: %d", res.StatusCode)
			}
			pass := visitor.cookie(a.pub.URL, token.CookieName("shop"))
			cookies := visitor.cookieHeader(a.pub.URL)
			replay := func(base string) *http.Response {
				res, _ := newBrowser(t).get(base+"/event", false, "Cookie", cookies)
				return res
			}
			// b verifies the pass and keeps it in its cache.
			if res := replay(b.pub.URL); res.StatusCode != http.StatusOK || proxiedWith(o, pass) != 2 {
				t.Fatalf("pass on the second instance: %d", res.StatusCode)
			}
			if restart {
				cmd.Restart()
				waitSubscribers(t, rdb, channel, 2)
			}
			if res, _ := visitor.get(a.pub.URL+"/buy", false); res.StatusCode != http.StatusOK {
				t.Fatalf("revoking request: %d", res.StatusCode)
			}
			waitRefused(t, b, o, cookies, pass)
			before := proxiedWith(o, pass)
			replay(b.pub.URL)
			replay(a.pub.URL)
			if n := proxiedWith(o, pass) - before; n != 0 {
				t.Fatalf("the revoked pass reached the origin %d more times", n)
			}
		})
	}
}
