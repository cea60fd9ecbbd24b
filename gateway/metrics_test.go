package gateway

import (
	"context"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"strconv"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	"github.com/rs/zerolog"

	"github.com/waitroom/waitroom/internal/testenv"
	"github.com/waitroom/waitroom/queue"
)

// metricsGateway is a gateway on real Redis in front of an origin that
// answers /status/<code> with that code.
func metricsGateway(t *testing.T) *Gateway {
	t.Helper()
	origin := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		code, err := strconv.Atoi(r.URL.Path[len("/status/"):])
		if err != nil {
			code = http.StatusOK
		}
		w.WriteHeader(code)
	}))
	t.Cleanup(origin.Close)
	rdb, prefix := testenv.Redis(t)
	cfg := DefaultConfig(origin.URL)
	cfg.Redis, cfg.RedisPrefix = rdb, prefix
	cfg.Rooms = []queue.Room{{Name: "m", Paths: []string{"/status/*"}, AdmitPerMinute: 600, MaxActive: 100,
		SessionTTL: 600e9, AbandonAfter: 60e9, Mode: queue.FIFO}}
	cfg.CookieSecret = "0123456789abcdef0123456789abcdef-cookie"
	cfg.PassSecret = "0123456789abcdef0123456789abcdef-pass"
	g, err := New(context.Background(), cfg, zerolog.Nop())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = g.Shutdown(context.Background()) })
	return g
}

// Origin responses are counted by status class, so an alert can tell the
// origin's own 5xx from ours; a failed round trip is counted apart.
func TestOriginResponsesByClass(t *testing.T) {
	g := metricsGateway(t)
	srv := httptest.NewServer(g.Public())
	defer srv.Close()
	b := newTestBrowser(t)
	for _, code := range []int{200, 204, 302, 404, 410, 503, 500, 502} {
		res := b.get(srv.URL + "/status/" + strconv.Itoa(code))
		if res.StatusCode != code {
			t.Fatalf("/status/%d answered %d: not proxied", code, res.StatusCode)
		}
	}
	want := map[int]float64{1: 0, 2: 2, 3: 1, 4: 2, 5: 3}
	for c, n := range want {
		if got := counterValue(g.metrics.originClass[c]); got != n {
			t.Errorf("origin responses %dxx = %v, want %v", c, got, n)
		}
	}
	if got := counterValue(g.metrics.originErrors); got != 0 {
		t.Errorf("origin errors = %v, want 0: every round trip succeeded", got)
	}
}

// When the crowd gate is full, joins and status polls are answered "busy"
// at once, and each kind is counted.
func TestBusyAnswersCounted(t *testing.T) {
	g := metricsGateway(t)
	srv := httptest.NewServer(g.Public())
	defer srv.Close()
	// Take every slot (a cancelled context gives up at once when none is
	// left); the requests below then wait the gate's patience and are
	// answered busy.
	done, cancel := context.WithCancel(context.Background())
	cancel()
	held := 0
	for g.crowd.gate.Acquire(done) {
		held++
	}
	defer func() {
		for range held {
			g.crowd.gate.Release()
		}
	}()

	b := newTestBrowser(t)
	if res := b.get(srv.URL + "/status/200"); res.StatusCode != http.StatusTooManyRequests {
		t.Fatalf("join with the gate full: %d, want 429", res.StatusCode)
	}
	if res := b.get(srv.URL + "/_waitroom/api/status?room=m"); res.StatusCode != http.StatusTooManyRequests {
		t.Fatalf("status with the gate full: %d, want 429", res.StatusCode)
	}
	if got := counterValue(g.metrics.busyJoin); got != 1 {
		t.Errorf("busy joins = %v, want 1", got)
	}
	if got := counterValue(g.metrics.busyStatus); got < 1 {
		t.Errorf("busy status polls = %v, want >= 1", got)
	}
	if got := counterValue(g.metrics.originClass[2]); got != 0 {
		t.Errorf("origin saw %v requests while the crowd gate was full, want 0", got)
	}
}

type testBrowser struct {
	t *testing.T
	c *http.Client
}

func newTestBrowser(t *testing.T) *testBrowser {
	jar := newJar()
	return &testBrowser{t: t, c: &http.Client{Jar: jar,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}}
}

// get requests url as an API client (JSON answers, no queue page).
func (b *testBrowser) get(url string) *http.Response {
	b.t.Helper()
	req, _ := http.NewRequest(http.MethodGet, url, nil)
	req.Header.Set("Accept", "application/json")
	res, err := b.c.Do(req)
	if err != nil {
		b.t.Fatal(err)
	}
	res.Body.Close()
	return res
}

func newJar() http.CookieJar {
	jar, _ := cookiejar.New(nil)
	return jar
}

// counterValue reads a counter's value.
func counterValue(c prometheus.Counter) float64 {
	var m dto.Metric
	if err := c.Write(&m); err != nil {
		return -1
	}
	return m.GetCounter().GetValue()
}
