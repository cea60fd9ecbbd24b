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

	"github.com/waitroom/waitroom/token"
)

// Revoked passes reach every instance three ways, fastest first:
//
//  1. the instance that handles the origin's "Waitroom-Command: revoke"
//     records the pass id (jti) in Redis with a TTL up to the pass's expiry
//     and PUBLISHes it on the channel <prefix>revoked, in one round trip;
//  2. every instance SUBSCRIBEs to that channel and, on each message, evicts
//     the pass from its verified-pass cache and remembers the id in memory,
//     so the very next request with that pass is refused everywhere;
//  3. a message can be lost (the subscription drops while Redis restarts),
//     so a cached pass is also checked against the Redis record every
//     recheckEvery, and after every (re)subscription all cached passes are
//     made due for that check at once.
//
// A pass not yet cached is always checked against the memory and the Redis
// record before it is trusted.

// maxLocalRevocations bounds the in-memory list of revoked ids; past it the
// Redis record still refuses a replay, one read per first sighting.
const maxLocalRevocations = 100_000

// revocations remembers the ids (jti) of passes the origin revoked until
// they expire, in Redis (so every instance refuses a replayed revoked pass
// when it first sees it) and in memory (so this instance never asks twice).
type revocations struct {
	rdb    redis.UniversalClient
	prefix string
	mu     sync.Mutex
	local  map[string]time.Time // jti -> when the pass can no longer verify
}

func newRevocations(rdb redis.UniversalClient, prefix string) *revocations {
	return &revocations{rdb: rdb, prefix: prefix, local: make(map[string]time.Time)}
}

func (rv *revocations) key(jti string) string { return rv.prefix + "revoked:" + jti }

// channel is the pub/sub channel that carries revocations to every instance.
func (rv *revocations) channel() string { return rv.prefix + "revoked" }

// revoke records jti as revoked until exp, in memory, in Redis, and on the
// channel, so every instance drops the pass at once.
func (rv *revocations) revoke(ctx context.Context, jti string, exp, now time.Time) error {
	rv.remember(jti, exp.Add(token.Leeway), now)
	ttl := exp.Sub(now) + token.Leeway
	if ttl <= 0 {
		return nil
	}
	_, err := rv.rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
		p.Set(ctx, rv.key(jti), 1, ttl)
		p.Publish(ctx, rv.channel(), revocationMessage(jti, exp))
		return nil
	})
	return err
}

// remember adds jti to the in-memory list until until.
func (rv *revocations) remember(jti string, until, now time.Time) {
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
	rv.local[jti] = until
}

// known reports whether jti is in the in-memory list (no Redis call).
func (rv *revocations) known(jti string) bool {
	rv.mu.Lock()
	_, ok := rv.local[jti]
	rv.mu.Unlock()
	return ok
}

// isRevoked reports whether jti was revoked. A Redis failure answers
// "not revoked" with the error: in an outage pass holders keep going.
func (rv *revocations) isRevoked(ctx context.Context, jti string) (bool, error) {
	if rv.known(jti) {
		return true, nil
	}
	n, err := rv.rdb.Exists(ctx, rv.key(jti)).Result()
	if err != nil {
		return false, err
	}
	return n > 0, nil
}

// revocationMessage is the channel payload: "<jti> <exp unix seconds>".
func revocationMessage(jti string, exp time.Time) string {
	return jti + " " + strconv.FormatInt(exp.Unix(), 10)
}

// parseRevocationMessage reads a payload; ok is false for anything else.
func parseRevocationMessage(s string) (jti string, exp time.Time, ok bool) {
	jti, e, found := strings.Cut(s, " ")
	if !found || jti == "" || len(jti) > 128 {
		return "", time.Time{}, false
	}
	sec, err := strconv.ParseInt(e, 10, 64)
	if err != nil {
		return "", time.Time{}, false
	}
	return jti, time.Unix(sec, 0), true
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

// applyRevocation handles one message: the id is remembered first and the
// cached pass evicted second, so a request verifying that pass at the same
// moment (checkPass) sees one or the other.
func (g *Gateway) applyRevocation(payload string, now time.Time) {
	jti, exp, ok := parseRevocationMessage(payload)
	if !ok {
		g.log.Warn().Str("payload", payload[:min(len(payload), 80)]).Msg("malformed revocation message ignored")
		return
	}
	if now.Before(exp.Add(token.Leeway)) {
		g.revoked.remember(jti, exp.Add(token.Leeway), now)
	}
	g.passes.dropID(jti)
}
