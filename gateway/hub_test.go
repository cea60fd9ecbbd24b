package gateway_test

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/waitroom/waitroom/gateway"
	"github.com/waitroom/waitroom/internal/testenv"
	"github.com/waitroom/waitroom/queue"
	"github.com/waitroom/waitroom/web"
)

// dialWS opens the status socket as the browser b would (its cookies, the
// given Origin).
func dialWS(t *testing.T, r *rig, b *browser, roomName, originHdr string) (*websocket.Conn, *http.Response, error) {
	t.Helper()
	u := "ws" + strings.TrimPrefix(r.pub.URL, "http") + "/_waitroom/ws?room=" + roomName
	h := http.Header{}
	if originHdr != "" {
		h.Set("Origin", originHdr)
	}
	d := websocket.Dialer{Jar: b.jar, HandshakeTimeout: 5 * time.Second}
	return d.Dial(u, h)
}

func readStatus(t *testing.T, c *websocket.Conn, d time.Duration) (web.Status, error) {
	t.Helper()
	_ = c.SetReadDeadline(time.Now().Add(d))
	var s web.Status
	_, msg, err := c.ReadMessage()
	if err != nil {
		return s, err
	}
	return s, json.Unmarshal(msg, &s)
}

// The socket pushes the visitor's status at least once a second with a
// position that never increases, and "admitted" once the visitor's turn
// comes; the next request then gets the pass and reaches the origin.
func TestWebSocketPushesPositionsUntilAdmitted(t *testing.T) {
	r := newRig(t, rigOpts{rooms: []queue.Room{room("live", 0, 100, "/live/*")}})
	var bs []*browser
	for range 3 {
		b := newBrowser(t)
		b.get(r.pub.URL+"/live/x", true)
		bs = append(bs, b)
	}
	last := bs[2]
	c, _, err := dialWS(t, r, last, "live", r.pub.URL)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	s, err := readStatus(t, c, 2*time.Second)
	if err != nil || s.State != "queued" || s.Position != 3 || s.Ticket == 0 {
		t.Fatalf("first push %+v %v, want queued at 3 with a ticket", s, err)
	}
	// Pushes keep coming at least once a second while nothing changes.
	for range 2 {
		if s, err = readStatus(t, c, 1500*time.Millisecond); err != nil || s.Position != 3 {
			t.Fatalf("idle push %+v %v", s, err)
		}
	}
	if res, body := r.admin(t, http.MethodPatch, "/admin/rooms/live", `{"admit_per_minute":120}`); res.StatusCode != http.StatusOK {
		t.Fatalf("PATCH: %d %s", res.StatusCode, body)
	}
	prev := s.Position
	deadline := time.Now().Add(10 * time.Second)
	for s.State != "admitted" {
		if time.Now().After(deadline) {
			t.Fatalf("not admitted in time; last %+v", s)
		}
		if s, err = readStatus(t, c, 2*time.Second); err != nil {
			t.Fatal(err)
		}
		if s.State == "queued" && s.Position > prev {
			t.Fatalf("position went up from %d to %d", prev, s.Position)
		}
		if s.State == "queued" {
			prev = s.Position
		}
	}
	res, body := last.get(r.pub.URL+"/live/x", true)
	if res.StatusCode != http.StatusOK || body != "origin:/live/x" {
		t.Fatalf("after admission: %d %q", res.StatusCode, body)
	}
}

