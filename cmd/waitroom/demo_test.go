package main

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/waitroom/waitroom/queue"
)

// lockedBuffer is an io.Writer a test can read while the demo writes.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// testDemo is a demo running in the test's process on free loopback ports.
type testDemo struct {
	*demo
	addrs  demoAddrs
	stderr *lockedBuffer
}

// startDemo runs the demo in-process, as `waitroom demo` would, with cfg's
// speed; it is stopped (and must stop within 30 s) when the test ends.
func startDemo(t *testing.T, cfg demoConfig) *testDemo {
	t.Helper()
	cfg.Listen, cfg.AdminListen, cfg.OriginListen = "127.0.0.1:0", "127.0.0.1:0", "127.0.0.1:0"
	cfg = cfg.withDefaults()
	stderr := &lockedBuffer{}
	ctx, cancel := context.WithCancel(context.Background())
	d, err := newDemo(ctx, cfg, newLogger("console", cfg.LogLevel, stderr))
	if err != nil {
		cancel()
		t.Fatal(err)
	}
	ready := make(chan demoAddrs, 1)
	done := make(chan error, 1)
	go func() { done <- d.run(ctx, func(a demoAddrs) { ready <- a }) }()
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("demo stopped with %v", err)
			}
		case <-time.After(30 * time.Second):
			t.Error("demo did not stop within 30 s")
		}
		d.close()
	})
	select {
	case a := <-ready:
		return &testDemo{demo: d, addrs: a, stderr: stderr}
	case err := <-done:
		t.Fatalf("demo stopped before it listened: %v\n%s", err, stderr)
	case <-time.After(30 * time.Second):
		t.Fatal("demo not listening within 30 s")
	}
	return nil
}

// figures reads the demo room's shared numbers.
func (d *testDemo) figures(t *testing.T) queue.Figures {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	f, err := d.gw.Queue().Figures(ctx, d.gw.Rooms())
	if err != nil {
		t.Fatal(err)
	}
	return f[0]
}

// The demo starts quietly: the banner on stdout says where the site, the
// dashboard and ticketd are and how a curl visitor keeps its place; stderr
// gets nothing — none of the three warnings the gateway gives an operator
// who left a setting empty (embedded Redis, random cookie secret,
// generated pass key), no line per request, and never a colour escape
// when it is not a terminal.
func TestDemoStartsQuietly(t *testing.T) {
	var stdout, stderr lockedBuffer
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan int, 1)
	go func() {
		done <- runDemo(ctx, demoConfig{Listen: "127.0.0.1:0", AdminListen: "127.0.0.1:0", OriginListen: "127.0.0.1:0"}, &stdout, &stderr)
	}()
	site := waitForBanner(t, &stdout, done)
	// A few visitors, so the access log would have its say.
	for range 3 {
		resp, err := http.Get(site + "/")
		if err != nil {
			t.Fatal(err)
		}
		_ = resp.Body.Close()
	}
	cancel()
	select {
	case code := <-done:
		if code != 0 {
			t.Fatalf("exit code %d after the demo was stopped, want 0; stderr:\n%s", code, stderr.String())
		}
	case <-time.After(30 * time.Second):
		t.Fatal("demo did not stop within 30 s")
	}
	if s := stderr.String(); s != "" {
		t.Errorf("stderr not empty (warnings or request lines):\n%s", s)
	}
	out := stdout.String()
	if ansiEscape.MatchString(out) {
		t.Errorf("colour escapes on stdout:\n%q", out)
	}
	for _, want := range []string{
		"/admin/",                               // the dashboard
		"curl -i -b /tmp/wr.jar -c /tmp/wr.jar", // how curl keeps its place
		"kept for 5 minutes",                    // abandon_after, said
		"Never queued: /favicon.ico",            // the pass-through list
		"Not proxied: /metrics",
		"waitroom demo stopped.",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("banner lacks %q:\n%s", want, out)
		}
	}
}

// A bad value of a variable the demo follows stops it at once with exit
// code 2 and a line naming the variable.
func TestDemoConfigErrors(t *testing.T) {
	for _, cfg := range []demoConfig{
		{Listen: "8080"},
		{AdminListen: "localhost"},
		{OriginListen: "nowhere"},
		{LogLevel: "loud"},
	} {
		var stdout, stderr bytes.Buffer
		if code := runDemo(context.Background(), cfg, &stdout, &stderr); code != 2 {
			t.Errorf("%+v: exit %d, want 2", cfg, code)
		}
		if !regexp.MustCompile(`^waitroom demo: (WAITROOM|TICKETD)_[A-Z_]+: `).MatchString(stderr.String()) || strings.Count(stderr.String(), "\n") != 1 {
			t.Errorf("%+v: stderr %q, want one line naming the variable", cfg, stderr.String())
		}
	}
}

