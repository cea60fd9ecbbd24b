package board

import (
	"sync"
	"time"

	"github.com/waitroom/waitroom/queue"
)

// The board keeps the last HistoryLength of every room's figures, one
// sample every HistoryEvery, so the dashboard draws its charts at once when
// it is opened instead of starting empty: a fixed ring per room, 180
// samples, a few kilobytes.
const (
	HistoryEvery  = 5 * time.Second
	HistoryLength = 15 * time.Minute
	historySize   = int(HistoryLength / HistoryEvery)
)

// Point is one sample of a room's figures.
type Point struct {
	At                int64   `json:"t"` // unix milliseconds
	Waiting           int64   `json:"waiting"`
	Active            int64   `json:"active"`
	AdmittedTotal     int64   `json:"admitted_total"`
	AchievedPerMinute float64 `json:"achieved_per_minute"`
	AdmitPerMinute    int     `json:"admit_per_minute"`
	MaxActive         int     `json:"max_active"`
}

// history is the rings of every room.
type history struct {
	mu    sync.Mutex
	last  time.Time
	rooms map[string]*ring
}

type ring struct {
	points [historySize]Point
	next   int // where the next sample goes
	n      int // samples held
}

// sample records s when HistoryEvery has passed since the last sample.
func (h *history) sample(s *Snapshot) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if !h.last.IsZero() && s.At.Sub(h.last) < HistoryEvery {
		return
	}
	h.last = s.At
	if h.rooms == nil {
		h.rooms = make(map[string]*ring)
	}
	for name, f := range s.Rooms {
		r := h.rooms[name]
		if r == nil {
			r = &ring{}
			h.rooms[name] = r
		}
		r.points[r.next] = point(s.At, f)
		r.next = (r.next + 1) % historySize
		r.n = min(r.n+1, historySize)
	}
}

func point(at time.Time, f queue.Figures) Point {
	return Point{
		At: at.UnixMilli(), Waiting: f.Waiting, Active: f.Active, AdmittedTotal: f.AdmittedTotal,
		AchievedPerMinute: f.AchievedPerMinute, AdmitPerMinute: f.AdmitPerMinute, MaxActive: f.MaxActive,
	}
}

// History is every room's samples of the last HistoryLength, oldest first.
func (b *Board) History() map[string][]Point {
	h := &b.hist
	h.mu.Lock()
	defer h.mu.Unlock()
	out := make(map[string][]Point, len(h.rooms))
	for name, r := range h.rooms {
		pts := make([]Point, 0, r.n)
		for i := range r.n {
			pts = append(pts, r.points[(r.next-r.n+i+historySize)%historySize])
		}
		out[name] = pts
	}
	return out
}
