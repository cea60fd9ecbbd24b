package deploy_test

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/waitroom/waitroom/internal/testenv"
)

// roomFigures is the part of GET /admin/rooms/{name} the crowd test reads.
type roomFigures struct {
	Waiting       int64 `json:"waiting"`
	Active        int64 `json:"active"`
	AdmittedTotal int64 `json:"admitted_total"`
}

func (s *stack) adminDo(method, admin, path, body string) (*http.Response, []byte) {
	s.t.Helper()
	req, _ := http.NewRequest(method, admin+path, strings.NewReader(body))
	req.Header.Set("Authorization", "Bearer "+adminToken)
	req.Header.Set("Content-Type", "application/json")
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		s.t.Fatal(err)
	}
	defer res.Body.Close()
	var b []byte
	b, _ = readAll(res)
	return res, b
}

func readAll(res *http.Response) ([]byte, error) {
	var sb strings.Builder
	buf := make([]byte, 4096)
	for {
		n, err := res.Body.Read(buf)
		sb.Write(buf[:n])
		if err != nil {
			return []byte(sb.String()), nil
		}
	}
}

// A crowd through two gateway processes that share a three-master Redis
// Cluster (WAITROOM_REDIS_URL in the cluster form): 50 visitors join
// alternately through either gateway and get positions 1..50 in the order
// they came; admission then runs on both gateways at once and lets them in
// strictly in that order, never more than max_active at a time, each one
// buying and so freeing a slot for the next.
func TestCrowdThroughTwoGatewaysOnRedisCluster(t *testing.T) {
	t0 := time.Now()
	_, prefix := testenv.RedisCluster(t)
	t.Logf("cluster ready in %s", time.Since(t0).Round(time.Millisecond))
	s := &stack{t: t, dir: t.TempDir(), prefix: prefix}
	s.startTicketd()
	s.gatewayEnv(testenv.RedisClusterURL())
	const crowd, maxActive = 50, 10
	s.gwEnv["WAITROOM_MAX_ACTIVE"] = fmt.Sprint(maxActive)
	pubA, admA, pubB, admB := testenv.FreePort(t), testenv.FreePort(t), testenv.FreePort(t), testenv.FreePort(t)
	s.startGateway("gateway-a", pubA, admA)
	s.startGateway("gateway-b", pubB, admB)
	gws := []string{fmt.Sprintf("http://127.0.0.1:%d", pubA), fmt.Sprintf("http://127.0.0.1:%d", pubB)}
	admins := []string{fmt.Sprintf("http://127.0.0.1:%d", admA), fmt.Sprintf("http://127.0.0.1:%d", admB)}

	visitors := make([]*visitor, crowd)
	for i := range visitors {
		v := s.newVisitor()
		res, body := v.mustDo(http.MethodGet, gws[i%2]+"/events/1", "application/json", "")
		var st status
		_ = json.Unmarshal([]byte(body), &st)
		if res.StatusCode != http.StatusTooManyRequests || st.State != "queued" || st.Position != int64(i+1) {
			t.Fatalf("visitor %d joining through gateway %d: %d %+v, want 429 queued at %d", i, i%2, res.StatusCode, st, i+1)
		}
		visitors[i] = v
	}

	// Watch the shared figures through both gateways while the room drains.
	var peak atomic.Int64
	stop := make(chan struct{})
	var watch sync.WaitGroup
	watch.Add(1)
	go func() {
		defer watch.Done()
		for i := 0; ; i++ {
			select {
			case <-stop:
				return
			case <-time.After(20 * time.Millisecond):
			}
			var f roomFigures
			if res, err := http.Get(admins[i%2] + "/admin/rooms/default"); err == nil {
				_ = json.NewDecoder(res.Body).Decode(&f)
				res.Body.Close()
			}
			for p := peak.Load(); f.Active > p && !peak.CompareAndSwap(p, f.Active); p = peak.Load() {
			}
		}
	}()

	if res, b := s.adminDo(http.MethodPatch, admins[0], "/admin/rooms/default", `{"admit_per_minute":6000}`); res.StatusCode != http.StatusOK {
		t.Fatalf("PATCH rate: %d %s", res.StatusCode, b)
	}

	// Each visitor polls through the other gateway until admitted, then
	// buys, which ends the session. Admission order must be join order.
	started := time.Now()
	admittedAt := make([]time.Time, crowd)
	var wg sync.WaitGroup
	errs := make(chan error, crowd)
	for i, v := range visitors {
		wg.Add(1)
		go func() {
			defer wg.Done()
			gw := gws[(i+1)%2]
			deadline := time.Now().Add(60 * time.Second)
			for {
				_, body, err := v.do(http.MethodGet, gw+"/_waitroom/api/status?room=default", "application/json", "")
				var st status
				if err == nil {
					err = json.Unmarshal([]byte(body), &st)
				}
				if err == nil && st.State == "admitted" {
					break
				}
				if time.Now().After(deadline) {
					errs <- fmt.Errorf("visitor %d never admitted (last %+v %v)", i, st, err)
					return
				}
				time.Sleep(25 * time.Millisecond)
			}
			admittedAt[i] = time.Now()
			time.Sleep(100 * time.Millisecond) // looks around before buying
			res, body, err := v.do(http.MethodPost, gw+"/api/events/1/orders", "application/json", `{"quantity":1}`)
			if err != nil || res.StatusCode != http.StatusCreated {
				code := 0
				if res != nil {
					code = res.StatusCode
				}
				errs <- fmt.Errorf("visitor %d order: %d %v %.100s", i, code, err, body)
			}
		}()
	}
	wg.Wait()
	t.Logf("%d visitors admitted and served in %s", crowd, time.Since(started).Round(time.Millisecond))
	close(stop)
	watch.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	if p := peak.Load(); p > maxActive {
		t.Errorf("peak active %d, max_active %d", p, maxActive)
	}
	// A poller sees its admission late by up to one poll plus one hub tick
	// (the status API answers from the instance's figures, and visitors the
	// front has passed are looked up in batches), a few hundred ms in all.
	// The exact order is pinned by the queue's conformance suite, which also
	// runs on this cluster; here, visitors three admission rounds apart
	// (several hundred ms) must never be seen out of order.
	const gap = 3 * maxActive
	inversions := 0
	for i := 0; i+gap < crowd; i++ {
		if !admittedAt[i].IsZero() && !admittedAt[i+gap].IsZero() && admittedAt[i].After(admittedAt[i+gap]) {
			inversions++
		}
	}
	if inversions > 0 {
		t.Errorf("%d visitors admitted after someone who joined %d places behind them", inversions, gap)
	}
	var f roomFigures
	res, b := s.adminDo(http.MethodGet, admins[1], "/admin/rooms/default", "")
	_ = json.Unmarshal(b, &f)
	if res.StatusCode != http.StatusOK || f.AdmittedTotal != crowd || f.Waiting != 0 {
		t.Errorf("room after the crowd: %d %s", res.StatusCode, b)
	}
}
