package hub

import (
	"context"
	"encoding/json"
	mrand "math/rand/v2"
	"net/http"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gorilla/websocket"
	"github.com/rs/zerolog"

	"github.com/waitroom/waitroom/gateway/board"
	"github.com/waitroom/waitroom/queue"
	"github.com/waitroom/waitroom/web"
)

// Hub timings. Positions are computed on every board.Tick.
const (
	pushEvery      = time.Second            // every socket gets a push at least this often
	pushOnMoveGap  = 400 * time.Millisecond // a changed position is pushed at most this often
	heartbeatEvery = 5 * time.Second        // q.Heartbeat for every connected visitor, at most this far apart
	heartbeatCheck = time.Second            // how often the hub sees whether a room's heartbeat is due
	pingEvery      = 25 * time.Second
	readTimeout    = 60 * time.Second // no pong for this long: the peer is gone
	writeTimeout   = 5 * time.Second  // a write slower than this drops the client
	// closeWait bounds how long a close the gateway starts waits for the
	// visitor's close reply before it closes the connection. Closing the
	// connection with the visitor's frames still unread makes the kernel
	// send a reset, which can destroy the close frame in flight: the page
	// (or a proxy in between) then sees 1006 instead of the code sent.
	closeWait    = time.Second
	hubWriters   = 32              // goroutines that write pushes
	statusAskGap = 2 * time.Second // one q.Status per socket per this, at most
	// passedAskGap is the gap for a socket the front has passed: the
	// visitor is most likely admitted and holds one of max_active slots
	// until they come in, so they hear it first (the askers serve these
	// before any other lookup).
	passedAskGap = 500 * time.Millisecond
	// While a room's opening (or reshuffle) is being numbered, a socket
	// without a ticket asks at most every unnumberedAskGap, at a per-socket
	// offset, instead of every statusAskGap: its position is known from the
	// last answer and only creeps, and a pre-queue of 100,000 must not turn
	// into 50,000 lookups a second.
	unnumberedAskGap = 5 * time.Second
	// hubAskers is how many status lookups run at once; asksPerTick bounds
	// how many a tick starts (the rest wait for the next ticks, in a
	// rotating order), so a front that passes thousands of sockets at once
	// costs a steady trickle on the control plane, not a burst.
	hubAskers   = 16
	asksPerTick = 400
	// maxStillThere bounds the visitors per room whose heartbeat is owed
	// because the crowd gate turned their poll away.
	maxStillThere = 200_000
)

// Line is what the hub needs of the queue engine: a visitor's status, a
// join for one who lost their place, and the heartbeats of connected
// visitors, which name those the line does not hold (on the control
// plane: the crowd cannot hold them up).
type Line interface {
	Status(ctx context.Context, room queue.Room, visitor string) (queue.Status, error)
	Arrive(ctx context.Context, room queue.Room, visitor string, a queue.Arrival) (queue.Status, error)
	HeartbeatUnknown(ctx context.Context, room string, visitors []string) ([]string, error)
}

// Health is what the hub needs to know of Redis.
type Health interface {
	Up() bool
	Failed(err error)
}

// Config configures a Hub.
type Config struct {
	Line  Line
	Board *board.Board // the room figures, read once per tick
	// Health is consulted before heartbeats and told of failed calls.
	Health Health
	// Told is called for every visitor the hub tells "admitted", so their
	// next request can skip the crowd gate (the gateway's hints).
	Told func(room, visitor string, until, now time.Time)
	// Unknown is called for every visitor whose heartbeat the line did not
	// hold (admitted, skipped, or forgotten by Redis), so nothing
	// remembered of their place is told to them again (the gateway's
	// ticket book). Their sockets here are looked up again.
	Unknown func(room, visitor string)
	// SameOrigin decides whether a handshake's Origin belongs to the site.
	SameOrigin func(r *http.Request) bool
	// MaxSocketsPerVisitor bounds one visitor's sockets (tabs).
	MaxSocketsPerVisitor int
	Log                  zerolog.Logger
}

