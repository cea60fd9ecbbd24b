package gateway_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/waitroom/waitroom/internal/testenv"
	"github.com/waitroom/waitroom/queue"
	"github.com/waitroom/waitroom/token"
	"github.com/waitroom/waitroom/web"
)

// heard is one push a socket received, and when.
type heard struct {
	at time.Time
	st web.Status
}

// listener keeps every push of one visitor's socket.
type listener struct {
	mu  sync.Mutex
	got []heard
}

func (l *listener) run(c *websocket.Conn) {
	for {
		_, msg, err := c.ReadMessage()
		if err != nil {
			return
		}
		var s web.Status
		if json.Unmarshal(msg, &s) == nil {
			l.mu.Lock()
			l.got = append(l.got, heard{time.Now(), s})
			l.mu.Unlock()
		}
	}
}

func (l *listener) since(t time.Time) []heard {
	l.mu.Lock()
	defer l.mu.Unlock()
	var out []heard
	for _, h := range l.got {
		if !h.at.Before(t) {
			out = append(out, h)
		}
	}
	return out
}

func (l *listener) last() (heard, bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if len(l.got) == 0 {
		return heard{}, false
	}
	return l.got[len(l.got)-1], true
}

// waitingSocket is a new visitor who opens path (a page of roomName) on r
// and holds the room's socket, as the queue page does; the listener keeps
// what it hears.
func waitingSocket(t *testing.T, r *rig, roomName, path string) (*browser, *listener) {
	t.Helper()
	b := newBrowser(t)
	if res, _ := b.get(r.pub.URL+path, true); res.StatusCode != http.StatusOK {
		t.Fatalf("a visitor of %s: %d", path, res.StatusCode)
	}
	c, _, err := dialWS(t, r, b, roomName, r.pub.URL)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close() })
	l := &listener{}
	go l.run(c)
	return b, l
}

