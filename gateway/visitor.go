package gateway

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/waitroom/waitroom/queue"
	"github.com/waitroom/waitroom/token"
)

// StatusJSON is the status document of SPEC "Status JSON", plus the
// visitor's queue number (ticket).
type StatusJSON struct {
	Room           string     `json:"room"`
	State          string     `json:"state"`
	Position       int64      `json:"position"`
	Waiting        int64      `json:"waiting"`
	ETASeconds     int64      `json:"eta_seconds"` // -1 when unknown
	AdmitPerMinute int        `json:"admit_per_minute"`
	OpensAt        *time.Time `json:"opens_at"`
	Ticket         int64      `json:"ticket"` // the visitor's queue number; 0 when none
}

func statusJSON(s queue.Status) StatusJSON {
	out := StatusJSON{
		Room:           s.Room,
		State:          string(s.State),
		Position:       s.Position,
		Waiting:        s.Waiting,
		ETASeconds:     -1,
		AdmitPerMinute: s.AdmitPerMinute,
		Ticket:         s.Ticket,
	}
	if s.ETA >= 0 {
		out.ETASeconds = int64((s.ETA + time.Second - 1) / time.Second)
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

// serveProtected is the heart of the gateway: a valid pass is proxied
// (renewed when half its life is gone); anyone else joins the room's queue,
// is admitted at once when the room has room, or gets the queue response.
func (g *Gateway) serveProtected(w http.ResponseWriter, r *http.Request, room queue.Room) {
	now := time.Now()
	ctx := r.Context()
	if c, err := r.Cookie(token.CookieName(room.Name)); err == nil && c.Value != "" {
		e, reason := g.checkPass(ctx, c.Value, room.Name, now)
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

	visitor := g.visitor(w, r)
	if !g.redisUp.Load() {
		g.failMode(w, r)
		return
	}
	st, err := g.q.Join(ctx, room, visitor)
	if err != nil {
		g.redisError(err)
		g.reqLog(r).Warn().Err(err).Str("room", room.Name).Msg("join failed")
		g.failMode(w, r)
		return
	}
	g.metrics.joins.WithLabelValues(room.Name).Inc()
	if st.State == queue.StateAdmitted {
		tok, claims, err := g.enter(ctx, w, r, room, visitor)
		if err == nil {
			g.serveProxy(w, withAdmitted(r, &admittedRequest{room: room.Name, visitor: visitor, pass: tok, claims: claims}))
			return
		}
		if !errors.Is(err, queue.ErrNotAdmitted) {
			g.redisError(err)
			g.failMode(w, r)
			return
		}
		// The admission lapsed between Join and Enter: join again.
		if st, err = g.q.Join(ctx, room, visitor); err != nil {
			g.redisError(err)
			g.failMode(w, r)
			return
		}
	}
	g.queued(w, r, st)
}

// enter turns the visitor's admission into a session and sets the pass
// cookie.
func (g *Gateway) enter(ctx context.Context, w http.ResponseWriter, r *http.Request, room queue.Room, visitor string) (string, token.Claims, error) {
	until, err := g.q.Enter(ctx, room, visitor)
	if err != nil {
		return "", token.Claims{}, err
	}
	return g.issue(w, r, room.Name, visitor, until)
}

// issue signs a pass that lives until until and sets its cookie.
func (g *Gateway) issue(w http.ResponseWriter, r *http.Request, room, visitor string, until time.Time) (string, token.Claims, error) {
	now := time.Now()
	ttl := until.Sub(now)
	if ttl < time.Second {
		ttl = time.Second
	}
	tok, claims, err := g.signer.Sign(now, visitor, room, ttl)
	if err != nil {
		return "", token.Claims{}, err
	}
	e := &passEntry{claims: claims}
	e.checkedAt.Store(now.UnixNano())
	g.passes.put(tok, e, now)
	http.SetCookie(w, g.cookie(r, token.CookieName(room), tok, ttl))
	return tok, claims, nil
}

// renewEvery bounds how often one pass is renewed (and Redis touched).
const renewEvery = 5 * time.Second

// maybeRenew renews the pass when less than half its life is left, at most
// once per renewEvery per pass, and returns the pass to forward with its
// claims (the renewed one's, so a revoke names the pass the visitor holds).
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
	until, err := g.q.Renew(ctx, room, e.claims.Visitor)
	if err != nil {
		if errors.Is(err, queue.ErrNotAdmitted) {
			e.noRenew.Store(true)
		} else {
			g.redisError(err)
		}
		return tok, e.claims
	}
	nt, claims, err := g.issue(w, r, room.Name, e.claims.Visitor, until)
	if err != nil {
		return tok, e.claims
	}
	return nt, claims
}

// queued answers a visitor who waits: the queue page for browsers, 429 and
// the status JSON for everything else.
func (g *Gateway) queued(w http.ResponseWriter, r *http.Request, st queue.Status) {
	sj := statusJSON(st)
	h := w.Header()
	h.Set("Cache-Control", "no-store")
	h.Set("Waitroom-State", sj.State)
	if wantsHTML(r) {
		h.Set("Content-Type", "text/html; charset=utf-8")
		w.WriteHeader(http.StatusOK)
		q := "?room=" + st.Room
		err := g.pages.RenderQueue(w, queueData{
			Lang:      langOf(r),
			Room:      st.Room,
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
	h.Set("Retry-After", strconv.Itoa(retryAfter(sj)))
	writeJSON(w, http.StatusTooManyRequests, sj)
}

// retryAfter tells a polling client when to ask again: soon when close to
// the front, at most every 30 s otherwise.
func retryAfter(s StatusJSON) int {
	switch {
	case s.ETASeconds < 0:
		return 5
	case s.ETASeconds < 2:
		return 1
	default:
		return int(min(max(s.ETASeconds/2, 1), 30))
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
	visitor := g.visitor(w, r)
	if !g.redisUp.Load() {
		writeJSON(w, http.StatusServiceUnavailable, map[string]string{"error": "temporarily_unavailable"})
		return
	}
	st, err := g.q.Status(r.Context(), room, visitor)
	if err == nil && st.State == queue.StateNone {
		if c, cerr := r.Cookie(token.CookieName(room.Name)); cerr == nil {
			if e, _ := g.checkPass(r.Context(), c.Value, room.Name, time.Now()); e != nil {
				st.State = queue.StateAdmitted
			}
		}
		if st.State == queue.StateNone {
			st, err = g.q.Join(r.Context(), room, visitor)
		}
	}
	if err != nil {
		g.redisError(err)
		writeJSON(w, http.StatusServiceUnavailable, map[string]string{"error": "temporarily_unavailable"})
		return
	}
	w.Header().Set("Waitroom-State", string(st.State))
	writeJSON(w, http.StatusOK, statusJSON(st))
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