// Hub holds this instance's visitor WebSockets. On every snapshot of the
// board it computes each socket's position locally (Ticket - Front + 1),
// so Redis work per tick is O(rooms), not O(sockets); a socket whose place
// the figures cannot tell is looked up by a bounded pool of askers.
//
// Goroutines: one reader per socket (it must exist to answer pings and see
// the close), a fixed pool of writers fed by the tick, the askers, and the
// tick itself. A socket whose previous write is still in flight is skipped
// this round; a write that exceeds writeTimeout drops the socket. So one
// slow client never delays another.
type Hub struct {
	cfg Config
	up  websocket.Upgrader

	mu         sync.Mutex
	rooms      map[string]map[*wsConn]struct{}
	perVisitor map[string]int
	byVisitor  map[string][]*wsConn // visitor -> sockets (guarded by mu)
	closed     bool
	closeDone  chan struct{} // closed when CloseAll has finished
	n          atomic.Int64
	beatAt     map[string]time.Time           // room -> last heartbeat (guarded by mu)
	owed       map[string]map[string]struct{} // room -> visitors turned away by the crowd gate (guarded by mu)

	jobs   chan wsJob
	asks   chan *wsConn // status lookups for the askers
	urgent chan *wsConn // lookups of sockets the front has passed, served first
	buf    []*wsConn    // tick-owned scratch

	// tick-owned
	askBudget int // lookups this tick may still start
}

// foundStatus is an asker's answer for the tick: the status, and the
// numbering of the line (reshuffle count) its ticket belongs to (-1: good
// in any, as "admitted").
type foundStatus struct {
	st    queue.Status
	gen   int64
	epoch string // the line epoch of the answer ("": good in any)
}

type wsJob struct {
	c    *wsConn
	msg  []byte // nil: a ping
	ping bool
}

// wsConn is one visitor socket. Fields below "tick-owned" are only touched
// by the hub's tick goroutine.
type wsConn struct {
	ws      *websocket.Conn
	room    queue.Room
	visitor string
	busy    atomic.Bool // a write is queued or in flight
	told    atomic.Bool // "admitted" was queued for writing outside the tick
	gone    atomic.Bool
	closing atomic.Bool   // a close frame was sent: await the reply, write nothing more
	done    chan struct{} // closed when the reader has stopped
	asking  atomic.Bool   // a q.Status lookup is in flight
	found   atomic.Pointer[foundStatus]
	// unheard: the line did not hold the visitor at the last heartbeat
	// (see forget).
	unheard atomic.Bool
	// carry is the place this socket was told before Redis forgot the
	// room (its epoch and ticket): the lookup shows it as the visitor's
	// receipt, so they get that ticket back (nil: none).
	carry atomic.Pointer[queue.Receipt]

	// tick-owned
	// gen is the room's reshuffle count (Figures.Reshuffles) that ticket
	// and lastPos belong to; -1 until the first tick adopts the room's.
	gen int64
	// epoch is the room's line epoch (Figures.Epoch) ticket belongs to;
	// "" until the first tick adopts the room's.
	epoch     string
	ticket    int64
	lastState string
	lastPos   int64
	lastSent  time.Time
	lastPing  time.Time
	lastAsk   time.Time
	askSkew   time.Duration // this socket's offset within unnumberedAskGap
	unknown   bool          // accepted without a lookup (crowd gate full): ask first
	final     bool          // "admitted" was pushed; nothing more to say
	promised  board.Told    // the last ETA told, kept from rising (board.Steady)
}

// New returns a hub; run it with Run.
func New(cfg Config) *Hub {
	h := &Hub{
		cfg:        cfg,
		rooms:      make(map[string]map[*wsConn]struct{}),
		perVisitor: make(map[string]int),
		byVisitor:  make(map[string][]*wsConn),
		beatAt:     make(map[string]time.Time),
		owed:       make(map[string]map[string]struct{}),
		closeDone:  make(chan struct{}),
		jobs:       make(chan wsJob, 1<<16),
		asks:       make(chan *wsConn, asksPerTick),
		urgent:     make(chan *wsConn, asksPerTick),
	}
	h.up = websocket.Upgrader{
		HandshakeTimeout: 5 * time.Second,
		ReadBufferSize:   256, // visitors send nothing but control frames
		WriteBufferSize:  1024,
		WriteBufferPool:  &sync.Pool{},
		CheckOrigin:      cfg.SameOrigin,
	}
	return h
}

// Count is the number of open sockets.
func (h *Hub) Count() int64 { return h.n.Load() }

