package gateway

import (
	"context"
	"encoding/json"
	"errors"
	mrand "math/rand/v2"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/waitroom/waitroom/queue"
	"github.com/waitroom/waitroom/token"
	"github.com/waitroom/waitroom/web"
)

func statusJSON(s queue.Status) web.Status {
	out := web.Status{
		Room:           s.Room,
		State:          string(s.State),
		Position:       s.Position,
		Waiting:        s.Waiting,
		ETA:            -1,
		AdmitPerMinute: s.AdmitPerMinute,
		Ticket:         s.Ticket,
	}
	if s.ETA >= 0 {
		out.ETA = int64((s.ETA + time.Second - 1) / time.Second)
	}
	if !s.OpensAt.IsZero() {
		t := s.OpensAt.UTC()
		out.OpensAt = &t
	}
	return out
}

// serveSite handles every request outside the gateway's own paths: pass
// through, or protect it with its room.
func (g *Gateway) serveSite(w http.ResponseWriter, r *http.Request) {
	room, ok := g.router.match(r.URL.Path)
	if !ok {
		g.serveProxy(w, r)
		return
	}
	g.serveProtected(w, r, room)
}

// serveProxy forwards to the origin and records the round trip's duration.
func (g *Gateway) serveProxy(w http.ResponseWriter, r *http.Request) {
	start := time.Now()
	g.proxy.ServeHTTP(w, r)
	g.metrics.proxyDuration.Observe(time.Since(start).Seconds())
}

// serveProtected is the heart of the gateway: a valid pass of this visitor
// is proxied (renewed when half its life is gone); anyone else joins the
// room's queue, is admitted at once when the room has room, or gets the
// queue response.
func (g *Gateway) serveProtected(w http.ResponseWriter, r *http.Request, room queue.Room) {
	now := time.Now()
	ctx := r.Context()
	if c, err := r.Cookie(token.CookieName(room.Name)); err == nil && c.Value != "" {
		e, reason := g.checkPass(ctx, c.Value, room.Name, visitorCookie(r), now)
		if e != nil {
			tok, claims := g.maybeRenew(w, r, room, e, c.Value, now)
			g.serveProxy(w, withAdmitted(r, &admittedRequest{room: room.Name, visitor: claims.Visitor, pass: tok, claims: claims}))
			return
		}
		if reason != "" {
			g.metrics.passRejections.WithLabelValues(reason).Inc()
			http.SetCookie(w, g.cookie(r, token.CookieName(room.Name), "", -1))
		}
	}

	visitor, known := g.visitorID(r)
	if !known {
		visitor = g.newVisitor(w, r)
	}
	if !g.redisUp.Load() {
		g.failMode(w, r)
		return
	}
	if g.hints.take(room.Name, visitor, now) {
		// Told "admitted" a moment ago (socket or status poll): straight to
		// Enter on the control plane, not behind the crowd.
		if tok, claims, err := g.enter(ctx, w, r, room, visitor); err == nil {
			g.serveProxy(w, withAdmitted(r, &admittedRequest{room: room.Name, visitor: visitor, pass: tok, claims: claims}))
			return
		}
	}
	if !g.crowd.acquire(ctx) {
		g.busy(w, r, room, visitor, known)
		return
	}
	st, pass, err := g.join(ctx, w, r, room, visitor)
	g.crowd.release()
	switch {
	case err != nil:
		g.redisError(err)
		if ctx.Err() == nil {
			g.reqLog(r).Warn().Err(err).Str("room", room.Name).Msg("join failed")
		}
		if !g.redisUp.Load() {
			g.failMode(w, r)
			return
		}
		g.busy(w, r, room, visitor, known)
	case pass != nil:
		g.serveProxy(w, withAdmitted(r, pass))
	default:
		g.queued(w, r, st)
	}
}

