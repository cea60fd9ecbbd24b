package gateway_test

import (
	"context"
	"io"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/waitroom/waitroom/gateway"
	"github.com/waitroom/waitroom/internal/testenv"
	"github.com/waitroom/waitroom/queue"
	"github.com/waitroom/waitroom/web"
)

// A flash crowd of 3,000 visitors joining at once, through a visitor pool
// of only 4 Redis connections, neither stops the admission loop nor trips
// the fail mode: visitors keep being admitted while the crowd hammers the
// gateway, nobody gets a 5xx, and the crowd the gate turns away is told to
// retry (queue page or 429 with Retry-After), never "Redis is down".
func TestFlashCrowdKeepsAdmitting(t *testing.T) {
	if testing.Short() {
		t.Skip("3,000 concurrent visitors")
	}
	base, prefix := testenv.Redis(t)
	opt := *base.Options()
	opt.PoolSize, opt.MinIdleConns = 4, 0
	small := redis.NewClient(&opt)
	t.Cleanup(func() { _ = small.Close() })

	r := newRig(t, rigOpts{rdb: small, prefix: prefix,
		rooms: []queue.Room{room("burst", 600, 100_000, "/b/*")}})
	figures := func() queue.Figures {
		t.Helper()
		q := queue.New(base, queue.Config{Prefix: prefix})
		f, err := q.Figures(context.Background(), r.g.Rooms())
		if err != nil {
			t.Fatal(err)
		}
		return f[0]
	}

	const crowd = 3000
	tr := &http.Transport{MaxIdleConnsPerHost: crowd, MaxConnsPerHost: crowd}
	t.Cleanup(tr.CloseIdleConnections)
	cl := &http.Client{Transport: tr, Timeout: 30 * time.Second,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}

	var (
		stop      atomic.Bool
		sent      atomic.Int64
		busy      atomic.Int64 // answered without a place yet
		mu        sync.Mutex
		bad       = map[string]int{} // unexpected answers
		wg        sync.WaitGroup
		startLine = make(chan struct{})
	)
	for i := range crowd {
		html := i%2 == 0
		wg.Go(func() {
			<-startLine
			var cookie string
			for !stop.Load() {
				req, _ := http.NewRequest(http.MethodGet, r.pub.URL+"/b/event", nil)
				if html {
					req.Header.Set("Accept", "text/html")
				} else {
					req.Header.Set("Accept", "application/json")
				}
				if cookie != "" {
					req.Header.Set("Cookie", cookie)
				}
				sent.Add(1)
				res, err := cl.Do(req)
				if err != nil {
					if !stop.Load() {
						mu.Lock()
						bad["transport: "+err.Error()]++
						mu.Unlock()
					}
					return
				}
				body, _ := io.ReadAll(res.Body)
				res.Body.Close()
				for _, c := range res.Cookies() {
					if c.Name == gateway.CookieVisitor {
						cookie = c.Name + "=" + c.Value
					}
				}
				ok := res.StatusCode == http.StatusOK ||
					(!html && res.StatusCode == http.StatusTooManyRequests && res.Header.Get("Retry-After") != "")
				if !ok {
					mu.Lock()
					bad[res.Status+" "+strings.TrimSpace(string(body))]++
					mu.Unlock()
				}
				if strings.Contains(string(body), `"position":0`) {
					busy.Add(1)
				}
			}
		})
	}
	close(startLine)

	// Once every visitor has asked at least once, the line must keep
	// moving while the crowd keeps asking.
	testenv.WaitFor(t, 60*time.Second, "every visitor to have asked", func() bool { return sent.Load() >= crowd })
	before := figures().AdmittedTotal
	testenv.WaitFor(t, 60*time.Second, "admissions during the crowd", func() bool { return figures().AdmittedTotal >= before+5 })
	during := sent.Load()
	stop.Store(true)
	wg.Wait()

	if len(bad) > 0 {
		t.Errorf("unexpected answers during the crowd: %v", bad)
	}
	if during < crowd {
		t.Errorf("the crowd stopped asking: %d requests", during)
	}
	res, body := newBrowser(t).get(r.adm.URL+"/metrics", false)
	if res.StatusCode != http.StatusOK {
		t.Fatalf("/metrics: %d", res.StatusCode)
	}
	for _, want := range []string{"waitroom_redis_up 1", "waitroom_fail_closed_total 0"} {
		if !strings.Contains(body, want) {
			t.Errorf("/metrics lacks %q: the fail mode tripped under a crowd", want)
		}
	}
	t.Logf("%d requests, %d answered busy; admitted %d → %d", during, busy.Load(), before, figures().AdmittedTotal)
}

