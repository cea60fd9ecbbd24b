package crowd

import (
	"time"

	"github.com/waitroom/waitroom/internal/cache"
)

// Hints remembers, for a short while, the visitors this instance told
// "admitted" (over their socket or a status poll, or heard from another
// instance), so the request that follows goes straight to Enter instead of
// queueing behind the gate. A hint is only a shortcut: Enter checks the
// admission in Redis.
type Hints struct {
	c *cache.Cache[visitorKey, struct{}]
}

type visitorKey struct{ room, visitor string }

// HintTTL bounds how long a hint lives (an admission lapses sooner anyway).
const HintTTL = 2 * time.Minute

// NewHints returns hints for about size visitors.
func NewHints(size int) *Hints { return &Hints{c: cache.New[visitorKey, struct{}](size)} }

// Add records that visitor was admitted in room; the hint lapses at until
// (when the admission would) or after HintTTL, whichever comes first.
func (h *Hints) Add(room, visitor string, until, now time.Time) {
	if until.IsZero() || until.After(now.Add(HintTTL)) {
		until = now.Add(HintTTL)
	}
	h.c.Put(visitorKey{room, visitor}, struct{}{}, until, now)
}

// Has reports whether a current hint is there, leaving it.
func (h *Hints) Has(room, visitor string, now time.Time) bool {
	_, ok := h.c.Get(visitorKey{room, visitor}, now)
	return ok
}

// Take removes the hint and reports whether it was there and current.
func (h *Hints) Take(room, visitor string, now time.Time) bool {
	_, ok := h.c.Take(visitorKey{room, visitor}, now)
	return ok
}
