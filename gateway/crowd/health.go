package crowd

import (
	"context"
	"errors"
	"net"
	"sync/atomic"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/rs/zerolog"

	"github.com/waitroom/waitroom/queue"
)

// Health follows Redis with a probe, never with the error of one request:
// a flash crowd makes single calls slow (deadlines, pool timeouts) while
// Redis is perfectly up, and treating that as an outage would turn a busy
// gateway into a broken one. The probe PINGs on the control-plane client,
// whose pool the crowd cannot take; ProbeFailures failures in a row put the
// instance in fail mode, one answer takes it out. A request that saw Redis
// refuse or drop its connection (Failed) makes the probe look at once, so
// an outage is noticed in well under a second.
type Health struct {
	ping func(context.Context) error
	log  zerolog.Logger
	mode string // the fail mode, for the log line
	up   atomic.Bool
	now  chan struct{}
}

// Probe timings.
const (
	ProbeEvery    = 250 * time.Millisecond
	probeTimeout  = time.Second
	ProbeFailures = 3
	// probeNudgeGap is the shortest gap between two probes asked for by
	// failing requests.
	probeNudgeGap = 50 * time.Millisecond
)

// NewHealth returns a probe that calls ping; Redis counts as up until the
// probe says otherwise. failMode only labels the log line.
func NewHealth(ping func(context.Context) error, failMode string, log zerolog.Logger) *Health {
	h := &Health{ping: ping, log: log, mode: failMode, now: make(chan struct{}, 1)}
	h.up.Store(true)
	return h
}

// Up is the probe's verdict: does Redis answer.
func (h *Health) Up() bool { return h.up.Load() }

// Failed looks at a failed Redis call. It never sets the fail mode by
// itself; a call that looks like Redis went away (refused, reset, closed)
// makes the probe look at once.
func (h *Health) Failed(err error) {
	if !unreachable(err) {
		return
	}
	select {
	case h.now <- struct{}{}:
	default:
	}
}

// Run probes until ctx ends.
func (h *Health) Run(ctx context.Context) {
	t := time.NewTicker(ProbeEvery)
	defer t.Stop()
	fails := 0
	var last time.Time
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		case <-h.now:
			if time.Since(last) < probeNudgeGap {
				continue
			}
		}
		last = time.Now()
		pctx, cancel := context.WithTimeout(ctx, probeTimeout)
		err := h.ping(pctx)
		cancel()
		switch {
		case ctx.Err() != nil:
			return
		case err == nil:
			fails = 0
			if !h.up.Swap(true) {
				h.log.Info().Msg("redis answers again; fail mode off")
			}
		default:
			if fails++; fails >= ProbeFailures && h.up.Swap(false) {
				h.log.Error().Err(err).Int("failed_pings", fails).Str("fail_mode", h.mode).Msg("redis unreachable; fail mode on")
			}
		}
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
