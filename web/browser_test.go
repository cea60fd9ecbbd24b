package web_test

// Real-browser tests: headless Chromium (Debian's /usr/bin/chromium) runs
// the queue page's script against real servers. Outside CI a missing
// Chromium skips them; under CI=true it fails them (.ci/run installs it).
//
// Screenshots go to $WAITROOM_SCREENSHOTS when set (else a temporary
// directory) so a person can look at the page in both languages.

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"html"
	"io"
	"maps"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/emulation"
	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/cdproto/page"
	"github.com/chromedp/cdproto/runtime"
	"github.com/chromedp/chromedp"
	"github.com/gorilla/websocket"
	"github.com/rs/zerolog"

	"github.com/waitroom/waitroom/gateway"
	"github.com/waitroom/waitroom/internal/testenv"
	"github.com/waitroom/waitroom/queue"
	"github.com/waitroom/waitroom/web"
)

// One headless Chromium, with a fresh profile, serves every browser test of
// the run; each visitor still gets a browser context of its own (cookies,
// storage). TestMain stops it.
var shared struct {
	once sync.Once
	ctx  context.Context
	err  error
	stop func()
}

func TestMain(m *testing.M) {
	code := m.Run()
	if shared.stop != nil {
		shared.stop()
	}
	os.Exit(code)
}

// browser returns the shared browser, starting it on first use.
func browser(t testing.TB) context.Context {
	t.Helper()
	path := testenv.Chromium(t)
	shared.once.Do(func() {
		dir, err := os.MkdirTemp("", "waitroom-chromium-")
		if err != nil {
			shared.err = err
			return
		}
		opts := append(testenv.ChromiumOptions(path, dir), chromedp.WindowSize(1000, 1000))
		alloc, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
		ctx, cancel := chromedp.NewContext(alloc)
		shared.stop = func() { cancel(); cancelAlloc(); _ = os.RemoveAll(dir) }
		shared.ctx, shared.err = ctx, chromedp.Do(ctx) // starts the browser
	})
	if shared.err != nil {
		t.Fatalf("start chromium: %v", shared.err)
	}
	return shared.ctx
}

// visitor is one person in the browser: a tab in its own browser context
// (own cookies), sending the given Accept-Language. Script errors on its
// pages fail the test.
type visitor struct {
	t    *testing.T
	ctx  context.Context
	mu   sync.Mutex
	errs []string
}

func newVisitor(t *testing.T, browserCtx context.Context, acceptLanguage string) *visitor {
	t.Helper()
	v := &visitor{t: t}
	ctx, cancel := chromedp.NewContext(browserCtx, chromedp.WithNewBrowserContext(), chromedp.WithListener(func(ev any) {
		switch ev := ev.(type) {
		case *runtime.EventExceptionThrown:
			v.mu.Lock()
			d := ev.ExceptionDetails
			msg := fmt.Sprintf("%s at %s:%d:%d", d.Text, d.URL, d.LineNumber+1, d.ColumnNumber+1)
			if d.Exception != nil {
				msg += ": " + d.Exception.Description
			}
			v.errs = append(v.errs, msg)
			v.mu.Unlock()
		case *runtime.EventConsoleAPICalled:
			if ev.Type == runtime.ConsoleAPICalledTypeError {
				var parts []string
				for _, a := range ev.Args {
					parts = append(parts, string(a.Value)+a.Description)
				}
				v.mu.Lock()
				v.errs = append(v.errs, "console.error: "+strings.Join(parts, " "))
				v.mu.Unlock()
			}
		}
	}))
	t.Cleanup(cancel)
	v.ctx = ctx
	if _, err := chromedp.Call(ctx, network.SetExtraHTTPHeaders, network.SetExtraHTTPHeadersParams{
		Headers: network.Headers{"Accept-Language": acceptLanguage},
	}); err != nil {
		t.Fatalf("set Accept-Language: %v", err)
	}
	// Reduced motion: the page then drops its transitions, so screenshots
	// show the final state (and the media query gets exercised).
	if _, err := chromedp.Call(ctx, emulation.SetEmulatedMedia, emulation.SetEmulatedMediaParams{
		Features: []*emulation.MediaFeature{{Name: "prefers-reduced-motion", Value: "reduce"}},
	}); err != nil {
		t.Fatalf("emulate reduced motion: %v", err)
	}
	t.Cleanup(func() {
		v.mu.Lock()
		defer v.mu.Unlock()
		for _, e := range v.errs {
			if !strings.Contains(e, "WebSocket") { // a refused socket is logged by the browser itself
				t.Errorf("script error in the page: %s", e)
			}
		}
	})
	return v
}

