package main

import (
	"context"
	"errors"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/waitroom/waitroom/internal/testenv"
	"github.com/waitroom/waitroom/queue"
)

// The crowd's arrivals keep the line in its band: a line below MinWaiting
// is topped up at once, one at MaxWaiting gets nobody, no step overshoots
// MaxWaiting, and the start fills the line to the middle.
func TestCrowdArrivalsKeepTheBand(t *testing.T) {
	c := newCrowd(nil, queue.Room{}, crowdConfig{Seed: 1}) // 8-25, middle 17
	tests := []struct {
		name    string
		waiting int64
		rate    int
		gap     time.Duration
		fill    bool
		lo, hi  int
	}{
		{"start fills to the middle", 0, 30, time.Second, true, 17, 17},
		{"start with a line", 20, 30, time.Second, true, 0, 5},
		{"short line topped up", 3, 30, time.Second, false, 6, 22},
		{"late step: topped up for the next gap", 3, 600, time.Second, false, 15, 22},
		{"full line", 25, 30, time.Second, false, 0, 0},
		{"over full", 40, 30, time.Second, false, 0, 0},
		{"a late step never overshoots", 24, 6000, time.Minute, false, 0, 1},
		{"rate zero: still topped up", 0, 0, time.Second, false, 8, 25},
	}
	for _, tt := range tests {
		for range 200 {
			n := c.arrivals(queue.Figures{State: queue.StateQueued, Waiting: tt.waiting, AdmitPerMinute: tt.rate}, tt.gap, tt.fill)
			if n < tt.lo || n > tt.hi {
				t.Fatalf("%s: %d arrivals, want %d..%d", tt.name, n, tt.lo, tt.hi)
			}
		}
	}
	// In the band, arrivals follow the rate: 60 steps of 1 s at 30 a
	// minute with the line in the middle bring about 30.
	var sum int
	for range 60 {
		sum += c.arrivals(queue.Figures{State: queue.StateQueued, Waiting: 17, AdmitPerMinute: 30}, time.Second, false)
	}
	if sum < 12 || sum > 55 {
		t.Errorf("%d arrivals in a minute at 30/min, want about 30", sum)
	}
}

func TestPoissonMean(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	var sum int
	for range 10000 {
		sum += poisson(r, 0.5)
	}
	if mean := float64(sum) / 10000; mean < 0.45 || mean > 0.55 {
		t.Errorf("mean %.3f, want 0.5", mean)
	}
}

// The demo keeps a line that moves for as long as it runs: ten simulated
// minutes of demo (room and crowd 30 times faster) in which the line stays
// in its band, admissions go on every minute, visitors come in and leave
// (active goes down as well as up), some give up, and a visitor who joins
// at minute 10 finds people ahead, sees its position fall and never rise,
// and is admitted. (The old demo's crowd was 15 visitors at the start and
// nobody after: the line was gone within 30 s.)
func TestDemoCrowdKeepsALineThatMoves(t *testing.T) {
	if testing.Short() {
		t.Skip("runs ten simulated minutes (20 s)")
	}
	t.Parallel()
	const scale = 30
	d := startDemo(t, demoConfig{Scale: scale, CrowdTick: 50 * time.Millisecond, CrowdSeed: 7})
	simMinute := time.Minute / scale
	band := d.crowd.cfg

	type sample struct {
		at      time.Duration
		fig     queue.Figures
		counted crowdCounts
	}
	var samples []sample
	start := time.Now()
	for time.Since(start) < 10*simMinute {
		time.Sleep(simMinute / 8)
		samples = append(samples, sample{time.Since(start), d.figures(t), d.crowd.Counts()})
	}

	var empty, downs int
	perMinute := map[int]int64{}
	for i, s := range samples {
		perMinute[int(s.at/simMinute)] = s.fig.AdmittedTotal
		if s.at < simMinute {
			continue // the line forms
		}
		if s.fig.Waiting > int64(band.MaxWaiting)+2 {
			t.Errorf("at %v: %d waiting, above the band's %d", s.at, s.fig.Waiting, band.MaxWaiting)
		}
		if s.fig.Waiting == 0 {
			empty++
		}
		if i > 0 && s.fig.Active < samples[i-1].fig.Active {
			downs++
		}
	}
	if empty > len(samples)/10 {
		t.Errorf("line empty in %d of %d samples", empty, len(samples))
	}
	if downs == 0 {
		t.Error("active never went down: nobody left")
	}
	for m := 1; m < 10; m++ {
		if got, ok := perMinute[m]; ok && got <= perMinute[m-1] {
			t.Errorf("no admission in simulated minute %d (total %d, then %d)", m, perMinute[m-1], got)
		}
	}
	last := samples[len(samples)-1]
	if want := int64(demoAdmitPerMinute * 10 / 2); last.fig.AdmittedTotal < want {
		t.Errorf("%d admitted in ten simulated minutes, want at least %d (rate %d a minute)", last.fig.AdmittedTotal, want, demoAdmitPerMinute)
	}
	if c := last.counted; c.Entered == 0 || c.Left == 0 || c.GaveUp == 0 {
		t.Errorf("crowd after ten minutes: %+v; want visitors who entered, left and gave up", c)
	}
	t.Logf("after ten simulated minutes: %+v, crowd %+v; line empty in %d of %d samples", last.fig, last.counted, empty, len(samples))

	// A person arriving now. (Waiting for a line first keeps a step of the
	// crowd that comes late on a busy machine, while the room admits 15 a
	// second, out of this part: the samples above judge the line.)
	testenv.WaitFor(t, 10*time.Second, "a line", func() bool { return d.figures(t).Waiting >= 5 })
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	room := d.gw.Rooms()[0]
	st, err := d.gw.Queue().Join(ctx, room, "person-at-minute-10")
	if err != nil {
		t.Fatal(err)
	}
	if st.State != queue.StateQueued || st.Position < 2 {
		t.Fatalf("a visitor at minute 10: %+v, want queued behind the crowd", st)
	}
	positions := []int64{st.Position}
	for st.State == queue.StateQueued {
		time.Sleep(20 * time.Millisecond)
		if st, err = d.gw.Queue().Status(ctx, room, "person-at-minute-10"); err != nil {
			t.Fatal(err)
		}
		if st.State == queue.StateQueued && st.Position != positions[len(positions)-1] {
			positions = append(positions, st.Position)
		}
	}
	if st.State != queue.StateAdmitted {
		t.Fatalf("visitor left the line as %q, want admitted; positions %v", st.State, positions)
	}
	for i := 1; i < len(positions); i++ {
		if positions[i] > positions[i-1] {
			t.Fatalf("position went up: %v", positions)
		}
	}
	if len(positions) < 2 {
		t.Errorf("positions %v: the line did not visibly move", positions)
	}
	t.Logf("positions of the visitor at minute 10: %v", positions)
}

