package gateway

import (
	"context"
	"errors"
	"net"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/waitroom/waitroom/queue"
	"github.com/waitroom/waitroom/token"
)

// A revoked session (the origin's "Waitroom-Command: revoke") ends for
// every pass that carries its sid, on every instance, three ways, fastest
// first:
//
//  1. the instance that handles the command ends the session in Redis
//     (queue.Revoke: the slot is freed once and the sid recorded as revoked
//     until its last pass expires) and PUBLISHes the sid on the channel
//     <prefix>revoked;
//  2. every instance SUBSCRIBEs to that channel and, on each message, evicts
//     the session's passes from its verified-pass cache and remembers the
//     sid in memory, so the very next request with any pass of it is
//     refused everywhere;
//  3. a message can be lost (the subscription drops while Redis restarts),
//     so a cached pass is also checked against the Redis record every
//     recheckEvery, and after every (re)subscription all cached passes are
//     made due for that check at once.
//
// A pass not yet cached is always checked against the memory and the Redis
// record before it is trusted.

// maxLocalRevocations bounds the in-memory list of revoked sessions; past it
// the Redis record still refuses their passes, one read per first sighting.
const maxLocalRevocations = 100_000

// revocations remembers revoked sessions (by sid) until their passes
// expire: in Redis through the queue (so every instance refuses a replayed
// pass of a revoked session when it first sees it) and in memory (so this
// instance never asks twice).
type revocations struct {
	q      *queue.Queue
	rdb    redis.UniversalClient // publishes on the channel
	prefix string
	mu     sync.Mutex
	local  map[string]time.Time // sid -> when no pass of it can verify any more
}

func newRevocations(q *queue.Queue, rdb redis.UniversalClient, prefix string) *revocations {
	return &revocations{q: q, rdb: rdb, prefix: prefix, local: make(map[string]time.Time)}
}

// channel is the pub/sub channel that carries revocations to every instance.
func (rv *revocations) channel() string { return rv.prefix + "revoked" }

// revoke ends the session: remembered here at once, then ended and
// recorded in Redis and announced on the channel, so every instance drops
// its passes. freed reports whether this call freed the visitor's slot.
func (rv *revocations) revoke(ctx context.Context, room, visitor string, c token.Claims, now time.Time) (freed bool, err error) {
	rv.remember(c.Session, c.ExpiresAt.Add(token.Leeway), now)
	freed, err = rv.q.Revoke(ctx, room, visitor, c.Session, c.ExpiresAt, token.Leeway)
	if err != nil {
		return false, err
	}
	return freed, rv.announce(ctx, c.Session, c.ExpiresAt)
}

// announce publishes the revoked session to every instance.
func (rv *revocations) announce(ctx context.Context, sid string, exp time.Time) error {
	return rv.rdb.Publish(ctx, rv.channel(), revocationMessage(sid, exp)).Err()
}

// remember adds sid to the in-memory list until until.
func (rv *revocations) remember(sid string, until, now time.Time) {
	rv.mu.Lock()
	defer rv.mu.Unlock()
	if len(rv.local) >= maxLocalRevocations {
		for k, e := range rv.local {
			if !now.Before(e) {
				delete(rv.local, k)
			}
		}
		for k := range rv.local {
			if len(rv.local) < maxLocalRevocations {
				break
			}
			delete(rv.local, k)
		}
	}
	if old, ok := rv.local[sid]; !ok || until.After(old) {
		rv.local[sid] = until
	}
}

// known reports whether sid is in the in-memory list (no Redis call).
func (rv *revocations) known(sid string) bool {
	rv.mu.Lock()
	_, ok := rv.local[sid]
	rv.mu.Unlock()
	return ok
}

// isRevoked reports whether the session was revoked. A Redis failure
// answers "not revoked" with the error: in an outage pass holders keep going.
func (rv *revocations) isRevoked(ctx context.Context, room, sid string) (bool, error) {
	if rv.known(sid) {
		return true, nil
	}
	return rv.q.Revoked(ctx, room, sid)
}

