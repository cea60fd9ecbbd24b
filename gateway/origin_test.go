package gateway_test

import (
	"bufio"
	"context"
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/waitroom/waitroom/queue"
	"github.com/waitroom/waitroom/token"
)

// Whatever the crowd does, the origin never sees more distinct admitted
// visitors than the room's max_active.
func TestOriginNeverSeesMoreThanMaxActive(t *testing.T) {
	const maxActive = 5
	r := newRig(t, rigOpts{rooms: []queue.Room{room("cap", 60000, maxActive, "/*")}})
	var wg sync.WaitGroup
	for range 40 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			b := newBrowser(t)
			for range 5 {
				b.get(r.pub.URL+"/buy", false)
			}
		}()
	}
	wg.Wait()
	seen := map[string]bool{}
	for _, req := range r.origin.requests() {
		c, err := r.g.Verifier().Verify(req.Header.Get(token.HeaderPass), "cap")
		if err != nil {
			t.Fatalf("origin got a request without a valid pass: %v", err)
		}
		seen[c.Visitor] = true
	}
	if len(seen) == 0 || len(seen) > maxActive {
		t.Fatalf("origin saw %d distinct admitted visitors, max_active is %d", len(seen), maxActive)
	}
}

// A failed origin round trip gets our 502 page with the request id; API
// clients get JSON.
func TestOriginDownGets502Page(t *testing.T) {
	o := newOrigin(t)
	r := newRig(t, rigOpts{origin: o})
	o.srv.Close()
	b := newBrowser(t)
	res, body := b.get(r.pub.URL+"/x", true)
	id := res.Header.Get("Request-Id")
	if res.StatusCode != http.StatusBadGateway || id == "" || !strings.Contains(body, id) {
		t.Fatalf("HTML: %d id=%q body has id: %v", res.StatusCode, id, strings.Contains(body, id))
	}
	res, body = b.get(r.pub.URL+"/x", false)
	if res.StatusCode != http.StatusBadGateway || !strings.Contains(body, `"bad_gateway"`) {
		t.Fatalf("API: %d %s", res.StatusCode, body)
	}
}

// An admitted visitor's WebSocket to the origin is proxied (with the pass);
// a visitor without a pass cannot open one.
func TestOriginWebSocketProxiedForAdmitted(t *testing.T) {
	o := newOrigin(t)
	up := websocket.Upgrader{}
	o.respond = func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get(token.HeaderPass) == "" {
			http.Error(w, "no pass", http.StatusUnauthorized)
			return
		}
		c, err := up.Upgrade(w, r, nil)
		if err != nil {
			return
		}
		defer c.Close()
		mt, msg, err := c.ReadMessage()
		if err == nil {
			_ = c.WriteMessage(mt, append([]byte("echo:"), msg...))
		}
	}
	r := newRig(t, rigOpts{origin: o, rooms: []queue.Room{room("ws", 6000, 1, "/live/*")}})
	b := newBrowser(t)
	b.get(r.pub.URL+"/live/feed", false) // admitted at once: pass cookie set
	u := "ws" + strings.TrimPrefix(r.pub.URL, "http") + "/live/feed"
	c, _, err := (&websocket.Dialer{Jar: b.jar}).Dial(u, nil)
	if err != nil {
		t.Fatalf("admitted visitor: %v", err)
	}
	defer c.Close()
	_ = c.WriteMessage(websocket.TextMessage, []byte("hi"))
	if _, msg, err := c.ReadMessage(); err != nil || string(msg) != "echo:hi" {
		t.Fatalf("through the proxy: %q %v", msg, err)
	}
	// max_active is 1: a second visitor waits and gets no socket.
	if _, res, err := (&websocket.Dialer{Jar: newBrowser(t).jar}).Dial(u, nil); err == nil || res.StatusCode != http.StatusTooManyRequests {
		t.Fatalf("visitor without a pass: %v", err)
	}
}

// Server-sent events from the origin reach an admitted visitor as they are
// written, not when the response ends.
func TestOriginEventStreamFlushedAtOnce(t *testing.T) {
	o := newOrigin(t)
	release := make(chan struct{})
	o.respond = func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/event-stream")
		_, _ = io.WriteString(w, "data: first\n\n")
		w.(http.Flusher).Flush()
		<-release
		_, _ = io.WriteString(w, "data: second\n\n")
	}
	r := newRig(t, rigOpts{origin: o})
	b := newBrowser(t)
	close(release)
	b.get(r.pub.URL+"/warmup", false) // admitted; the origin answers at once
	release = make(chan struct{})
	req, _ := http.NewRequest(http.MethodGet, r.pub.URL+"/events/stream", nil)
	res, err := b.c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	br := bufio.NewReader(res.Body)
	line, err := br.ReadString('\n')
	if err != nil || line != "data: first\n" {
		t.Fatalf("first event %q %v", line, err)
	}
	close(release)
	rest, _ := io.ReadAll(br)
	if !strings.Contains(string(rest), "data: second") {
		t.Fatalf("rest of the stream %q", rest)
	}
}

// Shutdown drains: a request in flight at the origin completes.
func TestShutdownDrainsInFlightRequests(t *testing.T) {
	o := newOrigin(t)
	started := make(chan struct{}, 1)
	o.respond = func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/slow" {
			started <- struct{}{}
			time.Sleep(300 * time.Millisecond)
		}
		_, _ = io.WriteString(w, "done")
	}
	r := newRig(t, rigOpts{origin: o})
	b := newBrowser(t)
	b.get(r.pub.URL+"/warmup", false)
	type result struct {
		code int
		body string
	}
	done := make(chan result, 1)
	go func() {
		res, body := b.get(r.pub.URL+"/slow", false)
		done <- result{res.StatusCode, body}
	}()
	<-started
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := r.pub.Config.Shutdown(ctx); err != nil {
		t.Fatal(err)
	}
	if got := <-done; got.code != http.StatusOK || got.body != "done" {
		t.Fatalf("in-flight request got %d %q", got.code, got.body)
	}
}
