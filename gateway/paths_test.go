package gateway_test

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/waitroom/waitroom/queue"
)

// rawGet sends "GET target" byte for byte (no client cleans or escapes it)
// to addr and returns the response and its body.
func rawGet(t testing.TB, addr, host, target string, hdr ...string) (*http.Response, string) {
	t.Helper()
	c, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(10 * time.Second))
	var b strings.Builder
	fmt.Fprintf(&b, "GET %s HTTP/1.1\r\n", target)
	if host != "" {
		fmt.Fprintf(&b, "Host: %s\r\n", host)
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		fmt.Fprintf(&b, "%s: %s\r\n", hdr[i], hdr[i+1])
	}
	b.WriteString("Connection: close\r\n\r\n")
	if _, err := io.WriteString(c, b.String()); err != nil {
		t.Fatal(err)
	}
	res, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		t.Fatalf("GET %s: %v", target, err)
	}
	defer res.Body.Close()
	body, _ := io.ReadAll(res.Body)
	return res, string(body)
}

// Path tricks never skip a room, and the origin gets exactly the path that
// was matched. Every protected room here is paused, so a request that a
// room catches is queued (429 naming the room) and one that skips the queue
// reaches the origin, which records the request target it received.
//
// Before paths were cleaned, matching ran on the raw path, pass-through
// first: /static/../events/1 and /static/%2e%2e/events/1 were proxied
// unqueued to an origin that resolves them to the protected /events/1, and
// /Events/42, /events/42. and the like fell outside the room /events/*.
func TestPathTricksCannotSkipTheRoom(t *testing.T) {
	paused := func(r queue.Room) queue.Room { r.Paused = true; return r }
	exact := room("exact", 600, 1000, "/Tickets/*")
	exact.Match = queue.MatchExact
	r := newRig(t, rigOpts{rooms: []queue.Room{
		paused(exact),
		paused(room("events", 600, 1000, "/events/*")),
		room("open", 100_000, 100_000, "/open/*"), // admits at once: shows what an admitted visitor's origin gets
		paused(room("default", 600, 1000, "/*")),
	}})
	// Pass-through is the default: /favicon.ico, /robots.txt, /static/*, /assets/*.
	addr := r.pub.Listener.Addr().String()

	const bad = "400"
	cases := []struct {
		target string
		want   string // "proxy" (unqueued or admitted at once), a room name (queued in it), or "400"
		origin string // for "proxy": the request target the origin received
	}{
		// Dot-segments in every spelling resolve before matching.
		{"/static/../events/1", "events", ""},
		{"/static/%2e%2e/events/1", "events", ""},
		{"/static/%2E%2E/events/1", "events", ""},
		{"/static/.%2e/events/1", "events", ""},
		{"/static/./../events/1", "events", ""},
		{"/static//../events/1", "events", ""},
		{"/static/..;/events/1", "events", ""},
		{"/_waitroom/../events/1", "events", ""},
		{"/_waitroom/assets/../../events/1", "events", ""},
		{"/assets/x/../../Events/1", "events", ""},
		// Spellings of /events/42 that many origins serve as that page.
		{"//events/1", "events", ""},
		{"/events//42", "events", ""},
		{"/Events/42", "events", ""},
		{"/EVENTS/42", "events", ""},
		{"/events/42;x", "events", ""},
		{"/events;x/42", "events", ""},
		{"/events/42.", "events", ""},
		{"/events/42%20", "events", ""},
		{"/events/%34%32", "events", ""},
		{"/events/1/", "events", ""},
		{"/events/1/..", "events", ""},
		// match: exact keeps the case.
		{"/Tickets/1", "exact", ""},
		{"/tickets/1", "default", ""},
		{"/TICKETS/../Tickets/./1", "exact", ""},
		// Pass-through matches the cleaned path byte for byte.
		{"/static/a/../b.css", "proxy", "/static/b.css"},
		{"/static/%2e/app.js", "proxy", "/static/app.js"},
		{"/static//app.js", "proxy", "/static/app.js"},
		{"/static/x?q=../../a", "proxy", "/static/x?q=../../a"},
		{"/static/x?q=%2F..%2F", "proxy", "/static/x?q=%2F..%2F"},
		{"/static/x/..", "proxy", "/static/"},
		{"/favicon.ico", "proxy", "/favicon.ico"},
		{"/robots.txt.", "proxy", "/robots.txt"},
		{"/Static/app.js", "default", ""},
		{"/FAVICON.ICO", "default", ""},
		// An admitted visitor's origin gets the cleaned path too, case kept.
		{"/open/a/../B//c;p.", "proxy", "/open/B/c"},
		{"/Open/x/", "proxy", "/Open/x/"},
		{"/open/%7Euser", "proxy", "/open/~user"},
		{"/open/a%3Fb?c=d", "proxy", "/open/a%3Fb?c=d"},
		// No safe meaning: refused before anything routes.
		{"/static/..%2fevents/1", bad, ""},
		{"/static/%2e%2e%2fevents/1", bad, ""},
		{"/static/%2E%2E%2Fevents/1", bad, ""},
		{"/../events/1", bad, ""},
		{"/static/../../events/1", bad, ""},
		{`/static\..\events/1`, bad, ""},
		{"/static/%5c../events/1", bad, ""},
		{"/static/%252e%252e/events/1", bad, ""},
		{"/static/.../events/1", bad, ""},
		{"/events/1%00", bad, ""},
		{"/static/x%0d%0aX-Injected:%201", bad, ""},
		{"*", bad, ""},
	}
	for _, tc := range cases {
		t.Run(tc.target, func(t *testing.T) {
			before := len(r.origin.requests())
			res, body := rawGet(t, addr, "site.example", tc.target, "Accept", "application/json")
			got := r.origin.requests()[before:]
			switch tc.want {
			case "proxy":
				if res.StatusCode != http.StatusOK || len(got) != 1 {
					t.Fatalf("got %d %s with %d origin requests, want proxied", res.StatusCode, body, len(got))
				}
				if got[0].RequestURI != tc.origin {
					t.Errorf("origin received %q, want %q", got[0].RequestURI, tc.origin)
				}
			case bad:
				if res.StatusCode != http.StatusBadRequest || !strings.Contains(body, `"error"`) {
					t.Fatalf("got %d %s, want 400 with a JSON error", res.StatusCode, body)
				}
			default:
				var st struct{ Room, State string }
				if res.StatusCode != http.StatusTooManyRequests || json.Unmarshal([]byte(body), &st) != nil ||
					st.Room != tc.want || st.State != "paused" {
					t.Fatalf("got %d %s, want queued (paused) in room %q", res.StatusCode, body, tc.want)
				}
			}
			if tc.want != "proxy" && len(got) != 0 {
				t.Errorf("the origin received %q", got[0].RequestURI)
			}
		})
	}

	// The gateway's own paths are reached through the cleaned path as well.
	res, body := rawGet(t, addr, "site.example", "/static/../_waitroom/x", "Accept", "application/json")
	if res.StatusCode != http.StatusNotFound || !strings.Contains(body, `"not found"`) {
		t.Errorf("/static/../_waitroom/x: %d %s, want the gateway's own 404", res.StatusCode, body)
	}
	res, body = rawGet(t, addr, "site.example", "/static/%2e%2e/_waitroom/api/status?room=events", "Accept", "application/json")
	if res.StatusCode != http.StatusOK || !strings.Contains(body, `"room":"events"`) {
		t.Errorf("status API through dot-segments: %d %s", res.StatusCode, body)
	}
}

// The queue page sends the visitor back to the cleaned URL.
func TestQueuePageReturnsToCleanedPath(t *testing.T) {
	paused := room("default", 600, 1000, "/*")
	paused.Paused = true
	r := newRig(t, rigOpts{rooms: []queue.Room{paused}})
	res, body := rawGet(t, r.pub.Listener.Addr().String(), "site.example", "/static/../events//1;x?seat=A%2F1", "Accept", "text/html")
	if res.StatusCode != http.StatusOK || res.Header.Get("Waitroom-State") != "paused" {
		t.Fatalf("got %d (%s), want the queue page", res.StatusCode, res.Header.Get("Waitroom-State"))
	}
	if !strings.Contains(body, "/events/1?seat=A%2F1") {
		t.Errorf("queue page does not return to /events/1?seat=A%%2F1")
	}
	if strings.Contains(body, "/static/") {
		t.Errorf("queue page returns to the raw path")
	}
}