// join puts the visitor in the room's line (idempotent) and, when the room
// admits them at once, enters them: pass is then set and the cookie written.
// The caller holds a crowd slot.
func (g *Gateway) join(ctx context.Context, w http.ResponseWriter, r *http.Request, room queue.Room, visitor string) (queue.Status, *admittedRequest, error) {
	ctx, cancel := context.WithTimeout(ctx, visitorOpTimeout)
	defer cancel()
	st, err := g.crowdQ.Join(ctx, room, visitor)
	if err != nil {
		return st, nil, err
	}
	g.tickets.put(room.Name, visitor, st)
	g.metrics.joins.WithLabelValues(room.Name).Inc()
	if st.State != queue.StateAdmitted {
		return st, nil, nil
	}
	tok, claims, err := g.enter(ctx, w, r, room, visitor)
	if err == nil {
		return st, &admittedRequest{room: room.Name, visitor: visitor, pass: tok, claims: claims}, nil
	}
	if !errors.Is(err, queue.ErrNotAdmitted) {
		return st, nil, err
	}
	// The admission lapsed between Join and Enter: join again.
	st, err = g.crowdQ.Join(ctx, room, visitor)
	return st, nil, err
}

// visitorOpTimeout bounds one visitor's Redis work (join, status lookup).
const visitorOpTimeout = 3 * time.Second

// busy answers a visitor the crowd gate (or a slow Redis) could not serve
// now: like a queued visitor, without a position yet — the queue page (its
// socket and polls try again) or 429 with Retry-After. Nobody loses a
// place: a visitor who has one is kept from being skipped as abandoned by
// the hub's next heartbeat.
func (g *Gateway) busy(w http.ResponseWriter, r *http.Request, room queue.Room, visitor string, known bool) {
	g.metrics.busyJoin.Inc()
	if known {
		g.hub.stillThere(room.Name, visitor)
	}
	g.queuedJSON(w, r, statusJSON(g.figuresStatus(room)), busyRetryAfter())
}

// figuresStatus is what can be said to a visitor without looking them up:
// the room's state and figures as the hub last read them, no position.
func (g *Gateway) figuresStatus(room queue.Room) queue.Status {
	st := queue.Status{Room: room.Name, State: queue.StateQueued, ETA: -1, AdmitPerMinute: room.AdmitPerMinute}
	if snap := g.figures.Load(); snap != nil {
		if f, ok := snap.rooms[room.Name]; ok {
			st.State, st.Waiting, st.AdmitPerMinute, st.OpensAt = f.State, f.Waiting, f.AdmitPerMinute, f.OpensAt
		}
	}
	return st
}

// busyRetryAfter spreads the retries of a crowd turned away over 1–3 s.
func busyRetryAfter() int { return 1 + mrand.IntN(3) }

// enter turns the visitor's admission into a session (or finds the live
// session of this admission: one admission is one session) and sets the
// pass cookie, a pass of that session.
func (g *Gateway) enter(ctx context.Context, w http.ResponseWriter, r *http.Request, room queue.Room, visitor string) (string, token.Claims, error) {
	s, err := g.q.Enter(ctx, room, visitor)
	if err != nil {
		return "", token.Claims{}, err
	}
	return g.issue(w, r, room.Name, visitor, s)
}

// issue signs a pass of session s that lives until the session ends and
// sets its cookie.
func (g *Gateway) issue(w http.ResponseWriter, r *http.Request, room, visitor string, s queue.Session) (string, token.Claims, error) {
	now := time.Now()
	ttl := s.Until.Sub(now)
	if ttl < time.Second {
		ttl = time.Second
	}
	tok, claims, err := g.signer.Sign(now, visitor, room, s.ID, ttl)
	if err != nil {
		return "", token.Claims{}, err
	}
	e := &passEntry{claims: claims, visitorCookie: g.cookies.encode(visitor)}
	e.checkedAt.Store(now.UnixNano())
	g.passes.put(tok, e, now)
	http.SetCookie(w, g.cookie(r, token.CookieName(room), tok, ttl))
	return tok, claims, nil
}

