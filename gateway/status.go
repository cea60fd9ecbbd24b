package gateway

import (
	"context"
	"net/http"
	"strconv"
	"time"

	"github.com/waitroom/waitroom/gateway/board"
	"github.com/waitroom/waitroom/gateway/crowd"
	"github.com/waitroom/waitroom/queue"
	"github.com/waitroom/waitroom/token"
	"github.com/waitroom/waitroom/web"
)

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
	visitor, known := g.cookies.visitor(w, r)
	if !g.health.Up() {
		writeJSON(w, http.StatusServiceUnavailable, map[string]string{"error": "temporarily_unavailable"})
		return
	}
	if known {
		if sj, epoch, ok := g.localStatus(room, visitor, time.Now()); ok {
			g.refreshReceipt(w.Header(), r, room.Name, visitor, epoch, sj.Ticket, time.Now())
			w.Header().Set("Waitroom-State", sj.State)
			writeJSON(w, http.StatusOK, sj)
			return
		}
	}
	ctx := r.Context()
	if !g.crowd.gate.Acquire(ctx) {
		g.busyAPI(w, room.Name, visitor, known)
		return
	}
	st, err := g.lookup(ctx, r, room, visitor, g.arrival(r, room, visitor, time.Now()))
	g.crowd.gate.Release()
	if err != nil {
		g.health.Failed(err)
		if g.health.Up() {
			g.busyAPI(w, room.Name, visitor, known)
			return
		}
		writeJSON(w, http.StatusServiceUnavailable, map[string]string{"error": "temporarily_unavailable"})
		return
	}
	now := time.Now()
	w.Header().Set("Waitroom-State", string(st.State))
	if refusedJoin(st) {
		// The status of a visitor the room gives no place yet is what any
		// other client is told: 429, Retry-After, the reason or the toll.
		sj := g.refused(r, room, visitor, st, now)
		w.Header().Set("Retry-After", strconv.Itoa(retryAfter(sj)))
		writeJSON(w, http.StatusTooManyRequests, sj)
		return
	}
	if st.State == queue.StateAdmitted {
		g.crowd.hints.Add(room.Name, visitor, st.Until, now)
	}
	g.setReceipt(w, r, visitor, st, now)
	writeJSON(w, http.StatusOK, g.crowd.tickets.Tell(room.Name, visitor, board.Of(st), now))
}

// lookup is the visitor's status, joining them when they are not in the
// line (and hold no pass). The caller holds a crowd slot.
func (g *Gateway) lookup(ctx context.Context, r *http.Request, room queue.Room, visitor string, a queue.Arrival) (queue.Status, error) {
	ctx, cancel := context.WithTimeout(ctx, visitorOpTimeout)
	defer cancel()
	st, err := g.store.crowdQ.Status(ctx, room, visitor)
	if err == nil && st.State == queue.StateNone {
		if c, cerr := r.Cookie(token.CookieName(room.Name)); cerr == nil {
			if p, reason := g.desk.Check(ctx, room.Name, c.Value, visitorCookie(r), time.Now()); reason == "" &&
				(p.Claims.Network == "" || p.Claims.Network == passNetwork(r, g.cookies)) {
				st.State = queue.StateAdmitted
			}
		}
		if st.State == queue.StateNone {
			st, err = g.store.crowdQ.Arrive(ctx, room, visitor, a)
		}
	} else if err == nil && st.State == queue.StateToll && a.Toll != "" {
		// Paying for the place kept meanwhile.
		st, err = g.store.crowdQ.Arrive(ctx, room, visitor, a)
	}
	if err == nil {
		g.crowd.tickets.Put(room.Name, visitor, st, time.Now())
	}
	return st, err
}

// localStatus answers a status poll without Redis when this instance can:
// the visitor was just admitted (a hint), or their ticket is known and the
// board's figures are fresh, so the position is Ticket - Front + 1 exactly
// as the hub computes it for sockets (and, like a socket's, at most a tick
// behind the queue). The poll still counts as a heartbeat: it is owed on
// the room's next batched one. epoch is the line epoch of the ticket told.
func (g *Gateway) localStatus(room queue.Room, visitor string, now time.Time) (sj web.Status, epoch string, ok bool) {
	f, fresh := g.board.Fresh(room.Name, now)
	if g.crowd.hints.Has(room.Name, visitor, now) {
		if !fresh {
			f, _ = g.board.Room(room.Name)
			f.Room = room.Name
		}
		return board.Admitted(f), "", true
	}
	if !fresh || f.State != queue.StateQueued {
		return web.Status{}, "", false
	}
	t, ok := g.crowd.tickets.Get(room.Name, visitor, f.Reshuffles, f.Epoch, now)
	if !ok || t < f.Front {
		return web.Status{}, "", false // not known, or the front passed them: ask Redis
	}
	g.hub.StillThere(room.Name, visitor)
	return g.crowd.tickets.Tell(room.Name, visitor, board.Queued(f, t-f.Front+1+f.Ahead, t), now), f.Epoch, true
}

// busyAPI answers a status request the crowd gate turned away: 429 with
// Retry-After and no status (the queue page keeps what it shows and asks
// again).
func (g *Gateway) busyAPI(w http.ResponseWriter, room, visitor string, known bool) {
	g.metrics.busyStatus.Inc()
	if known {
		g.hub.StillThere(room, visitor)
	}
	retry := crowd.BusyRetryAfter()
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("Retry-After", strconv.Itoa(retry))
	writeJSON(w, http.StatusTooManyRequests, map[string]any{"error": "busy", "retry_after": retry})
}

// roomParam reads ?room=NAME (the default room when absent and only one
// room is configured); it answers 400/404 itself.
func (g *Gateway) roomParam(w http.ResponseWriter, r *http.Request) (queue.Room, bool) {
	name := r.URL.Query().Get("room")
	if name == "" {
		if all := g.router.All(); len(all) == 1 {
			return all[0], true
		}
		writeJSON(w, http.StatusBadRequest, map[string]string{"error": "room parameter required"})
		return queue.Room{}, false
	}
	if !queue.ValidName(name) {
		writeJSON(w, http.StatusBadRequest, map[string]string{"error": "invalid room name"})
		return queue.Room{}, false
	}
	room, ok := g.router.Room(name)
	if !ok {
		writeJSON(w, http.StatusNotFound, map[string]string{"error": "no such room"})
		return queue.Room{}, false
	}
	return room, true
}
