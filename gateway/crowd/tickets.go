package crowd

import (
	"time"

	"github.com/waitroom/waitroom/gateway/board"
	"github.com/waitroom/waitroom/internal/cache"
	"github.com/waitroom/waitroom/queue"
	"github.com/waitroom/waitroom/web"
)

// Tickets remembers the tickets this instance handed to or read for
// visitors, with the room's reshuffle count and line epoch then (a
// reshuffle renumbers everyone; a new epoch means Redis forgot every
// ticket), so their status polls can be answered from the room's figures.
type Tickets struct {
	c *cache.Cache[visitorKey, ticket]
}

// ticket is a visitor's place number and the numbering it belongs to, and
// what this instance last told them: answers from the figures may be a
// tick behind a fresher Redis answer given before, and a visitor must never
// see their position go up, nor their ETA rise while they do not move back.
type ticket struct {
	number, reshuffles int64
	epoch              string
	told               board.Told
}

// ticketTTL bounds how long an unused ticket is kept: a visitor who stopped
// polling that long ago is looked up again if they come back.
const ticketTTL = time.Hour

// NewTickets returns a book of about size tickets.
func NewTickets(size int) *Tickets { return &Tickets{c: cache.New[visitorKey, ticket](size)} }

// Put records the visitor's ticket from st, a Redis answer, with the
// numbering it belongs to (st.Reshuffles).
func (b *Tickets) Put(room, visitor string, st queue.Status, now time.Time) {
	if st.State != queue.StateQueued || st.Ticket <= 0 {
		return
	}
	b.c.Update(visitorKey{room, visitor}, now, func(old ticket, found bool) (ticket, time.Time, bool) {
		e := ticket{number: st.Ticket, reshuffles: st.Reshuffles, epoch: st.Epoch}
		if found && old.number == e.number && old.reshuffles == e.reshuffles && old.epoch == e.epoch {
			e.told = old.told // the same place: the promises made stand
		}
		return e, now.Add(ticketTTL), true
	})
}

// Tell returns s, the visitor's status about to be told, kept to what was
// told before for the same ticket: never a higher position, never a higher
// ETA while the position does not rise (board.Steady). The answer is
// remembered.
func (b *Tickets) Tell(room, visitor string, s web.Status, now time.Time) web.Status {
	b.c.Update(visitorKey{room, visitor}, now, func(e ticket, found bool) (ticket, time.Time, bool) {
		if !found || e.number != s.Ticket || s.Ticket == 0 {
			return e, now.Add(ticketTTL), found
		}
		if p := e.told.Position; p > 0 && p < s.Position {
			s.Position = p
		}
		s, e.told = board.Steady(s, e.told)
		return e, now.Add(ticketTTL), true
	})
	return s
}

// Get is the visitor's ticket, unless a reshuffle came since or the room's
// line epoch is another (then it is forgotten).
func (b *Tickets) Get(room, visitor string, reshuffles int64, epoch string, now time.Time) (int64, bool) {
	k := visitorKey{room, visitor}
	e, ok := b.c.Get(k, now)
	if !ok {
		return 0, false
	}
	if e.reshuffles != reshuffles || e.epoch != epoch {
		b.c.Delete(k)
		return 0, false
	}
	return e.number, true
}

// Forget drops the visitor's ticket: the line no longer holds them
// (admitted, skipped, or forgotten by Redis), so their next poll asks.
func (b *Tickets) Forget(room, visitor string) {
	b.c.Delete(visitorKey{room, visitor})
}
