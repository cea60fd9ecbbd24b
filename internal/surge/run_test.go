package surge

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

func gatewayConfig(url string, visitors int) Config {
	c := Defaults()
	c.Target, c.Origin, c.EventID = url, url, "1"
	c.Visitors = visitors
	c.Duration = 30 * time.Second
	c.PollInterval = 100 * time.Millisecond
	c.Timeout = 5 * time.Second
	return c
}

func mustRun(t *testing.T, c Config) *Report {
	t.Helper()
	rep, err := Run(context.Background(), c, nil)
	if err != nil {
		t.Fatalf("Run: %v", err)
	}
	return rep
}

// The ledger of visitors adds up: each ends in exactly one outcome.
func checkLedger(t *testing.T, r *Report) {
	t.Helper()
	v := r.Visitors
	if sum := v.Bought + v.SoldOut + v.Abandoned + v.StillWaiting + v.Failed; sum != v.Arrived {
		t.Errorf("outcomes add to %d, arrived %d: %+v", sum, v.Arrived, v)
	}
}

// A fair queue in front of a correct origin: every visitor queues, is let
// in in ticket order, and the stock sells out exactly, with none oversold;
// surge reports just that, for WebSocket and polling visitors alike.
func TestRunThroughFairQueue(t *testing.T) {
	for _, ws := range []float64{1, 0, 0.5} {
		t.Run(fmt.Sprintf("ws share %.1f", ws), func(t *testing.T) {
			_, srv := newFakeSite(t, 60, func(f *fakeSite) { f.PerTick = 5 })
			c := gatewayConfig(srv.URL, 80)
			c.WebSocketShare = ws
			rep := mustRun(t, c)
			checkLedger(t, rep)
			v := rep.Visitors
			if v.Arrived != 80 || v.Queued != 80 || v.Admitted != 80 || v.Bought != 60 || v.SoldOut != 20 {
				t.Errorf("visitors %+v, want 80 queued and admitted, 60 bought, 20 sold out", v)
			}
			if rep.Stock.Oversell != 0 || rep.Stock.TicketsConfirmed != 60 || rep.Stock.RemainingAfter != 0 {
				t.Errorf("stock %+v", rep.Stock)
			}
			if rep.FIFO.Inversions != 0 || rep.FIFO.Checked != 80 || rep.FIFO.PositionIncreases != 0 {
				t.Errorf("fifo %+v", rep.FIFO)
			}
			if rep.Orders != 60 || rep.Latency["order"].Count != 80 || rep.Latency["page"].Count != 80 {
				t.Errorf("orders %d, latency %+v", rep.Orders, rep.Latency)
			}
			if ws == 1 && rep.Latency["ws_connect"].Count != 80 {
				t.Errorf("ws handshakes %d, want 80", rep.Latency["ws_connect"].Count)
			}
			if ws == 0 && rep.Latency["status"].Count < 80 {
				t.Errorf("status polls %d, want at least one per visitor", rep.Latency["status"].Count)
			}
			if rep.Wait.Count != 80 || rep.Wait.P99 <= 0 {
				t.Errorf("wait %+v", rep.Wait)
			}
			if len(rep.Errors) != 0 {
				t.Errorf("errors %v", rep.Errors)
			}
			if rep.Origin.InflightMax < 1 || rep.Admission.AchievedPerMinute <= 0 {
				t.Errorf("origin %+v admission %+v", rep.Origin, rep.Admission)
			}
		})
	}
}

// A queue that lets newer visitors in first is caught: surge counts
// inversions that no observation delay can explain.
func TestRunDetectsUnfairQueue(t *testing.T) {
	_, srv := newFakeSite(t, 100, func(f *fakeSite) { f.PerTick = 2; f.Tick = 30 * time.Millisecond; f.Invert = true })
	c := gatewayConfig(srv.URL, 30)
	c.WebSocketShare = 1
	c.FIFOSlack = 100 * time.Millisecond
	rep := mustRun(t, c)
	if rep.FIFO.Inversions == 0 || rep.FIFO.ObservedInversions < rep.FIFO.Inversions {
		t.Fatalf("LIFO queue not caught: %+v", rep.FIFO)
	}
}

// An origin that sells past its stock is caught, and surge's exit status
// (tested in cmd/surge) turns it into a failure.
func TestRunDetectsOversell(t *testing.T) {
	_, srv := newFakeSite(t, 10, func(f *fakeSite) { f.AtOnce = 1000; f.Oversell = true })
	rep := mustRun(t, gatewayConfig(srv.URL, 25))
	if rep.Stock.Oversell != 15 || rep.Stock.RemainingAfter != -15 {
		t.Fatalf("oversell not caught: %+v", rep.Stock)
	}
	if rep.Visitors.AdmittedAtOnce != 25 || rep.Visitors.Queued != 0 {
		t.Errorf("visitors %+v", rep.Visitors)
	}
}

// Visitors who close the tab leave the queue and are counted as abandoned,
// not as failures or as still waiting.
func TestRunAbandon(t *testing.T) {
	_, srv := newFakeSite(t, 10, nil) // nobody is ever admitted
	c := gatewayConfig(srv.URL, 20)
	c.AbandonShare, c.AbandonWithin, c.WebSocketShare = 1, 200*time.Millisecond, 0.5
	rep := mustRun(t, c)
	checkLedger(t, rep)
	if rep.Visitors.Abandoned != 20 || rep.Interrupted {
		t.Fatalf("visitors %+v interrupted %v", rep.Visitors, rep.Interrupted)
	}
}