// Redis killed and restarted empty forgets the line. What the visitors
// notice: within about a second every socket stops showing the old
// position (it shows none until Redis gives one), no visitor is shown a
// position Redis does not hold and no two the same, and every connected
// visitor gets their own place again, with the same wr_id — none is left
// out because Redis no longer knew them. A visitor who polls instead is
// not answered from the ticket book either, and gets their place back
// with their receipt.
func TestRedisForgetsTheLine(t *testing.T) {
	srv := testenv.StartRedis(t)
	rdb := srv.Client(failFast())
	r := newRig(t, rigOpts{rdb: rdb, prefix: "wr:", rooms: []queue.Room{room("line", 0, 10, "/line/*")}})
	const sockets = 40
	var (
		bs        []*browser
		listeners []*listener
	)
	for range sockets {
		b, l := waitingSocket(t, r, "line", "/line/x")
		bs = append(bs, b)
		listeners = append(listeners, l)
	}
	poller := newBrowser(t)
	poller.get(r.pub.URL+"/line/x", true)
	if s := poller.status(r, "line"); s.Position != sockets+1 {
		t.Fatalf("the poller's position before: %+v", s)
	}
	testenv.WaitFor(t, 3*time.Second, "every socket to show its place", func() bool {
		for i, l := range listeners {
			if h, ok := l.last(); !ok || h.st.Position != int64(i+1) {
				return false
			}
		}
		return true
	})
	srv.Kill()
	killed := time.Now()
	srv.Restart()
	back := time.Now()
	// after is what a socket heard after the loss: pushes of the old
	// place made while Redis was down (a tick under way at the kill) are
	// left out.
	after := func(i int, l *listener) []heard {
		hs := l.since(killed)
		for len(hs) > 0 && hs[0].at.Before(back) && hs[0].st.Ticket == int64(i+1) {
			hs = hs[1:]
		}
		return hs
	}

	// Every socket hears, within about a second, that its old place is
	// gone: the first push after the loss shows no position, or (checked
	// below) the one Redis holds now.
	var worst time.Duration
	testenv.WaitFor(t, 3*time.Second, "every socket to hear after the loss", func() bool {
		worst = 0
		for i, l := range listeners {
			hs := after(i, l)
			if len(hs) == 0 {
				return false
			}
			worst = max(worst, hs[0].at.Sub(back))
		}
		return true
	})
	t.Logf("longest a socket showed its old position after Redis came back empty: %s", worst.Round(time.Millisecond))
	if worst > 1500*time.Millisecond {
		t.Errorf("a socket showed its old position %s after Redis came back", worst)
	}

	// The poller is not answered from the ticket book: its answer is its
	// place in the new line (it joins again), whatever it was before.
	time.Sleep(time.Second)
	ps := poller.status(r, "line")
	q := r.g.Queue()
	pv := queueVisitor(t, r, poller)
	got, err := q.Status(context.Background(), queue.Room{Name: "line"}, pv)
	if err != nil || got.State != queue.StateQueued || ps.Position != got.Position || ps.Ticket != got.Ticket {
		t.Fatalf("the poller was told %+v; Redis holds %+v (%v)", ps, got, err)
	}
	if ps.Position != sockets+1 {
		t.Errorf("the poller came back to position %d, want its own %d (its receipt)", ps.Position, sockets+1)
	}

	// Every socket's visitor gets a place again, and then is told exactly
	// the place Redis holds; no two visitors share one.
	positions := make(map[int64]string)
	testenv.WaitFor(t, 5*time.Second, "every visitor to be placed again", func() bool {
		clear(positions)
		for _, b := range bs {
			st, err := q.Status(context.Background(), queue.Room{Name: "line"}, queueVisitor(t, r, b))
			if err != nil || st.State != queue.StateQueued || st.Position <= 0 {
				return false
			}
			positions[st.Position] = queueVisitor(t, r, b)
		}
		return len(positions) == sockets
	})
	if len(positions) != sockets {
		t.Fatalf("%d distinct positions for %d visitors", len(positions), sockets)
	}
	settled := time.Now()
	time.Sleep(1500 * time.Millisecond) // a push a second at least
	want := make(map[string]int64)
	for p, v := range positions {
		want[v] = p
	}
	told := make(map[int64]int)
	for i, l := range listeners {
		v := queueVisitor(t, r, bs[i])
		if want[v] != int64(i+1) {
			t.Errorf("visitor %d came back to position %d, want its own %d (the hub kept its receipt)", i, want[v], i+1)
		}
		hs := after(i, l)
		if first := hs[0].st; first.Position != 0 && first.Position != want[v] {
			t.Errorf("visitor %d: first told %+v after the loss; Redis holds position %d", i, first, want[v])
		}
		for _, h := range hs {
			// From a second after Redis came back, any position shown is
			// the one Redis holds.
			if h.at.After(back.Add(time.Second)) && h.st.Position > 0 && h.st.Position != want[v] {
				t.Errorf("visitor %d shown position %d at +%s; Redis holds %d", i, h.st.Position, h.at.Sub(back).Round(time.Millisecond), want[v])
			}
		}
		last := l.since(settled)
		if len(last) == 0 || last[len(last)-1].st.Position != want[v] {
			t.Errorf("visitor %d: last told %+v, Redis holds position %d", i, last, want[v])
			continue
		}
		told[want[v]]++
	}
	for p, n := range told {
		if n > 1 {
			t.Errorf("%d visitors told position %d", n, p)
		}
	}

	// The admin JSON says the store forgot, and marks the totals as lost.
	res, body := r.admin(t, http.MethodGet, "/admin/rooms/line", "")
	if res.StatusCode != http.StatusOK {
		t.Fatalf("admin: %d %s", res.StatusCode, body)
	}
	var doc struct {
		Epoch        string `json:"epoch"`
		CountersLost bool   `json:"counters_lost"`
		Lost         *struct {
			Epoch string `json:"epoch"`
		} `json:"lost"`
	}
	if err := json.Unmarshal([]byte(body), &doc); err != nil || doc.Epoch == "" || !doc.CountersLost || doc.Lost == nil || doc.Lost.Epoch == doc.Epoch {
		t.Fatalf("admin JSON after the loss: %s", body)
	}
}

// queueVisitor is the visitor id of b's wr_id cookie (id.signature).
func queueVisitor(t *testing.T, r *rig, b *browser) string {
	t.Helper()
	id, _, ok := strings.Cut(b.cookie(r.pub.URL, "wr_id"), ".")
	if !ok || id == "" {
		t.Fatalf("wr_id cookie %q", b.cookie(r.pub.URL, "wr_id"))
	}
	return id
}