func (v *visitor) do(steps ...chromedp.Action[chromedp.Void]) {
	v.t.Helper()
	ctx, cancel := context.WithTimeout(v.ctx, 30*time.Second)
	defer cancel()
	if err := chromedp.Do(ctx, steps...); err != nil {
		loc, _ := chromedp.Run(v.ctx, chromedp.Location())
		v.t.Fatalf("browser at %s: %v", loc, err)
	}
}

// waitFor waits until the JavaScript expression is true in the page,
// across navigations (a poll inside the page would die with it).
func (v *visitor) waitFor(what, expr string) {
	v.t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	var lastErr error
	for time.Now().Before(deadline) {
		ctx, cancel := context.WithTimeout(v.ctx, 5*time.Second)
		ok, err := chromedp.Run(ctx, chromedp.Evaluate[bool](expr))
		cancel()
		if err == nil && ok {
			return
		}
		lastErr = err
		time.Sleep(100 * time.Millisecond)
	}
	text, _ := chromedp.Run(v.ctx, chromedp.Evaluate[string](`document.body ? document.body.innerText : ""`))
	loc, _ := chromedp.Run(v.ctx, chromedp.Location())
	v.t.Fatalf("waiting for %s (%s): last error %v\nat %s:\n%s", what, expr, lastErr, loc, text)
}

func (v *visitor) eval(expr string) string {
	v.t.Helper()
	s, err := chromedp.Run(v.ctx, chromedp.Evaluate[string](expr))
	if err != nil {
		v.t.Fatalf("evaluate %s: %v", expr, err)
	}
	return s
}

func (v *visitor) text(id string) string {
	v.t.Helper()
	return v.eval(fmt.Sprintf(`document.getElementById(%q).textContent.trim()`, id))
}

// screenshot saves a PNG of the page at the given viewport width.
func (v *visitor) screenshot(name string, width int64) {
	v.t.Helper()
	v.screenshotAt(name, width, 800)
}

// screenshotAt is screenshot in a viewport of width × height (a phone's:
// 390 × 844).
func (v *visitor) screenshotAt(name string, width, height int64) {
	v.t.Helper()
	dir := os.Getenv("WAITROOM_SCREENSHOTS")
	if dir == "" {
		dir = v.t.TempDir()
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		v.t.Fatal(err)
	}
	v.do(chromedp.EmulateViewport(width, height))
	png, err := chromedp.Run(v.ctx, chromedp.FullScreenshot(100))
	if err != nil {
		v.t.Fatalf("screenshot: %v", err)
	}
	path := filepath.Join(dir, name+".png")
	if err := os.WriteFile(path, png, 0o644); err != nil {
		v.t.Fatal(err)
	}
	v.t.Logf("screenshot: %s", path)
}

// statusBoard is the test's own status API: it answers polls with the
// status the test sets, and counts them.
type statusBoard struct {
	mu     sync.Mutex
	status map[string]any
	polls  int
}

func (b *statusBoard) set(s map[string]any) {
	b.mu.Lock()
	b.status = s
	b.mu.Unlock()
}

func (b *statusBoard) get() map[string]any {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.status
}

