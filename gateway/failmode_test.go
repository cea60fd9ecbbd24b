package gateway_test

import (
	"net/http"
	"syscall"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/waitroom/waitroom/internal/testenv"
	"github.com/waitroom/waitroom/queue"
)

// failFast are the client options of a test that stops or kills its own
// Redis: every call gives up within a few hundred milliseconds, so the
// outage shows at once instead of after go-redis's default timeouts.
func failFast() *redis.Options {
	return &redis.Options{DialTimeout: 300 * time.Millisecond,
		ReadTimeout: 300 * time.Millisecond, WriteTimeout: 300 * time.Millisecond, MaxRetries: 1}
}

// Redis stopped mid-test: visitors without a pass get the fail mode
// (closed: 503 + Retry-After; open: proxied), pass holders keep going in
// both, and after Redis returns the queue is intact and the gateway is
// back to normal without a restart.
func TestRedisOutageFailModes(t *testing.T) {
	for _, mode := range []string{"closed", "open"} {
		t.Run(mode, func(t *testing.T) {
			cmd := testenv.StartRedis(t)
			rdb := cmd.Client(failFast())
			r := newRig(t, rigOpts{rdb: rdb, prefix: "wr:", failMode: mode,
				rooms: []queue.Room{room("f", 600, 1, "/f/*")}})
			holder, waiter := newBrowser(t), newBrowser(t)
			if res, _ := holder.get(r.pub.URL+"/f/x", false); res.StatusCode != http.StatusOK {
				t.Fatalf("holder not admitted: %d", res.StatusCode)
			}
			if res, _ := waiter.get(r.pub.URL+"/f/x", false); res.StatusCode != http.StatusTooManyRequests {
				t.Fatalf("waiter not queued: %d", res.StatusCode)
			}
			// A second instance that never saw the holder's pass.
			fresh := newRig(t, rigOpts{rdb: rdb, prefix: "wr:", failMode: mode, rooms: r.cfg.Rooms, origin: r.origin})

			if err := cmd.Process.Signal(syscall.SIGSTOP); err != nil {
				t.Fatal(err)
			}
			// The health probe sees the outage within a few seconds; until
			// then a newcomer is told to retry, never let through.
			wantNew := map[string]int{"closed": http.StatusServiceUnavailable, "open": http.StatusOK}[mode]
			var res *http.Response
			testenv.WaitFor(t, 10*time.Second, "the fail mode", func() bool {
				res, _ = newBrowser(t).get(r.pub.URL+"/f/x", false)
				if res.StatusCode != wantNew && res.StatusCode != http.StatusTooManyRequests {
					t.Fatalf("newcomer during outage: %d, want %d or 429", res.StatusCode, wantNew)
				}
				return res.StatusCode == wantNew
			})
			newcomer := newBrowser(t)
			res, _ = newcomer.get(r.pub.URL+"/f/x", false)
			if res.StatusCode != wantNew {
				t.Fatalf("newcomer during outage: %d, want %d", res.StatusCode, wantNew)
			}
			if mode == "closed" && res.Header.Get("Retry-After") == "" {
				t.Errorf("503 without Retry-After")
			}
			if res, body := newcomer.get(r.pub.URL+"/f/x", true); mode == "closed" && (res.StatusCode != 503 || len(body) == 0) {
				t.Errorf("HTML newcomer during outage: %d", res.StatusCode)
			}
			for name, base := range map[string]string{"known": r.pub.URL, "fresh instance": fresh.pub.URL} {
				if res, body := holder.get(base+"/f/y", false); res.StatusCode != http.StatusOK || body != "origin:/f/y" {
					t.Errorf("pass holder (%s) during outage: %d %q", name, res.StatusCode, body)
				}
			}
			if res, _ := http.Get(r.adm.URL + "/readyz"); res.StatusCode != http.StatusServiceUnavailable {
				t.Errorf("/readyz during outage: %d", res.StatusCode)
			}

			if err := cmd.Process.Signal(syscall.SIGCONT); err != nil {
				t.Fatal(err)
			}
			testenv.WaitFor(t, 5*time.Second, "recovery", func() bool {
				res, _ := waiter.get(r.pub.URL+"/f/x", false)
				return res.StatusCode == http.StatusTooManyRequests
			})
			if st := waiter.status(r, "f"); st.State != "queued" || st.Position != 1 {
				t.Fatalf("after the outage the waiter is %s at %d, want queued at 1", st.State, st.Position)
			}
			if res, _ := http.Get(r.adm.URL + "/readyz"); res.StatusCode != http.StatusOK {
				t.Errorf("/readyz after recovery: %d", res.StatusCode)
			}
		})
	}
}