// Passes still live when Redis forgets the room keep working, and their
// sessions come back: admission holds the slots of the sessions that were
// live (as the gateway last read them), a pass's next request registers
// its session again, and a newcomer is not admitted while that would put
// more than max_active visitors at the origin. A session the origin
// revoked before the loss does not come back: the instance that saw the
// revocation refuses it, and records it again in the new epoch, so an
// instance started after the loss refuses it too.
func TestLivePassesComeBackAfterRedisForgot(t *testing.T) {
	srv := testenv.StartRedis(t)
	rdb := srv.Client(failFast())
	o := revokeOrigin(t)
	r := newRig(t, rigOpts{rdb: rdb, prefix: "wr:", origin: o, rooms: []queue.Room{room("shop", 6000, 2, "/*")}})
	in := func(b *browser, path string) int {
		res, _ := b.get(r.pub.URL+path, false)
		return res.StatusCode
	}
	// A buyer first: the origin revokes its session, its slot is free.
	buyer := newBrowser(t)
	if code := in(buyer, "/event"); code != http.StatusOK {
		t.Fatalf("buyer: %d", code)
	}
	buyerCookies := buyer.cookieHeader(r.pub.URL)
	buyerPass := buyer.cookie(r.pub.URL, token.CookieName("shop"))
	if code := in(buyer, "/buy"); code != http.StatusOK {
		t.Fatalf("buy: %d", code)
	}
	// Two holders fill the room (max_active 2).
	holders := []*browser{newBrowser(t), newBrowser(t)}
	testenv.WaitFor(t, 2*time.Second, "the buyer's slot to be free", func() bool {
		return activeHeld(t, r, "shop") == [2]int64{0, 0}
	})
	for i, b := range holders {
		if code := in(b, "/event"); code != http.StatusOK {
			t.Fatalf("holder %d not admitted at once: %d", i, code)
		}
	}
	testenv.WaitFor(t, 2*time.Second, "the room to show 2 active", func() bool {
		return activeHeld(t, r, "shop") == [2]int64{2, 0}
	})
	time.Sleep(300 * time.Millisecond) // a board tick after that

	srv.Restart()

	// A newcomer right after the loss is not admitted: the two live
	// sessions' slots are held.
	newcomer := newBrowser(t)
	if code := in(newcomer, "/event"); code != http.StatusTooManyRequests {
		t.Fatalf("a newcomer after the loss, with the room full of live passes: %d", code)
	}
	testenv.WaitFor(t, 2*time.Second, "the loss to be recorded", func() bool {
		return activeHeld(t, r, "shop") == [2]int64{0, 2}
	})
	time.Sleep(300 * time.Millisecond) // the board's tick: the desk rechecks the room's passes
	before := len(o.requests())
	for i, b := range holders {
		if code := in(b, "/event"); code != http.StatusOK {
			t.Fatalf("holder %d after the loss: %d", i, code)
		}
	}
	if n := len(o.requests()) - before; n != len(holders) {
		t.Fatalf("the origin saw %d requests of the %d holders", n, len(holders))
	}
	if got := activeHeld(t, r, "shop"); got != [2]int64{2, 0} {
		t.Fatalf("after the holders came back: active, held = %v, want [2 0]", got)
	}
	// The newcomer stays in line while the room is full.
	time.Sleep(500 * time.Millisecond)
	if s := newcomer.status(r, "shop"); s.State != string(queue.StateQueued) {
		t.Fatalf("the newcomer while the room is full: %+v", s)
	}
	// The revoked session stays out, and takes no slot.
	beforeBuyer := proxiedWith(o, buyerPass)
	newBrowser(t).get(r.pub.URL+"/event", false, "Cookie", buyerCookies)
	if proxiedWith(o, buyerPass) != beforeBuyer {
		t.Fatal("a revoked pass reached the origin after the loss")
	}
	if got := activeHeld(t, r, "shop"); got != [2]int64{2, 0} {
		t.Fatalf("after the revoked pass was shown: active, held = %v", got)
	}
	// Nor through an instance started after the loss, which never heard of
	// the revocation: the instance that did recorded it again.
	late := newRig(t, rigOpts{rdb: rdb, prefix: "wr:", origin: o, rooms: []queue.Room{room("shop", 6000, 2, "/*")}})
	newBrowser(t).get(late.pub.URL+"/event", false, "Cookie", buyerCookies)
	if proxiedWith(o, buyerPass) != beforeBuyer {
		t.Fatal("a revoked pass reached the origin through an instance started after the loss")
	}
}