// Visitors give up when a line stops: while the room is paused they leave
// one by one (the crowd stops their heartbeats), and when it resumes the
// admission step skips them as abandoned, so the dashboard's abandoned
// figure moves too. (In a moving line the demo's abandon_after is longer
// than the wait, so the impatient few are admitted and lapse instead.)
func TestDemoCrowdGivesUpInAStoppedLine(t *testing.T) {
	if testing.Short() {
		t.Skip("runs several simulated minutes")
	}
	t.Parallel()
	const scale = 60 // abandon_after 5 s, patience in a stopped line 2-8 s
	d := startDemo(t, demoConfig{Scale: scale, CrowdTick: 50 * time.Millisecond, CrowdSeed: 11})
	ctx := context.Background()
	time.Sleep(time.Second)
	paused := true
	if err := d.gw.Queue().Update(ctx, "default", queue.Patch{Paused: &paused}); err != nil {
		t.Fatal(err)
	}
	before := d.crowd.Counts().GaveUp
	testenv.WaitFor(t, 30*time.Second, "visitors give up in the paused line", func() bool {
		return d.crowd.Counts().GaveUp >= before+3
	})
	_, _, abandonAfter := d.cfg.room()
	time.Sleep(abandonAfter + time.Second)
	paused = false
	if err := d.gw.Queue().Update(ctx, "default", queue.Patch{Paused: &paused}); err != nil {
		t.Fatal(err)
	}
	testenv.WaitFor(t, 30*time.Second, "abandoned visitors skipped", func() bool {
		return d.figures(t).AbandonedTotal > 0
	})
	f := d.figures(t)
	t.Logf("after the pause: %+v, crowd %+v", f, d.crowd.Counts())
}

func waitUntil(t *testing.T, limit time.Duration, what string, ok func() bool) {
	t.Helper()
	deadline := time.Now().Add(limit)
	for !ok() {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within %v", what, limit)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// The crowd survives a queue that fails for a while: a step that cannot
// reach Redis is skipped, and the next ones carry on.
func TestCrowdStepErrorsAreSkipped(t *testing.T) {
	line := &failingLine{err: errors.New("redis away")}
	c := newCrowd(line, queue.Room{Name: "default"}, crowdConfig{Tick: 10 * time.Millisecond})
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	c.run(ctx) // returns when ctx ends, without panicking on the errors
	if line.calls < 5 {
		t.Errorf("%d steps in 200 ms at a 10 ms tick", line.calls)
	}
}

type failingLine struct {
	crowdLine
	err   error
	calls int
}

func (f *failingLine) Figures(context.Context, []queue.Room) ([]queue.Figures, error) {
	f.calls++
	return nil, f.err
}