// revocationMessage is the channel payload: "<sid> <exp unix seconds>",
// exp being the latest a pass of the session known to the sender expires.
func revocationMessage(sid string, exp time.Time) string {
	return sid + " " + strconv.FormatInt(exp.Unix(), 10)
}

// parseRevocationMessage reads a payload; ok is false for anything else.
func parseRevocationMessage(s string) (sid string, exp time.Time, ok bool) {
	sid, e, found := strings.Cut(s, " ")
	if !found || sid == "" || len(sid) > token.MaxSessionBytes {
		return "", time.Time{}, false
	}
	sec, err := strconv.ParseInt(e, 10, 64)
	if err != nil {
		return "", time.Time{}, false
	}
	return sid, time.Unix(sec, 0), true
}

// Subscription tuning: how long a quiet subscription waits before it pings
// Redis (a silent dead connection is noticed within twice this), and the
// bounds of the back-off between attempts to resubscribe.
const (
	revocationIdle    = 15 * time.Second
	resubscribeMin    = 100 * time.Millisecond
	resubscribeMax    = 2 * time.Second
	resubscribeLogged = 5 // log the first few failures, then stay quiet
)

// revocationLoop keeps this instance subscribed to the revocation and
// admission channels (broadcast.go) until ctx ends, resubscribing with
// back-off after Redis goes away.
func (g *Gateway) revocationLoop(ctx context.Context) {
	wait := resubscribeMin
	failures := 0
	for ctx.Err() == nil {
		subscribed, err := g.listenRevocations(ctx)
		if ctx.Err() != nil {
			return
		}
		if subscribed {
			wait, failures = resubscribeMin, 0
		}
		failures++
		if failures <= resubscribeLogged {
			g.log.Debug().Err(err).Dur("retry_in", wait).Msg("revocation subscription lost")
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(wait):
		}
		wait = min(wait*2, resubscribeMax)
	}
}

// listenRevocations subscribes once and applies messages until the
// subscription breaks; subscribed says whether it got that far.
func (g *Gateway) listenRevocations(ctx context.Context) (subscribed bool, err error) {
	ps := g.rdb.Subscribe(ctx)
	defer ps.Close()
	stop := context.AfterFunc(ctx, func() { _ = ps.Close() })
	defer stop()
	if err := ps.Subscribe(ctx, g.revoked.channel(), g.admittedChannel()); err != nil {
		return false, err
	}
	pinged := false
	for {
		msg, err := ps.ReceiveTimeout(ctx, revocationIdle)
		if err != nil {
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() && !pinged {
				if err := ps.Ping(ctx); err != nil {
					return subscribed, err
				}
				pinged = true
				continue
			}
			return subscribed, err
		}
		pinged = false
		switch m := msg.(type) {
		case *redis.Subscription:
			if m.Kind == "subscribe" && m.Channel == g.revoked.channel() {
				// Messages published while this instance was not
				// subscribed are lost: check every cached pass again.
				subscribed = true
				g.passes.recheckAll()
			}
		case *redis.Message:
			if m.Channel == g.admittedChannel() {
				g.applyAdmitted(m.Payload, time.Now())
			} else {
				g.applyRevocation(m.Payload, time.Now())
			}
		}
	}
}

// applyRevocation handles one message: the session is remembered first and
// its cached passes evicted second, so a request verifying one of them at
// the same moment (checkPass) sees one or the other.
func (g *Gateway) applyRevocation(payload string, now time.Time) {
	sid, exp, ok := parseRevocationMessage(payload)
	if !ok {
		g.log.Warn().Str("payload", payload[:min(len(payload), 80)]).Msg("malformed revocation message ignored")
		return
	}
	if now.Before(exp.Add(token.Leeway)) {
		g.revoked.remember(sid, exp.Add(token.Leeway), now)
	}
	g.passes.dropSession(sid)
}