// activeHeld is the room's active and held slots, from the admin API.
func activeHeld(t *testing.T, r *rig, name string) [2]int64 {
	t.Helper()
	res, body := r.admin(t, http.MethodGet, "/admin/rooms/"+name, "")
	if res.StatusCode != http.StatusOK {
		return [2]int64{-1, -1}
	}
	var doc struct {
		Active int64 `json:"active"`
		Held   int64 `json:"held_slots"`
	}
	if err := json.Unmarshal([]byte(body), &doc); err != nil {
		t.Fatal(err)
	}
	return [2]int64{doc.Active, doc.Held}
}

// A failover to a replica that had not caught up loses the last writes
// and keeps the epoch: here the last visitor's join is lost, and a
// newcomer then gets the same ticket. The lost visitor's socket must not
// go on showing a place the newcomer holds: its next heartbeat falls on
// nothing, the socket drops the place and the visitor is placed again,
// behind the newcomer.
func TestLostJoinPlacedAgain(t *testing.T) {
	srv := testenv.StartRedis(t)
	rdb := srv.Client(failFast())
	lineRoom := room("line", 0, 10, "/line/*")
	lineRoom.AbandonAfter = 6 * time.Second // a heartbeat every 2 s
	r := newRig(t, rigOpts{rdb: rdb, prefix: "wr:", rooms: []queue.Room{lineRoom}})
	var listeners []*listener
	var bs []*browser
	for i := range 3 {
		b, l := waitingSocket(t, r, "line", "/line/x")
		listeners, bs = append(listeners, l), append(bs, b)
		testenv.WaitFor(t, 2*time.Second, "the socket's first push", func() bool {
			h, ok := l.last()
			return ok && h.st.Position == int64(i+1)
		})
	}
	// The replica never had the third join.
	lost := queueVisitor(t, r, bs[2])
	ctx := context.Background()
	pipe := rdb.TxPipeline()
	pipe.HDel(ctx, "wr:{line}:vis", lost)
	pipe.LRem(ctx, "wr:{line}:line", 1, lost)
	pipe.HIncrBy(ctx, "wr:{line}:st", "next", -1)
	if _, err := pipe.Exec(ctx); err != nil {
		t.Fatal(err)
	}
	newcomer := newBrowser(t)
	newcomer.get(r.pub.URL+"/line/x", true)
	if s := newcomer.status(r, "line"); s.Position != 3 {
		t.Fatalf("the newcomer: %+v", s)
	}
	testenv.WaitFor(t, 5*time.Second, "the lost visitor to be placed again", func() bool {
		h, ok := listeners[2].last()
		return ok && h.st.Position == 4
	})
	st, err := r.g.Queue().Status(ctx, queue.Room{Name: "line"}, lost)
	if err != nil || st.Position != 4 {
		t.Fatalf("Redis holds the lost visitor at %+v (%v)", st, err)
	}
}

