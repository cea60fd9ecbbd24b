package crowd

import (
	"context"
	mrand "math/rand/v2"
	"sync/atomic"
	"time"
)

// Gate bounds the visitor operations that use Redis at once to the crowd
// client's pool, so a flash crowd waits here, briefly, instead of in the
// pool until its deadlines pass. A request that finds the gate full waits
// up to Wait behind at most Waiters × size others, then gets a fast "busy"
// answer.
type Gate struct {
	slots      chan struct{}
	waiters    atomic.Int64
	maxWaiters int64
}

// The gate's patience.
const (
	Wait    = 250 * time.Millisecond
	Waiters = 4
)

// NewGate returns a gate of size slots.
func NewGate(size int) *Gate {
	size = max(size, 1)
	return &Gate{slots: make(chan struct{}, size), maxWaiters: int64(size * Waiters)}
}

// Acquire takes a slot; false when the crowd is too big right now. A true
// answer must be followed by Release.
func (g *Gate) Acquire(ctx context.Context) bool {
	select {
	case g.slots <- struct{}{}:
		return true
	default:
	}
	if g.waiters.Add(1) > g.maxWaiters {
		g.waiters.Add(-1)
		return false
	}
	defer g.waiters.Add(-1)
	t := time.NewTimer(Wait)
	defer t.Stop()
	select {
	case g.slots <- struct{}{}:
		return true
	case <-t.C:
		return false
	case <-ctx.Done():
		return false
	}
}

// Release gives a slot back.
func (g *Gate) Release() { <-g.slots }

// BusyRetryAfter is the Retry-After of a busy answer: spread over 1-3 s so
// the retries of a crowd turned away do not arrive together.
func BusyRetryAfter() int { return 1 + mrand.IntN(3) }