// The page's script, on its own: it starts from the inlined status, counts
// down in the pre-queue, falls back to polling when the WebSocket is
// refused, moves the position, progress bar and ETA, says "paused" in words,
// and takes the visitor to the original URL once admitted.
func TestQueuePageScriptInBrowser(t *testing.T) {
	pages := newPages(t, "")
	board := &statusBoard{}
	opensAt := time.Now().Add(time.Hour).UTC().Format(time.RFC3339)
	board.set(map[string]any{"room": "concert-42", "state": "prequeue", "position": 0, "waiting": 12,
		"eta_seconds": -1, "admit_per_minute": 60, "opens_at": opensAt, "ticket": 0})

	mux := http.NewServeMux()
	mux.Handle("GET "+web.AssetPrefix, http.StripPrefix(web.AssetPrefix, pages.Assets()))
	mux.HandleFunc("GET /_waitroom/api/status", func(w http.ResponseWriter, r *http.Request) {
		board.mu.Lock()
		board.polls++
		board.mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(board.get())
	})
	mux.HandleFunc("GET /_waitroom/ws", func(w http.ResponseWriter, r *http.Request) {
		http.Error(w, "no sockets here", http.StatusServiceUnavailable)
	})
	mux.HandleFunc("GET /events/42", func(w http.ResponseWriter, r *http.Request) {
		s := board.get()
		if s["state"] == "admitted" {
			fmt.Fprint(w, `<!doctype html><title>Event 42</title><h1 id="origin">Event 42: choose your seats</h1>`)
			return
		}
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		w.Header().Set("Cache-Control", "no-store")
		err := pages.RenderQueue(w, web.QueueData{
			Lang: web.Lang(r.Header.Get("Accept-Language")), Room: "concert-42", State: s["state"].(string), Status: statusOf(t, s),
			StatusURL: "/_waitroom/api/status?room=concert-42", WSURL: "/_waitroom/ws?room=concert-42",
			ReturnURL: r.URL.RequestURI(),
		})
		if err != nil {
			t.Error(err)
		}
	})
	site := httptest.NewServer(mux)
	defer site.Close()

	v := newVisitor(t, browser(t), "en-GB,en;q=0.9")
	v.do(chromedp.Navigate(site.URL + "/events/42?seat=A1"))

	// Pre-queue: a countdown to the opening, no position.
	v.waitFor("countdown", `/^00:5\d:\d\d$/.test(document.querySelector('#wr-countdown-value').textContent)`)
	if v.eval(`String(document.getElementById('wr-line').hidden)`) != "true" {
		t.Error("position shown in the pre-queue")
	}
	v.screenshot("queue-en-prequeue", 1000)

	// The socket is refused: the page polls, and the room opens.
	board.set(map[string]any{"room": "concert-42", "state": "queued", "position": 3, "waiting": 38,
		"eta_seconds": 130, "admit_per_minute": 60, "opens_at": nil, "ticket": 1005})
	v.waitFor("position 3", `document.getElementById('wr-position').textContent === '3'`)
	v.waitFor("polling status", `document.getElementById('wr-conn').getAttribute('data-conn') === 'polling'`)
	tests := []struct{ what, got, want string }{
		{"heading", v.text("wr-heading"), "You're in line"},
		{"people ahead", v.text("wr-ahead"), "2"},
		{"ETA", v.text("wr-eta"), "About 3 min"},
		{"queue number", v.text("wr-ticket"), "#1,005"},
		{"progress aria-valuenow", v.eval(`document.getElementById('wr-progress').getAttribute('aria-valuenow')`), "25"}, // (3-3+1)/(3+1)
		{"progress text", v.text("wr-progress-text"), "25% of the way"},
		{"bar width", v.eval(`document.getElementById('wr-progress-fill').style.width`), "25%"},
	}
	for _, tt := range tests {
		if tt.got != tt.want {
			t.Errorf("%s = %q, want %q", tt.what, tt.got, tt.want)
		}
	}
	v.screenshot("queue-en-polling", 1000)

	board.set(map[string]any{"room": "concert-42", "state": "paused", "position": 3, "waiting": 38,
		"eta_seconds": -1, "admit_per_minute": 60, "opens_at": nil, "ticket": 1005})
	v.waitFor("paused", `document.getElementById('wr-page').getAttribute('data-state') === 'paused'`)
	if got := v.text("wr-badge-text"); got != "Paused" {
		t.Errorf("paused badge says %q", got)
	}
	v.waitFor("announcement", `document.getElementById('wr-live').textContent === 'Entry is paused'`)
	v.screenshot("queue-en-paused", 1000)

	board.set(map[string]any{"room": "concert-42", "state": "admitted", "position": 0, "waiting": 37,
		"eta_seconds": 0, "admit_per_minute": 60, "opens_at": nil, "ticket": 1005})
	v.waitFor("the origin's page", `document.getElementById('origin') !== null`)
	if loc := v.eval(`location.pathname + location.search`); loc != "/events/42?seat=A1" {
		t.Errorf("admitted visitor landed on %q, want the URL they asked for", loc)
	}
}

// A page that polls (its socket refused) never has two polls in flight,
// however slow the status API answers: the next poll is set when the
// answer arrives, so a struggling gateway is not sent more of them, and
// (as that timer is set from the network answer, not from the previous
// timer) a tab hidden for minutes keeps polling every few seconds instead
// of once a minute.
func TestQueuePagePollsOneAtATime(t *testing.T) {
	pages := newPages(t, "")
	status := map[string]any{"room": "r", "state": "queued", "position": 4, "waiting": 9, "eta_seconds": 60,
		"admit_per_minute": 10, "opens_at": nil, "ticket": 4}
	var mu sync.Mutex
	inFlight, most, polls := 0, 0, 0
	mux := http.NewServeMux()
	mux.Handle("GET "+web.AssetPrefix, http.StripPrefix(web.AssetPrefix, pages.Assets()))
	mux.HandleFunc("GET /_waitroom/ws", func(w http.ResponseWriter, r *http.Request) {
		http.Error(w, "no sockets here", http.StatusServiceUnavailable)
	})
	mux.HandleFunc("GET /_waitroom/api/status", func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		inFlight++
		polls++
		most = max(most, inFlight)
		mu.Unlock()
		defer func() { mu.Lock(); inFlight--; mu.Unlock() }()
		select { // longer than the page's longest gap between polls
		case <-time.After(6 * time.Second):
		case <-r.Context().Done():
			return
		}
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(status)
	})
	mux.HandleFunc("GET /q", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		if err := pages.RenderQueue(w, web.QueueData{Lang: "en", Room: "r", State: "queued", Status: statusOf(t, status),
			StatusURL: "/_waitroom/api/status?room=r", WSURL: "/_waitroom/ws?room=r", ReturnURL: "/q"}); err != nil {
			t.Error(err)
		}
	})
	site := httptest.NewServer(mux)
	defer site.Close()

	v := newVisitor(t, browser(t), "en")
	v.do(chromedp.Navigate(site.URL + "/q"))
	v.waitFor("the first poll", `document.getElementById('wr-conn').getAttribute('data-conn') !== 'connecting'`)
	time.Sleep(8 * time.Second)
	mu.Lock()
	defer mu.Unlock()
	if polls == 0 || most != 1 {
		t.Fatalf("%d polls, at most %d in flight at once; want one at a time", polls, most)
	}
}