// waitForBanner waits for the banner and returns the site's URL from it.
func waitForBanner(t *testing.T, stdout *lockedBuffer, done <-chan int) string {
	t.Helper()
	siteLine := regexp.MustCompile(`through the waiting room:\s+(http://\S+)/`)
	deadline := time.After(60 * time.Second)
	for {
		if m := siteLine.FindStringSubmatch(stdout.String()); m != nil && strings.Contains(stdout.String(), "Ctrl-C stops.") {
			return m[1]
		}
		select {
		case code := <-done:
			t.Fatalf("demo exited with %d before its banner:\n%s", code, stdout.String())
		case <-deadline:
			t.Fatalf("no banner within 60 s:\n%s", stdout.String())
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// /metrics on the site is answered by the demo itself: not proxied to
// ticketd (whose metrics are not a page of the site), not queued (so a curl
// of it takes no place in line and no admission), and it says where both
// metrics are. Every spelling the gateway cleans to /metrics is the same.
// ticketd's metrics stay on its own listener and the gateway's on the admin
// listener.
func TestDemoDoesNotProxyMetrics(t *testing.T) {
	d := startDemo(t, demoConfig{})
	for _, path := range []string{"/metrics", "//metrics", "/./metrics", "/x/../metrics"} {
		req, _ := http.NewRequest("GET", d.addrs.Site+path, nil)
		req.URL.Opaque = "//" + req.URL.Host + path // send the path as written
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		_ = resp.Body.Close()
		if resp.StatusCode != http.StatusNotFound || resp.Header.Get("Waitroom-State") != "" || len(resp.Cookies()) != 0 {
			t.Errorf("%s: %d, Waitroom-State %q, cookies %v; want 404, unqueued", path, resp.StatusCode, resp.Header.Get("Waitroom-State"), resp.Cookies())
		}
		if !strings.Contains(string(body), d.addrs.Admin+"/metrics") || !strings.Contains(string(body), d.addrs.Origin+"/metrics") {
			t.Errorf("%s: body does not say where the metrics are:\n%s", path, body)
		}
		if strings.Contains(string(body), "ticketd_") {
			t.Errorf("%s: ticketd's metrics served on the site", path)
		}
	}
	for url, metric := range map[string]string{d.addrs.Origin + "/metrics": "ticketd_", d.addrs.Admin + "/metrics": "waitroom_"} {
		resp, err := http.Get(url)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		_ = resp.Body.Close()
		if resp.StatusCode != http.StatusOK || !strings.Contains(string(body), metric) {
			t.Errorf("%s: %d, want 200 with %s metrics", url, resp.StatusCode, metric)
		}
	}
	// Everything else is the site, behind the line the crowd keeps.
	resp, err := http.Get(d.addrs.Site + "/")
	if err != nil {
		t.Fatal(err)
	}
	var st struct {
		State    string `json:"state"`
		Position int    `json:"position"`
	}
	_ = json.NewDecoder(resp.Body).Decode(&st)
	_ = resp.Body.Close()
	if resp.StatusCode != http.StatusTooManyRequests || st.State != "queued" || st.Position < 2 {
		t.Errorf("GET / without a cookie: %d %+v, want 429 queued behind the crowd", resp.StatusCode, st)
	}
}

// buildWaitroom builds the binary once per test run.
var built struct {
	once sync.Once
	path string
	err  error
	out  []byte
}

func buildWaitroom(t *testing.T) string {
	t.Helper()
	if testing.Short() {
		t.Skip("builds the binary")
	}
	built.once.Do(func() {
		dir, err := os.MkdirTemp("", "waitroom-bin-")
		if err != nil {
			built.err = err
			return
		}
		built.path = filepath.Join(dir, "waitroom")
		built.out, built.err = exec.Command("go", "build", "-o", built.path, ".").CombinedOutput()
	})
	if built.err != nil {
		t.Fatalf("go build: %v\n%s", built.err, built.out)
	}
	return built.path
}

func TestMain(m *testing.M) {
	code := m.Run()
	if built.path != "" {
		_ = os.RemoveAll(filepath.Dir(built.path))
	}
	os.Exit(code)
}

// demoEnv are the variables that put a demo on free loopback ports.
func demoEnv() []string {
	return append(os.Environ(), "WAITROOM_LISTEN=127.0.0.1:0", "WAITROOM_ADMIN_LISTEN=127.0.0.1:0", "TICKETD_LISTEN=127.0.0.1:0")
}

// Ctrl-C stops the demo binary with exit code 0 (go run's exit 1 was what
// made `make demo` end in "Error 1"), and its real stderr — a pipe, not a
// terminal — stays empty: no warning, no request line, no colour.
func TestDemoBinaryInterruptExitsZero(t *testing.T) {
	bin := buildWaitroom(t)
	cmd := exec.Command(bin, "demo")
	cmd.Env = demoEnv()
	var stdout, stderr lockedBuffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan int, 1)
	go func() {
		_ = cmd.Wait()
		done <- cmd.ProcessState.ExitCode() // -1 when killed by a signal
	}()
	site := waitForBanner(t, &stdout, done)
	resp, err := http.Get(site + "/")
	if err != nil {
		t.Fatal(err)
	}
	_ = resp.Body.Close()
	if err := cmd.Process.Signal(os.Interrupt); err != nil {
		t.Fatal(err)
	}
	select {
	case code := <-done:
		if code != 0 {
			t.Fatalf("exit code %d after Ctrl-C, want 0\nstderr:\n%s", code, stderr.String())
		}
	case <-time.After(30 * time.Second):
		_ = cmd.Process.Kill()
		t.Fatal("demo did not stop within 30 s of Ctrl-C")
	}
	if s := stderr.String(); s != "" {
		t.Errorf("stderr not empty:\n%s", s)
	}
	if !strings.HasSuffix(stdout.String(), "waitroom demo stopped.\n") {
		t.Errorf("stdout does not end with the stop line:\n%s", stdout.String())
	}
}
