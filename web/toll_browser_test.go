package web_test

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/emulation"
	"github.com/chromedp/cdproto/page"
	"github.com/chromedp/chromedp"

	"github.com/waitroom/waitroom/gateway"
	"github.com/waitroom/waitroom/internal/testenv"
	"github.com/waitroom/waitroom/queue"
	"github.com/waitroom/waitroom/web"
)

// tollGateway is the real gateway on the test Redis with one room whose
// new places cost a toll of tollSeconds, admitting nobody by itself.
func tollGateway(t *testing.T, origin string, tollSeconds float64) (public, admin *httptest.Server) {
	t.Helper()
	rdb, prefix := testenv.Redis(t)
	cfg := gateway.DefaultConfig(origin)
	cfg.Redis, cfg.RedisPrefix = rdb, prefix
	cfg.Rooms = []queue.Room{{
		Name: "concert-42", Paths: []string{"/events/42", "/events/42/*"},
		AdmitPerMinute: 0, MaxActive: 10, SessionTTL: time.Minute, AbandonAfter: time.Minute, Mode: queue.FIFO,
		Toll: true, TollSeconds: tollSeconds,
	}}
	return serveGateway(t, cfg)
}

// watchToll records, from before the page's own script runs, every text
// the browser check shows, in window.__tollSeen.
const watchToll = `window.__tollSeen = [];
document.addEventListener('DOMContentLoaded', function () {
  var el = document.getElementById('wr-toll-text');
  if (!el) return;
  window.__tollSeen.push(el.textContent);
  new MutationObserver(function () { window.__tollSeen.push(el.textContent); })
    .observe(el, { childList: true, characterData: true, subtree: true });
});`

// A new visitor to a room with a toll: the queue page shows their place,
// kept while the browser check runs, solves the toll in its Web Worker
// with a visible progress, joins with the solution and follows the line
// live, in English and in Korean. The gateway counts both tolls paid.
func TestTollPaidInBrowser(t *testing.T) {
	testenv.Chromium(t)
	origin := newOrigin(t)
	// About half a second of solving on this machine's browser: long
	// enough to show progress, short enough for a test.
	public, admin := tollGateway(t, origin.URL, 2)
	b := browser(t)

	for i, tc := range []struct {
		lang, heading, checking, inLine string
	}{
		{"en-US,en;q=0.9", "Checking your browser", "Checking…", "You're in line"},
		{"ko-KR,ko;q=0.9", "브라우저를 확인하고 있습니다", "확인 중…", "입장을 기다리고 있습니다"},
	} {
		v := newVisitor(t, b, tc.lang)
		if _, err := chromedp.Call(v.ctx, page.AddScriptToEvaluateOnNewDocument, page.AddScriptToEvaluateOnNewDocumentParams{Source: watchToll}); err != nil {
			t.Fatal(err)
		}
		v.do(chromedp.Navigate(public.URL + "/events/42?seat=A" + strconv.Itoa(i+1)))
		v.waitFor("in line after paying", `document.getElementById('wr-page').getAttribute('data-state') === 'queued'`)
		v.waitFor("the live socket", `document.getElementById('wr-conn').getAttribute('data-conn') === 'live'`)
		if got, want := v.text("wr-position"), strconv.Itoa(i+1); got != want {
			t.Errorf("%s: position %q after paying, want %s (arrival order)", tc.lang, got, want)
		}
		if got := v.text("wr-heading"); got != tc.heading && got != tc.inLine {
			t.Errorf("%s: heading %q", tc.lang, got)
		}
		if got := v.text("wr-heading"); got != tc.inLine {
			t.Errorf("%s: heading %q in line, want %q", tc.lang, got, tc.inLine)
		}
		seen := v.eval(`JSON.stringify(window.__tollSeen)`)
		if !strings.Contains(seen, tc.checking) || !strings.Contains(seen, "%") {
			t.Errorf("%s: the browser check showed %s, want its progress (%q …%%)", tc.lang, seen, tc.checking)
		}
		if v.eval(`String(document.getElementById('wr-toll').hidden)`) != "true" {
			t.Errorf("%s: the browser check still shown once in line", tc.lang)
		}
		v.mu.Lock()
		errs := v.errs
		v.mu.Unlock()
		if len(errs) > 0 {
			t.Errorf("%s: script errors: %v", tc.lang, errs)
		}
	}

	res, err := http.Get(admin.URL + "/admin/rooms/concert-42")
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	var room struct {
		Waiting int64 `json:"waiting"`
		Paid    int64 `json:"tolls_paid_total"`
	}
	if err := json.NewDecoder(res.Body).Decode(&room); err != nil || room.Waiting != 2 || room.Paid != 2 {
		t.Fatalf("room after two visitors: %+v %v, want 2 waiting, 2 tolls paid", room, err)
	}
}

// The solver's speed in Chromium, in hashes per second: in the Web Worker
// and on the main thread of this machine, and on the main thread with the
// CPU throttled 4× (the "mid-tier mobile" that Lighthouse and Chrome's
// DevTools use for a mid-range phone). The throttled figure is
// toll.PhoneHashesPerSecond's measurement (docs/operating.md, "The toll"):
//
//	go test -run '^$' -bench TollSolver -benchtime 1x ./web
func BenchmarkTollSolverInChromium(b *testing.B) {
	testenv.Chromium(b)
	pages, err := web.New("")
	if err != nil {
		b.Fatal(err)
	}
	mux := http.NewServeMux()
	mux.Handle("GET "+web.AssetPrefix, http.StripPrefix(web.AssetPrefix, pages.Assets()))
	mux.HandleFunc("GET /{$}", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html")
		_, _ = w.Write([]byte(`<!doctype html><title>solver</title>`))
	})
	site := httptest.NewServer(mux)
	defer site.Close()
	worker := web.AssetPrefix + "toll-worker.js"

	// DevTools throttles the page's main thread, not its workers: the
	// phone's figure is the same solver on the main thread, throttled.
	inWorker := `new Promise(function (done) {
	  var w = new Worker(` + strconv.Quote(worker) + `);
	  w.onmessage = function (ev) { w.terminate(); done(ev.data.rate); };
	  w.postMessage({ measure: 3000 });
	})`
	onMain := `fetch(` + strconv.Quote(worker) + `).then(function (r) { return r.text(); }).then(function (src) {
	  return new Promise(function (done) {
	    var self = {};
	    new Function('self', 'postMessage', src)(self, function (m) { done(m.rate); });
	    self.onmessage({ data: { measure: 3000 } });
	  });
	})`
	for _, tc := range []struct {
		name  string
		rate  float64
		solve string
	}{
		{"worker", 1, inWorker},
		{"main", 1, onMain},
		{"main-throttle=4", 4, onMain},
	} {
		b.Run(tc.name, func(b *testing.B) {
			ctx, cancel := chromedp.NewContext(browser(b), chromedp.WithNewBrowserContext())
			defer cancel()
			var hashes float64
			for range b.N {
				if err := chromedp.Do(ctx, chromedp.Navigate(site.URL+"/")); err != nil {
					b.Fatal(err)
				}
				if _, err := chromedp.Call(ctx, emulation.SetCPUThrottlingRate, emulation.SetCPUThrottlingRateParams{Rate: tc.rate}); err != nil {
					b.Fatal(err)
				}
				h, err := chromedp.Run(ctx, chromedp.Evaluate[float64](tc.solve, chromedp.EvalAwaitPromise))
				if err != nil {
					b.Fatal(err)
				}
				hashes = h
			}
			b.ReportMetric(hashes, "hashes/s")
		})
	}
}
