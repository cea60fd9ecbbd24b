package gateway_test

import (
	"encoding/json"
	"io"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/waitroom/waitroom/gateway"
	"github.com/waitroom/waitroom/gateway/toll"
	"github.com/waitroom/waitroom/internal/testenv"
	"github.com/waitroom/waitroom/queue"
	"github.com/waitroom/waitroom/web"
)

// Fairness against scripts that grab places, tried from outside: per-client
// limits, the toll, and passes bound to a network. Every visitor here comes
// from 127.0.0.1 unless a trusted proxy says otherwise, so one "client".

// join asks for a place as an API client (the status API, which joins a
// visitor not in line) and returns the answer's code, state and document.
func join(t *testing.T, r *rig, b *browser, roomName string, hdr ...string) (*http.Response, web.Status) {
	t.Helper()
	res, body := b.get(r.pub.URL+"/_waitroom/api/status?room="+roomName, false, hdr...)
	var s web.Status
	if err := json.Unmarshal([]byte(body), &s); err != nil {
		t.Fatalf("status answer %d %q: %v", res.StatusCode, body, err)
	}
	return res, s
}

// limitedRoom admits nobody, so every place stays held.
func limitedRoom(name string, perMinute, held int) queue.Room {
	rm := room(name, 0, 1000, "/"+name+"/*")
	rm.ClientPlacesPerMinute, rm.ClientPlacesHeld = perMinute, held
	return rm
}

// Two gateway instances share one count per client: a script that spreads
// its joins over instances gets no more places than one that does not. A
// refused join takes nothing from places already held, tells the browser
// why on the queue page and an API client with 429 and Retry-After, and is
// counted in the room's admin JSON and /metrics. The limits change live.
func TestClientLimitsHoldAcrossInstances(t *testing.T) {
	rdb, prefix := testenv.Redis(t)
	rm := limitedRoom("limits", 4, 0) // 4 a minute: 2 at once, then one every 15 s
	a := newRig(t, rigOpts{rooms: []queue.Room{rm}, rdb: rdb, prefix: prefix})
	b := newRig(t, rigOpts{rooms: []queue.Room{rm}, rdb: rdb, prefix: prefix})

	first := newBrowser(t)
	if res, s := join(t, a, first, "limits"); res.StatusCode != http.StatusOK || s.State != "queued" || s.Position != 1 {
		t.Fatalf("first place (instance A): %d %+v", res.StatusCode, s)
	}
	if res, s := join(t, b, newBrowser(t), "limits"); res.StatusCode != http.StatusOK || s.State != "queued" {
		t.Fatalf("second place (instance B): %d %+v", res.StatusCode, s)
	}
	third := newBrowser(t)
	res, s := join(t, a, third, "limits")
	if res.StatusCode != http.StatusTooManyRequests || s.State != "limited" || s.Reason != "rate" {
		t.Fatalf("third place within the minute: %d %+v, want 429 limited (rate)", res.StatusCode, s)
	}
	if s.RetryAfter < 14 || s.RetryAfter > 16 || res.Header.Get("Retry-After") != strconv.FormatInt(s.RetryAfter, 10) {
		t.Fatalf("retry after %d s (header %q), want about 15 s in both", s.RetryAfter, res.Header.Get("Retry-After"))
	}
	if s.Position != 0 || s.Ticket != 0 {
		t.Fatalf("a refused join has a place: %+v", s)
	}

	// The browser's queue page says so, in the visitor's language.
	for lang, want := range map[string]string{"en": "Please wait a moment", "ko": "잠시만 기다려 주세요"} {
		res, body := third.get(b.pub.URL+"/limits/buy", true, "Accept-Language", lang)
		if res.StatusCode != http.StatusTooManyRequests || res.Header.Get("Waitroom-State") != "limited" ||
			res.Header.Get("Retry-After") == "" || !strings.Contains(body, want) || !strings.Contains(body, `data-state="limited"`) {
			t.Fatalf("%s queue page when limited: %d state %q retry %q, has %q: %v",
				lang, res.StatusCode, res.Header.Get("Waitroom-State"), res.Header.Get("Retry-After"), want, strings.Contains(body, want))
		}
	}

	// Nothing held is lost.
	if _, s := join(t, b, first, "limits"); s.State != "queued" || s.Position != 1 {
		t.Fatalf("the first visitor after the refusals: %+v, want still first", s)
	}

	// Live: a cap on places held replaces the rate.
	if res, body := b.admin(t, http.MethodPatch, "/admin/rooms/limits", `{"client_places_per_minute":0,"client_places_held":2}`); res.StatusCode != http.StatusOK {
		t.Fatalf("PATCH: %d %s", res.StatusCode, body)
	}
	if res, s := join(t, a, third, "limits"); res.StatusCode != http.StatusTooManyRequests || s.Reason != "held" {
		t.Fatalf("two held, cap 2: %d %+v, want limited (held)", res.StatusCode, s)
	}
	b.admin(t, http.MethodPatch, "/admin/rooms/limits", `{"client_places_held":3}`)
	if res, s := join(t, a, third, "limits"); res.StatusCode != http.StatusOK || s.State != "queued" || s.Position != 3 {
		t.Fatalf("cap raised to 3: %d %+v, want the third place", res.StatusCode, s)
	}

	// Counted for the operator, the same on both instances.
	_, body := a.admin(t, http.MethodGet, "/admin/rooms/limits", "")
	var rj struct {
		PerMinute    *int  `json:"client_places_per_minute"`
		Held         *int  `json:"client_places_held"`
		RefusedTotal int64 `json:"refused_total"`
	}
	if err := json.Unmarshal([]byte(body), &rj); err != nil || rj.RefusedTotal != 4 || rj.PerMinute == nil || *rj.PerMinute != 0 || rj.Held == nil || *rj.Held != 3 {
		t.Fatalf("admin JSON %s: want refused_total 4, per minute 0, held 3", body)
	}
	testenv.WaitFor(t, 5*time.Second, "refusals in /metrics", func() bool {
		return strings.Contains(metricsText(t, b), `waitroom_joins_refused_total{room="limits"} 4`)
	})
}