// renewEvery bounds how often one pass is renewed (and Redis touched).
const renewEvery = 5 * time.Second

// maybeRenew renews the pass when less than half its life is left, at most
// once per renewEvery per pass, and returns the pass to forward with its
// claims (the renewed one's: a new pass of the same session).
func (g *Gateway) maybeRenew(w http.ResponseWriter, r *http.Request, room queue.Room, e *passEntry, tok string, now time.Time) (string, token.Claims) {
	life := e.claims.ExpiresAt.Sub(e.claims.IssuedAt)
	if e.claims.ExpiresAt.Sub(now) > life/2 || e.noRenew.Load() || !g.redisUp.Load() {
		return tok, e.claims
	}
	last := e.renewAt.Load()
	if now.UnixNano()-last < int64(renewEvery) || !e.renewAt.CompareAndSwap(last, now.UnixNano()) {
		return tok, e.claims
	}
	ctx, cancel := context.WithTimeout(r.Context(), time.Second)
	defer cancel()
	s, err := g.q.Renew(ctx, room, e.claims.Visitor, e.claims.Session)
	if err != nil {
		if errors.Is(err, queue.ErrNotAdmitted) {
			e.noRenew.Store(true)
		} else {
			g.redisError(err)
		}
		return tok, e.claims
	}
	nt, claims, err := g.issue(w, r, room.Name, e.claims.Visitor, s)
	if err != nil {
		return tok, e.claims
	}
	return nt, claims
}

// queued answers a visitor who waits: the queue page for browsers, 429 and
// the status JSON for everything else.
func (g *Gateway) queued(w http.ResponseWriter, r *http.Request, st queue.Status) {
	sj := statusJSON(st)
	g.queuedJSON(w, r, sj, retryAfter(sj))
}

func (g *Gateway) queuedJSON(w http.ResponseWriter, r *http.Request, sj web.Status, retry int) {
	h := w.Header()
	h.Set("Cache-Control", "no-store")
	h.Set("Waitroom-State", sj.State)
	if wantsHTML(r) {
		h.Set("Content-Type", "text/html; charset=utf-8")
		w.WriteHeader(http.StatusOK)
		q := "?room=" + sj.Room
		err := g.pages.RenderQueue(w, queueData{
			Lang:      langOf(r),
			Room:      sj.Room,
			State:     sj.State,
			Status:    sj,
			StatusURL: statusPath + q,
			WSURL:     wsPath + q,
			ReturnURL: r.URL.RequestURI(),
		})
		if err != nil {
			g.reqLog(r).Error().Err(err).Msg("render queue page")
		}
		return
	}
	h.Set("Retry-After", strconv.Itoa(retry))
	writeJSON(w, http.StatusTooManyRequests, sj)
}

// retryAfter tells a polling client when to ask again: soon when close to
// the front, at most every 30 s otherwise.
func retryAfter(s web.Status) int {
	switch {
	case s.ETA < 0:
		return 5
	case s.ETA < 2:
		return 1
	default:
		return int(min(max(s.ETA/2, 1), 30))
	}
}

// failMode answers a visitor without a pass while Redis is unreachable:
// closed = 503 "temporarily unavailable"; open = proxied without a pass.
func (g *Gateway) failMode(w http.ResponseWriter, r *http.Request) {
	if g.cfg.FailMode == "open" {
		g.serveProxy(w, r)
		return
	}
	g.metrics.failClosed.Inc()
	const retry = 10
	h := w.Header()
	h.Set("Cache-Control", "no-store")
	h.Set("Retry-After", strconv.Itoa(retry))
	if wantsHTML(r) {
		h.Set("Content-Type", "text/html; charset=utf-8")
		w.WriteHeader(http.StatusServiceUnavailable)
		_ = g.pages.RenderUnavailable(w, langOf(r), retry)
		return
	}
	writeJSON(w, http.StatusServiceUnavailable, map[string]string{"error": "temporarily_unavailable"})
}

