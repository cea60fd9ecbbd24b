package crowd

import (
	"sync"
	"time"

	"github.com/waitroom/waitroom/internal/cache"
)

// Hints remembers, for a short while, the visitors this instance told
// "admitted" (over their socket or a status poll, or heard from another
// instance), so the request that follows goes straight to Enter instead of
// queueing behind the gate. A hint is only a shortcut: Enter checks the
// admission in Redis.
type Hints struct {
	c *cache.Cache[visitorKey, time.Time] // the hint's time
	// forgot is, per room, when Redis was last found to have forgotten
	// the room (a new line epoch): hints from before mean nothing.
	mu     sync.Mutex
	forgot map[string]time.Time
}

type visitorKey struct{ room, visitor string }

// HintTTL bounds how long a hint lives (an admission lapses sooner anyway).
const HintTTL = 2 * time.Minute

// NewHints returns hints for about size visitors.
func NewHints(size int) *Hints {
	return &Hints{c: cache.New[visitorKey, time.Time](size), forgot: make(map[string]time.Time)}
}

// Forget drops every hint of room given until now: Redis forgot the room's
// admissions.
func (h *Hints) Forget(room string, now time.Time) {
	h.mu.Lock()
	h.forgot[room] = now
	h.mu.Unlock()
}

// current reports whether a hint of room given at was given after the
// room was last forgotten.
func (h *Hints) current(room string, at time.Time) bool {
	h.mu.Lock()
	f, ok := h.forgot[room]
	h.mu.Unlock()
	return !ok || at.After(f)
}

// Add records that visitor was admitted in room; the hint lapses at until
// (when the admission would) or after HintTTL, whichever comes first.
func (h *Hints) Add(room, visitor string, until, now time.Time) {
	if until.IsZero() || until.After(now.Add(HintTTL)) {
		until = now.Add(HintTTL)
	}
	h.c.Put(visitorKey{room, visitor}, now, until, now)
}

// Has reports whether a current hint is there, leaving it.
func (h *Hints) Has(room, visitor string, now time.Time) bool {
	at, ok := h.c.Get(visitorKey{room, visitor}, now)
	return ok && h.current(room, at)
}

// Take removes the hint and reports whether it was there and current.
func (h *Hints) Take(room, visitor string, now time.Time) bool {
	at, ok := h.c.Take(visitorKey{room, visitor}, now)
	return ok && h.current(room, at)
}