// A WebSocket handshake from another site is refused (403), and a visitor
// cannot hold more than the configured number of sockets.
func TestWebSocketRefusals(t *testing.T) {
	r := newRig(t, rigOpts{
		rooms:  []queue.Room{room("live", 0, 100, "/live/*")},
		mutate: func(c *gateway.Config) { c.MaxSocketsPerVisitor = 2 },
	})
	b := newBrowser(t)
	b.get(r.pub.URL+"/live/x", true)
	cases := []struct {
		name, origin string
		want         int
	}{
		{"cross-site", "https://evil.example", http.StatusForbidden},
		{"look-alike host", "http://127.0.0.1.evil.example", http.StatusForbidden},
		{"garbage origin", "::::", http.StatusForbidden},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, res, err := dialWS(t, r, b, "live", tc.origin)
			if err == nil || res == nil || res.StatusCode != tc.want {
				t.Fatalf("got %v %v, want %d", res, err, tc.want)
			}
		})
	}
	t.Run("no visitor cookie", func(t *testing.T) {
		_, res, err := dialWS(t, r, newBrowser(t), "live", r.pub.URL)
		if err == nil || res.StatusCode != http.StatusForbidden {
			t.Fatalf("got %v, want 403", err)
		}
	})
	t.Run("too many sockets", func(t *testing.T) {
		for i := range 2 {
			c, _, err := dialWS(t, r, b, "live", r.pub.URL)
			if err != nil {
				t.Fatalf("socket %d: %v", i, err)
			}
			defer c.Close()
		}
		_, res, err := dialWS(t, r, b, "live", r.pub.URL)
		if err == nil || res.StatusCode != http.StatusTooManyRequests {
			t.Fatalf("third socket: %v, want 429", err)
		}
	})
}