// Two instances notice the same loss and recover together: one line, not
// two — every visitor of either instance is placed once, each at a
// position of their own, and the live sessions' slots are held once, not
// once per instance.
func TestTwoInstancesRecoverOneLine(t *testing.T) {
	srv := testenv.StartRedis(t)
	rdb := srv.Client(failFast())
	rooms := []queue.Room{room("line", 0, 5, "/line/*"), room("shop", 6000, 5, "/shop/*")}
	a := newRig(t, rigOpts{rdb: rdb, prefix: "wr:", rooms: rooms})
	b := newRig(t, rigOpts{rdb: rdb, prefix: "wr:", rooms: rooms})
	holder := newBrowser(t)
	if res, _ := holder.get(a.pub.URL+"/shop/x", false); res.StatusCode != http.StatusOK {
		t.Fatalf("holder: %d", res.StatusCode)
	}
	type sock struct {
		b *browser
		l *listener
	}
	var socks []sock
	for i := range 30 {
		r := a
		if i%2 == 1 {
			r = b
		}
		br, l := waitingSocket(t, r, "line", "/line/x")
		socks = append(socks, sock{br, l})
	}
	testenv.WaitFor(t, 3*time.Second, "every socket's place, and the holder's session, read", func() bool {
		for i, s := range socks {
			if h, ok := s.l.last(); !ok || h.st.Position != int64(i+1) {
				return false
			}
		}
		return activeHeld(t, a, "shop") == [2]int64{1, 0}
	})
	time.Sleep(300 * time.Millisecond) // both boards read it

	srv.Restart()

	q := a.g.Queue()
	seen := make(map[int64]int)
	testenv.WaitFor(t, 5*time.Second, "every visitor to be placed again and told so", func() bool {
		clear(seen)
		for _, s := range socks {
			st, err := q.Status(context.Background(), queue.Room{Name: "line"}, queueVisitor(t, a, s.b))
			if err != nil || st.State != queue.StateQueued {
				return false
			}
			h, ok := s.l.last()
			if !ok || h.st.Position != st.Position {
				return false
			}
			seen[st.Position]++
		}
		return true
	})
	for p, n := range seen {
		if n != 1 || p < 1 || p > int64(len(socks)) {
			t.Fatalf("position %d held by %d visitors (positions %v)", p, n, seen)
		}
	}
	for _, r := range []*rig{a, b} {
		if got := activeHeld(t, r, "shop"); got != [2]int64{0, 1} {
			t.Fatalf("after the loss, as %s sees it: active, held = %v, want [0 1]", r.pub.URL, got)
		}
	}
}

// The same loss with admission running (10 a second): after the loss every
// visitor holds one place in the new line — every position a socket shows
// from a second after Redis came back belongs to that one ticket, and no
// two visitors share a ticket — and admission resumes within seconds.
func TestRedisForgetsWhileAdmitting(t *testing.T) {
	srv := testenv.StartRedis(t)
	rdb := srv.Client(failFast())
	r := newRig(t, rigOpts{rdb: rdb, prefix: "wr:", rooms: []queue.Room{room("line", 0, 1000, "/line/*")}})
	const sockets = 40
	var listeners []*listener
	for range sockets {
		b := newBrowser(t)
		b.get(r.pub.URL+"/line/x", true)
		c, _, err := dialWS(t, r, b, "line", r.pub.URL)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = c.Close() })
		l := &listener{}
		go l.run(c)
		listeners = append(listeners, l)
	}
	if res, body := r.admin(t, http.MethodPatch, "/admin/rooms/line", `{"admit_per_minute":600}`); res.StatusCode != http.StatusOK {
		t.Fatalf("patch: %d %s", res.StatusCode, body)
	}
	time.Sleep(time.Second) // about 10 admitted
	srv.Restart()           // the rate (a live change) is lost too: the file's 0 applies
	back := time.Now()
	if res, body := r.admin(t, http.MethodPatch, "/admin/rooms/line", `{"admit_per_minute":600}`); res.StatusCode != http.StatusOK {
		t.Fatalf("patch after the loss: %d %s", res.StatusCode, body)
	}
	time.Sleep(3 * time.Second)

	var resumed time.Duration = -1
	owner := make(map[int64]int) // ticket -> socket
	for i, l := range listeners {
		var ticket int64
		for _, h := range l.since(back) {
			if h.st.State == string(queue.StateAdmitted) {
				if d := h.at.Sub(back); resumed < 0 || d < resumed {
					resumed = d
				}
				continue
			}
			if !h.at.After(back.Add(time.Second)) || h.st.Ticket == 0 {
				continue
			}
			if ticket != 0 && h.st.Ticket != ticket {
				t.Errorf("socket %d shown tickets %d and %d after the loss", i, ticket, h.st.Ticket)
			}
			ticket = h.st.Ticket
		}
		if ticket == 0 {
			continue // admitted (or not told a ticket yet)
		}
		if o, ok := owner[ticket]; ok {
			t.Errorf("sockets %d and %d both shown ticket %d", o, i, ticket)
		}
		owner[ticket] = i
	}
	t.Logf("admission resumed %s after Redis came back (the first visitor told \"admitted\")", resumed.Round(time.Millisecond))
	if resumed < 0 || resumed > 5*time.Second {
		t.Errorf("admission resumed after %s", resumed)
	}
}