// Korean visitors get the whole page in Korean, and it fits a small phone.
func TestQueuePageKoreanOnPhoneWidth(t *testing.T) {
	pages := newPages(t, "")
	mux := http.NewServeMux()
	mux.Handle("GET "+web.AssetPrefix, http.StripPrefix(web.AssetPrefix, pages.Assets()))
	mux.HandleFunc("GET /events/42", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		_ = pages.RenderQueue(w, web.QueueData{
			Lang: web.Lang(r.Header.Get("Accept-Language")), Room: "concert-42", State: "queued",
			Status:    web.Status{Room: "concert-42", State: "queued", Position: 1234, Waiting: 56789, ETA: 3725, AdmitPerMinute: 20, Ticket: 61234},
			StatusURL: "/nowhere", WSURL: "/nowhere", ReturnURL: "/events/42",
		})
	})
	site := httptest.NewServer(mux)
	defer site.Close()

	v := newVisitor(t, browser(t), "ko-KR,ko;q=0.9,en;q=0.5")
	v.do(chromedp.EmulateViewport(320, 700), chromedp.Navigate(site.URL+"/events/42"))
	v.waitFor("script ran", `document.getElementById('wr-conn').hasAttribute('data-conn')`)
	tests := []struct{ what, got, want string }{
		{"lang", v.eval(`document.documentElement.lang`), "ko"},
		{"heading", v.text("wr-heading"), "입장을 기다리고 있습니다"},
		{"position", v.text("wr-position"), "1,234"},
		{"ETA", v.text("wr-eta"), "약 1시간 3분"},
		{"horizontal overflow", v.eval(`String(document.documentElement.scrollWidth > window.innerWidth)`), "false"},
	}
	for _, tt := range tests {
		if tt.got != tt.want {
			t.Errorf("%s = %q, want %q", tt.what, tt.got, tt.want)
		}
	}
	v.screenshot("queue-ko-phone", 320)
	v.screenshot("queue-ko-desktop", 1000)

	// The dark scheme swaps the palette (contrast is pinned by TestQueueCSSContrast).
	if _, err := chromedp.Call(v.ctx, emulation.SetEmulatedMedia, emulation.SetEmulatedMediaParams{
		Features: []*emulation.MediaFeature{{Name: "prefers-color-scheme", Value: "dark"}, {Name: "prefers-reduced-motion", Value: "reduce"}},
	}); err != nil {
		t.Fatal(err)
	}
	if got := v.eval(`getComputedStyle(document.body).backgroundColor`); got != "rgb(15, 17, 23)" {
		t.Errorf("dark scheme background = %q", got)
	}
	v.screenshot("queue-ko-dark", 1000)
}

// originSite is the booking site behind the gateway in the end-to-end
// tests. It remembers the pass each request carried, and answers
// /events/42/done with "Waitroom-Command: revoke", as ticketd does after an
// order.
type originSite struct {
	*httptest.Server
	mu     sync.Mutex
	passes map[string]string // request URI -> Waitroom-Pass header
}

func newOrigin(t *testing.T) *originSite {
	t.Helper()
	o := &originSite{passes: map[string]string{}}
	o.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		o.mu.Lock()
		o.passes[r.URL.RequestURI()] = r.Header.Get("Waitroom-Pass")
		o.mu.Unlock()
		if r.URL.Path == "/events/42/done" {
			w.Header().Set("Waitroom-Command", "revoke")
		}
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		fmt.Fprintf(w, `<!doctype html><title>Event 42</title><h1 id="origin">Event 42: choose your seats</h1><p id="path">%s</p>`,
			html.EscapeString(r.URL.RequestURI()))
	}))
	t.Cleanup(o.Close)
	return o
}

func (o *originSite) pass(uri string) string {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.passes[uri]
}