// Shutdown closes every socket with 1001 (going away), so the page
// reconnects elsewhere; the place is kept in Redis.
func TestShutdownClosesSocketsGoingAway(t *testing.T) {
	r := newRig(t, rigOpts{rooms: []queue.Room{room("live", 0, 100, "/live/*")}})
	b := newBrowser(t)
	b.get(r.pub.URL+"/live/x", true)
	c, _, err := dialWS(t, r, b, "live", "")
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if _, err := readStatus(t, c, 2*time.Second); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	// The documented order: the listener stops accepting and drains; the
	// socket is still told its place meanwhile.
	if err := r.pub.Config.Shutdown(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := readStatus(t, c, 3*time.Second); err != nil {
		t.Fatalf("socket during the drain: %v", err)
	}
	// Then the gateway closes the sockets with 1001.
	if err := r.g.Shutdown(ctx); err != nil {
		t.Fatal(err)
	}
	for {
		_, err := readStatus(t, c, 3*time.Second)
		if err == nil {
			continue
		}
		var ce *websocket.CloseError
		if !errors.As(err, &ce) || ce.Code != websocket.CloseGoingAway {
			t.Fatalf("socket ended with %v, want close 1001", err)
		}
		break
	}
	// The place survives: a second instance on the same Redis still has it.
	other := newRig(t, rigOpts{rdb: r.rdb, prefix: r.cfg.RedisPrefix, rooms: r.cfg.Rooms})
	if st := b.statusAt(other, "live"); st.Position != 1 {
		t.Fatalf("after restart position %d, want 1", st.Position)
	}
}

func (b *browser) statusAt(r *rig, roomName string) web.Status {
	b.t.Helper()
	// Cookies are per host; both rigs listen on 127.0.0.1, so the jar
	// sends the same wr_id to either.
	return b.status(r, roomName)
}

// Two instances on one Redis agree on every visitor's position and
// together keep the room's admission rate.
func TestTwoInstancesAgreeAndKeepRate(t *testing.T) {
	a := newRig(t, rigOpts{rooms: []queue.Room{room("duo", 0, 1000, "/duo/*")}})
	bRig := newRig(t, rigOpts{rdb: a.rdb, prefix: a.cfg.RedisPrefix, rooms: a.cfg.Rooms})
	const n = 40
	var visitors []*browser
	for i := range n {
		v := newBrowser(t)
		base := a.pub.URL
		if i%2 == 1 {
			base = bRig.pub.URL
		}
		v.get(base+"/duo/x", false)
		visitors = append(visitors, v)
	}
	socks := make([][2]*websocket.Conn, n)
	for i, v := range visitors {
		for j, r := range []*rig{a, bRig} {
			c, _, err := dialWS(t, r, v, "duo", "")
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			socks[i][j] = c
		}
	}
	for i := range visitors {
		sa, err1 := readStatus(t, socks[i][0], 2*time.Second)
		sb, err2 := readStatus(t, socks[i][1], 2*time.Second)
		if err1 != nil || err2 != nil || sa.Position != int64(i+1) || sb.Position != int64(i+1) {
			t.Fatalf("visitor %d: instance A says %d, B says %d (%v %v)", i, sa.Position, sb.Position, err1, err2)
		}
	}
	// Admit at 600/min (10/s, burst 11) with both instances running the
	// admission step every 50 ms.
	if res, body := a.admin(t, http.MethodPatch, "/admin/rooms/duo", `{"admit_per_minute":600}`); res.StatusCode != http.StatusOK {
		t.Fatalf("PATCH: %s", body)
	}
	start := time.Now()
	time.Sleep(2 * time.Second)
	var f struct {
		AdmittedTotal int64 `json:"admitted_total"`
	}
	_, body := bRig.admin(t, http.MethodGet, "/admin/rooms/duo", "")
	_ = json.Unmarshal([]byte(body), &f)
	elapsed := time.Since(start).Seconds()
	maxAllowed := int64(10*elapsed) + 11 + 1 // burst: one second's worth plus one
	if f.AdmittedTotal > maxAllowed || f.AdmittedTotal < 10 {
		t.Fatalf("admitted %d in %.1fs at 10/s (burst 11); want 10..%d", f.AdmittedTotal, elapsed, maxAllowed)
	}
}

// FIFO: 200 visitors are admitted in the order they joined, and no
// visitor's position ever goes up while waiting.
func TestFIFOAcross200Visitors(t *testing.T) {
	if testing.Short() {
		t.Skip("200 visitors")
	}
	r := newRig(t, rigOpts{rooms: []queue.Room{room("fifo", 0, 10000, "/fifo/*")}})
	const n = 200
	vs := make([]*browser, n)
	for i := range vs {
		vs[i] = newBrowser(t)
		if res, _ := vs[i].get(r.pub.URL+"/fifo/x", false); res.StatusCode != http.StatusTooManyRequests {
			t.Fatalf("visitor %d not queued: %d", i, res.StatusCode)
		}
	}
	if res, body := r.admin(t, http.MethodPatch, "/admin/rooms/fifo", `{"admit_per_minute":3000}`); res.StatusCode != http.StatusOK {
		t.Fatalf("PATCH: %s", body)
	}
	admitted := make([]bool, n)
	lastPos := make([]int64, n)
	left := n
	deadline := time.Now().Add(30 * time.Second)
	for left > 0 {
		if time.Now().After(deadline) {
			t.Fatalf("%d visitors still waiting", left)
		}
		// Ask later joiners first: if a later one is admitted while an
		// earlier one, asked afterwards, is not, that is an inversion.
		seenAdmitted := -1
		for i := n - 1; i >= 0; i-- {
			if admitted[i] {
				continue
			}
			st := vs[i].status(r, "fifo")
			switch st.State {
			case string(queue.StateAdmitted):
				admitted[i] = true
				left--
				if seenAdmitted < 0 {
					seenAdmitted = i
				}
			case string(queue.StateQueued):
				if seenAdmitted > i {
					t.Fatalf("visitor %d admitted before visitor %d who joined earlier", seenAdmitted, i)
				}
				if lastPos[i] != 0 && st.Position > lastPos[i] {
					t.Fatalf("visitor %d moved back from %d to %d", i, lastPos[i], st.Position)
				}
				lastPos[i] = st.Position
			default:
				t.Fatalf("visitor %d in state %s", i, st.State)
			}
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// A visitor who keeps the queue page's socket open is never skipped as
// abandoned; one who closed the page and stopped polling is skipped at the
// front and does not use an admission slot.
func TestSocketKeepsVisitorFromAbandonment(t *testing.T) {
	rm := room("aband", 0, 100, "/a/*")
	rm.AbandonAfter = 3 * time.Second
	r := newRig(t, rigOpts{rooms: []queue.Room{rm}})
	gone, present := newBrowser(t), newBrowser(t)
	gone.get(r.pub.URL+"/a/x", true)
	present.get(r.pub.URL+"/a/x", true)
	c, _, err := dialWS(t, r, present, "aband", "")
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if s, err := readStatus(t, c, 2*time.Second); err != nil || s.Position != 2 {
		t.Fatalf("present visitor %+v %v, want position 2", s, err)
	}
	deadline := time.Now().Add(5 * time.Second)
	for time.Now().Before(deadline) { // keep reading so the socket stays healthy
		_, _ = readStatus(t, c, 2*time.Second)
	}
	if res, body := r.admin(t, http.MethodPost, "/admin/rooms/aband/admit", `{"count":1}`); res.StatusCode != http.StatusOK ||
		!strings.Contains(body, `"admitted":1`) || !strings.Contains(body, `"skipped":1`) {
		t.Fatalf("admit: %d %s, want the silent visitor skipped and the connected one admitted", res.StatusCode, body)
	}
	for {
		s, err := readStatus(t, c, 3*time.Second)
		if err != nil {
			t.Fatalf("no admitted push: %v", err)
		}
		if s.State == "admitted" {
			break
		}
	}
}

// Before opens_at visitors wait in the pre-queue (no position); when the
// room opens they get places (a shuffle of the pre-queue) and the socket
// starts showing positions without a reconnect.
func TestPrequeueThenPositionsAtOpening(t *testing.T) {
	rm := room("pre", 0, 100, "/p/*")
	rm.OpensAt = time.Now().Add(2 * time.Second)
	r := newRig(t, rigOpts{rooms: []queue.Room{rm}})
	var socks []*websocket.Conn
	for range 3 {
		b := newBrowser(t)
		res, _ := b.get(r.pub.URL+"/p/x", true)
		if st := res.Header.Get("Waitroom-State"); st != "prequeue" {
			t.Fatalf("before opening: state %q, want prequeue", st)
		}
		c, _, err := dialWS(t, r, b, "pre", "")
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		s, err := readStatus(t, c, 2*time.Second)
		if err != nil || s.State != "prequeue" || s.Position != 0 || s.OpensAt == nil {
			t.Fatalf("first push %+v %v, want prequeue with opens_at and no position", s, err)
		}
		socks = append(socks, c)
	}
	seen := map[int64]bool{}
	for i, c := range socks {
		for {
			s, err := readStatus(t, c, 3*time.Second)
			if err != nil {
				t.Fatalf("socket %d: %v", i, err)
			}
			if s.State == "queued" && s.Position > 0 {
				seen[s.Position] = true
				break
			}
		}
	}
	if len(seen) != 3 || !seen[1] || !seen[2] || !seen[3] {
		t.Fatalf("positions after opening %v, want 1, 2 and 3", seen)
	}
}

// An operator's pause or close reaches every open socket, keeping the
// visitor's position.
func TestWebSocketPushesPauseAndClose(t *testing.T) {
	r := newRig(t, rigOpts{rooms: []queue.Room{room("op", 0, 100, "/op/*")}})
	b := newBrowser(t)
	b.get(r.pub.URL+"/op/x", true)
	c, _, err := dialWS(t, r, b, "op", "")
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if s, err := readStatus(t, c, 2*time.Second); err != nil || s.State != "queued" {
		t.Fatalf("first push %+v %v", s, err)
	}
	for _, step := range []struct{ patch, want string }{
		{`{"paused":true}`, "paused"},
		{`{"paused":false,"closed":true}`, "closed"},
		{`{"closed":false}`, "queued"},
	} {
		if res, body := r.admin(t, http.MethodPatch, "/admin/rooms/op", step.patch); res.StatusCode != http.StatusOK {
			t.Fatalf("PATCH %s: %s", step.patch, body)
		}
		for {
			s, err := readStatus(t, c, 2*time.Second)
			if err != nil {
				t.Fatalf("waiting for %s: %v", step.want, err)
			}
			if s.State == step.want {
				if s.Position != 1 {
					t.Errorf("%s with position %d, want 1", s.State, s.Position)
				}
				break
			}
		}
	}
}

// A visitor whose page keeps sending while the gateway shuts down still
// reads the 1001 close: the gateway waits for the page's close reply before
// it closes the connection, so unread data cannot turn the close into a
// reset (1006).
func TestShutdownGoingAwayWhileVisitorSends(t *testing.T) {
	r := newRig(t, rigOpts{rooms: []queue.Room{room("live", 0, 100, "/live/*")}})
	const n = 8
	conns := make([]*websocket.Conn, n)
	for i := range conns {
		b := newBrowser(t)
		b.get(r.pub.URL+"/live/x", true)
		c, _, err := dialWS(t, r, b, "live", "")
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		if _, err := readStatus(t, c, 2*time.Second); err != nil {
			t.Fatal(err)
		}
		conns[i] = c
		go func() { // keep the gateway's receive buffer non-empty
			msg := []byte(strings.Repeat("x", 400))
			for c.WriteMessage(websocket.TextMessage, msg) == nil {
			}
		}()
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := r.pub.Config.Shutdown(ctx); err != nil {
		t.Fatal(err)
	}
	go func() { _ = r.g.Shutdown(ctx) }()
	for i, c := range conns {
		for {
			_, err := readStatus(t, c, 3*time.Second)
			if err == nil {
				continue
			}
			var ce *websocket.CloseError
			if !errors.As(err, &ce) || ce.Code != websocket.CloseGoingAway {
				t.Fatalf("socket %d ended with %v, want close 1001", i, err)
			}
			break
		}
	}
}

// When the operator switches a waiting room to random mode, the line is
// reshuffled: every socket then tells its visitor the new place (the one a
// status poll tells), not the place from before the reshuffle.
func TestReshuffleTellsNewPositions(t *testing.T) {
	r := newRig(t, rigOpts{rooms: []queue.Room{room("lot", 0, 100, "/lot/*")}})
	const n = 30
	vs := make([]*browser, n)
	for i := range vs {
		vs[i] = newBrowser(t)
		vs[i].get(r.pub.URL+"/lot/x", false)
	}
	const watched = 3
	socks := make([]*websocket.Conn, watched)
	for i := range socks {
		c, _, err := dialWS(t, r, vs[i], "lot", "")
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		if s, err := readStatus(t, c, 2*time.Second); err != nil || s.Position != int64(i+1) {
			t.Fatalf("visitor %d before the reshuffle: %+v %v", i, s, err)
		}
		socks[i] = c
	}
	if res, body := r.admin(t, http.MethodPatch, "/admin/rooms/lot", `{"mode":"random"}`); res.StatusCode != http.StatusOK {
		t.Fatalf("PATCH: %s", body)
	}
	deadline := time.Now().Add(15 * time.Second)
	agreed := make([]bool, watched)
	var said, polled [watched]int64
	for left := watched; left > 0; {
		if time.Now().After(deadline) {
			t.Fatalf("after the reshuffle, sockets say %v, status polls %v", said, polled)
		}
		for i, c := range socks {
			if agreed[i] {
				continue
			}
			s, err := readStatus(t, c, 2*time.Second)
			if err != nil {
				t.Fatalf("socket %d: %v", i, err)
			}
			said[i] = s.Position
			polled[i] = vs[i].status(r, "lot").Position
			if said[i] > 0 && said[i] == polled[i] && s.Ticket > 0 {
				agreed[i] = true
				left--
			}
		}
	}
	if said == [watched]int64{1, 2, 3} {
		t.Fatalf("the reshuffle left the three first visitors in place (%v): one chance in 24,360", said)
	}
}

// A status poll never says fewer visitors are waiting than stand up to
// the visitor asking, even right after a rush of joins, when the shared
// figures are a tick old.
func TestStatusWaitingCoversPosition(t *testing.T) {
	r := newRig(t, rigOpts{rooms: []queue.Room{room("rush", 0, 100, "/rush/*")}})
	// The hub has read the (empty) room once, so polls can be answered
	// from its figures.
	testenv.WaitFor(t, 3*time.Second, "the hub's first figures", func() bool {
		_, body := newBrowser(t).get(r.adm.URL+"/metrics", false)
		return strings.Contains(body, `waitroom_waiting{room="rush"} 0`)
	})
	vs := make([]*browser, 40)
	for i := range vs {
		vs[i] = newBrowser(t)
		vs[i].get(r.pub.URL+"/rush/x", false)
	}
	for i, v := range vs {
		s := v.status(r, "rush")
		if s.Position != int64(i+1) || s.Waiting < s.Position {
			t.Fatalf("visitor %d: position %d, waiting %d", i, s.Position, s.Waiting)
		}
	}
}
