package crowd

import (
	"context"
	mrand "math/rand/v2"
	"sync"
	"sync/atomic"
	"time"
)

// Gate bounds the visitor operations that use Redis at once to the crowd
// client's pool, so a flash crowd waits here, briefly, instead of in the
// pool until its deadlines pass. A request that finds the gate full waits
// up to Wait behind at most Waiters × size others, then gets a fast "busy"
// answer.
//
// While the gate is full, one client (a network, as the per-client limits
// name it) may have at most Share of its slots and waiting places: a script
// firing hundreds of requests at once from a few addresses is answered
// "busy" at once beyond that, instead of filling the wait and turning the
// people behind it away. Waiting requests take freed slots before new ones.
type Gate struct {
	slots      chan struct{}
	waiters    atomic.Int64
	maxWaiters int64
	share      int

	mu   sync.Mutex
	held map[string]int // client -> slots held and waits
}

// The gate's patience.
const (
	Wait    = 250 * time.Millisecond
	Waiters = 4
)

// NewGate returns a gate of size slots.
func NewGate(size int) *Gate {
	size = max(size, 1)
	return &Gate{
		slots: make(chan struct{}, size), maxWaiters: int64(size * Waiters),
		share: max(4, size*(1+Waiters)/16), held: map[string]int{},
	}
}

// Share is the most slots and waiting places one client may have while
// the gate is full.
func (g *Gate) Share() int { return g.share }

// Acquire takes a slot for client ("" = not counted); false when the crowd
// is too big right now, or client has its share of a full gate. A true
// answer must be followed by Release with the same client.
func (g *Gate) Acquire(ctx context.Context, client string) bool {
	select {
	case g.slots <- struct{}{}:
		g.count(client, 1)
		return true
	default:
	}
	if !g.countBelow(client, g.share) {
		return false
	}
	if g.waiters.Add(1) > g.maxWaiters {
		g.waiters.Add(-1)
		g.count(client, -1)
		return false
	}
	defer g.waiters.Add(-1)
	t := time.NewTimer(Wait)
	defer t.Stop()
	select {
	case g.slots <- struct{}{}:
		return true
	case <-t.C:
	case <-ctx.Done():
	}
	g.count(client, -1)
	return false
}

// Release gives client's slot back.
func (g *Gate) Release(client string) {
	<-g.slots
	g.count(client, -1)
}

func (g *Gate) count(client string, d int) {
	if client == "" {
		return
	}
	g.mu.Lock()
	if n := g.held[client] + d; n > 0 {
		g.held[client] = n
	} else {
		delete(g.held, client)
	}
	g.mu.Unlock()
}

// countBelow counts one more for client if it has fewer than n.
func (g *Gate) countBelow(client string, n int) bool {
	if client == "" {
		return true
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.held[client] >= n {
		return false
	}
	g.held[client]++
	return true
}

// BusyRetryAfter is the Retry-After of a busy answer: spread over 1-3 s so
// the retries of a crowd turned away do not arrive together.
func BusyRetryAfter() int { return 1 + mrand.IntN(3) }
