package gateway

import (
	"context"
	"errors"
	"net"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/waitroom/waitroom/queue"
	"github.com/waitroom/waitroom/token"
)

// The fail mode (SPEC WAITROOM_FAIL_MODE) follows a health probe, never the
// error of one request: a flash crowd makes single calls slow (deadlines,
// pool timeouts) while Redis is perfectly up, and treating that as an
// outage would turn a busy gateway into a broken one. The probe PINGs on
// the control-plane client, whose pool the crowd cannot take; probeFailures
// failures in a row put the instance in fail mode, one answer takes it out.
const (
	probeEvery    = 250 * time.Millisecond
	probeTimeout  = time.Second
	probeFailures = 3
	// probeNudgeGap is the shortest gap between two probes when requests
	// report that Redis refused or dropped them (an outage is seen in
	// under a second, not after probeEvery x probeFailures).
	probeNudgeGap = 50 * time.Millisecond
)

// healthLoop runs the probe until ctx ends.
func (g *Gateway) healthLoop(ctx context.Context) {
	t := time.NewTicker(probeEvery)
	defer t.Stop()
	fails := 0
	var last time.Time
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		case <-g.probeNow:
			if time.Since(last) < probeNudgeGap {
				continue
			}
		}
		last = time.Now()
		pctx, cancel := context.WithTimeout(ctx, probeTimeout)
		err := g.rdb.Ping(pctx).Err()
		cancel()
		switch {
		case ctx.Err() != nil:
			return
		case err == nil:
			fails = 0
			g.redisOK()
		default:
			if fails++; fails >= probeFailures && g.redisUp.Swap(false) {
				g.log.Error().Err(err).Int("failed_pings", fails).Str("fail_mode", g.cfg.FailMode).Msg("redis unreachable; fail mode on")
			}
		}
	}
}

// redisError looks at a failed Redis call. It never sets the fail mode by
// itself (the probe does); a call that looks like Redis went away (refused,
// reset, closed) makes the probe look at once.
func (g *Gateway) redisError(err error) {
	if !unreachable(err) {
		return
	}
	select {
	case g.probeNow <- struct{}{}:
	default:
	}
}

// unreachable reports whether err looks like Redis is gone rather than busy:
// a deadline or a full pool is a slow moment under load; an answer from
// Redis (a script error) means it is up.
func unreachable(err error) bool {
	var reply redis.Error
	switch {
	case err == nil,
		errors.Is(err, context.Canceled),
		errors.Is(err, context.DeadlineExceeded),
		errors.Is(err, redis.ErrPoolTimeout),
		errors.Is(err, queue.ErrNotAdmitted),
		errors.As(err, &reply):
		return false
	}
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		return false
	}
	return true
}

func (g *Gateway) redisOK() {
	if !g.redisUp.Swap(true) {
		g.log.Info().Msg("redis answers again; fail mode off")
	}
}

// Ending a revoked session (queue.Revoke, then the announcement to every
// instance) is retried in the background with backoff, so the slot frees
// and the session is recorded even when Redis was slow for a moment; past
// the last try the slot frees when the session expires, and this instance
// still refuses the session's passes (it remembered the sid at once).
const (
	releaseTries    = 6
	releaseFirstGap = 250 * time.Millisecond
	releaseTimeout  = 2 * time.Second
	maxReleases     = 1024 // retries pending at once; past it, the session's expiry frees the slot
)

// releaser runs the background retries of ending sessions.
type releaser struct {
	mu      sync.Mutex
	pending int
	wg      sync.WaitGroup
}

func (rl *releaser) wait() { rl.wg.Wait() }

// endSession ends the visitor's session c.Session in room: one try now (so
// the next visitor is admitted sooner), the rest in the background.
func (g *Gateway) endSession(room, visitor string, c token.Claims) {
	if g.tryEndSession(g.ctx, room, visitor, c) {
		return
	}
	rl := &g.releases
	rl.mu.Lock()
	if rl.pending >= maxReleases {
		rl.mu.Unlock()
		g.log.Warn().Str("room", room).Msg("revoke: ending the session failed; its slot frees when the session expires")
		return
	}
	rl.pending++
	rl.wg.Add(1)
	rl.mu.Unlock()
	go func() {
		defer func() {
			rl.mu.Lock()
			rl.pending--
			rl.mu.Unlock()
			rl.wg.Done()
		}()
		gap := releaseFirstGap
		for try := 2; try <= releaseTries; try++ {
			t := time.NewTimer(gap)
			select {
			case <-g.ctx.Done():
				t.Stop()
				return
			case <-t.C:
			}
			if g.tryEndSession(g.ctx, room, visitor, c) {
				return
			}
			gap *= 2
		}
		g.log.Warn().Str("room", room).Int("tries", releaseTries).Msg("revoke: ending the session failed; its slot frees when the session expires")
	}()
}

// tryEndSession makes one attempt; true when it is done (or pointless).
func (g *Gateway) tryEndSession(ctx context.Context, room, visitor string, c token.Claims) bool {
	if ctx.Err() != nil {
		return true
	}
	rctx, cancel := context.WithTimeout(ctx, releaseTimeout)
	defer cancel()
	_, err := g.revoked.revoke(rctx, room, visitor, c, time.Now())
	if err == nil || ctx.Err() != nil {
		return true
	}
	g.redisError(err)
	g.log.Debug().Err(err).Str("room", room).Msg("revoke: ending the session failed; retrying")
	return false
}
