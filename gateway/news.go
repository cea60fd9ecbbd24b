package gateway

import (
	"context"
	"time"

	"github.com/waitroom/waitroom/queue"
)

// The news between instances (queue.Listen): admissions and revoked
// sessions reach every instance at once.
//
//   - An admission announced by another instance is told to the sockets
//     this instance holds for those visitors (the hub, which also leaves a
//     hint so their next request here skips the crowd gate).
//   - A revoked session is refused by the pass desk at once.
//   - After every (re)subscription, news may have been lost: the desk
//     checks its cached passes against Redis again. A lost admission costs
//     time only: the hub looks a visitor up once the front has passed them.

// listen applies the news until ctx ends.
func (g *Gateway) listen(ctx context.Context) {
	g.store.q.Listen(ctx, queue.Listener{
		Subscribed: func() { g.desk.RecheckAll(time.Now()) },
		Admitted: func(a queue.Admitted) {
			if a.From == g.run.instance || !a.Until.After(time.Now()) {
				return // told our own sockets before announcing
			}
			if _, ok := g.router.Room(a.Room); !ok {
				return // a room this instance does not serve (another rooms file)
			}
			g.metrics.admissionsHeard.WithLabelValues(a.Room).Add(float64(len(a.Visitors)))
			g.hub.Admitted(a.Room, a.Visitors, a.Until)
		},
		Revoked: func(r queue.Revoked) { g.desk.Heard(r, time.Now()) },
		Malformed: func(channel, payload string) {
			g.log.Warn().Str("channel", channel).Str("payload", payload[:min(len(payload), 80)]).Msg("malformed news ignored")
		},
		Lost: func(err error) {
			g.log.Debug().Err(err).Msg("news subscription lost; resubscribing")
		},
	})
}

// announceAdmitted tells this instance's sockets of visitors just admitted
// in room, and every other instance through the news.
func (g *Gateway) announceAdmitted(ctx context.Context, room string, visitors []string, until time.Time) {
	g.hub.Admitted(room, visitors, until)
	pctx, cancel := context.WithTimeout(ctx, time.Second)
	defer cancel()
	err := g.store.q.PublishAdmitted(pctx, queue.Admitted{From: g.run.instance, Room: room, Until: until, Visitors: visitors})
	if err != nil && ctx.Err() == nil {
		// The other instances find the admission on their own, later.
		g.log.Debug().Err(err).Str("room", room).Msg("announcing admissions failed")
	}
}
