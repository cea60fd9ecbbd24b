package gateway

import (
	"context"
	"errors"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/waitroom/waitroom/gateway/board"
	"github.com/waitroom/waitroom/gateway/crowd"
	"github.com/waitroom/waitroom/gateway/origin"
	"github.com/waitroom/waitroom/gateway/pass"
	"github.com/waitroom/waitroom/internal/httpx"
	"github.com/waitroom/waitroom/queue"
	"github.com/waitroom/waitroom/token"
	"github.com/waitroom/waitroom/web"
)

// The decision for every request outside the gateway's own paths: proxy it
// (pass-through, or a valid pass of this visitor for its room), or let the
// visitor join the room's line and answer with the queue page (HTML) or a
// 429 with the status JSON. This file is the one place that decision is
// made; everything it consults lives in a package of its own.

// serveSite routes a request of the site: pass through, or protect it
// with its room.
func (g *Gateway) serveSite(w http.ResponseWriter, r *http.Request) {
	room, ok := g.router.Match(r.URL.Path)
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

// newProxy builds the reverse proxy to the origin: a revoke from the origin
// ends the session at the pass desk and clears the visitor's pass cookie.
func (g *Gateway) newProxy() *origin.Proxy {
	return origin.New(origin.Config{
		URL:     &g.cfg.Origin,
		Trusted: g.cookies.trustedPeer,
		Revoke: func(r *http.Request, p pass.Pass) *http.Cookie {
			// Every pass of the session is refused from now on, here at
			// once and on every instance within moments, and its slot is
			// freed (once, however many of its passes the origin revokes).
			g.desk.Revoke(p, time.Now())
			g.metrics.revokes.Inc()
			return g.cookies.cookie(r, token.CookieName(p.Claims.Room), "", -1)
		},
		BadGateway: func(w http.ResponseWriter, r *http.Request, id string) {
			_ = g.pages.RenderBadGateway(w, langOf(r), id)
		},
		Responses: g.metrics.originResponse,
		Failed:    g.metrics.originErrors.Inc,
		Log:       g.log,
	})
}

// serveProtected is the heart of the gateway: a valid pass of this visitor
// is proxied (renewed when half its life is gone); anyone else joins the
// room's queue, is admitted at once when the room has room, or gets the
// queue response.
func (g *Gateway) serveProtected(w http.ResponseWriter, r *http.Request, room queue.Room) {
	now := time.Now()
	ctx := r.Context()
	if c, err := r.Cookie(token.CookieName(room.Name)); err == nil && c.Value != "" {
		p, renewed, reason := g.desk.Present(ctx, room, c.Value, visitorCookie(r), now)
		if reason == "" && p.Claims.Network != "" && p.Claims.Network != passNetwork(r, g.cookies) {
			reason = "wrong_network" // a pass bound to its network, shown from another
		}
		if reason == "" {
			if renewed {
				g.setPass(w, r, p, now)
			}
			g.serveProxy(w, origin.WithPass(r, p))
			return
		}
		g.metrics.passRejections.WithLabelValues(reason).Inc()
		http.SetCookie(w, g.cookies.cookie(r, token.CookieName(room.Name), "", -1))
	}

	visitor, known := g.cookies.visitor(w, r)
	if !g.health.Up() {
		g.failMode(w, r)
		return
	}
	if g.crowd.hints.Take(room.Name, visitor, now) {
		// Told "admitted" a moment ago (socket or status poll): straight to
		// Enter on the control plane, not behind the crowd.
		if p, err := g.enter(ctx, w, r, room, visitor); err == nil {
			g.serveProxy(w, origin.WithPass(r, p))
			return
		}
	}
	if !g.crowd.gate.Acquire(ctx) {
		g.busy(w, r, room, visitor, known)
		return
	}
	st, p, err := g.join(ctx, w, r, room, visitor, g.arrival(r, room, visitor, now))
	g.crowd.gate.Release()
	switch {
	case errors.Is(err, pass.ErrWrongNetwork):
		// The visitor's admission was taken up from another network, in a
		// room that binds passes to theirs: these cookies came from there.
		g.metrics.passRejections.WithLabelValues("wrong_network").Inc()
		writeJSON(w, http.StatusForbidden, map[string]string{
			"error":   "wrong_network",
			"message": "this admission is bound to the network it was first used from; it works only from there",
		})
	case err != nil:
		g.health.Failed(err)
		if ctx.Err() == nil {
			g.reqLog(r).Warn().Err(err).Str("room", room.Name).Msg("join failed")
		}
		if !g.health.Up() {
			g.failMode(w, r)
			return
		}
		g.busy(w, r, room, visitor, known)
	case p.Token != "":
		g.serveProxy(w, origin.WithPass(r, p))
	case refusedJoin(st):
		sj := g.refused(r, room, visitor, st, now)
		g.queued(w, r, sj, retryAfter(sj))
	default:
		g.setReceipt(w, r, visitor, st, now)
		sj := g.crowd.tickets.Tell(room.Name, visitor, board.Of(st), now)
		g.queued(w, r, sj, retryAfter(sj))
	}
}

// join puts the visitor in the room's line (idempotent) and, when the room
// admits them at once, enters them: the pass is then returned and its
// cookie set. The caller holds a crowd slot.
func (g *Gateway) join(ctx context.Context, w http.ResponseWriter, r *http.Request, room queue.Room, visitor string, a queue.Arrival) (queue.Status, pass.Pass, error) {
	ctx, cancel := context.WithTimeout(ctx, visitorOpTimeout)
	defer cancel()
	st, err := g.store.crowdQ.Arrive(ctx, room, visitor, a)
	if err != nil {
		return st, pass.Pass{}, err
	}
	g.crowd.tickets.Put(room.Name, visitor, st, time.Now())
	g.metrics.joins.WithLabelValues(room.Name).Inc()
	if st.State != queue.StateAdmitted {
		return st, pass.Pass{}, nil
	}
	p, err := g.enter(ctx, w, r, room, visitor)
	if err == nil {
		return st, p, nil
	}
	if !errors.Is(err, queue.ErrNotAdmitted) {
		return st, pass.Pass{}, err
	}
	// The admission lapsed between Join and Enter: join again.
	st, err = g.store.crowdQ.Arrive(ctx, room, visitor, a)
	return st, pass.Pass{}, err
}

// visitorOpTimeout bounds one visitor's Redis work (join, status lookup).
const visitorOpTimeout = 3 * time.Second

// enter turns the visitor's admission into a session (or finds the live
// session of this admission) and sets the cookie of a pass of it.
func (g *Gateway) enter(ctx context.Context, w http.ResponseWriter, r *http.Request, room queue.Room, visitor string) (pass.Pass, error) {
	now := time.Now()
	network := ""
	if f, ok := g.board.Room(room.Name); ok && f.Config.BindNetwork {
		network = passNetwork(r, g.cookies)
	}
	p, err := g.desk.Issue(ctx, room, visitor, network, now)
	if err != nil {
		return pass.Pass{}, err
	}
	g.setPass(w, r, p, now)
	return p, nil
}

// setPass sets the pass cookie, living as long as the pass.
func (g *Gateway) setPass(w http.ResponseWriter, r *http.Request, p pass.Pass, now time.Time) {
	ttl := max(p.Claims.ExpiresAt.Sub(now), time.Second)
	http.SetCookie(w, g.cookies.cookie(r, token.CookieName(p.Claims.Room), p.Token, ttl))
}

// busy answers a visitor the crowd gate (or a slow Redis) could not serve
// now: like a queued visitor, without a position yet — the queue page (its
// socket and polls try again) or 429 with Retry-After. Nobody loses a
// place: a visitor who has one is kept from being skipped as abandoned by
// the hub's next heartbeat.
func (g *Gateway) busy(w http.ResponseWriter, r *http.Request, room queue.Room, visitor string, known bool) {
	g.metrics.busyJoin.Inc()
	if known {
		g.hub.StillThere(room.Name, visitor)
	}
	g.queued(w, r, g.roomStatus(room), crowd.BusyRetryAfter())
}

// roomStatus is what can be said to a visitor without looking them up: the
// room's state and figures as the board last read them, no position.
func (g *Gateway) roomStatus(room queue.Room) web.Status {
	f, ok := g.board.Room(room.Name)
	if !ok {
		// Redis has not answered since the start: the configured values
		// are all there is.
		f = queue.Figures{Room: room.Name, State: queue.StateQueued, AdmitPerMinute: room.AdmitPerMinute}
	}
	return board.Room(f)
}

// queued answers a visitor who waits: the queue page for browsers, 429 and
// the status JSON (with Retry-After) for everything else.
func (g *Gateway) queued(w http.ResponseWriter, r *http.Request, sj web.Status, retry int) {
	h := w.Header()
	h.Set("Cache-Control", "no-store")
	h.Set("Waitroom-State", sj.State)
	if wantsHTML(r) {
		h.Set("Content-Type", "text/html; charset=utf-8")
		code := http.StatusOK
		if sj.State == string(queue.StateLimited) {
			// The page explains the limit; the status says it too.
			code = http.StatusTooManyRequests
			h.Set("Retry-After", strconv.Itoa(retry))
		}
		w.WriteHeader(code)
		q := "?room=" + sj.Room
		err := g.pages.RenderQueue(w, web.QueueData{
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
// the front, at most every 30 s otherwise; a refused join when it may try
// again (a toll: as soon as it is paid).
func retryAfter(s web.Status) int {
	switch {
	case s.RetryAfter > 0:
		return int(s.RetryAfter)
	case s.Challenge != nil:
		return 1
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

func wantsHTML(r *http.Request) bool {
	return strings.Contains(r.Header.Get("Accept"), "text/html")
}

func langOf(r *http.Request) string { return web.Lang(r.Header.Get("Accept-Language")) }

func writeJSON(w http.ResponseWriter, code int, v any) { httpx.WriteJSON(w, code, v) }