// startGateway runs the real gateway in-process on the test Redis, with one
// tiny room in front of origin: one active visitor at most, one admission a
// minute, so everyone after the first waits for the operator.
func startGateway(t *testing.T, origin string, adminToken string) (public, admin *httptest.Server) {
	t.Helper()
	rdb, prefix := testenv.Redis(t)
	cfg := gateway.DefaultConfig(origin)
	cfg.Redis = rdb
	cfg.RedisPrefix = prefix
	cfg.AdminToken = adminToken
	cfg.Rooms = []queue.Room{{
		Name: "concert-42", Paths: []string{"/events/42", "/events/42/*"},
		AdmitPerMinute: 1, MaxActive: 1, SessionTTL: time.Minute, AbandonAfter: time.Minute, Mode: queue.FIFO,
	}}
	return serveGateway(t, cfg)
}

// serveGateway runs the gateway of cfg on httptest servers until the test
// ends.
func serveGateway(t *testing.T, cfg gateway.Config) (public, admin *httptest.Server) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	g, err := gateway.New(ctx, cfg, zerolog.Nop())
	if err != nil {
		cancel()
		t.Fatalf("gateway.New: %v", err)
	}
	public = httptest.NewServer(g.Public())
	admin = httptest.NewServer(g.Admin())
	g.Start(ctx)
	t.Cleanup(func() {
		sctx, scancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer scancel()
		_ = g.Shutdown(sctx)
		public.Close()
		admin.Close()
		cancel()
	})
	return public, admin
}

// httpVisitor is a visitor without a browser: a cookie jar and Accept: text/html.
func httpVisitor(t *testing.T) *http.Client {
	t.Helper()
	jar, err := cookiejar.New(nil)
	if err != nil {
		t.Fatal(err)
	}
	return &http.Client{Jar: jar, Timeout: 10 * time.Second}
}

func getPage(t *testing.T, c *http.Client, url string) string {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, url, nil)
	req.Header.Set("Accept", "text/html")
	res, err := c.Do(req)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	return string(b)
}

// adminCall sends an operator's request to the admin listener.
func adminCall(t *testing.T, admin, token, method, path, body string) {
	t.Helper()
	req, _ := http.NewRequest(method, admin+path, bytes.NewBufferString(body))
	req.Header.Set("Content-Type", "application/json")
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	if res.StatusCode != http.StatusOK {
		t.Fatalf("%s %s: %d %s", method, path, res.StatusCode, b)
	}
}

// The whole trip in a real browser through the real gateway and Redis: a
// visitor asks for a protected page while the room is full, gets the queue
// page with their position (English or Korean by Accept-Language), follows
// it live over the WebSocket, and once admitted lands on the page they asked
// for, which the origin serves with a pass.
func TestBrowserQueueThroughGateway(t *testing.T) {
	testenv.Chromium(t)
	origin := newOrigin(t)
	public, admin := startGateway(t, origin.URL, "")

	// The first visitor is admitted at once and holds the room's only slot.
	holder := httpVisitor(t)
	if page := getPage(t, holder, public.URL+"/events/42"); !strings.Contains(page, `id="origin"`) {
		t.Fatalf("first visitor was not let through to an empty room:\n%s", page)
	}

	b := browser(t)
	en := newVisitor(t, b, "en-US,en;q=0.9")
	en.do(chromedp.Navigate(public.URL + "/events/42?seat=A1"))
	en.waitFor("the queue page at position 1", `!!document.getElementById('wr-position') && document.getElementById('wr-position').textContent === '1'`)
	en.waitFor("the live socket", `document.getElementById('wr-conn').getAttribute('data-conn') === 'live'`)

	ko := newVisitor(t, b, "ko-KR,ko;q=0.9")
	ko.do(chromedp.Navigate(public.URL + "/events/42"))
	ko.waitFor("the queue page at position 2", `!!document.getElementById('wr-position') && document.getElementById('wr-position').textContent === '2'`)
	ko.waitFor("the live socket", `document.getElementById('wr-conn').getAttribute('data-conn') === 'live'`)
	if got := ko.text("wr-heading"); got != "입장을 기다리고 있습니다" {
		t.Errorf("Korean visitor's heading = %q", got)
	}
	if got := ko.text("wr-ahead"); got != "1" {
		t.Errorf("Korean visitor has %q people ahead, want 1", got)
	}
	en.waitFor("two people waiting", `document.getElementById('wr-waiting').textContent === '2'`)
	en.screenshot("gateway-queue-en", 1000)
	en.screenshotAt("gateway-queue-en-phone", 390, 844)
	ko.screenshot("gateway-queue-ko", 1000)
	ko.screenshotAt("gateway-queue-ko-phone", 390, 844)

	// The holder buys (the origin revokes their pass) and the operator
	// admits the next visitor.
	getPage(t, holder, public.URL+"/events/42/done")
	adminCall(t, admin.URL, "", http.MethodPost, "/admin/rooms/concert-42/admit", `{"count":1}`)
	en.waitFor("the origin's page", `!!document.getElementById('origin')`)
	if got := en.text("path"); got != "/events/42?seat=A1" {
		t.Errorf("admitted visitor landed on %q, want the URL they asked for", got)
	}
	if origin.pass("/events/42?seat=A1") == "" {
		t.Error("the origin got the admitted visitor's request without a pass")
	}

	// The Korean visitor moves to the front live, then is admitted too.
	ko.waitFor("position 1", `document.getElementById('wr-position').textContent === '1'`)
	adminCall(t, admin.URL, "", http.MethodPatch, "/admin/rooms/concert-42", `{"max_active":2}`)
	adminCall(t, admin.URL, "", http.MethodPost, "/admin/rooms/concert-42/admit", `{"count":1}`)
	ko.waitFor("the origin's page", `!!document.getElementById('origin')`)
	if origin.pass("/events/42") == "" {
		t.Error("the origin got the Korean visitor's request without a pass")
	}
}