// Reserve takes one of the visitor's socket slots; false when the visitor
// has MaxSocketsPerVisitor sockets already or the hub is closing. A true
// answer is followed by Accept or Unreserve.
func (h *Hub) Reserve(visitor string) bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.closed || h.perVisitor[visitor] >= h.cfg.MaxSocketsPerVisitor {
		return false
	}
	h.perVisitor[visitor]++
	return true
}

// Unreserve gives back a slot Reserve took when no socket came of it.
func (h *Hub) Unreserve(visitor string) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.perVisitor[visitor]--; h.perVisitor[visitor] <= 0 {
		delete(h.perVisitor, visitor)
	}
}

// Accept upgrades the request (the visitor holds a reserved slot) and
// keeps the socket: st is the visitor's status as just looked up, or, when
// known is false (the crowd gate was full), the room's figures only: the
// askers then look the visitor up. The first push is sent at once. On a
// failed upgrade the slot is given back and the error returned (the
// upgrader has answered the request).
func (h *Hub) Accept(w http.ResponseWriter, r *http.Request, hdr http.Header, room queue.Room, visitor string, st queue.Status, known bool) error {
	gen := st.Reshuffles // the numbering st.Ticket belongs to
	sj := board.Of(st)
	if !known {
		gen = -1 // no ticket: the first tick adopts the room's
		sj = board.Room(queue.Figures{Room: room.Name, State: queue.StateQueued, AdmitPerMinute: room.AdmitPerMinute})
		if f, ok := h.cfg.Board.Room(room.Name); ok {
			sj = board.Room(f)
		}
	}
	ws, err := h.up.Upgrade(w, r, hdr)
	if err != nil {
		h.Unreserve(visitor)
		return err
	}
	now := time.Now()
	epoch := st.Epoch
	if !known {
		epoch = ""
	}
	c := &wsConn{ws: ws, room: room, visitor: visitor, gen: gen, epoch: epoch, ticket: st.Ticket, done: make(chan struct{}),
		lastState: sj.State, lastPos: sj.Position, lastSent: now, lastPing: now, lastAsk: now,
		askSkew: time.Duration(mrand.Int64N(int64(unnumberedAskGap))),
		unknown: !known,
		final:   known && st.State == queue.StateAdmitted}
	if !known {
		c.lastAsk = time.Time{}
	}
	_, c.promised = board.Steady(sj, board.Told{})
	c.busy.Store(true)
	if !h.add(c) {
		h.Unreserve(visitor)
		if sayClose(ws, websocket.FormatCloseMessage(websocket.CloseGoingAway, "shutting down")) {
			_ = ws.SetReadDeadline(time.Now().Add(closeWait))
			for {
				if _, _, err := ws.NextReader(); err != nil {
					break
				}
			}
		}
		_ = ws.Close()
		return nil
	}
	// First push at once, from the lookup just made.
	msg, _ := json.Marshal(sj)
	h.jobs <- wsJob{c: c, msg: msg}
	go h.read(c)
	return nil
}

// read consumes the socket (control frames; anything a visitor sends is
// ignored) until it fails, then drops it.
// During a close the gateway started it stops at the visitor's close reply
// (or the closeWait deadline), so the connection is closed with nothing
// left unread.
func (h *Hub) read(c *wsConn) {
	defer close(c.done)
	ws := c.ws
	ws.SetReadLimit(512)
	_ = ws.SetReadDeadline(time.Now().Add(readTimeout))
	ws.SetPongHandler(func(string) error {
		if c.closing.Load() {
			return nil // CloseAll set the deadline
		}
		return ws.SetReadDeadline(time.Now().Add(readTimeout))
	})
	for {
		if _, _, err := ws.NextReader(); err != nil {
			break
		}
	}
	h.drop(c)
}

// sayClose sends the close frame msg; false if it could not be written.
func sayClose(ws *websocket.Conn, msg []byte) bool {
	return ws.WriteControl(websocket.CloseMessage, msg, time.Now().Add(time.Second)) == nil
}

func (h *Hub) add(c *wsConn) bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.closed {
		return false
	}
	m := h.rooms[c.room.Name]
	if m == nil {
		m = make(map[*wsConn]struct{})
		h.rooms[c.room.Name] = m
	}
	m[c] = struct{}{}
	h.byVisitor[c.visitor] = append(h.byVisitor[c.visitor], c)
	h.n.Add(1)
	return true
}

