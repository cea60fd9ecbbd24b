package origin

import (
	"context"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// transportOrigin is an httptest origin that counts the connections it
// accepted.
func transportOrigin(t *testing.T, h http.HandlerFunc) (*httptest.Server, *originTransport, *atomic.Int64) {
	t.Helper()
	var conns atomic.Int64
	srv := httptest.NewUnstartedServer(h)
	srv.Config.ConnState = func(_ net.Conn, s http.ConnState) {
		if s == http.StateNew {
			conns.Add(1)
		}
	}
	srv.Start()
	t.Cleanup(srv.Close)
	tr := newOriginTransport(newTransport())
	t.Cleanup(tr.CloseIdleConnections)
	return srv, tr, &conns
}

func roundTrip(t *testing.T, tr http.RoundTripper, ctx context.Context, method, url string, body io.Reader) (*http.Response, string, error) {
	t.Helper()
	req, _ := http.NewRequestWithContext(ctx, method, url, body)
	res, err := tr.RoundTrip(req)
	if err != nil {
		return nil, "", err
	}
	b, err := io.ReadAll(res.Body)
	res.Body.Close()
	return res, string(b), err
}

// The proxy's transport answers every kind of request and response the
// origin can produce, and keeps one connection alive across sequential
// GETs (no new connection, no TIME_WAIT, per request).
func TestOriginTransportAnswers(t *testing.T) {
	srv, tr, conns := transportOrigin(t, func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/chunked":
			w.Write([]byte("part1-"))
			w.(http.Flusher).Flush()
			w.Write([]byte("part2"))
		case "/empty":
			w.WriteHeader(http.StatusNoContent)
		case "/hints":
			w.Header().Set("Link", "</a.css>; rel=preload")
			w.WriteHeader(http.StatusEarlyHints)
			w.Write([]byte("after hints"))
		case "/close":
			w.Header().Set("Connection", "close")
			w.Write([]byte("closing"))
		case "/echo":
			b, _ := io.ReadAll(r.Body)
			w.Write([]byte(r.Method + ":" + string(b)))
		default:
			w.Header().Set("X-Host", r.Host)
			w.Write([]byte("hello " + r.URL.RequestURI()))
		}
	})
	cases := []struct {
		name, method, path, body, want string
		status                         int
	}{
		{"get", "GET", "/a?b=c", "", "hello /a?b=c", 200},
		{"chunked", "GET", "/chunked", "", "part1-part2", 200},
		{"no content", "GET", "/empty", "", "", 204},
		{"head", "HEAD", "/a", "", "", 200},
		{"early hints skipped", "GET", "/hints", "", "after hints", 200},
		{"origin closes", "GET", "/close", "", "closing", 200},
		{"post body", "POST", "/echo", "payload", "POST:payload", 200},
		{"after the others", "GET", "/z", "", "hello /z", 200},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var body io.Reader
			if tc.body != "" {
				body = strings.NewReader(tc.body)
			}
			res, got, err := roundTrip(t, tr, context.Background(), tc.method, srv.URL+tc.path, body)
			if err != nil {
				t.Fatal(err)
			}
			if res.StatusCode != tc.status || got != tc.want {
				t.Fatalf("got %d %q, want %d %q", res.StatusCode, got, tc.status, tc.want)
			}
		})
	}
	before := conns.Load()
	for range 20 {
		if _, got, err := roundTrip(t, tr, context.Background(), "GET", srv.URL+"/k", nil); err != nil || got != "hello /k" {
			t.Fatalf("keep-alive GET: %q %v", got, err)
		}
	}
	if n := conns.Load() - before; n > 1 {
		t.Errorf("20 sequential GETs opened %d connections, want at most 1", n)
	}
}

// A kept-alive connection the origin dropped while it sat in the pool is
// noticed on use and the request is sent again on a fresh one, so the
// visitor never sees the origin's idle timeout as a 502.
func TestOriginTransportRetriesDeadIdleConn(t *testing.T) {
	srv, tr, _ := transportOrigin(t, func(w http.ResponseWriter, r *http.Request) { w.Write([]byte("ok")) })
	for i := range 3 {
		if _, got, err := roundTrip(t, tr, context.Background(), "GET", srv.URL+"/", nil); err != nil || got != "ok" {
			t.Fatalf("request %d after the origin dropped its connections: %q %v", i, got, err)
		}
		srv.CloseClientConnections()
	}
}

// A response body closed before its end (the visitor went away) closes
// the connection instead of returning it half-read to the pool, where the
// next request would read the rest of the old body as its answer.
func TestOriginTransportEarlyCloseDoesNotPoison(t *testing.T) {
	big := strings.Repeat("x", 1<<20)
	srv, tr, _ := transportOrigin(t, func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/big" {
			w.Write([]byte(big))
			return
		}
		w.Write([]byte("small"))
	})
	for range 3 {
		req, _ := http.NewRequest("GET", srv.URL+"/big", nil)
		res, err := tr.RoundTrip(req)
		if err != nil {
			t.Fatal(err)
		}
		buf := make([]byte, 100)
		io.ReadFull(res.Body, buf)
		res.Body.Close()
		if _, got, err := roundTrip(t, tr, context.Background(), "GET", srv.URL+"/s", nil); err != nil || got != "small" {
			t.Fatalf("after an early close: %q %v", got[:min(len(got), 20)], err)
		}
	}
}

// A cancelled request (the visitor disconnected) stops waiting for a slow
// origin at once, and a silent origin is given up after the response
// header timeout.
func TestOriginTransportCancelAndTimeout(t *testing.T) {
	release := make(chan struct{})
	srv, tr, _ := transportOrigin(t, func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-release:
		case <-r.Context().Done():
		}
	})
	defer close(release)
	ctx, cancel := context.WithCancel(context.Background())
	time.AfterFunc(50*time.Millisecond, cancel)
	start := time.Now()
	if _, _, err := roundTrip(t, tr, ctx, "GET", srv.URL+"/slow", nil); err == nil {
		t.Fatal("a cancelled request succeeded")
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Fatalf("cancel took %v", d)
	}
	tr.std.ResponseHeaderTimeout = 100 * time.Millisecond
	if _, _, err := roundTrip(t, tr, context.Background(), "GET", srv.URL+"/slow", nil); err == nil {
		t.Fatal("a silent origin answered")
	}
}