// The operator's dashboard in a real browser: it signs in with HTTP Basic,
// lists the room with its live figures, draws the charts, its Pause
// button pauses the room for everyone and its Reset drops that again.
func TestDashboardInBrowser(t *testing.T) {
	testenv.Chromium(t)
	const token = "dashboard-test-token-0123456789"
	origin := newOrigin(t)
	public, admin := startGateway(t, origin.URL, token)
	for range 4 { // one admitted, three waiting
		getPage(t, httpVisitor(t), public.URL+"/events/42")
	}

	// The gateway keeps the last minutes of figures: wait for two samples
	// (5 s apart) so the charts have a past to draw at once.
	auth := "Basic " + base64.StdEncoding.EncodeToString([]byte("admin:"+token))
	waitHistory(t, admin.URL, auth, 2)

	op := newVisitor(t, browser(t), "en")
	if _, err := chromedp.Call(op.ctx, network.SetExtraHTTPHeaders, network.SetExtraHTTPHeadersParams{
		Headers: network.Headers{"Authorization": auth},
	}); err != nil {
		t.Fatal(err)
	}
	op.do(chromedp.Navigate(admin.URL + "/admin/"))
	op.waitFor("the room's row", `[...document.querySelectorAll('#rooms-table tbody th')].some(th => th.textContent === 'concert-42')`)
	op.waitFor("three waiting", `document.querySelector('#rooms-table tbody td:nth-of-type(2)').textContent === '3'`)
	if got := op.eval(`document.querySelector('#rooms-table tbody td:nth-of-type(3)').textContent`); got != "1" {
		t.Errorf("active = %q, want 1", got)
	}
	// The charts start from the gateway's history, not from nothing: more
	// samples are drawn than the page has polled.
	if got, _ := strconv.Atoi(op.eval(`String(Number(document.getElementById('room-concert-42').dataset.points) - Number(document.getElementById('dash').dataset.polls))`)); got < 2 {
		t.Errorf("samples drawn beyond the page's own polls: %d, want the gateway's history (>= 2)", got)
	}
	op.waitFor("a drawn chart", `(() => {
		const c = document.querySelector('#room-concert-42 canvas');
		const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
		for (let i = 3; i < d.length; i += 4) if (d[i] !== 0) return true;
		return false;
	})()`)

	op.do(chromedp.Click(chromedp.CSS(`#room-concert-42 .controls button`)))
	op.waitFor("the room paused", `document.querySelector('#rooms-table tbody td:nth-of-type(1)').textContent === 'paused'`)
	op.waitFor("a Resume button", `document.querySelector('#room-concert-42 .controls button').textContent === 'Resume'`)
	op.screenshot("dashboard", 1200)

	// The pause reached the gateway itself: a new visitor's page says so.
	if page := getPage(t, httpVisitor(t), public.URL+"/events/42"); !strings.Contains(page, `data-state="paused"`) {
		t.Error("the dashboard's Pause did not pause the room")
	}

	// Reset (after a confirmation) drops the live pause: the room is open
	// again with its configured values.
	if err := chromedp.Listen(op.ctx, func(ev any) {
		if _, ok := ev.(*page.EventJavascriptDialogOpening); ok {
			go func() {
				_, _ = chromedp.Call(op.ctx, page.HandleJavaScriptDialog, page.HandleJavaScriptDialogParams{Accept: true})
			}()
		}
	}); err != nil {
		t.Fatal(err)
	}
	op.do(chromedp.Click(chromedp.CSS(`#room-concert-42 .controls > button:last-child`)))
	op.waitFor("the room open again", `document.querySelector('#rooms-table tbody td:nth-of-type(1)').textContent === 'queued'`)
	if page := getPage(t, httpVisitor(t), public.URL+"/events/42"); strings.Contains(page, `data-state="paused"`) {
		t.Error("the dashboard's Reset left the room paused")
	}

	// An operator whose browser asks for Korean gets the dashboard in Korean.
	ko := newVisitor(t, browser(t), "ko-KR,ko;q=0.9")
	if _, err := chromedp.Call(ko.ctx, network.SetExtraHTTPHeaders, network.SetExtraHTTPHeadersParams{
		Headers: network.Headers{"Authorization": auth, "Accept-Language": "ko-KR,ko;q=0.9"},
	}); err != nil {
		t.Fatal(err)
	}
	ko.do(chromedp.Navigate(admin.URL + "/admin/"))
	ko.waitFor("the room's state in Korean", `document.querySelector('#rooms-table tbody td:nth-of-type(1)').textContent === '대기열 운영'`)
	for _, c := range []struct{ what, got, want string }{
		{"html lang", ko.eval(`document.documentElement.lang`), "ko"},
		{"heading", ko.text("rooms-heading"), "대기실"},
		{"pause button", ko.eval(`document.querySelector('#room-concert-42 .controls button').textContent`), "일시 정지"},
	} {
		if c.got != c.want {
			t.Errorf("Korean dashboard: %s = %q, want %q", c.what, c.got, c.want)
		}
	}
	ko.screenshot("dashboard-ko", 1200)

	// On a phone (390 px) the room table is a card per room: every figure
	// shows, named, and nothing runs off the screen.
	phone := newVisitor(t, browser(t), "en")
	if _, err := chromedp.Call(phone.ctx, network.SetExtraHTTPHeaders, network.SetExtraHTTPHeadersParams{
		Headers: network.Headers{"Authorization": auth},
	}); err != nil {
		t.Fatal(err)
	}
	phone.do(chromedp.EmulateViewport(390, 844), chromedp.Navigate(admin.URL+"/admin/"))
	phone.waitFor("the room's card", `[...document.querySelectorAll('#rooms-table tbody th')].some(th => th.textContent === 'concert-42')`)
	if got := phone.eval(`String(document.documentElement.scrollWidth <= window.innerWidth)`); got != "true" {
		t.Errorf("the dashboard is wider than a 390 px phone: scrollWidth %s", phone.eval(`String(document.documentElement.scrollWidth)`))
	}
	if got := phone.eval(`String([...document.querySelectorAll('#rooms-table tbody td')].every(td => { const r = td.getBoundingClientRect(); return r.right <= window.innerWidth + 0.5 && r.width > 0; }))`); got != "true" {
		t.Error("a figure of the room table is cut off on a phone")
	}
	phone.screenshotAt("dashboard-phone", 390, 844)
}

