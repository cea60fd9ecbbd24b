package gateway

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/waitroom/waitroom/queue"
)

// Admissions reach every instance at once. The instance whose admission
// step admitted visitors tells its own sockets directly and PUBLISHes the
// list on <prefix>admitted; every instance listens on that channel (the
// subscription that carries revocations, see revocation.go) and, for the
// visitors in a message,
//
//   - pushes "admitted" to the sockets it holds for them, and
//   - remembers the admission (a hint), so the visitor's next request or
//     status poll, on whichever instance the load balancer sends it to,
//     goes straight to Enter on the control plane instead of behind the
//     crowd gate.
//
// Neither trusts the message: the page reloads on "admitted" and Enter
// checks the admission in Redis, so a forged message admits nobody. A lost
// message costs time only: the hub finds the admission itself once the
// front of the line has passed the visitor.

// maxBroadcastVisitors bounds the visitors per message (a message is at
// most ~ this × (queue.MaxVisitorLen + 3) bytes); a larger admission is sent
// in several.
const maxBroadcastVisitors = 2000

// admittedBroadcast is one message on the admitted channel.
type admittedBroadcast struct {
	Instance string   `json:"i"` // the publisher, which ignores its own messages
	Room     string   `json:"r"`
	Until    int64    `json:"u"` // unix ms: the admission lapses then unless used
	Visitors []string `json:"v"`
}

func newInstanceID() string {
	var b [8]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// admittedChannel is the pub/sub channel that carries admissions.
func (g *Gateway) admittedChannel() string { return g.cfg.RedisPrefix + "admitted" }

// admittedMessages encodes an admission as one or more messages.
func admittedMessages(instance, room string, until time.Time, visitors []string) []string {
	var out []string
	for len(visitors) > 0 {
		n := min(len(visitors), maxBroadcastVisitors)
		b, err := json.Marshal(admittedBroadcast{Instance: instance, Room: room, Until: until.UnixMilli(), Visitors: visitors[:n]})
		if err == nil {
			out = append(out, string(b))
		}
		visitors = visitors[n:]
	}
	return out
}

// parseAdmittedMessage decodes and checks a message; ok is false for
// anything that is not one this package would send.
func parseAdmittedMessage(payload string) (m admittedBroadcast, ok bool) {
	if len(payload) > maxBroadcastVisitors*(queue.MaxVisitorLen+8)+1024 {
		return m, false
	}
	if err := json.Unmarshal([]byte(payload), &m); err != nil {
		return m, false
	}
	if m.Instance == "" || len(m.Instance) > 64 || !queue.ValidName(m.Room) || m.Until <= 0 ||
		len(m.Visitors) == 0 || len(m.Visitors) > maxBroadcastVisitors {
		return m, false
	}
	for _, v := range m.Visitors {
		if v == "" || len(v) > queue.MaxVisitorLen {
			return m, false
		}
	}
	return m, true
}

// announceAdmitted tells this instance's sockets of visitors its admission
// step just admitted, and every other instance through the channel.
func (g *Gateway) announceAdmitted(ctx context.Context, room queue.Room, visitors []string, until time.Time) {
	g.hub.admitted(room, visitors, until)
	msgs := admittedMessages(g.instance, room.Name, until, visitors)
	pctx, cancel := context.WithTimeout(ctx, time.Second)
	defer cancel()
	_, err := g.rdb.Pipelined(pctx, func(p redis.Pipeliner) error {
		for _, m := range msgs {
			p.Publish(pctx, g.admittedChannel(), m)
		}
		return nil
	})
	if err != nil && ctx.Err() == nil {
		// The other instances find the admission on their own, later.
		g.log.Debug().Err(err).Str("room", room.Name).Msg("publishing admissions failed")
	}
}

// applyAdmitted handles one message from the admitted channel.
func (g *Gateway) applyAdmitted(payload string, now time.Time) {
	m, ok := parseAdmittedMessage(payload)
	if !ok {
		g.log.Warn().Str("payload", payload[:min(len(payload), 80)]).Msg("malformed admission message ignored")
		return
	}
	if m.Instance == g.instance {
		return // told our own sockets before publishing
	}
	room, ok := g.router.room(m.Room)
	if !ok {
		return // a room this instance does not serve (another rooms file)
	}
	until := time.UnixMilli(m.Until)
	if !until.After(now) {
		return
	}
	g.metrics.admissionsHeard.WithLabelValues(room.Name).Add(float64(len(m.Visitors)))
	g.hub.admitted(room, m.Visitors, until)
}