const (
	statusPath = "/_waitroom/api/status"
	wsPath     = "/_waitroom/ws"
)

// serveStatus is GET /_waitroom/api/status?room=NAME: the visitor's status
// (a poll counts as a heartbeat). A visitor not in the line joins it, so a
// mobile app can queue through this API alone.
func (g *Gateway) serveStatus(w http.ResponseWriter, r *http.Request) {
	room, ok := g.roomParam(w, r)
	if !ok {
		return
	}
	w.Header().Set("Cache-Control", "no-store")
	visitor, known := g.visitorID(r)
	if !known {
		visitor = g.newVisitor(w, r)
	}
	if !g.redisUp.Load() {
		writeJSON(w, http.StatusServiceUnavailable, map[string]string{"error": "temporarily_unavailable"})
		return
	}
	if known {
		if st, ok := g.localStatus(room, visitor, time.Now()); ok {
			w.Header().Set("Waitroom-State", string(st.State))
			writeJSON(w, http.StatusOK, statusJSON(st))
			return
		}
	}
	ctx := r.Context()
	if !g.crowd.acquire(ctx) {
		g.busyAPI(w, room.Name, visitor, known)
		return
	}
	st, err := g.lookup(ctx, r, room, visitor)
	g.crowd.release()
	if err != nil {
		g.redisError(err)
		if g.redisUp.Load() {
			g.busyAPI(w, room.Name, visitor, known)
			return
		}
		writeJSON(w, http.StatusServiceUnavailable, map[string]string{"error": "temporarily_unavailable"})
		return
	}
	if st.State == queue.StateAdmitted {
		g.hints.add(room.Name, visitor, st.Until, time.Now())
	}
	w.Header().Set("Waitroom-State", string(st.State))
	writeJSON(w, http.StatusOK, statusJSON(st))
}

// lookup is the visitor's status, joining them when they are not in the
// line (and hold no pass). The caller holds a crowd slot.
func (g *Gateway) lookup(ctx context.Context, r *http.Request, room queue.Room, visitor string) (queue.Status, error) {
	ctx, cancel := context.WithTimeout(ctx, visitorOpTimeout)
	defer cancel()
	st, err := g.crowdQ.Status(ctx, room, visitor)
	if err == nil && st.State == queue.StateNone {
		if c, cerr := r.Cookie(token.CookieName(room.Name)); cerr == nil {
			if e, _ := g.checkPass(ctx, c.Value, room.Name, visitorCookie(r), time.Now()); e != nil {
				st.State = queue.StateAdmitted
			}
		}
		if st.State == queue.StateNone {
			st, err = g.crowdQ.Join(ctx, room, visitor)
		}
	}
	if err == nil {
		g.tickets.put(room.Name, visitor, st)
	}
	return st, err
}