// drop removes the socket and closes it; safe to call more than once.
func (h *Hub) drop(c *wsConn) {
	if c.gone.Swap(true) {
		return
	}
	_ = c.ws.Close()
	h.mu.Lock()
	if m := h.rooms[c.room.Name]; m != nil {
		if _, ok := m[c]; ok {
			delete(m, c)
			h.n.Add(-1)
		}
	}
	if cs := slices.DeleteFunc(h.byVisitor[c.visitor], func(x *wsConn) bool { return x == c }); len(cs) > 0 {
		h.byVisitor[c.visitor] = cs
	} else {
		delete(h.byVisitor, c.visitor)
	}
	if h.perVisitor[c.visitor]--; h.perVisitor[c.visitor] <= 0 {
		delete(h.perVisitor, c.visitor)
	}
	h.mu.Unlock()
}

// CloseAll says "going away" (1001) to every socket, waits up to closeWait
// (all sockets at once) for each page's close reply, and closes them; the
// pages reconnect (to another instance) and keep their place, which lives
// in Redis. A second call (Shutdown after the server's shutdown hook)
// returns when the first has finished, so the process does not exit with
// close frames unsent.
func (h *Hub) CloseAll() {
	h.mu.Lock()
	if h.closed {
		h.mu.Unlock()
		<-h.closeDone
		return
	}
	h.closed = true
	defer close(h.closeDone)
	var all []*wsConn
	for _, m := range h.rooms {
		for c := range m {
			all = append(all, c)
		}
	}
	h.mu.Unlock()
	msg := websocket.FormatCloseMessage(websocket.CloseGoingAway, "server restarting")
	var wg sync.WaitGroup
	work := make(chan *wsConn)
	for range min(len(all), 64) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for c := range work {
				c.closing.Store(true)
				if !sayClose(c.ws, msg) {
					h.drop(c)
					continue
				}
				// The reader stops at the close reply and closes the
				// connection; this deadline bounds the wait.
				_ = c.ws.SetReadDeadline(time.Now().Add(closeWait))
			}
		}()
	}
	for _, c := range all {
		work <- c
	}
	close(work)
	wg.Wait()
	timeout := time.NewTimer(closeWait)
	defer timeout.Stop()
	for _, c := range all {
		select {
		case <-c.done:
		case <-timeout.C:
			for _, c := range all {
				h.drop(c)
			}
			return
		}
	}
}

// Run is the hub's loop until ctx ends: writers, askers, a tick on every
// board snapshot, the heartbeats.
func (h *Hub) Run(ctx context.Context) {
	var wg sync.WaitGroup
	for range hubWriters {
		wg.Add(1)
		go func() { defer wg.Done(); h.writer(ctx) }()
	}
	for range hubAskers {
		wg.Add(1)
		go func() { defer wg.Done(); h.asker(ctx) }()
	}
	snaps := h.cfg.Board.Watch()
	beat := time.NewTicker(heartbeatCheck)
	defer func() { beat.Stop(); wg.Wait() }()
	for {
		select {
		case <-ctx.Done():
			return
		case snap := <-snaps:
			h.tick(snap)
		case now := <-beat.C:
			h.heartbeat(ctx, now)
		}
	}
}

func (h *Hub) writer(ctx context.Context) {
	for {
		select {
		case <-ctx.Done():
			return
		case j := <-h.jobs:
			if j.c.gone.Load() || j.c.closing.Load() {
				j.c.busy.Store(false)
				continue
			}
			var err error
			if j.ping {
				err = j.c.ws.WriteControl(websocket.PingMessage, nil, time.Now().Add(writeTimeout))
			} else {
				_ = j.c.ws.SetWriteDeadline(time.Now().Add(writeTimeout))
				err = j.c.ws.WriteMessage(websocket.TextMessage, j.msg)
			}
			j.c.busy.Store(false)
			if err != nil && !j.c.closing.Load() { // a close in progress ends on its own
				h.drop(j.c)
			}
		}
	}
}

// tick pushes each socket its status, from the snapshot's figures, when it
// changed state, when its position moved, or when a second passed.
func (h *Hub) tick(snap *board.Snapshot) {
	now := snap.At
	h.askBudget = asksPerTick
	for _, f := range snap.Rooms {
		h.buf = h.buf[:0]
		h.mu.Lock()
		for c := range h.rooms[f.Room] {
			h.buf = append(h.buf, c)
		}
		h.mu.Unlock()
		for _, c := range h.buf {
			h.push(c, f, now)
		}
	}
	clear(h.buf)
}