// Place receipts: every queued visitor holds the gateway's signed receipt
// of their place. After Redis forgets the room, visitors who come back
// with it (here by polling, in reverse order, after a newcomer) get their
// old places back, ahead of the newcomer; a receipt copied to another
// visitor, altered for a better place, or shown for another room gains
// nothing.
func TestReceiptsKeepTheOrder(t *testing.T) {
	srv := testenv.StartRedis(t)
	rdb := srv.Client(failFast())
	rooms := []queue.Room{room("line", 0, 10, "/line/*"), room("other", 0, 10, "/other/*")}
	r := newRig(t, rigOpts{rdb: rdb, prefix: "wr:", rooms: rooms})
	const n = 6 // and a 7th who cheats
	var bs []*browser
	for i := range n + 1 {
		b := newBrowser(t)
		b.get(r.pub.URL+"/line/x", true)
		if s := b.status(r, "line"); s.Position != int64(i+1) {
			t.Fatalf("visitor %d: %+v", i, s)
		}
		if b.cookie(r.pub.URL, "wr_receipt_line") == "" {
			t.Fatalf("visitor %d holds no receipt", i)
		}
		bs = append(bs, b)
	}
	u, _ := url.Parse(r.pub.URL)
	stolen := bs[0].cookie(r.pub.URL, "wr_receipt_line")
	cheat := bs[n]
	altered := strings.Replace(cheat.cookie(r.pub.URL, "wr_receipt_line"), fmt.Sprintf(".%d.", n+1), ".1.", 1)
	cheat.jar.SetCookies(u, []*http.Cookie{{Name: "wr_receipt_line", Value: altered, Path: "/"}})
	time.Sleep(300 * time.Millisecond) // the board reads the line

	srv.Restart()
	testenv.WaitFor(t, 2*time.Second, "the gateway to notice the loss", func() bool {
		res, body := r.admin(t, http.MethodGet, "/admin/rooms/line", "")
		return res.StatusCode == http.StatusOK && strings.Contains(body, `"counters_lost":true`)
	})

	newcomer := newBrowser(t)
	newcomer.get(r.pub.URL+"/line/x", true)
	if s := newcomer.status(r, "line"); s.Position != n+2 {
		t.Fatalf("a newcomer after the loss: %+v, want behind the %d kept places", s, n+1)
	}
	// A thief with visitor 0's receipt (and a wr_id of its own), the
	// cheat with its receipt altered to ticket 1, and a visitor showing
	// visitor 0's receipt for another room: none gains a place.
	thief := newBrowser(t)
	thief.jar.SetCookies(u, []*http.Cookie{{Name: "wr_receipt_line", Value: stolen, Path: "/"}})
	thief.get(r.pub.URL+"/line/x", true)
	for name, b := range map[string]*browser{"thief": thief, "cheat": cheat} {
		if s := b.status(r, "line"); s.Position <= n+2 {
			t.Fatalf("the %s got position %d", name, s.Position)
		}
	}
	other := newBrowser(t)
	other.jar.SetCookies(u, []*http.Cookie{{Name: "wr_receipt_other", Value: stolen, Path: "/"}})
	other.get(r.pub.URL+"/other/x", true)
	if s := other.status(r, "other"); s.Position != 1 {
		t.Fatalf("a receipt shown for another room: %+v", s) // first in an empty room, as anyone
	}
	for i := n - 1; i >= 0; i-- {
		if s := bs[i].status(r, "line"); s.Position != int64(i+1) {
			t.Fatalf("visitor %d came back to position %d, want %d", i, s.Position, i+1)
		}
	}
	if s := newcomer.status(r, "line"); s.Position != n+2 {
		t.Fatalf("the newcomer after they came back: %+v", s)
	}
}
