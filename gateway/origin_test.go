package gateway_test

import (
	"net/http"
	"strings"
	"sync"
	"testing"

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
