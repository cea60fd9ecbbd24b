package crowd

import (
	"time"

	"github.com/waitroom/waitroom/internal/cache"
	"github.com/waitroom/waitroom/queue"
)

// Tickets remembers the tickets this instance handed to or read for
// visitors, with the room's reshuffle count then (a reshuffle renumbers
// everyone), so their status polls can be answered from the room's figures.
type Tickets struct {
	c *cache.Cache[visitorKey, ticket]
}

// ticket is a visitor's place number and the numbering it belongs to. pos
// is the lowest position this instance has told the visitor: answers from
// the figures may be a tick behind a fresher Redis answer given before, and
// a visitor must never see their position go up.
type ticket struct{ number, reshuffles, pos int64 }

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
	e := ticket{number: st.Ticket, reshuffles: st.Reshuffles, pos: st.Position}
	b.c.Update(visitorKey{room, visitor}, now, func(old ticket, found bool) (ticket, time.Time, bool) {
		if found && old.number == e.number && old.reshuffles == e.reshuffles && old.pos > 0 {
			e.pos = min(old.pos, e.pos)
		}
		return e, now.Add(ticketTTL), true
	})
}

// Told returns the position to tell the visitor: pos, or the lower one told
// before for the same ticket; the answer is remembered.
func (b *Tickets) Told(room, visitor string, number, pos int64, now time.Time) int64 {
	out := pos
	b.c.Update(visitorKey{room, visitor}, now, func(e ticket, found bool) (ticket, time.Time, bool) {
		if !found {
			return e, time.Time{}, false
		}
		if e.number == number {
			if e.pos > 0 && e.pos < pos {
				out = e.pos
			} else {
				e.pos = pos
			}
		}
		return e, now.Add(ticketTTL), true
	})
	return out
}

// Get is the visitor's ticket, unless a reshuffle came since (then it is
// forgotten).
func (b *Tickets) Get(room, visitor string, reshuffles int64, now time.Time) (int64, bool) {
	k := visitorKey{room, visitor}
	e, ok := b.c.Get(k, now)
	if !ok {
		return 0, false
	}
	if e.reshuffles != reshuffles {
		b.c.Delete(k)
		return 0, false
	}
	return e.number, true
}