// The ETA a socket shows is the one the status API gives for the same
// position: both come from the queue's ETA rate with the same rounding.
func TestSocketAndStatusAgreeOnETA(t *testing.T) {
	// 7 a minute: position 2 waits 17.14 s, which rounds and ceils apart.
	r := newRig(t, rigOpts{rooms: []queue.Room{room("eta", 7, 1, "/e/*")}})
	holder := newBrowser(t)
	if res, _ := holder.get(r.pub.URL+"/e/x", false); res.StatusCode != http.StatusOK {
		t.Fatalf("holder not admitted: %d", res.StatusCode)
	}
	var last *browser
	for range 2 {
		last = newBrowser(t)
		if res, _ := last.get(r.pub.URL+"/e/x", true); res.Header.Get("Waitroom-State") != "queued" {
			t.Fatalf("waiter not queued: %d", res.StatusCode)
		}
	}
	c, _, err := dialWS(t, r, last, "eta", "")
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	api := last.status(r, "eta")
	if api.Position != 2 || api.ETA != 17 {
		t.Fatalf("status API: position %d eta %d, want 2 and 17", api.Position, api.ETA)
	}
	// The first push comes from the handshake's lookup; the next ones are
	// the hub's own computation from the room's figures.
	for i := range 3 {
		s, err := readStatus(t, c, 3*time.Second)
		if err != nil {
			t.Fatal(err)
		}
		if s.Position != api.Position || s.ETA != api.ETA {
			t.Fatalf("push %d: position %d eta %d, status API says %d and %d", i, s.Position, s.ETA, api.Position, api.ETA)
		}
	}
}

// A revoke while Redis is stalled still frees the visitor's slot once Redis
// answers again (the release is retried in the background), so the next
// visitor is admitted without waiting for the session to expire.
func TestRevokeReleasesAfterRedisStall(t *testing.T) {
	cmd := testenv.StartRedis(t)
	rdb := cmd.Client(failFast())
	r := newRig(t, rigOpts{rdb: rdb, prefix: "wr:", origin: revokeOrigin(t),
		rooms: []queue.Room{room("rv", 600, 1, "/*")}})
	holder, waiter := newBrowser(t), newBrowser(t)
	if res, _ := holder.get(r.pub.URL+"/x", false); res.StatusCode != http.StatusOK {
		t.Fatalf("holder not admitted: %d", res.StatusCode)
	}
	if res, _ := waiter.get(r.pub.URL+"/x", false); res.StatusCode != http.StatusTooManyRequests {
		t.Fatalf("waiter not queued: %d", res.StatusCode)
	}
	active := func() int64 {
		f, err := queue.New(rdb, queue.Config{Prefix: "wr:"}).Figures(context.Background(), r.g.Rooms())
		if err != nil {
			return -1
		}
		return f[0].Active
	}

	if err := cmd.Process.Signal(syscall.SIGSTOP); err != nil {
		t.Fatal(err)
	}
	res, _ := holder.get(r.pub.URL+"/buy", false)
	if err := cmd.Process.Signal(syscall.SIGCONT); err != nil {
		t.Fatal(err)
	}
	if res.StatusCode != http.StatusOK {
		t.Fatalf("/buy: %d", res.StatusCode)
	}
	// Session TTL is 10 minutes: only the retried release frees the slot.
	testenv.WaitFor(t, 15*time.Second, "the slot to be released", func() bool { return active() == 0 || waiterAdmitted(t, r, waiter) })
	testenv.WaitFor(t, 15*time.Second, "the waiter's admission", func() bool { return waiterAdmitted(t, r, waiter) })
}

func waiterAdmitted(t *testing.T, r *rig, b *browser) bool {
	t.Helper()
	res, _ := b.get(r.pub.URL+"/x", false)
	return res.StatusCode == http.StatusOK && res.Header.Get("Waitroom-State") == ""
}

// Status polls of a visitor whose place this instance knows are answered
// without a Redis round trip each, yet still keep the visitor from being
// skipped as abandoned: a visitor who only polls (no socket) for longer
// than abandon_after is admitted when their turn comes.
func TestPollingVisitorKeepsPlace(t *testing.T) {
	rm := room("poll", 0, 100, "/p/*")
	rm.AbandonAfter = 2 * time.Second
	r := newRig(t, rigOpts{rooms: []queue.Room{rm}})
	v := newBrowser(t)
	if res, _ := v.get(r.pub.URL+"/p/x", false); res.StatusCode != http.StatusTooManyRequests {
		t.Fatalf("visitor not queued: %d", res.StatusCode)
	}
	deadline := time.Now().Add(2*rm.AbandonAfter + time.Second)
	for time.Now().Before(deadline) {
		if st := v.status(r, "poll"); st.State != "queued" || st.Position != 1 || st.Ticket == 0 {
			t.Fatalf("poll: %+v, want queued at 1 with a ticket", st)
		}
		time.Sleep(300 * time.Millisecond)
	}
	if res, body := r.admin(t, http.MethodPost, "/admin/rooms/poll/admit", `{"count":1}`); res.StatusCode != http.StatusOK {
		t.Fatalf("admit: %d %s", res.StatusCode, body)
	}
	// A locally answered poll may lag the queue by one hub tick.
	var st web.Status
	testenv.WaitFor(t, 5*time.Second, "the visitor to read admitted", func() bool {
		st = v.status(r, "poll")
		if st.State != "admitted" && st.State != "queued" {
			t.Fatalf("after admitting one: %+v, want admitted (not skipped as abandoned)", st)
		}
		return st.State == "admitted"
	})
}