func metricsText(t *testing.T, r *rig) string {
	t.Helper()
	res, err := http.Get(r.adm.URL + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	return string(b)
}

// The client is the address a trusted proxy saw (the right-most address in
// X-Forwarded-For that is not one of the proxies; IPv6 by its /64); a
// client's own X-Forwarded-For, sent to a gateway that does not trust its
// peer, is ignored.
func TestClientFromTrustedProxyOnly(t *testing.T) {
	rm := limitedRoom("behind", 2, 0) // one place at once per client
	proxied := newRig(t, rigOpts{rooms: []queue.Room{rm}, mutate: func(c *gateway.Config) {
		c.TrustedProxies = proxies(t, "127.0.0.1/32")
	}})
	for _, tc := range []struct {
		xff, state string
	}{
		{"203.0.113.5", "queued"},
		{"203.0.113.6", "queued"},                // another client
		{"198.51.100.9, 203.0.113.5", "limited"}, // a forged hop on the left changes nothing
		{"2001:db8:1:2::1", "queued"},            // IPv6: its /64
		{"2001:db8:1:2:ffff::7", "limited"},      // the same /64
		{"2001:db8:1:3::1", "queued"},            // the next /64
		{"::ffff:203.0.113.6", "limited"},        // an IPv4-mapped address is the IPv4 client
		{"203.0.113.7, 127.0.0.1", "queued"},     // a second trusted hop is skipped
		{"203.0.113.7, 127.0.0.1", "limited"},    // … to the same client
	} {
		res, s := join(t, proxied, newBrowser(t), "behind", "X-Forwarded-For", tc.xff)
		if s.State != tc.state {
			t.Fatalf("X-Forwarded-For %q via a trusted proxy: %d %+v, want %s", tc.xff, res.StatusCode, s, tc.state)
		}
	}

	direct := newRig(t, rigOpts{rooms: []queue.Room{limitedRoom("direct", 2, 0)}})
	if _, s := join(t, direct, newBrowser(t), "direct", "X-Forwarded-For", "203.0.113.5"); s.State != "queued" {
		t.Fatalf("first place: %+v", s)
	}
	if _, s := join(t, direct, newBrowser(t), "direct", "X-Forwarded-For", "203.0.113.99"); s.State != "limited" {
		t.Fatalf("a client's own X-Forwarded-For believed: %+v, want limited (the peer is one client)", s)
	}
}

// tollRooms are two rooms with a toll of 10 ms on a phone.
func tollRooms() []queue.Room {
	var rooms []queue.Room
	for _, n := range []string{"toll-a", "toll-b"} {
		rm := room(n, 0, 1000, "/"+n+"/*")
		rm.Toll, rm.TollSeconds = true, 0.01
		rooms = append(rooms, rm)
	}
	return rooms
}

// askToll asks for a place without paying and returns the challenge.
// askToll is a new visitor's request in a toll room: 429 with a challenge.
// (Its place is kept meanwhile unless its network has two kept already:
// every browser of these tests comes from 127.0.0.1.)
func askToll(t *testing.T, r *rig, b *browser, roomName string) toll.Challenge {
	t.Helper()
	c, _ := askTollAt(t, r, b, roomName)
	return c
}

// askTollAt is askToll with the position of the place kept (0: none).
func askTollAt(t *testing.T, r *rig, b *browser, roomName string) (toll.Challenge, int64) {
	t.Helper()
	res, body := b.get(r.pub.URL+"/"+roomName+"/buy", false)
	var s web.Status
	_ = json.Unmarshal([]byte(body), &s)
	if res.StatusCode != http.StatusTooManyRequests || s.State != "toll" || res.Header.Get("Waitroom-State") != "toll" ||
		res.Header.Get("Retry-After") == "" || s.Challenge == nil {
		t.Fatalf("a new visitor in a toll room: %d %s, want 429 with a challenge", res.StatusCode, body)
	}
	return *s.Challenge, s.Position
}

func solve(t *testing.T, c toll.Challenge) string {
	t.Helper()
	s, err := toll.Solve(c)
	if err != nil {
		t.Fatal(err)
	}
	return s.Encode()
}

// A solution buys one place, once: for the visitor it was issued to, in
// its room; a visitor in line is never asked again, on any channel, even
// after the difficulty is raised, which only new visitors pay.
func TestTollSolvedOnceForItsVisitorAndRoom(t *testing.T) {
	r := newRig(t, rigOpts{rooms: tollRooms()})
	ann := newBrowser(t)
	c, at := askTollAt(t, r, ann, "toll-a")
	if at != 1 {
		t.Fatalf("first visitor's place kept at %d while she pays, want 1", at)
	}
	if c.MaxNumber != toll.MaxNumber(0.01) || c.Algorithm != "SHA-256" {
		t.Fatalf("challenge %+v, want SHA-256 of maxnumber %d", c, toll.MaxNumber(0.01))
	}
	paid := solve(t, c)

	if _, s := join(t, r, newBrowser(t), "toll-a", gateway.HeaderToll, paid); s.State != "toll" {
		t.Fatalf("another visitor with ann's solution: %+v, want the toll asked", s)
	}
	if _, s := join(t, r, ann, "toll-b", gateway.HeaderToll, paid); s.State != "toll" {
		t.Fatalf("ann's solution in another room: %+v, want the toll asked", s)
	}
	if _, s := join(t, r, ann, "toll-a", gateway.HeaderToll, "not base64 at all"); s.State != "toll" {
		t.Fatalf("garbage solution: %+v", s)
	}
	res, s := join(t, r, ann, "toll-a", gateway.HeaderToll, paid)
	if res.StatusCode != http.StatusOK || s.State != "queued" || s.Position != 1 {
		t.Fatalf("ann pays: %d %+v, want the first place", res.StatusCode, s)
	}

	// In line: never asked again, whatever the channel.
	if res, s := join(t, r, ann, "toll-a"); res.StatusCode != http.StatusOK || s.State != "queued" {
		t.Fatalf("status poll in line: %d %+v", res.StatusCode, s)
	}
	if res, body := ann.get(r.pub.URL+"/toll-a/buy", true); res.StatusCode != http.StatusOK || !strings.Contains(body, `data-state="queued"`) {
		t.Fatalf("queue page in line: %d, want the queued page", res.StatusCode)
	}
	ws, _, err := dialWS(t, r, ann, "toll-a", r.pub.URL)
	if err != nil {
		t.Fatal(err)
	}
	if s, err := readStatus(t, ws, 3*time.Second); err != nil || s.State != "queued" || s.Position != 1 {
		t.Fatalf("socket in line: %+v %v", s, err)
	}
	ws.Close()

	// Harder from now on: for new visitors only.
	if res, body := r.admin(t, http.MethodPatch, "/admin/rooms/toll-a", `{"toll_seconds":0.05}`); res.StatusCode != http.StatusOK {
		t.Fatalf("PATCH: %d %s", res.StatusCode, body)
	}
	if _, s := join(t, r, ann, "toll-a"); s.State != "queued" {
		t.Fatalf("ann after the raise: %+v", s)
	}
	if c := askToll(t, r, newBrowser(t), "toll-a"); c.MaxNumber != toll.MaxNumber(0.05) {
		t.Fatalf("new visitor's challenge maxnumber %d, want %d", c.MaxNumber, toll.MaxNumber(0.05))
	}

	// Ann is admitted, buys, and is sent out by the origin (her session
	// ends); she comes back with the solution she spent: it buys nothing
	// twice.
	r.origin.respond = func(w http.ResponseWriter, r *http.Request) {
		if strings.HasSuffix(r.URL.Path, "/done") {
			w.Header().Set("Waitroom-Command", "revoke")
		}
	}
	if res, body := r.admin(t, http.MethodPost, "/admin/rooms/toll-a/admit", `{"count":1}`); !strings.Contains(body, `"admitted":1`) {
		t.Fatalf("admit: %d %s", res.StatusCode, body)
	}
	for _, p := range []string{"/toll-a/buy", "/toll-a/done"} {
		if res, _ := ann.get(r.pub.URL+p, true); res.StatusCode != http.StatusOK {
			t.Fatalf("admitted ann at %s: %d", p, res.StatusCode)
		}
	}
	// (Until the room's figures catch up, about a second, this instance may
	// still answer her poll with her old place from memory.)
	var again web.Status
	testenv.WaitFor(t, 5*time.Second, "ann's old place forgotten", func() bool {
		_, again = join(t, r, ann, "toll-a", gateway.HeaderToll, paid)
		return again.State != "queued"
	})
	if again.State != "toll" {
		t.Fatalf("a spent solution again: %+v, want the toll asked", again)
	}
	c = askToll(t, r, ann, "toll-a")
	if res, s := join(t, r, ann, "toll-a", gateway.HeaderToll, solve(t, c)); res.StatusCode != http.StatusOK || s.State != "queued" {
		t.Fatalf("ann pays again: %d %+v", res.StatusCode, s)
	}

	_, body := r.admin(t, http.MethodGet, "/admin/rooms/toll-a", "")
	var rj struct {
		Toll        bool    `json:"toll"`
		TollSeconds float64 `json:"toll_seconds"`
		Paid        int64   `json:"tolls_paid_total"`
	}
	if err := json.Unmarshal([]byte(body), &rj); err != nil || !rj.Toll || rj.TollSeconds != 0.05 || rj.Paid != 2 {
		t.Fatalf("admin JSON %s: want toll on, 0.05 s, 2 paid", body)
	}
	testenv.WaitFor(t, 5*time.Second, "tolls in /metrics", func() bool {
		m := metricsText(t, r)
		return strings.Contains(m, `waitroom_tolls_paid_total{room="toll-a"} 2`) &&
			strings.Contains(m, `waitroom_toll_challenges_total{room="toll-a"}`)
	})
}

// The queue page of a toll room carries the challenge for its script, and
// its no-JavaScript note says the check needs JavaScript.
func TestTollQueuePage(t *testing.T) {
	r := newRig(t, rigOpts{rooms: tollRooms()})
	res, body := newBrowser(t).get(r.pub.URL+"/toll-a/buy", true, "Accept-Language", "ko")
	if res.StatusCode != http.StatusOK || res.Header.Get("Waitroom-State") != "toll" ||
		!strings.Contains(body, `data-state="toll"`) || !strings.Contains(body, `"challenge":{"algorithm":"SHA-256"`) ||
		!strings.Contains(body, "toll-worker.js") || !strings.Contains(body, "자바스크립트가 필요합니다") {
		t.Fatalf("toll queue page: %d state %q\n%s", res.StatusCode, res.Header.Get("Waitroom-State"), body)
	}
}

// A room that binds passes to the network honours its pass from the /24 it
// was issued to only; the visitor's cookies carried to another network get
// neither the page nor a fresh pass there.
func TestPassBoundToNetwork(t *testing.T) {
	rm := room("bound", 6000, 100, "/bound/*")
	rm.BindNetwork = true
	r := newRig(t, rigOpts{rooms: []queue.Room{rm}, mutate: func(c *gateway.Config) {
		c.TrustedProxies = proxies(t, "127.0.0.1/32")
	}})
	v := newBrowser(t)
	if res, _ := v.get(r.pub.URL+"/bound/buy", true, "X-Forwarded-For", "203.0.113.5"); res.StatusCode != http.StatusOK || len(r.origin.requests()) != 1 {
		t.Fatalf("admitted at once: %d, %d origin requests", res.StatusCode, len(r.origin.requests()))
	}
	if res, _ := v.get(r.pub.URL+"/bound/next", true, "X-Forwarded-For", "203.0.113.77"); res.StatusCode != http.StatusOK || len(r.origin.requests()) != 2 {
		t.Fatalf("same /24: %d, %d origin requests", res.StatusCode, len(r.origin.requests()))
	}
	res, body := v.get(r.pub.URL+"/bound/buy", false, "X-Forwarded-For", "198.51.100.1")
	if res.StatusCode != http.StatusForbidden || !strings.Contains(body, "wrong_network") || len(r.origin.requests()) != 2 {
		t.Fatalf("another network: %d %s, %d origin requests; want 403 wrong_network and nothing proxied", res.StatusCode, body, len(r.origin.requests()))
	}
	if res, _ := v.get(r.pub.URL+"/bound/next", true, "X-Forwarded-For", "203.0.113.9"); res.StatusCode != http.StatusOK || len(r.origin.requests()) != 3 {
		t.Fatalf("back on its own network: %d, %d origin requests", res.StatusCode, len(r.origin.requests()))
	}
}

// A simulator standing in for visitors' devices (surge swarm) pays with
// the booth of the gateways' cookie secret; a gateway with another secret
// refuses the same payment.
func TestSimulatedTollPayment(t *testing.T) {
	r := newRig(t, rigOpts{rooms: tollRooms()})
	ann := newBrowser(t)
	askToll(t, r, ann, "toll-a")
	id, _, _ := strings.Cut(ann.cookie(r.pub.URL, gateway.CookieVisitor), ".")
	other, _, err := gateway.TollBooth("another secret entirely, 32+ bytes").Paid("toll-a", id, 0.01, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	if _, s := join(t, r, ann, "toll-a", gateway.HeaderToll, other.Encode()); s.State != "toll" {
		t.Fatalf("paid with another secret's booth: %+v", s)
	}
	paid, hashes, err := gateway.TollBooth(r.cfg.CookieSecret).Paid("toll-a", id, 0.01, time.Now())
	if err != nil || hashes < 1 {
		t.Fatal(err, hashes)
	}
	if res, s := join(t, r, ann, "toll-a", gateway.HeaderToll, paid.Encode()); res.StatusCode != http.StatusOK || s.State != "queued" {
		t.Fatalf("paid by the simulator: %d %+v", res.StatusCode, s)
	}
}