// push computes one socket's status from the room's figures and sends it
// when it changed state, when the position moved, or when a second passed.
func (h *Hub) push(c *wsConn, f queue.Figures, now time.Time) {
	if c.final || c.gone.Load() {
		return
	}
	if h.adopt(c, f, now) {
		return
	}
	sj := board.Room(f)
	sj.Ticket = c.ticket
	if c.unknown {
		// Not looked up yet (even before an opening: the lookup joins).
		if now.Sub(c.lastAsk) >= statusAskGap {
			h.ask(c, now, false)
		}
	} else if f.State != queue.StatePrequeue {
		sj, c.promised = board.Steady(board.Queued(f, h.place(c, f, now), c.ticket), c.promised)
	}
	if c.lastPing.IsZero() || now.Sub(c.lastPing) >= pingEvery {
		if c.busy.CompareAndSwap(false, true) {
			c.lastPing = now
			h.enqueue(wsJob{c: c, ping: true})
			return
		}
	}
	if sj.Position == 0 && c.lastState == "" {
		return // nothing known to say yet
	}
	due := sj.State != c.lastState ||
		now.Sub(c.lastSent) >= pushEvery-board.Tick/2 || // on the tick nearest to 1 s
		(sj.Position != c.lastPos && now.Sub(c.lastSent) >= pushOnMoveGap)
	if due {
		h.send(c, sj, now)
	}
}

// adopt brings the socket up to date with the room's numbering and with
// an asker's answer, if one came; true when that answer was "admitted" (it
// is pushed, and nothing more is said).
func (h *Hub) adopt(c *wsConn, f queue.Figures, now time.Time) bool {
	if c.gen < 0 {
		c.gen = f.Reshuffles
	}
	if c.epoch == "" {
		c.epoch = f.Epoch
	}
	if c.epoch != f.Epoch || (c.unheard.Swap(false) && c.ticket >= f.Front) {
		// Redis forgot the room's line (a new epoch), or this visitor's
		// place (a heartbeat fell on nothing while the front had not
		// reached them: a failover to a replica that had not caught up):
		// the ticket and every position told before mean nothing now.
		// Say at once that there is no position, and look the visitor
		// up: the lookup puts them back in line (at the back: nothing
		// says where they stood).
		if c.epoch != f.Epoch && c.ticket > 0 {
			c.carry.Store(&queue.Receipt{Epoch: c.epoch, Ticket: c.ticket})
		}
		c.epoch, c.gen, c.ticket, c.lastPos = f.Epoch, f.Reshuffles, 0, 0
		c.unknown, c.lastAsk, c.lastSent, c.promised = true, time.Time{}, time.Time{}, board.Told{}
		c.found.Store(nil)
	}
	if c.gen != f.Reshuffles {
		// The operator reshuffled the room's line (random mode): the
		// ticket is stale and the position told before means nothing
		// now. The visitor hears their new place once it is numbered.
		c.gen, c.ticket, c.lastPos, c.lastAsk = f.Reshuffles, 0, 0, time.Time{}
	}
	fs := c.found.Swap(nil)
	if fs == nil || (fs.gen >= 0 && fs.gen != c.gen) || (fs.epoch != "" && fs.epoch != c.epoch) {
		return false
	}
	st := &fs.st
	c.ticket, c.unknown = st.Ticket, false
	if st.Position > 0 && st.State == queue.StateQueued {
		c.lastPos = min(c.lastPos, st.Position)
		if c.lastPos <= 0 {
			c.lastPos = st.Position
		}
	}
	if st.State != queue.StateAdmitted {
		return false
	}
	c.final = true
	if !c.told.Load() {
		h.send(c, board.Of(*st), now)
	}
	return true
}