// localStatus answers a status poll without Redis when this instance can:
// the visitor was just admitted (a hint), or their ticket is known and the
// hub's figures are fresh, so the position is Ticket - Front + 1 exactly as
// the hub computes it for sockets (and, like a socket's, at most a tick
// behind the queue). The poll still counts as a heartbeat: it is owed on
// the room's next batched one.
func (g *Gateway) localStatus(room queue.Room, visitor string, now time.Time) (queue.Status, bool) {
	if g.hints.has(room.Name, visitor, now) {
		return queue.Status{Room: room.Name, State: queue.StateAdmitted, ETA: -1, AdmitPerMinute: room.AdmitPerMinute}, true
	}
	snap := g.figures.Load()
	if snap == nil || now.Sub(snap.at) > 2*hubTick {
		return queue.Status{}, false
	}
	f, ok := snap.rooms[room.Name]
	if !ok || f.State != queue.StateQueued {
		return queue.Status{}, false
	}
	t, ok := g.tickets.get(room.Name, visitor, f.Reshuffles)
	if !ok || t < f.Front {
		return queue.Status{}, false // not known, or the front passed them: ask Redis
	}
	g.hub.stillThere(room.Name, visitor)
	pos := g.tickets.told(room.Name, visitor, t, t-f.Front+1)
	// The figures can be a tick older than the Redis answer pos may come
	// from: never say fewer are waiting than stand up to this visitor.
	st := queue.Status{Room: room.Name, State: queue.StateQueued, Ticket: t, Position: pos,
		Waiting: max(f.Waiting, pos), AdmitPerMinute: f.AdmitPerMinute, OpensAt: f.OpensAt, ETA: -1}
	if eta := etaSeconds(pos, f.ETAPerMinute); eta >= 0 {
		st.ETA = time.Duration(eta) * time.Second
	}
	return st, true
}

// ticketBook remembers the tickets this instance handed to or read for
// visitors (with the room's reshuffle count then, as a reshuffle renumbers
// everyone), so their status polls can be answered locally.
type ticketBook struct {
	mu sync.Mutex
	m  map[hintKey]ticketEntry
}

// pos is the lowest position this instance has told the visitor: answers
// from the hub's figures may be a tick behind a fresher Redis answer given
// before, and a visitor must never see their position go up.
type ticketEntry struct{ ticket, reshuffles, pos int64 }

const maxTickets = 500_000