// waitHistory waits until the gateway's admin history holds n samples of
// a room.
func waitHistory(t *testing.T, adminURL, auth string, n int) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		req, _ := http.NewRequest(http.MethodGet, adminURL+"/admin/history", nil)
		req.Header.Set("Authorization", auth)
		res, err := http.DefaultClient.Do(req)
		if err == nil {
			var h struct{ Rooms map[string][]json.RawMessage }
			_ = json.NewDecoder(res.Body).Decode(&h)
			res.Body.Close()
			if len(h.Rooms["concert-42"]) >= n {
				return
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("the gateway's history did not reach %d samples", n)
		}
		time.Sleep(250 * time.Millisecond)
	}
}

// When the socket drops (a gateway instance going away closes it with 1001)
// the page reconnects by itself, after a short randomised pause, and goes
// back to live updates.
func TestQueuePageReconnects(t *testing.T) {
	pages := newPages(t, "")
	status := map[string]any{"room": "r", "state": "queued", "position": 9, "waiting": 9, "eta_seconds": 60, "admit_per_minute": 10, "opens_at": nil, "ticket": 9}
	var mu sync.Mutex
	connections := 0
	upgrader := websocket.Upgrader{}
	mux := http.NewServeMux()
	mux.Handle("GET "+web.AssetPrefix, http.StripPrefix(web.AssetPrefix, pages.Assets()))
	mux.HandleFunc("GET /_waitroom/ws", func(w http.ResponseWriter, r *http.Request) {
		c, err := upgrader.Upgrade(w, r, nil)
		if err != nil {
			return
		}
		defer c.Close()
		mu.Lock()
		connections++
		n := connections
		mu.Unlock()
		s := maps.Clone(status)
		s["position"] = 9 - n // positions move on with every connection
		if err := c.WriteJSON(s); err != nil {
			return
		}
		if n == 1 {
			_ = c.WriteControl(websocket.CloseMessage, websocket.FormatCloseMessage(websocket.CloseGoingAway, "restart"), time.Now().Add(time.Second))
			return
		}
		for { // keep the second one open until the page goes
			if _, _, err := c.ReadMessage(); err != nil {
				return
			}
		}
	})
	mux.HandleFunc("GET /_waitroom/api/status", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(status)
	})
	mux.HandleFunc("GET /q", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		_ = pages.RenderQueue(w, web.QueueData{Lang: "en", Room: "r", State: "queued", Status: statusOf(t, status),
			StatusURL: "/_waitroom/api/status?room=r", WSURL: "/_waitroom/ws?room=r", ReturnURL: "/q"})
	})
	site := httptest.NewServer(mux)
	defer site.Close()

	v := newVisitor(t, browser(t), "en")
	v.do(chromedp.Navigate(site.URL + "/q"))
	v.waitFor("the second socket's position", `document.getElementById('wr-position').textContent === '7'`)
	v.waitFor("live again", `document.getElementById('wr-conn').getAttribute('data-conn') === 'live'`)
	mu.Lock()
	defer mu.Unlock()
	if connections != 2 {
		t.Errorf("page opened %d sockets, want 2 (one reconnect)", connections)
	}
}