// place is the visitor's position from the figures (Ticket - Front + 1),
// asking Redis when the figures cannot tell it; never higher than told
// before.
func (h *Hub) place(c *wsConn, f queue.Figures, now time.Time) int64 {
	var pos int64
	switch {
	case c.ticket == 0 && f.Unnumbered > 0:
		// Waiting to be numbered (an opening or a reshuffle): ask now and
		// then, at this socket's own offset.
		if now.Add(c.askSkew).Sub(c.lastAsk) >= unnumberedAskGap {
			h.ask(c, now, false)
		}
		pos = c.lastPos
	case c.ticket == 0:
		// No place known yet (the room just opened): ask.
		if now.Sub(c.lastAsk) >= statusAskGap {
			h.ask(c, now, false)
		}
		pos = c.lastPos
	case c.ticket < f.Front:
		// The front has passed this visitor: admitted (or skipped).
		if now.Sub(c.lastAsk) >= passedAskGap {
			h.ask(c, now, true)
		}
		pos = c.lastPos
	default:
		pos = c.ticket - f.Front + 1 + f.Ahead
	}
	if c.lastPos > 0 && (pos > c.lastPos || pos <= 0) {
		pos = c.lastPos // never tell a visitor they moved back
	}
	return pos
}

func (h *Hub) send(c *wsConn, sj web.Status, now time.Time) {
	if !c.busy.CompareAndSwap(false, true) {
		return // previous write still in flight: skip this round
	}
	msg, err := json.Marshal(sj)
	if err != nil {
		c.busy.Store(false)
		return
	}
	c.lastState, c.lastPos, c.lastSent = sj.State, sj.Position, now
	h.enqueue(wsJob{c: c, msg: msg})
}

func (h *Hub) enqueue(j wsJob) {
	select {
	case h.jobs <- j:
	default:
		// Writers are saturated: this socket waits for the next round.
		j.c.busy.Store(false)
		j.c.lastSent = time.Time{}
	}
}

// ask hands the socket to the askers for a status lookup, within this
// tick's budget; a socket left out is asked on a later tick. The order in
// which a tick visits sockets changes every tick (map order), so nobody
// waits behind the same others each time.
func (h *Hub) ask(c *wsConn, now time.Time, urgent bool) {
	if h.askBudget <= 0 || !c.asking.CompareAndSwap(false, true) {
		return
	}
	ch := h.asks
	if urgent {
		ch = h.urgent
	}
	select {
	case ch <- c:
		h.askBudget--
		c.lastAsk = now
	default:
		c.asking.Store(false) // the askers are behind: try on a later tick
		if !urgent {
			h.askBudget = 0
		}
	}
}

// asker runs status lookups for sockets whose place the figures cannot
// tell (on the control plane: the crowd cannot hold them up).
func (h *Hub) asker(ctx context.Context) {
	for {
		var c *wsConn
		select {
		case c = <-h.urgent:
		default:
			select {
			case <-ctx.Done():
				return
			case c = <-h.urgent:
			case c = <-h.asks:
			}
		}
		if c.gone.Load() {
			c.asking.Store(false)
			continue
		}
		sctx, cancel := context.WithTimeout(ctx, 2*time.Second)
		st, err := h.cfg.Line.Status(sctx, c.room, c.visitor)
		if err == nil && st.State == queue.StateNone {
			// Skipped at the front (or the admission lapsed, or Redis
			// forgot the line): back in line — at the ticket this socket
			// was told before the loss, when Redis keeps it for them.
			var a queue.Arrival
			if r := c.carry.Swap(nil); r != nil {
				a.Receipt = *r
			}
			st, err = h.cfg.Line.Arrive(sctx, c.room, c.visitor, a)
		}
		cancel()
		if err != nil {
			h.cfg.Health.Failed(err)
		} else {
			if st.State == queue.StateAdmitted {
				h.tellAdmitted(c, st, board.Of(st))
			} else {
				c.found.Store(&foundStatus{st: st, gen: st.Reshuffles, epoch: st.Epoch})
			}
		}
		c.asking.Store(false)
	}
}

// Admitted tells this instance's sockets of visitors just admitted in room
// (by this instance's admission step, an operator, or another instance),
// at once and without a lookup: an admitted visitor holds one of
// max_active slots until they come in, so every moment they do not know
// counts against the room's rate.
func (h *Hub) Admitted(room string, visitors []string, until time.Time) {
	now := time.Now()
	for _, v := range visitors {
		h.cfg.Told(room, v, until, now) // for their next status poll or request
	}
	var cs []*wsConn
	h.mu.Lock()
	for _, v := range visitors {
		for _, c := range h.byVisitor[v] {
			if c.room.Name == room {
				cs = append(cs, c)
			}
		}
	}
	h.mu.Unlock()
	if len(cs) == 0 {
		return
	}
	f, _ := h.cfg.Board.Room(room)
	f.Room = room
	sj := board.Admitted(f)
	st := queue.Status{Room: room, State: queue.StateAdmitted, Until: until}
	for _, c := range cs {
		h.tellAdmitted(c, st, sj)
	}
}

