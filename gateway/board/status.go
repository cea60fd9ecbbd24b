package board

import (
	"time"

	"github.com/waitroom/waitroom/queue"
	"github.com/waitroom/waitroom/web"
)

// Of is the status document of a visitor's status as Redis answered it
// (queue.Join or queue.Status: the effective settings are Redis's own).
func Of(st queue.Status) web.Status {
	out := web.Status{
		Room: st.Room, State: string(st.State), Position: st.Position, Waiting: st.Waiting,
		ETA: -1, AdmitPerMinute: st.AdmitPerMinute, OpensAt: opensAt(st.OpensAt), Ticket: st.Ticket,
	}
	if st.ETA >= 0 {
		out.ETA = int64((st.ETA + time.Second - 1) / time.Second)
	}
	return out
}

// Room is what can be said to any visitor of a room from its figures
// alone: its state and numbers, no position (a busy answer, or a socket
// whose visitor is not looked up yet).
func Room(f queue.Figures) web.Status {
	return web.Status{
		Room: f.Room, State: string(f.State), Waiting: f.Waiting, ETA: -1,
		AdmitPerMinute: f.AdmitPerMinute, OpensAt: opensAt(f.OpensAt),
	}
}

// Queued is the status of a waiting visitor at position (with ticket) in a
// room whose figures are f. The figures can be a tick older than the Redis
// answer the position may come from: never say fewer are waiting than
// stand up to this visitor.
func Queued(f queue.Figures, position, ticket int64) web.Status {
	s := Room(f)
	s.Position, s.Ticket = position, ticket
	s.Waiting = max(f.Waiting, position)
	if f.State == queue.StateQueued && position > 0 {
		s.ETA = ETA(position, f.ETAPerMinute)
	}
	return s
}

// Admitted is the status of a visitor just admitted to a room whose
// figures are f.
func Admitted(f queue.Figures) web.Status {
	s := Room(f)
	s.State = string(queue.StateAdmitted)
	return s
}

// ETA is the wait of the visitor at position, as queue.Status computes it
// (so a socket and a status poll agree): from the room's ETA rate, rounded
// to the second; -1 when the rate is unknown.
func ETA(position int64, perMinute float64) int64 {
	if perMinute <= 0 {
		return -1
	}
	d := time.Duration(float64(position) / perMinute * float64(time.Minute)).Round(time.Second)
	return int64(d / time.Second)
}

func opensAt(t time.Time) *time.Time {
	if t.IsZero() {
		return nil
	}
	u := t.UTC()
	return &u
}

// Told is what a visitor was last told: position, ETA and the room's rate
// then.
type Told struct {
	Position, ETA int64
	Rate          int
}

// Steady keeps the ETA's promise: while a waiting visitor's position falls
// or stays, their ETA never rises — an estimate that counts up while nobody
// moves is worse than one that waits for the next admission to fall. It
// may rise only when the operator slowed the room since (a lower rate), or
// when the position rose (a reshuffle), or from "unknown". Steady returns
// the status to tell and what to remember for the next answer.
func Steady(s web.Status, prev Told) (web.Status, Told) {
	if s.State == string(queue.StateQueued) && s.ETA >= 0 && prev.ETA >= 0 &&
		s.Position > 0 && prev.Position > 0 && s.Position <= prev.Position &&
		s.AdmitPerMinute >= prev.Rate {
		s.ETA = min(s.ETA, prev.ETA)
	}
	return s, Told{Position: s.Position, ETA: s.ETA, Rate: s.AdmitPerMinute}
}