// put records the visitor's ticket from st, a Redis answer, with the
// numbering it belongs to (st.Reshuffles).
func (b *ticketBook) put(room, visitor string, st queue.Status) {
	if st.State != queue.StateQueued || st.Ticket <= 0 {
		return
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.m == nil {
		b.m = make(map[hintKey]ticketEntry)
	}
	if len(b.m) >= maxTickets {
		clear(b.m) // a fresh start costs one Redis lookup per visitor
	}
	k := hintKey{room, visitor}
	e := ticketEntry{ticket: st.Ticket, reshuffles: st.Reshuffles, pos: st.Position}
	if old, ok := b.m[k]; ok && old.ticket == e.ticket && old.reshuffles == e.reshuffles && old.pos > 0 {
		e.pos = min(old.pos, e.pos)
	}
	b.m[k] = e
}

// told returns the position to tell the visitor: pos, or the lower one told
// before for the same ticket; the answer is remembered.
func (b *ticketBook) told(room, visitor string, ticket, pos int64) int64 {
	b.mu.Lock()
	defer b.mu.Unlock()
	k := hintKey{room, visitor}
	e, ok := b.m[k]
	if !ok || e.ticket != ticket {
		return pos
	}
	if e.pos > 0 && e.pos < pos {
		return e.pos
	}
	e.pos = pos
	b.m[k] = e
	return pos
}

// get is the visitor's ticket, unless a reshuffle came since.
func (b *ticketBook) get(room, visitor string, reshuffles int64) (int64, bool) {
	b.mu.Lock()
	defer b.mu.Unlock()
	k := hintKey{room, visitor}
	e, ok := b.m[k]
	if !ok {
		return 0, false
	}
	if e.reshuffles != reshuffles {
		delete(b.m, k)
		return 0, false
	}
	return e.ticket, true
}

// busyAPI answers a status request or socket the crowd gate turned away:
// 429 with Retry-After and no status (the queue page keeps what it shows
// and asks again).
func (g *Gateway) busyAPI(w http.ResponseWriter, room, visitor string, known bool) {
	g.metrics.busyStatus.Inc()
	if known {
		g.hub.stillThere(room, visitor)
	}
	retry := busyRetryAfter()
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("Retry-After", strconv.Itoa(retry))
	writeJSON(w, http.StatusTooManyRequests, map[string]any{"error": "busy", "retry_after": retry})
}

// crowdGate bounds the visitor operations that use Redis at once (joins,
// status lookups, socket handshakes) to the crowd client's pool, so a flash
// crowd waits here, briefly, instead of in the pool until its deadlines
// pass. A request that finds the gate full waits up to crowdWait behind at
// most crowdWaiters x size others, then gets a fast "busy" answer.
type crowdGate struct {
	slots      chan struct{}
	waiters    atomic.Int64
	maxWaiters int64
}

const (
	crowdWait    = 250 * time.Millisecond
	crowdWaiters = 4
)

func newCrowdGate(size int) *crowdGate {
	size = max(size, 1)
	return &crowdGate{slots: make(chan struct{}, size), maxWaiters: int64(size * crowdWaiters)}
}

// acquire takes a slot; false when the crowd is too big right now.
func (c *crowdGate) acquire(ctx context.Context) bool {
	select {
	case c.slots <- struct{}{}:
		return true
	default:
	}
	if c.waiters.Add(1) > c.maxWaiters {
		c.waiters.Add(-1)
		return false
	}
	defer c.waiters.Add(-1)
	t := time.NewTimer(crowdWait)
	defer t.Stop()
	select {
	case c.slots <- struct{}{}:
		return true
	case <-t.C:
		return false
	case <-ctx.Done():
		return false
	}
}

func (c *crowdGate) release() { <-c.slots }

// admittedHints remembers, for a short while, the visitors this instance
// told "admitted" (over their socket or a status poll), so the request that
// follows goes straight to Enter instead of queueing behind the crowd
// gate. A hint is only a shortcut: Enter checks the admission in Redis.
type admittedHints struct {
	mu sync.Mutex
	m  map[hintKey]time.Time // -> when the hint lapses
}

type hintKey struct{ room, visitor string }

const (
	maxHints = 100_000
	hintTTL  = 2 * time.Minute
)

func (h *admittedHints) add(room, visitor string, until, now time.Time) {
	if until.IsZero() || until.After(now.Add(hintTTL)) {
		until = now.Add(hintTTL)
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.m == nil {
		h.m = make(map[hintKey]time.Time)
	}
	if len(h.m) >= maxHints {
		for k, t := range h.m {
			if !now.Before(t) {
				delete(h.m, k)
			}
		}
		if len(h.m) >= maxHints {
			return
		}
	}
	h.m[hintKey{room, visitor}] = until
}

// has reports whether a current hint is there, leaving it.
func (h *admittedHints) has(room, visitor string, now time.Time) bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	t, ok := h.m[hintKey{room, visitor}]
	return ok && now.Before(t)
}

// take removes the hint and reports whether it was there and current.
func (h *admittedHints) take(room, visitor string, now time.Time) bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	k := hintKey{room, visitor}
	t, ok := h.m[k]
	if ok {
		delete(h.m, k)
	}
	return ok && now.Before(t)
}

// roomParam reads ?room=NAME (the default room when absent and only one
// room is configured); it answers 400/404 itself.
func (g *Gateway) roomParam(w http.ResponseWriter, r *http.Request) (queue.Room, bool) {
	name := r.URL.Query().Get("room")
	if name == "" {
		if all := g.router.all(); len(all) == 1 {
			return all[0], true
		}
		writeJSON(w, http.StatusBadRequest, map[string]string{"error": "room parameter required"})
		return queue.Room{}, false
	}
	if !queue.ValidName(name) {
		writeJSON(w, http.StatusBadRequest, map[string]string{"error": "invalid room name"})
		return queue.Room{}, false
	}
	room, ok := g.router.room(name)
	if !ok {
		writeJSON(w, http.StatusNotFound, map[string]string{"error": "no such room"})
		return queue.Room{}, false
	}
	return room, true
}

func wantsHTML(r *http.Request) bool {
	return strings.Contains(r.Header.Get("Accept"), "text/html")
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(v)
}