// tellAdmitted pushes "admitted" (sj) to the socket now, outside the tick,
// and leaves st for the tick, which then says nothing more.
func (h *Hub) tellAdmitted(c *wsConn, st queue.Status, sj web.Status) {
	h.cfg.Told(c.room.Name, c.visitor, st.Until, time.Now())
	if msg, err := json.Marshal(sj); err == nil && c.busy.CompareAndSwap(false, true) {
		c.told.Store(true)
		select {
		case h.jobs <- wsJob{c: c, msg: msg}:
		default:
			c.told.Store(false)
			c.busy.Store(false)
		}
	}
	c.found.Store(&foundStatus{st: st, gen: -1})
}

// StillThere owes the visitor a heartbeat on the room's next one: the
// crowd gate turned their poll or socket away, or their poll was answered
// without Redis, which must not make them look abandoned. (Visitors not
// waiting are ignored by the queue.)
func (h *Hub) StillThere(room, visitor string) {
	h.mu.Lock()
	defer h.mu.Unlock()
	m := h.owed[room]
	if m == nil {
		m = make(map[string]struct{})
		h.owed[room] = m
	}
	if len(m) < maxStillThere {
		m[visitor] = struct{}{}
	}
}

// heartbeat tells the queue which visitors are still connected, one call
// per room (in batches), so they are not skipped as abandoned. A room's
// heartbeat is due every heartbeatEvery, or a third of its abandon_after
// when that is shorter (it can be changed live).
func (h *Hub) heartbeat(ctx context.Context, now time.Time) {
	if !h.cfg.Health.Up() {
		return
	}
	snap := h.cfg.Board.Latest()
	byRoom := make(map[string][]string)
	h.mu.Lock()
	for name := range h.owed {
		if _, ok := h.rooms[name]; !ok {
			h.rooms[name] = make(map[*wsConn]struct{})
		}
	}
	for name, m := range h.rooms {
		every := heartbeatEvery
		if snap != nil {
			if f, ok := snap.Rooms[name]; ok && f.Config.AbandonAfter > 0 {
				every = min(every, f.Config.AbandonAfter/3)
			}
		}
		if now.Sub(h.beatAt[name]) < every-heartbeatCheck/2 {
			continue
		}
		h.beatAt[name] = now
		seen := make(map[string]struct{}, len(m))
		for v := range h.owed[name] {
			seen[v] = struct{}{}
			byRoom[name] = append(byRoom[name], v)
		}
		delete(h.owed, name)
		for c := range m {
			if _, ok := seen[c.visitor]; !ok && !c.final {
				seen[c.visitor] = struct{}{}
				byRoom[name] = append(byRoom[name], c.visitor)
			}
		}
	}
	h.mu.Unlock()
	for room, ids := range byRoom {
		for len(ids) > 0 {
			n := min(len(ids), 5000)
			hctx, cancel := context.WithTimeout(ctx, 3*time.Second)
			unknown, err := h.cfg.Line.HeartbeatUnknown(hctx, room, ids[:n])
			cancel()
			if err != nil {
				h.cfg.Health.Failed(err)
				return
			}
			h.forget(room, unknown)
			ids = ids[n:]
		}
	}
}

// forget is told the visitors of room whose heartbeat the line did not
// hold. Most were admitted or skipped, and their sockets' next lookup says
// so; but a visitor Redis forgot (a failover to a replica that had not
// caught up loses the last writes, the room's epoch with them or not)
// must not be shown a place Redis no longer holds, nor be left out of the
// line: the next tick drops the socket's place and its lookup puts the
// visitor back in line.
func (h *Hub) forget(room string, visitors []string) {
	if len(visitors) == 0 {
		return
	}
	h.mu.Lock()
	for _, v := range visitors {
		for _, c := range h.byVisitor[v] {
			if c.room.Name == room {
				c.unheard.Store(true)
			}
		}
	}
	h.mu.Unlock()
	if h.cfg.Unknown != nil {
		for _, v := range visitors {
			h.cfg.Unknown(room, v)
		}
	}
}
