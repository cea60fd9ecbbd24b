package gateway

import (
	"net/http"
	"time"

	"github.com/waitroom/waitroom/queue"
)

// serveWS is GET /_waitroom/ws?room=NAME: the handshake of a visitor's
// status socket, vetted here (room, Origin, visitor cookie, Redis, the
// visitor's socket slots) and handed to the hub.
//
// The handshake looks the visitor up when the crowd gate has room;
// otherwise the socket is taken anyway and the hub's askers look the
// visitor up (and join them) on the control plane, a bounded number per
// tick. A socket costs no Redis work after that, where a visitor turned
// away would poll.
func (g *Gateway) serveWS(w http.ResponseWriter, r *http.Request) {
	room, ok := g.roomParam(w, r)
	if !ok {
		return
	}
	if !g.cookies.sameOrigin(r) {
		writeJSON(w, http.StatusForbidden, map[string]string{"error": "cross-site WebSocket refused"})
		return
	}
	visitor, known := g.cookies.visitorID(r)
	if !known {
		writeJSON(w, http.StatusForbidden, map[string]string{"error": "no visitor cookie; open the queue page first"})
		return
	}
	if !g.health.Up() {
		g.unavailableWS(w)
		return
	}
	if !g.hub.Reserve(visitor) {
		writeJSON(w, http.StatusTooManyRequests, map[string]string{"error": "too many sockets for this visitor"})
		return
	}
	var st queue.Status
	looked := false
	if g.crowd.gate.Acquire(r.Context()) {
		var err error
		st, err = g.lookup(r.Context(), r, room, visitor, g.arrival(r, room, visitor, time.Now()))
		g.crowd.gate.Release()
		switch {
		case err == nil:
			looked = true
			if st.State == queue.StateAdmitted {
				g.crowd.hints.Add(room.Name, visitor, st.Until, time.Now())
			}
		case !g.health.Up():
			g.hub.Unreserve(visitor)
			g.unavailableWS(w)
			return
		default:
			g.health.Failed(err)
		}
	}
	hdr := http.Header{}
	if looked && st.State == queue.StateQueued {
		g.refreshReceipt(hdr, r, room.Name, visitor, st.Epoch, st.Ticket, time.Now())
	}
	if err := g.hub.Accept(w, r, hdr, room, visitor, st, looked); err != nil {
		g.reqLog(r).Debug().Err(err).Msg("websocket upgrade")
	}
}

func (g *Gateway) unavailableWS(w http.ResponseWriter) {
	w.Header().Set("Retry-After", "5")
	writeJSON(w, http.StatusServiceUnavailable, map[string]string{"error": "temporarily_unavailable"})
}
