// Package board is this instance's view of every room's shared figures
// (queue.Figures: waiting, active, the front of the line, the effective
// settings with live changes), read from Redis once per Tick for all rooms
// in one round trip, and the one place where a visitor's status document
// (web.Status) is made from them.
//
// Everything that tells a visitor or an operator a room's numbers without
// its own Redis call reads them here: the WebSocket hub (positions are
// Ticket - Front + 1), status polls answered locally, busy answers, the
// metrics. So a live change (a PATCH of admit_per_minute) shows the same
// everywhere within a tick, and the file's values are never shown in place
// of the effective ones.
package board

import (
	"context"
	"sync"
	"sync/atomic"
	"time"

	"github.com/rs/zerolog"

	"github.com/waitroom/waitroom/queue"
)

// Tick is how often the board reads the figures.
const Tick = 200 * time.Millisecond

// Reader reads rooms' figures (queue.Queue does, on the control plane).
type Reader interface {
	Figures(ctx context.Context, rooms []queue.Room) ([]queue.Figures, error)
}

// Health is where a failed read is reported.
type Health interface{ Failed(err error) }

// Snapshot is one read of every room's figures.
type Snapshot struct {
	At    time.Time
	Rooms map[string]queue.Figures
}

// Board keeps the last read of the rooms' figures. Build it with New; run
// it with Run.
type Board struct {
	q      Reader
	rooms  []queue.Room
	health Health
	log    zerolog.Logger
	last   atomic.Pointer[Snapshot]
	hist   history

	mu       sync.Mutex
	watchers []chan *Snapshot
	forgot   []func(prev string, f queue.Figures)
}

// New returns a board of rooms.
func New(q Reader, rooms []queue.Room, health Health, log zerolog.Logger) *Board {
	return &Board{q: q, rooms: rooms, health: health, log: log}
}

// Read reads every room's figures now and publishes the snapshot.
func (b *Board) Read(ctx context.Context, now time.Time) error {
	ctx, cancel := context.WithTimeout(ctx, time.Second)
	figs, err := b.q.Figures(ctx, b.rooms)
	cancel()
	if err != nil {
		b.health.Failed(err)
		return err
	}
	s := &Snapshot{At: now, Rooms: make(map[string]queue.Figures, len(figs))}
	for _, f := range figs {
		s.Rooms[f.Room] = f
	}
	prev := b.last.Swap(s)
	if prev != nil {
		for _, f := range figs {
			if was := prev.Rooms[f.Room].Epoch; was != "" && was != f.Epoch {
				b.mu.Lock()
				fns := b.forgot
				b.mu.Unlock()
				for _, fn := range fns {
					fn(was, f)
				}
			}
		}
	}
	b.hist.sample(s)
	b.mu.Lock()
	for _, w := range b.watchers {
		select { // the latest snapshot wins; a slow watcher skips one
		case <-w:
		default:
		}
		w <- s
	}
	b.mu.Unlock()
	return nil
}

// Run reads every Tick until ctx ends.
func (b *Board) Run(ctx context.Context) {
	t := time.NewTicker(Tick)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case now := <-t.C:
			if err := b.Read(ctx, now); err != nil && ctx.Err() == nil {
				b.log.Debug().Err(err).Msg("reading the room figures failed")
			}
		}
	}
}

// OnForgot calls fn, on the board's goroutine, whenever a read finds a
// room in another line epoch than the read before (queue.Figures.Epoch):
// Redis forgot the room, and everything remembered of its visitors is
// void. prev is the epoch before. Watchers get the same snapshot after.
func (b *Board) OnForgot(fn func(prev string, f queue.Figures)) {
	b.mu.Lock()
	b.forgot = append(b.forgot, fn)
	b.mu.Unlock()
}

// Watch returns a channel that receives each new snapshot (only the
// latest, when the reader falls behind).
func (b *Board) Watch() <-chan *Snapshot {
	ch := make(chan *Snapshot, 1)
	b.mu.Lock()
	b.watchers = append(b.watchers, ch)
	b.mu.Unlock()
	return ch
}

// Latest is the last snapshot, nil before the first read.
func (b *Board) Latest() *Snapshot { return b.last.Load() }

// Room is the room's figures of the last snapshot.
func (b *Board) Room(name string) (queue.Figures, bool) {
	s := b.last.Load()
	if s == nil {
		return queue.Figures{}, false
	}
	f, ok := s.Rooms[name]
	return f, ok
}

// Fresh is the room's figures when the last read is at most two ticks old
// at now: recent enough to tell a position from.
func (b *Board) Fresh(name string, now time.Time) (queue.Figures, bool) {
	s := b.last.Load()
	if s == nil || now.Sub(s.At) > 2*Tick {
		return queue.Figures{}, false
	}
	f, ok := s.Rooms[name]
	return f, ok
}
