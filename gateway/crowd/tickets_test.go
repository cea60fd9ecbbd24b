package crowd

import (
	"testing"
	"time"

	"github.com/waitroom/waitroom/queue"
	"github.com/waitroom/waitroom/web"
)

// A status poll answered from the figures (up to a tick old) must not tell
// a visitor a higher position than a fresher Redis answer gave before:
// positions never go up for a visitor who keeps their place.
func TestTicketsNeverRaisePosition(t *testing.T) {
	b := NewTickets(1000)
	now := time.Now()
	fresh := func(ticket, pos int64) queue.Status {
		return queue.Status{State: queue.StateQueued, Ticket: ticket, Position: pos}
	}
	tell := func(ticket, pos int64) int64 {
		return b.Tell("r", "v", web.Status{State: "queued", Ticket: ticket, Position: pos, ETA: -1}, now).Position
	}
	b.Put("r", "v", fresh(40, 5), now)
	tell(40, 5) // the Redis answer, told
	steps := []struct {
		name       string
		ticket     int64
		figurePos  int64
		want       int64
		freshAfter int64 // a Redis answer after this step (0: none)
	}{
		{"stale figures after a fresh answer", 40, 7, 5, 0},
		{"figures catch up", 40, 4, 4, 0},
		{"stale figures again", 40, 6, 4, 2},
		{"after a fresher Redis answer", 40, 3, 2, 0},
		{"another ticket (a new place) starts afresh", 90, 30, 30, 0},
	}
	for _, s := range steps {
		if s.ticket != 40 {
			b.Put("r", "v", fresh(s.ticket, s.figurePos), now) // a new place
		}
		if got := tell(s.ticket, s.figurePos); got != s.want {
			t.Errorf("%s: told position %d, want %d", s.name, got, s.want)
		}
		if s.freshAfter > 0 {
			b.Put("r", "v", fresh(s.ticket, s.freshAfter), now)
			tell(s.ticket, s.freshAfter)
		}
	}
	// A reshuffle renumbers everyone: the old ticket is forgotten.
	b.Put("r", "w", queue.Status{State: queue.StateQueued, Ticket: 7, Position: 3, Reshuffles: 1}, now)
	if n, ok := b.Get("r", "w", 1, "", now); !ok || n != 7 {
		t.Fatalf("ticket of the current numbering: %d %t", n, ok)
	}
	if _, ok := b.Get("r", "w", 2, "", now); ok {
		t.Fatal("a ticket of an older numbering was returned")
	}
	if _, ok := b.Get("r", "w", 1, "", now); ok {
		t.Fatal("a stale ticket was kept")
	}
}

// A hint lasts until the admission lapses (at most HintTTL) and is taken
// once.
func TestHints(t *testing.T) {
	h := NewHints(100)
	now := time.Now()
	h.Add("r", "v", now.Add(10*time.Second), now)
	h.Add("r", "w", now.Add(time.Hour), now)
	if !h.Has("r", "v", now.Add(9*time.Second)) || h.Has("r", "v", now.Add(10*time.Second)) {
		t.Fatal("hint does not end with the admission")
	}
	if h.Has("r", "w", now.Add(HintTTL)) {
		t.Fatal("hint outlived HintTTL")
	}
	if !h.Take("r", "w", now) || h.Take("r", "w", now) {
		t.Fatal("a hint is taken exactly once")
	}
}
