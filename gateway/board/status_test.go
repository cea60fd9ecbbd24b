package board

import (
	"testing"
	"time"

	"github.com/waitroom/waitroom/queue"
	"github.com/waitroom/waitroom/web"
)

// What a waiting visitor is told of their wait is truthful after a rate
// change and never counts up while nobody moves: the three cases operators
// saw go wrong, each pinned.
func TestETA(t *testing.T) {
	queued := func(apm int, etaRate float64, front int64) queue.Figures {
		return queue.Figures{Room: "r", State: queue.StateQueued, AdmitPerMinute: apm, ETAPerMinute: etaRate, Front: front, Waiting: 50}
	}
	// 1. At 1/min with two ahead, the wait is about three minutes, not
	//    "under a minute" (the queue's ETA rate is the configured rate,
	//    never a faster pace from before the rate was cut).
	if s := Queued(queued(1, 1, 10), 3, 12); s.ETA != 180 {
		t.Errorf("1/min, position 3: ETA %d s, want 180", s.ETA)
	}
	// 2. At 12/min with the achieved pace sliding down while the position
	//    stays 9, the ETA told does not rise.
	prev := Told{}
	var told []int64
	for _, rate := range []float64{1.9, 1.7, 1.6, 1.62} { // the achieved pace, as old admissions leave the minute
		s := Queued(queued(12, rate, 100), 9, 108)
		s, prev = Steady(s, prev)
		told = append(told, s.ETA)
	}
	for i := 1; i < len(told); i++ {
		if told[i] > told[i-1] {
			t.Errorf("position 9 throughout: ETA went %v", told)
			break
		}
	}
	// 3. At position 2, second after second without an admission, the ETA
	//    does not count up; it falls when the line moves.
	prev = Told{}
	last := int64(-1)
	for sec, rate := range []float64{6, 5, 4, 3.5, 3, 2.5} {
		s, p := Steady(Queued(queued(12, rate, 100), 2, 101), prev)
		prev = p
		if last >= 0 && s.ETA > last {
			t.Fatalf("second %d at position 2: ETA rose from %d to %d", sec, last, s.ETA)
		}
		last = s.ETA
	}
	if s, _ := Steady(Queued(queued(12, 2.5, 101), 1, 101), prev); s.ETA > last {
		t.Errorf("moved to position 1: ETA %d, above the %d told at 2", s.ETA, last)
	}
}

// An ETA may rise when the truth changed: the operator lowered the rate, or
// a reshuffle moved the visitor back, or it was unknown.
func TestSteadyLetsTheTruthRise(t *testing.T) {
	at := func(pos, eta int64, apm int) web.Status {
		return web.Status{State: "queued", Position: pos, ETA: eta, AdmitPerMinute: apm}
	}
	_, prev := Steady(at(5, 30, 10), Told{})
	for _, tc := range []struct {
		name string
		next web.Status
		want int64
	}{
		{"same rate, later estimate", at(5, 40, 10), 30},
		{"rate lowered", at(5, 300, 1), 300},
		{"moved back", at(6, 36, 10), 36},
		{"was unknown", at(5, 40, 10), 40},
	} {
		p := prev
		if tc.name == "was unknown" {
			p.ETA = -1
		}
		if s, _ := Steady(tc.next, p); s.ETA != tc.want {
			t.Errorf("%s: ETA %d, want %d", tc.name, s.ETA, tc.want)
		}
	}
}

// The board keeps one sample per HistoryEvery, oldest first, at most
// HistoryLength of them per room.
func TestHistory(t *testing.T) {
	b := &Board{}
	t0 := time.Unix(1_800_000_000, 0)
	for i := range historySize + 40 {
		at := t0.Add(time.Duration(i) * HistoryEvery)
		b.hist.sample(&Snapshot{At: at, Rooms: map[string]queue.Figures{"r": {Waiting: int64(i)}}})
		b.hist.sample(&Snapshot{At: at.Add(time.Second), Rooms: map[string]queue.Figures{"r": {Waiting: -1}}}) // within the interval: skipped
	}
	pts := b.History()["r"]
	if len(pts) != historySize {
		t.Fatalf("%d samples kept, want %d", len(pts), historySize)
	}
	for i, p := range pts {
		if p.Waiting != int64(40+i) {
			t.Fatalf("sample %d holds waiting %d, want %d (oldest first, the last %d)", i, p.Waiting, 40+i, historySize)
		}
	}
}