// The duration is a hard cap: a queue that never moves stops the run at
// the cap with everyone counted as still waiting, and Ctrl-C (a cancelled
// context) stops it sooner the same way.
func TestRunIsBounded(t *testing.T) {
	tests := []struct {
		name   string
		cap    time.Duration
		cancel time.Duration
	}{
		{"duration cap", 700 * time.Millisecond, 0},
		{"interrupt", time.Minute, 500 * time.Millisecond},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, srv := newFakeSite(t, 10, nil)
			c := gatewayConfig(srv.URL, 50)
			c.Duration = tt.cap
			c.Profile, c.Ramp = Ramp, 200*time.Millisecond
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			if tt.cancel > 0 {
				time.AfterFunc(tt.cancel, cancel)
			}
			t0 := time.Now()
			rep, err := Run(ctx, c, nil)
			if err != nil {
				t.Fatal(err)
			}
			if took := time.Since(t0); took > 10*time.Second {
				t.Errorf("run took %s", took)
			}
			checkLedger(t, rep)
			if !rep.Interrupted || rep.Visitors.StillWaiting != 50 {
				t.Errorf("interrupted %v, visitors %+v", rep.Interrupted, rep.Visitors)
			}
		})
	}
}

// Direct mode sends the same crowd to the origin with passes signed like
// the gateway's, so the origin's real order path runs; without a key the
// origin refuses every order and the report says so by kind.
func TestRunDirect(t *testing.T) {
	secret := []byte(strings.Repeat("s", 32))
	tests := []struct {
		name       string
		secret     []byte
		bought     int64
		errorKind  string
		errorCount int64
	}{
		{"signed passes", secret, 30, "", 0},
		{"no passes", nil, 0, "order_http_401", 40},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, srv := newFakeSite(t, 30, func(f *fakeSite) { f.Secret = secret })
			c := gatewayConfig("", 40)
			c.Target, c.Direct, c.Origin = "", srv.URL, ""
			c.PassSecret = tt.secret
			rep := mustRun(t, c)
			checkLedger(t, rep)
			if rep.Mode != "direct" || rep.Visitors.Bought != tt.bought || rep.Visitors.Queued != 0 {
				t.Errorf("mode %s visitors %+v", rep.Mode, rep.Visitors)
			}
			if tt.errorKind != "" && rep.Errors[tt.errorKind] != tt.errorCount {
				t.Errorf("errors %v, want %d %s", rep.Errors, tt.errorCount, tt.errorKind)
			}
			if rep.Stock.Oversell != 0 || rep.Stock.RemainingBefore != 30 {
				t.Errorf("stock %+v", rep.Stock)
			}
		})
	}
}

// surge only talks to the URLs it was given: a redirect to another host is
// reported, never followed.
func TestRunNeverFollowsRedirects(t *testing.T) {
	var elsewhere atomic.Int64
	other := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { elsewhere.Add(1) }))
	defer other.Close()
	site := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, other.URL+"/steal", http.StatusFound)
	}))
	defer site.Close()
	c := gatewayConfig(site.URL, 5)
	c.Origin = ""
	rep := mustRun(t, c)
	if elsewhere.Load() != 0 {
		t.Fatalf("%d requests went to a host surge was not given", elsewhere.Load())
	}
	if rep.Errors["page_http_302"] != 5 || rep.Visitors.Failed != 5 {
		t.Fatalf("errors %v visitors %+v", rep.Errors, rep.Visitors)
	}
}

// A hostile or broken server cannot make surge hang or hold huge bodies:
// oversized bodies and WebSocket messages are cut off and reported, junk
// status JSON is counted.
func TestRunHostileServer(t *testing.T) {
	big := strings.Repeat("x", 4<<20)
	tests := []struct {
		name    string
		handler http.HandlerFunc
		errKind string
	}{
		{"huge page", func(w http.ResponseWriter, r *http.Request) { fmt.Fprint(w, big) }, "page_too_large"},
		{"junk status", func(w http.ResponseWriter, r *http.Request) {
			if r.URL.Path == "/_waitroom/api/status" {
				fmt.Fprint(w, "{not json")
				return
			}
			w.Header().Set("Waitroom-State", "queued")
		}, "status_bad_json"},
		{"huge socket message", func(w http.ResponseWriter, r *http.Request) {
			if r.URL.Path == "/_waitroom/ws" {
				conn, err := upgrader.Upgrade(w, r, nil)
				if err == nil {
					_ = conn.WriteMessage(1, []byte(big))
					conn.Close()
				}
				return
			}
			w.Header().Set("Waitroom-State", "queued")
		}, "ws_conn"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := httptest.NewServer(tt.handler)
			defer srv.Close()
			c := gatewayConfig(srv.URL, 3)
			c.Origin = ""
			c.Duration = 2 * time.Second
			c.WebSocketShare = 0
			if strings.Contains(tt.name, "socket") {
				c.WebSocketShare = 1
			}
			rep := mustRun(t, c)
			if rep.Errors[tt.errKind] == 0 {
				t.Fatalf("errors %v, want %s", rep.Errors, tt.errKind)
			}
		})
	}
}

// Connections are spread over the given loopback source addresses.
func TestRunSourceAddrs(t *testing.T) {
	f, srv := newFakeSite(t, 100, func(f *fakeSite) { f.PerTick = 10 })
	c := gatewayConfig(srv.URL, 40)
	c.Origin = ""
	addrs, err := ParseSourceAddrs("127.0.0.2-127.0.0.4")
	if err != nil {
		t.Fatal(err)
	}
	c.SourceAddrs = addrs
	c.MaxConns = 3
	mustRun(t, c)
	got := strings.Join(f.remoteHosts(), ",")
	if got != "127.0.0.2,127.0.0.3,127.0.0.4" {
		t.Fatalf("connections came from %s", got)
	}
}