// The 503 and 502 pages render with the gateway's own stylesheet and say
// what happened in the visitor's language.
func TestErrorPagesInBrowser(t *testing.T) {
	pages := newPages(t, "")
	mux := http.NewServeMux()
	mux.Handle("GET "+web.AssetPrefix, http.StripPrefix(web.AssetPrefix, pages.Assets()))
	mux.HandleFunc("GET /busy", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		w.WriteHeader(http.StatusServiceUnavailable)
		_ = pages.RenderUnavailable(w, web.Lang(r.Header.Get("Accept-Language")), 3600)
	})
	mux.HandleFunc("GET /down", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		w.WriteHeader(http.StatusBadGateway)
		_ = pages.RenderBadGateway(w, web.Lang(r.Header.Get("Accept-Language")), "d3adb33f-0001")
	})
	site := httptest.NewServer(mux)
	defer site.Close()

	visitors := map[string]*visitor{"en": newVisitor(t, browser(t), "en"), "ko": newVisitor(t, browser(t), "ko")}
	tests := []struct{ lang, path, heading string }{
		{"en", "/busy", "Temporarily unavailable"},
		{"ko", "/busy", "일시적으로 이용할 수 없습니다"},
		{"en", "/down", "The site isn't answering"},
		{"ko", "/down", "사이트가 응답하지 않습니다"},
	}
	for _, tt := range tests {
		v := visitors[tt.lang]
		v.do(chromedp.Navigate(site.URL + tt.path))
		if got := v.eval(`document.querySelector('h1').textContent`); got != tt.heading {
			t.Errorf("%s %s: heading %q, want %q", tt.lang, tt.path, got, tt.heading)
		}
		// The stylesheet applied: the card has its border radius.
		if got := v.eval(`getComputedStyle(document.querySelector('main')).borderTopLeftRadius`); got != "14px" {
			t.Errorf("%s %s: queue.css not applied (radius %q)", tt.lang, tt.path, got)
		}
		if tt.lang == "ko" {
			v.screenshot("error"+strings.ReplaceAll(tt.path, "/", "-")+"-"+tt.lang, 1000)
		}
	}
}

// With JavaScript off the page still shows the visitor's place, rendered on
// the server, and says that it refreshes itself.
func TestQueuePageWithoutJavaScript(t *testing.T) {
	pages := newPages(t, "")
	mux := http.NewServeMux()
	mux.Handle("GET "+web.AssetPrefix, http.StripPrefix(web.AssetPrefix, pages.Assets()))
	mux.HandleFunc("GET /events/42", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		_ = pages.RenderQueue(w, web.QueueData{Lang: "en", Room: "concert-42", State: "queued", Status: queued(321),
			StatusURL: "/_waitroom/api/status?room=concert-42", WSURL: "/_waitroom/ws?room=concert-42", ReturnURL: "/events/42"})
	})
	site := httptest.NewServer(mux)
	defer site.Close()

	v := newVisitor(t, browser(t), "en")
	if _, err := chromedp.Call(v.ctx, emulation.SetScriptExecutionDisabled, emulation.SetScriptExecutionDisabledParams{Value: true}); err != nil {
		t.Fatal(err)
	}
	v.do(chromedp.Navigate(site.URL + "/events/42"))
	text := v.eval(`document.body.innerText`)
	for _, want := range []string{"321", "People ahead of you\n320", "refreshes itself every 15 seconds"} {
		if !strings.Contains(text, want) {
			t.Errorf("page without JavaScript lacks %q:\n%s", want, text)
		}
	}
	v.screenshot("queue-en-nojs", 1000)
}
