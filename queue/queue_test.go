package queue

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

func ptr[T any](v T) *T { return &v }

var ctx = context.Background()

func visitorID(i int) string { return fmt.Sprintf("v%06d", i) }

// joinAll joins n visitors at time at and returns their statuses.
func joinAll(t *testing.T, q *Queue, room Room, n int, at time.Time) []Status {
	t.Helper()
	out := make([]Status, n)
	for i := range n {
		s, err := q.join(ctx, room, visitorID(i), at)
		if err != nil {
			t.Fatalf("join %d: %v", i, err)
		}
		out[i] = s
	}
	return out
}

func figures(t *testing.T, q *Queue, room Room, at time.Time) Figures {
	t.Helper()
	f, err := q.figures(ctx, []Room{room}, at)
	if err != nil {
		t.Fatal(err)
	}
	return f[0]
}

// A queued visitor is admitted in arrival order; joining again keeps the
// place; positions only go down as the line moves.
func TestFIFOIdempotentMonotone(t *testing.T) {
	eachBackend(t, func(t *testing.T, q *Queue, rdb redis.UniversalClient) {
		clk := newClock(t, rdb)
		room := Room{Name: "fifo", AdmitPerMinute: 600, MaxActive: 1000}
		// paused while joining, so nobody walks straight in
		if err := q.Update(ctx, room.Name, Patch{Paused: ptr(true)}); err != nil {
			t.Fatal(err)
		}
		const n = 30
		first := joinAll(t, q, room, n, clk.now)
		for i, s := range first {
			if s.State != StatePaused || s.Position != int64(i+1) || s.Ticket != int64(i+1) {
				t.Fatalf("visitor %d: got %+v, want paused at position %d", i, s, i+1)
			}
		}
		// joining again does not move anyone or add places
		again := joinAll(t, q, room, n, clk.now)
		for i := range again {
			if again[i].Position != first[i].Position || again[i].Waiting != n {
				t.Fatalf("rejoin %d: %+v, first %+v", i, again[i], first[i])
			}
		}
		if err := q.Update(ctx, room.Name, Patch{Paused: ptr(false)}); err != nil {
			t.Fatal(err)
		}
		last := make([]int64, n)
		for i := range last {
			last[i] = first[i].Position
		}
		var order []string
		for len(order) < n {
			a, err := q.AdmitAt(ctx, room, clk.add(300*time.Millisecond))
			if err != nil {
				t.Fatal(err)
			}
			order = append(order, a.Admitted...)
			for i := range n {
				s, err := q.status(ctx, room, visitorID(i), clk.now)
				if err != nil {
					t.Fatal(err)
				}
				switch s.State {
				case StateQueued:
					if s.Position > last[i] || s.Position < 1 {
						t.Fatalf("visitor %d: position went from %d to %d", i, last[i], s.Position)
					}
					last[i] = s.Position
				case StateAdmitted:
					last[i] = 0
				default:
					t.Fatalf("visitor %d: unexpected state %+v", i, s)
				}
			}
		}
		for i, v := range order {
			if v != visitorID(i) {
				t.Fatalf("admission %d was %s, want %s (order %v)", i, v, visitorID(i), order)
			}
		}
		// an admitted visitor joining again stays admitted, no new place
		s, err := q.join(ctx, room, visitorID(0), clk.now)
		if err != nil || s.State != StateAdmitted {
			t.Fatalf("rejoin after admission: %+v %v", s, err)
		}
		if f := figures(t, q, room, clk.now); f.Waiting != 0 || f.AdmittedTotal != n || f.Active != n {
			t.Fatalf("figures %+v", f)
		}
	})
}

// The first visitor of an idle room walks straight in; the next ones queue
// once the burst is used up.
func TestJoinAdmitsAtOnceWhenIdle(t *testing.T) {
	eachBackend(t, func(t *testing.T, q *Queue, rdb redis.UniversalClient) {
		clk := newClock(t, rdb)
		room := Room{Name: "idle", AdmitPerMinute: 60, MaxActive: 10} // burst 2
		s := joinAll(t, q, room, 3, clk.now)
		for _, s := range s[:2] {
			if s.State != StateAdmitted || !s.Until.Equal(clk.now.Add(q.cfg.AdmitWindow)) {
				t.Fatalf("visitor of an idle room: %+v", s)
			}
		}
		if s[2].State != StateQueued || s[2].Position != 1 || s[2].ETA != time.Second {
			t.Fatalf("visitor after the burst: %+v", s[2])
		}
		// paused and closed rooms admit nobody at the door
		for _, p := range []Patch{{Paused: ptr(true)}, {Closed: ptr(true)}} {
			other := Room{Name: "idle-" + fmt.Sprint(p.Paused != nil), AdmitPerMinute: 60, MaxActive: 10}
			if err := q.Update(ctx, other.Name, p); err != nil {
				t.Fatal(err)
			}
			s, err := q.join(ctx, other, "x", clk.now)
			if err != nil || s.State == StateAdmitted || s.Position != 1 {
				t.Fatalf("join with %+v: %+v %v", p, s, err)
			}
		}
	})
}

// Over a steered window the admitted count matches admit_per_minute within
// 2%, whatever the calling cadence.
func TestAdmissionRate(t *testing.T) {
	cases := []struct {
		apm      int
		step     time.Duration
		span     time.Duration
		embedded bool // run on the (slower) embedded server too
	}{
		{apm: 1200, step: 250 * time.Millisecond, span: 2 * time.Minute},
		{apm: 600, step: 100 * time.Millisecond, span: 2 * time.Minute},
		{apm: 90, step: 700 * time.Millisecond, span: 6 * time.Minute, embedded: true},
		{apm: 3000, step: time.Second, span: time.Minute},
		{apm: 100, step: time.Second, span: 3 * time.Minute},
	}
	eachBackend(t, func(t *testing.T, q *Queue, rdb redis.UniversalClient) {
		for _, c := range cases {
			if slow(t) && !c.embedded {
				continue
			}
			t.Run(fmt.Sprint(c.apm), func(t *testing.T) {
				clk := newClock(t, rdb)
				room := Room{Name: fmt.Sprintf("rate-%d", c.apm), AdmitPerMinute: c.apm, MaxActive: 1 << 30, AbandonAfter: MaxDuration}
				want := int(float64(c.apm) * c.span.Minutes())
				burst := (c.apm+59)/60 + 1
				pipeJoin(t, q, room, want+2*burst, clk.now)
				// the first step takes the (one second) burst; the rate
				// holds from there on
				if a, err := q.AdmitAt(ctx, room, clk.now); err != nil || len(a.Admitted) != burst {
					t.Fatalf("first step admitted %d (%v), want the burst %d", len(a.Admitted), err, burst)
				}
				got := 0
				for end := clk.now.Add(c.span); clk.now.Before(end); {
					a, err := q.AdmitAt(ctx, room, clk.add(c.step))
					if err != nil {
						t.Fatal(err)
					}
					got += len(a.Admitted)
				}
				if diff := float64(got-want) / float64(want); diff > 0.02 || diff < -0.02 {
					t.Fatalf("admitted %d over %s at %d/min, want %d ±2%%", got, c.span, c.apm, want)
				}
				f := figures(t, q, room, clk.now)
				if f.AchievedPerMinute < float64(c.apm)*0.95 || f.AchievedPerMinute > float64(c.apm)*1.05 {
					t.Fatalf("achieved %.1f/min, configured %d", f.AchievedPerMinute, c.apm)
				}
			})
		}
	})
}

// A rate raised live applies within a second, even after a slow rate ran
// up a long wait for the next admission.
func TestRateRaisedApplies(t *testing.T) {
	eachBackend(t, func(t *testing.T, q *Queue, rdb redis.UniversalClient) {
		clk := newClock(t, rdb)
		room := Room{Name: "raise", AdmitPerMinute: 1, MaxActive: 1 << 20, AbandonAfter: time.Hour}
		pipeJoin(t, q, room, 200, clk.now)
		if a, _ := q.AdmitAt(ctx, room, clk.now); len(a.Admitted) != 2 { // burst of 1/min: 1 + 1
			t.Fatalf("first step admitted %v", a.Admitted)
		}
		_ = q.Update(ctx, room.Name, Patch{AdmitPerMinute: ptr(600)})
		got := 0
		for range 8 { // two seconds at 600/min
			a, err := q.AdmitAt(ctx, room, clk.add(250*time.Millisecond))
			if err != nil {
				t.Fatal(err)
			}
			got += len(a.Admitted)
		}
		if got < 15 || got > 32 {
			t.Fatalf("admitted %d in 2 s after raising the rate to 10/s", got)
		}
	})
}

// pipeJoin joins n visitors in pipelined batches (fast set-up of big
// lines), the room paused meanwhile so that nobody walks straight in.
func pipeJoin(t testing.TB, q *Queue, room Room, n int, at time.Time) {
	t.Helper()
	if err := q.Update(ctx, room.Name, Patch{Paused: ptr(true)}); err != nil {
		t.Fatal(err)
	}
	if err := q.joinMany(ctx, room, n, 0, at); err != nil {
		t.Fatal(err)
	}
	if err := q.Update(ctx, room.Name, Patch{Paused: ptr(false)}); err != nil {
		t.Fatal(err)
	}
}

// A waiting visitor's ETA follows the rate actually achieved, not a
// configured rate the line has not shown yet; and never the achieved rate
// above a rate the operator has just lowered.
func TestETAFromAchievedRate(t *testing.T) {
	eachBackend(t, func(t *testing.T, q *Queue, rdb redis.UniversalClient) {
		clk := newClock(t, rdb)
		room := Room{Name: "eta", AdmitPerMinute: 600, MaxActive: 1 << 20, AbandonAfter: time.Hour}
		pipeJoin(t, q, room, 600, clk.now)
		for range 160 { // 40 s at 10 per second
			if _, err := q.AdmitAt(ctx, room, clk.add(250*time.Millisecond)); err != nil {
				t.Fatal(err)
			}
		}
		if f := figures(t, q, room, clk.now); f.AchievedPerMinute < 590 || f.AchievedPerMinute > 620 || f.ETAPerMinute != min(f.AchievedPerMinute, 600) {
			t.Fatalf("achieved %.1f/min (ETA basis %.1f), want about 600", f.AchievedPerMinute, f.ETAPerMinute)
		}
		room.AdmitPerMinute = 6000 // raised, not yet achieved
		s, err := q.status(ctx, room, visitorID(599), clk.now)
		if err != nil {
			t.Fatal(err)
		}
		want := time.Duration(s.Position) * 100 * time.Millisecond // 600/min
		if s.ETA < want*95/100 || s.ETA > want*105/100 {
			t.Fatalf("ETA %s at position %d, want about %s", s.ETA, s.Position, want)
		}
		// The operator cuts the rate to 1/min: the visitor with 2 ahead
		// waits about three minutes, whatever the last minute's pace.
		room.AdmitPerMinute = 1
		third := visitorID(int(figures(t, q, room, clk.now).Front) + 1) // ticket = index + 1
		s, err = q.status(ctx, room, third, clk.now)
		if err != nil {
			t.Fatal(err)
		}
		if s.Position != 3 || s.ETA != 3*time.Minute {
			t.Fatalf("at 1/min: position %d, ETA %s, want 3 and 3m0s", s.Position, s.ETA)
		}
	})
}

// max_active is never exceeded: admission waits for slots, an admission not
// taken up within the admit window gives its slot back, Revoke frees one
// at once.
func TestMaxActive(t *testing.T) {
	eachBackend(t, func(t *testing.T, q *Queue, rdb redis.UniversalClient) {
		q.cfg.AdmitWindow = 30 * time.Second
		clk := newClock(t, rdb)
		room := Room{Name: "max", AdmitPerMinute: 6000, MaxActive: 5, SessionTTL: time.Minute, AbandonAfter: time.Hour}
		if err := q.Update(ctx, room.Name, Patch{Paused: ptr(true)}); err != nil {
			t.Fatal(err)
		}
		joinAll(t, q, room, 20, clk.now)
		_ = q.Update(ctx, room.Name, Patch{Paused: ptr(false)})
		var admitted []string
		for range 20 {
			a, err := q.AdmitAt(ctx, room, clk.add(time.Second))
			if err != nil {
				t.Fatal(err)
			}
			admitted = append(admitted, a.Admitted...)
			if f := figures(t, q, room, clk.now); f.Active > 5 {
				t.Fatalf("active %d > max 5", f.Active)
			}
		}
		if len(admitted) != 5 {
			t.Fatalf("admitted %d, want 5 (max_active)", len(admitted))
		}
		// four enter, one never comes
		sessions := map[string]Session{}
		for _, v := range admitted[:4] {
			s, err := q.session(ctx, room, v, "", "", clk.now)
			if err != nil {
				t.Fatal(err)
			}
			sessions[v] = s
		}
		// revoke one: its slot is free at once
		if _, err := q.revoke(ctx, room.Name, admitted[0], sessions[admitted[0]].ID, clk.now, time.Second, clk.now); err != nil {
			t.Fatal(err)
		}
		a, _ := q.AdmitAt(ctx, room, clk.add(time.Second))
		if len(a.Admitted) != 1 {
			t.Fatalf("after revoke admitted %v, want one", a.Admitted)
		}
		if _, err := q.session(ctx, room, admitted[0], "", "", clk.now); !errors.Is(err, ErrNotAdmitted) {
			t.Fatalf("enter after revoke: %v", err)
		}
		// the no-show's admission window (30s) runs out: slot comes back
		a, _ = q.AdmitAt(ctx, room, clk.add(35*time.Second))
		if len(a.Admitted) != 2 { // the no-show's and the one admitted after release
			t.Fatalf("after the admit window admitted %v, want two", a.Admitted)
		}
		if s, _ := q.status(ctx, room, admitted[4], clk.now); s.State != StateNone {
			t.Fatalf("no-show status %+v, want none", s)
		}
		if _, err := q.session(ctx, room, admitted[4], "", "", clk.now); !errors.Is(err, ErrNotAdmitted) {
			t.Fatalf("late enter: %v", err)
		}
		// a renewed session outlives the TTL it started with
		s, err := q.session(ctx, room, admitted[1], sessions[admitted[1]].ID, "", clk.add(20*time.Second))
		if err != nil || !s.Until.Equal(clk.now.Add(time.Minute)) || s.ID != sessions[admitted[1]].ID {
			t.Fatalf("renew: %+v %v", s, err)
		}
		if s, _ := q.status(ctx, room, admitted[1], clk.add(40*time.Second)); s.State != StateAdmitted {
			t.Fatalf("renewed visitor: %+v", s)
		}
		if f := figures(t, q, room, clk.now); f.Active > 5 {
			t.Fatalf("active %d", f.Active)
		}
	})
}

// Eight instances calling admission at once admit every visitor exactly
// once and never beyond the rate.
func TestConcurrentInstances(t *testing.T) {
	eachBackend(t, func(t *testing.T, q *Queue, rdb redis.UniversalClient) {
		n := 1500
		if slow(t) {
			n = 500
		}
		room := Room{Name: "crowd", AdmitPerMinute: 60000, MaxActive: 1 << 20, AbandonAfter: time.Hour}
		clk := newClock(t, rdb)
		pipeJoin(t, q, room, n, clk.now)
		start, _ := rdb.Time(ctx).Result()
		var mu sync.Mutex
		seen := map[string]int{}
		var wg sync.WaitGroup
		deadline := time.Now().Add(30 * time.Second)
		for range 8 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				inst := New(rdb, q.cfg) // an instance of its own
				for {
					a, err := inst.Admit(ctx, room)
					if err != nil {
						t.Error(err)
						return
					}
					mu.Lock()
					for _, v := range a.Admitted {
						seen[v]++
					}
					done := len(seen) == n
					mu.Unlock()
					if done {
						return
					}
					if time.Now().After(deadline) {
						t.Error("not everyone admitted within 30s")
						return
					}
					time.Sleep(5 * time.Millisecond)
				}
			}()
		}
		wg.Wait()
		end, _ := rdb.Time(ctx).Result()
		for v, k := range seen {
			if k != 1 {
				t.Fatalf("%s admitted %d times", v, k)
			}
		}
		// never faster than the rate: 1000/s plus the one-second burst
		if max := int(end.Sub(start).Seconds()*1000) + 1000 + 1; n > max {
			t.Fatalf("admitted %d in %s: faster than 1000/s", n, end.Sub(start))
		}
		if f := figures(t, q, room, time.Time{}); f.AdmittedTotal != int64(n) || f.Waiting != 0 {
			t.Fatalf("figures %+v", f)
		}
	})
}

// Eight instances admitting at Redis's clock while admissions run out and
// free their slots never hold more than max_active at once.
func TestConcurrentMaxActive(t *testing.T) {
	eachBackend(t, func(t *testing.T, q *Queue, rdb redis.UniversalClient) {
		q.cfg.AdmitWindow = 300 * time.Millisecond // nobody enters: slots recycle
		room := Room{Name: "cap", AdmitPerMinute: 60000, MaxActive: 50, AbandonAfter: time.Hour}
		pipeJoin(t, q, room, 800, time.Time{})
		var wg sync.WaitGroup
		var mu sync.Mutex
		total := 0
		end := time.Now().Add(time.Second)
		for range 8 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				inst := New(rdb, q.cfg)
				for time.Now().Before(end) {
					a, err := inst.Admit(ctx, room)
					if err != nil {
						t.Error(err)
						return
					}
					f, err := inst.Figures(ctx, []Room{room})
					if err != nil {
						t.Error(err)
						return
					}
					if f[0].Active > 50 {
						t.Errorf("active %d > max_active 50", f[0].Active)
						return
					}
					mu.Lock()
					total += len(a.Admitted)
					mu.Unlock()
					time.Sleep(10 * time.Millisecond)
				}
			}()
		}
		wg.Wait()
		if total <= 50 {
			t.Fatalf("admitted %d: slots were not given back", total)
		}
	})
}

// A queued visitor silent for abandon_after is skipped at the front, uses
// no slot, is counted, and learns they lost the place.
func TestAbandonedSkipped(t *testing.T) {
	eachBackend(t, func(t *testing.T, q *Queue, rdb redis.UniversalClient) {
		clk := newClock(t, rdb)
		room := Room{Name: "gone", AdmitPerMinute: 60, MaxActive: 100, AbandonAfter: time.Minute}
		_ = q.Update(ctx, room.Name, Patch{Paused: ptr(true)})
		joinAll(t, q, room, 4, clk.now) // v0..v3
		_ = q.Update(ctx, room.Name, Patch{Paused: ptr(false)})
		clk.add(45 * time.Second)
		unknown, err := q.heartbeat(ctx, room.Name, []string{visitorID(1), "never-joined"}, clk.now)
		if err != nil {
			t.Fatal(err)
		}
		if len(unknown) != 1 || unknown[0] != "never-joined" {
			t.Fatalf("heartbeat: the line does not hold %q, want [never-joined]", unknown)
		}
		if _, err := q.status(ctx, room, visitorID(3), clk.now); err != nil { // a poll is a heartbeat too
			t.Fatal(err)
		}
		var admitted []string
		skipped := 0
		for range 3 {
			a, err := q.AdmitAt(ctx, room, clk.add(20*time.Second))
			if err != nil {
				t.Fatal(err)
			}
			admitted = append(admitted, a.Admitted...)
			skipped += a.Skipped
		}
		if strings.Join(admitted, ",") != visitorID(1)+","+visitorID(3) || skipped != 2 {
			t.Fatalf("admitted %v skipped %d; want v1, v3 and two skipped", admitted, skipped)
		}
		if f := figures(t, q, room, clk.now); f.AbandonedTotal != 2 || f.AdmittedTotal != 2 || f.Waiting != 0 {
			t.Fatalf("figures %+v", f)
		}
		if s, _ := q.status(ctx, room, visitorID(0), clk.now); s.State != StateNone {
			t.Fatalf("abandoned visitor: %+v", s)
		}
		// coming back means the back of the line
		_ = q.Update(ctx, room.Name, Patch{Paused: ptr(true)})
		if s, _ := q.join(ctx, room, visitorID(0), clk.now); s.Ticket != 5 {
			t.Fatalf("rejoin: %+v", s)
		}
	})
}

// A hub's heartbeat for thousands of sockets is one call and keeps every
// one of them from being skipped as abandoned.
func TestHeartbeatMany(t *testing.T) {
	eachBackend(t, func(t *testing.T, q *Queue, rdb redis.UniversalClient) {
		clk := newClock(t, rdb)
		room := Room{Name: "hub", AdmitPerMinute: 60000, MaxActive: 1 << 20, AbandonAfter: time.Minute}
		n := 1500 // more than one chunk of 1,000
		if slow(t) {
			n = 600
		}
		pipeJoin(t, q, room, n, clk.now)
		_ = rdb.ScriptFlush(ctx).Err() // the pipeline must recover from NOSCRIPT
		ids := joinedIDs(n)
		if _, err := q.heartbeat(ctx, room.Name, append(ids, "", strings.Repeat("x", 500)), clk.add(50*time.Second)); err != nil {
			t.Fatal(err)
		}
		a, err := q.AdmitNext(ctx, room, n)
		if err != nil || len(a.Admitted) != n || a.Skipped != 0 {
			t.Fatalf("admitted %d, skipped %d (%v): want all %d", len(a.Admitted), a.Skipped, err, n)
		}
	})
}

// Pause and close stop admission and keep every place; reopening resumes in
// order.
func TestPauseCloseKeepPlaces(t *testing.T) {
	for _, p := range []struct {
		name      string
		stop, go_ Patch
		state     State
	}{
		{"pause", Patch{Paused: ptr(true)}, Patch{Paused: ptr(false)}, StatePaused},
		{"close", Patch{Closed: ptr(true)}, Patch{Closed: ptr(false)}, StateClosed},
	} {
		t.Run(p.name, func(t *testing.T) {
			eachBackend(t, func(t *testing.T, q *Queue, rdb redis.UniversalClient) {
				clk := newClock(t, rdb)
				room := Room{Name: "stop", AdmitPerMinute: 600, MaxActive: 100, AbandonAfter: time.Hour}
				_ = q.Update(ctx, room.Name, p.stop)
				joinAll(t, q, room, 5, clk.now)
				for range 10 {
					if a, _ := q.AdmitAt(ctx, room, clk.add(time.Second)); len(a.Admitted) > 0 {
						t.Fatalf("admitted %v while stopped", a.Admitted)
					}
				}
				s, _ := q.status(ctx, room, visitorID(2), clk.now)
				if s.State != p.state || s.Position != 3 || s.ETA != -1 {
					t.Fatalf("status while stopped: %+v", s)
				}
				if f := figures(t, q, room, clk.now); f.State != p.state || f.Waiting != 5 {
					t.Fatalf("figures %+v", f)
				}
				_ = q.Update(ctx, room.Name, p.go_)
				a, _ := q.AdmitAt(ctx, room, clk.add(time.Second))
				if len(a.Admitted) == 0 || a.Admitted[0] != visitorID(0) {
					t.Fatalf("after reopening admitted %v", a.Admitted)
				}
			})
		})
	}
}

// Manual admit lets the next N in beyond the rate, but never beyond
// max_active, and works while paused.
func TestAdmitNext(t *testing.T) {
	eachBackend(t, func(t *testing.T, q *Queue, rdb redis.UniversalClient) {
		room := Room{Name: "manual", AdmitPerMinute: 1, MaxActive: 8, AbandonAfter: time.Hour}
		_ = q.Update(ctx, room.Name, Patch{Paused: ptr(true)})
		joinAll(t, q, room, 12, time.Time{})
		a, err := q.AdmitNext(ctx, room, 5)
		if err != nil || len(a.Admitted) != 5 || a.Admitted[0] != visitorID(0) {
			t.Fatalf("admit next 5: %+v %v", a, err)
		}
		a, _ = q.AdmitNext(ctx, room, 5)
		if len(a.Admitted) != 3 {
			t.Fatalf("second admit next: %v, want 3 (max_active 8)", a.Admitted)
		}
	})
}

// Live changes win over the file's values until Reset, on every instance.
func TestUpdateReset(t *testing.T) {
	eachBackend(t, func(t *testing.T, q *Queue, rdb redis.UniversalClient) {
		room := Room{Name: "live", AdmitPerMinute: 100, MaxActive: 10, SessionTTL: time.Minute, AbandonAfter: time.Minute, Mode: FIFO}
		other := New(rdb, q.cfg)
		opens := time.Now().Add(time.Hour).Truncate(time.Millisecond)
		err := q.Update(ctx, room.Name, Patch{AdmitPerMinute: ptr(7), MaxActive: ptr(3), SessionTTL: ptr(time.Hour),
			AbandonAfter: ptr(2 * time.Minute), Mode: ptr(Random), OpensAt: &opens})
		if err != nil {
			t.Fatal(err)
		}
		f, err := other.Figures(ctx, []Room{room})
		if err != nil {
			t.Fatal(err)
		}
		c := f[0].Config
		if c.AdmitPerMinute != 7 || c.MaxActive != 3 || c.SessionTTL != time.Hour || c.AbandonAfter != 2*time.Minute ||
			c.Mode != Random || !c.OpensAt.Equal(opens) || f[0].State != StatePrequeue {
			t.Fatalf("after update: %+v", f[0])
		}
		_ = q.Update(ctx, room.Name, Patch{ClearOpensAt: true})
		if f, _ := other.Figures(ctx, []Room{room}); !f[0].OpensAt.IsZero() || f[0].State != StateQueued {
			t.Fatalf("after clearing opens_at: %+v", f[0])
		}
		if err := q.Reset(ctx, room.Name); err != nil {
			t.Fatal(err)
		}
		f, _ = other.Figures(ctx, []Room{room})
		if f[0].AdmitPerMinute != 100 || f[0].Config.Mode != FIFO {
			t.Fatalf("after reset: %+v", f[0])
		}
	})
}

// Bad operator values are refused with the field named, and nothing is
// stored.
func TestUpdateRejects(t *testing.T) {
	eachBackend(t, func(t *testing.T, q *Queue, rdb redis.UniversalClient) {
		for _, p := range []struct {
			patch Patch
			field string
		}{
			{Patch{AdmitPerMinute: ptr(-1)}, "admit_per_minute"},
			{Patch{MaxActive: ptr(-5)}, "max_active"},
			{Patch{SessionTTL: ptr(time.Millisecond)}, "session_ttl"},
			{Patch{AbandonAfter: ptr(30 * 24 * time.Hour)}, "abandon_after"},
			{Patch{Mode: ptr(Mode("lifo"))}, "mode"},
			{Patch{OpensAt: &time.Time{}}, "opens_at"},
		} {
			err := q.Update(ctx, "rej", p.patch)
			if err == nil || !strings.Contains(err.Error(), p.field) {
				t.Errorf("%+v: error %v, want one naming %s", p.patch, err, p.field)
			}
		}
		if n, _ := rdb.Exists(ctx, q.key("rej", "cfg")).Result(); n != 0 {
			t.Fatal("a refused change was stored")
		}
		if err := q.Update(ctx, "Bad}Name", Patch{Paused: ptr(true)}); !errors.Is(err, ErrBadRoom) {
			t.Fatalf("bad room: %v", err)
		}
	})
}

// Two deployments with different prefixes on one Redis do not see each
// other's rooms.
func TestPrefixesIsolated(t *testing.T) {
	eachBackend(t, func(t *testing.T, q *Queue, rdb redis.UniversalClient) {
		other := New(rdb, Config{Prefix: q.cfg.Prefix + "other:"})
		room := Room{Name: "same", AdmitPerMinute: 60, MaxActive: 10}
		_ = q.Update(ctx, room.Name, Patch{Paused: ptr(true)})
		joinAll(t, q, room, 3, time.Time{})
		s, err := other.Join(ctx, room, visitorID(0))
		if err != nil || s.State != StateAdmitted {
			t.Fatalf("other deployment: %+v %v", s, err)
		}
		f1, _ := q.Figures(ctx, []Room{room})
		f2, _ := other.Figures(ctx, []Room{room})
		if f1[0].Waiting != 3 || f1[0].Active != 0 || f2[0].Waiting != 0 || f2[0].Active != 1 || f2[0].State != StateQueued {
			t.Fatalf("figures leak: %+v / %+v", f1[0], f2[0])
		}
	})
}

// Every key a room leaves behind expires.
func TestKeysHaveTTL(t *testing.T) {
	eachBackend(t, func(t *testing.T, q *Queue, rdb redis.UniversalClient) {
		room := Room{Name: "ttl", AdmitPerMinute: 60, MaxActive: 10, AbandonAfter: MaxDuration, OpensAt: time.Now().Add(time.Hour)}
		joinAll(t, q, room, 3, time.Time{})
		_ = q.Update(ctx, room.Name, Patch{MaxActive: ptr(5)})
		_, _ = q.AdmitAt(ctx, room, time.Now().Add(2*time.Hour))
		keys := keysMatching(t, rdb, q.cfg.Prefix+"*")
		if len(keys) != 6 { // line vis act st cfg rate
			t.Fatalf("keys %v", keys)
		}
		for _, k := range keys {
			if ttl, _ := rdb.PTTL(ctx, k).Result(); ttl <= 0 {
				t.Errorf("%s has no TTL (%v)", k, ttl)
			}
		}
	})
}

// A room nobody joins or admits in for KeyTTL is forgotten, on every
// backend (the embedded server counts TTLs down in real time too): its
// keys are gone, and the slot its last admitted visitor held with them, so
// the next visitor walks in where they would have queued behind two.
func TestIdleRoomForgotten(t *testing.T) {
	for _, b := range backends {
		t.Run(b.name, func(t *testing.T) {
			rdb, prefix := b.open(t)
			q := New(rdb, Config{Prefix: prefix, KeyTTL: 1500 * time.Millisecond})
			room := Room{Name: "idle", AdmitPerMinute: 60, MaxActive: 1, AbandonAfter: MaxDuration}
			joinAll(t, q, room, 3, time.Time{})
			if keys := keysMatching(t, rdb, prefix+"*"); len(keys) == 0 {
				t.Fatal("no keys after three joins")
			}
			deadline := time.Now().Add(10 * time.Second)
			for len(keysMatching(t, rdb, prefix+"*")) > 0 {
				if time.Now().After(deadline) {
					t.Fatalf("keys still there 10 s after a 1.5 s TTL: %v", keysMatching(t, rdb, prefix+"*"))
				}
				time.Sleep(100 * time.Millisecond)
			}
			st, err := q.Join(ctx, room, "newcomer")
			if err != nil {
				t.Fatal(err)
			}
			if st.State != StateAdmitted {
				t.Fatalf("first visitor of a forgotten room: %+v, want admitted at once", st)
			}
		})
	}
}

// Forged and oversized input is refused before it reaches Redis; visitor
// ids with Lua pattern or key syntax in them are stored as they are.
func TestHostileInput(t *testing.T) {
	eachBackend(t, func(t *testing.T, q *Queue, rdb redis.UniversalClient) {
		good := Room{Name: "ok", AdmitPerMinute: 60, MaxActive: 10}
		for _, name := range []string{"", "UPPER", "a}b", "x{y", strings.Repeat("a", 33), "a b", "a:b"} {
			if _, err := q.Join(ctx, Room{Name: name, AdmitPerMinute: 1, MaxActive: 1}, "v"); !errors.Is(err, ErrBadRoom) {
				t.Errorf("room %q: %v", name, err)
			}
		}
		for _, v := range []string{"", strings.Repeat("x", MaxVisitorLen+1)} {
			if _, err := q.Join(ctx, good, v); !errors.Is(err, ErrBadVisitor) {
				t.Errorf("visitor of %d bytes: %v", len(v), err)
			}
		}
		_ = q.Update(ctx, good.Name, Patch{Paused: ptr(true)})
		odd := []string{"%d:%s", "1:2", "}{", "\x00\xff", "*", "a\nb", strings.Repeat("é", 64)}
		for i, v := range odd {
			s, err := q.Join(ctx, good, v)
			if err != nil || s.Position != int64(i+1) {
				t.Fatalf("visitor %q: %+v %v", v, s, err)
			}
		}
		_ = q.Update(ctx, good.Name, Patch{Paused: ptr(false)})
		a, err := q.AdmitNext(ctx, good, 10)
		if err != nil || strings.Join(a.Admitted, "|") != strings.Join(odd, "|") {
			t.Fatalf("admitted %q %v", a.Admitted, err)
		}
	})
}

// Figures of many rooms come back in one round trip, in the order asked.
func TestFiguresManyRooms(t *testing.T) {
	eachBackend(t, func(t *testing.T, q *Queue, rdb redis.UniversalClient) {
		var rooms []Room
		for i := range 20 {
			r := Room{Name: fmt.Sprintf("room-%d", i), AdmitPerMinute: 60, MaxActive: 10}
			_ = q.Update(ctx, r.Name, Patch{Paused: ptr(true)})
			joinAll(t, q, r, i, time.Time{})
			rooms = append(rooms, r)
		}
		_ = rdb.ScriptFlush(ctx).Err() // the pipeline must recover from NOSCRIPT
		f, err := q.Figures(ctx, rooms)
		if err != nil {
			t.Fatal(err)
		}
		for i := range rooms {
			if f[i].Room != rooms[i].Name || f[i].Waiting != int64(i) {
				t.Fatalf("room %d: %+v", i, f[i])
			}
		}
	})
}

func sortedCopy(s []string) []string {
	c := append([]string(nil), s...)
	sort.Strings(c)
	return c
}

// One admission is one session: every Enter of it returns the same id,
// Renew extends only the session it names, Revoke frees the slot once and
// marks the session revoked, and a later admission is a new session that a
// late revoke of the old one cannot touch.
func TestOneSessionPerAdmission(t *testing.T) {
	eachBackend(t, func(t *testing.T, q *Queue, rdb redis.UniversalClient) {
		clk := newClock(t, rdb)
		room := Room{Name: "sessions", AdmitPerMinute: 6000, MaxActive: 10, SessionTTL: time.Minute, AbandonAfter: time.Hour}
		if s, err := q.join(ctx, room, "ann", clk.now); err != nil || s.State != StateAdmitted {
			t.Fatalf("join: %+v %v", s, err)
		}
		first, err := q.session(ctx, room, "ann", "", "", clk.now)
		if err != nil {
			t.Fatal(err)
		}
		if raw, _ := base64.RawURLEncoding.DecodeString(first.ID); len(raw) < 16 {
			t.Fatalf("session id %q is not 128 random bits", first.ID)
		}
		for i := range 20 {
			again, err := q.session(ctx, room, "ann", "", "", clk.add(time.Second))
			if err != nil || again.ID != first.ID {
				t.Fatalf("enter #%d: %+v %v, want session %s", i+2, again, err, first.ID)
			}
		}
		if f := figures(t, q, room, clk.now); f.Active != 1 {
			t.Fatalf("active %d after 21 entries of one admission, want 1", f.Active)
		}
		if _, err := q.session(ctx, room, "ann", "someone-elses", "", clk.now); !errors.Is(err, ErrNotAdmitted) {
			t.Fatalf("renew with a foreign session id: %v", err)
		}
		if r, err := q.session(ctx, room, "ann", first.ID, "", clk.add(time.Second)); err != nil || r.ID != first.ID {
			t.Fatalf("renew: %+v %v", r, err)
		}
		if ok, _ := q.Revoked(ctx, room.Name, first.ID); ok {
			t.Fatal("a live session reads as revoked")
		}
		freed, err := q.revoke(ctx, room.Name, "ann", first.ID, clk.now.Add(time.Minute), 30*time.Second, clk.now)
		if err != nil || !freed {
			t.Fatalf("revoke: freed %v, %v", freed, err)
		}
		if freed, _ := q.revoke(ctx, room.Name, "ann", first.ID, clk.now.Add(time.Minute), 30*time.Second, clk.now); freed {
			t.Fatal("a second revoke of the same session freed a slot again")
		}
		if ok, err := q.Revoked(ctx, room.Name, first.ID); err != nil || !ok {
			t.Fatalf("revoked session: %v %v", ok, err)
		}
		if ttl := rdb.PTTL(ctx, q.revokedKey(room.Name, first.ID)).Val(); ttl < 30*time.Second {
			t.Fatalf("revocation kept %s, want at least until the pass expires", ttl)
		}
		if _, err := q.session(ctx, room, "ann", "", "", clk.now); !errors.Is(err, ErrNotAdmitted) {
			t.Fatalf("enter after revoke: %v", err)
		}
		// Back in line and admitted again: a new admission, a new session.
		if s, err := q.join(ctx, room, "ann", clk.add(time.Second)); err != nil || s.State != StateAdmitted {
			t.Fatalf("second join: %+v %v", s, err)
		}
		second, err := q.session(ctx, room, "ann", "", "", clk.now)
		if err != nil || second.ID == first.ID {
			t.Fatalf("second admission: %+v %v, want a new session", second, err)
		}
		if freed, _ := q.revoke(ctx, room.Name, "ann", first.ID, clk.now, time.Second, clk.now); freed {
			t.Fatal("a late revoke of the old session freed the new one")
		}
		if r, err := q.session(ctx, room, "ann", second.ID, "", clk.now); err != nil || r.ID != second.ID {
			t.Fatalf("the new session after a late revoke of the old: %+v %v", r, err)
		}
		// A session that ends by itself leaves no id behind.
		if f := figures(t, q, room, clk.add(2*time.Minute)); f.Active != 0 {
			t.Fatalf("active %d after the session ended", f.Active)
		}
		if n := rdb.HLen(ctx, q.keys(room.Name)[7]).Val(); n != 0 {
			t.Fatalf("%d session ids left after every session ended", n)
		}
	})
}

// A client (one network) may take only so many new places per minute and
// hold only so many at once; a refusal takes nothing, says when to try
// again and is counted; a visitor already in line is never refused;
// another client is not affected; the place comes back when its visitor
// leaves the line at the front.
func TestClientLimits(t *testing.T) {
	eachBackend(t, func(t *testing.T, q *Queue, rdb redis.UniversalClient) {
		clk := newClock(t, rdb)
		room := Room{Name: "limits", AdmitPerMinute: 0, MaxActive: 100, AbandonAfter: time.Hour,
			ClientPlacesPerMinute: 6, ClientPlacesHeld: 5}
		bot, human := Arrival{Client: "203.0.113.7"}, Arrival{Client: "198.51.100.1"}
		join := func(v string, a Arrival) Status {
			t.Helper()
			s, err := q.arrive(ctx, room, v, a, clk.now)
			if err != nil {
				t.Fatal(err)
			}
			return s
		}
		for i := range 3 { // the burst: half a minute's worth
			if s := join(fmt.Sprintf("b%d", i), bot); s.State != StateQueued {
				t.Fatalf("place %d within the burst: %+v", i+1, s)
			}
		}
		s := join("b3", bot)
		if s.State != StateLimited || s.Reason != "rate" || s.RetryAt.Sub(clk.now) < 9*time.Second || s.RetryAt.Sub(clk.now) > 11*time.Second {
			t.Fatalf("fourth place at once: %+v, want limited (rate) with a retry in about 10 s", s)
		}
		if f := figures(t, q, room, clk.now); f.Waiting != 3 || f.RefusedTotal != 1 {
			t.Fatalf("after a refusal: waiting %d refused %d, want 3 and 1", f.Waiting, f.RefusedTotal)
		}
		if s := join("b0", bot); s.State != StateQueued || s.Position != 1 {
			t.Fatalf("a visitor already in line asks again: %+v, want their place", s)
		}
		if s := join("h0", human); s.State != StateQueued {
			t.Fatalf("another client: %+v", s)
		}
		clk.add(10 * time.Second)
		if s := join("b3", bot); s.State != StateQueued {
			t.Fatalf("after the retry time: %+v", s)
		}
		clk.add(10 * time.Second)
		join("b4", bot) // five held now
		clk.add(time.Minute)
		if s := join("b5", bot); s.State != StateLimited || s.Reason != "held" {
			t.Fatalf("a sixth place held at once: %+v, want limited (held)", s)
		}
		// Two of the bot's visitors leave the line at the front.
		if _, err := q.AdmitNext(ctx, room, 2); err != nil {
			t.Fatal(err)
		}
		if s := join("b5", bot); s.State != StateQueued {
			t.Fatalf("after two of its places came back: %+v", s)
		}
		// A live change applies at once.
		if err := q.Update(ctx, room.Name, Patch{ClientPlacesHeld: ptr(0), ClientPlacesPerMinute: ptr(0)}); err != nil {
			t.Fatal(err)
		}
		for i := range 20 {
			if s := join(fmt.Sprintf("x%d", i), bot); s.State != StateQueued {
				t.Fatalf("limits lifted: place %d %+v", i, s)
			}
		}
	})
}

// In a room with a toll a new place needs a solution, each solution buys
// one place once; a visitor already in line is never asked again; nothing
// is taken without one.
func TestToll(t *testing.T) {
	eachBackend(t, func(t *testing.T, q *Queue, rdb redis.UniversalClient) {
		clk := newClock(t, rdb)
		room := Room{Name: "toll", AdmitPerMinute: 0, MaxActive: 100, AbandonAfter: time.Hour, Toll: true, TollSeconds: 1.5}
		grace := time.Duration(3*1.5*float64(time.Second)) + 2*time.Second
		paid := func(id string) Arrival { return Arrival{Toll: id, TollUntil: clk.now.Add(time.Minute)} }
		arrive := func(v string, a Arrival) Status {
			t.Helper()
			s, err := q.arrive(ctx, room, v, a, clk.now)
			if err != nil {
				t.Fatal(err)
			}
			return s
		}
		// Arrival takes the place; it counts once paid.
		s := arrive("ann", Arrival{})
		if s.State != StateToll || s.TollSeconds != 1.5 || s.Position != 1 || s.Ticket != 1 || !s.PayBy.Equal(clk.now.Add(grace)) {
			t.Fatalf("ann arrives: %+v, want the toll (1.5 s) with place 1 kept for %s", s, grace)
		}
		if s := arrive("bob", Arrival{}); s.State != StateToll || s.Position != 2 {
			t.Fatalf("bob arrives: %+v", s)
		}
		if f := figures(t, q, room, clk.now); f.Waiting != 0 {
			t.Fatalf("waiting %d before anyone paid, want 0", f.Waiting)
		}
		// Bob pays first; ann still comes first.
		if s := arrive("bob", paid("c1")); s.State != StateQueued || s.Position != 2 {
			t.Fatalf("bob pays: %+v, want queued at 2", s)
		}
		if s := arrive("cat", paid("c1")); s.State != StateToll {
			t.Fatalf("the same solution again: %+v, want the toll asked", s)
		}
		if s := arrive("ann", paid("c2")); s.State != StateQueued || s.Position != 1 {
			t.Fatalf("ann pays: %+v, want queued at 1", s)
		}
		if s := arrive("ann", Arrival{}); s.State != StateQueued {
			t.Fatalf("in line, asked again: %+v", s)
		}
		if s, _ := q.status(ctx, room, "ann", clk.now); s.State != StateQueued {
			t.Fatalf("status read in line: %+v", s)
		}
		f := figures(t, q, room, clk.now)
		if f.Waiting != 2 || f.TollsTotal != 2 || !f.Config.Toll {
			t.Fatalf("figures %+v, want two waiting and two tolls paid", f)
		}
		if ttl := rdb.PTTL(ctx, q.spentKey(room.Name, paid("c1").TollUntil)).Val(); ttl <= 0 || ttl > 2*time.Minute {
			t.Fatalf("spent solution kept %s, want until the challenge expires", ttl)
		}

		// Dan arrives and pays nothing; eve arrives behind him and pays.
		// At the front, dan's place is kept while his time runs: eve goes
		// in first, dan when he pays.
		arrive("dan", Arrival{})
		arrive("eve", Arrival{})
		arrive("eve", paid("c3"))
		adm, err := q.admit(ctx, room, 3, clk.now)
		if err != nil {
			t.Fatal(err)
		}
		if got := strings.Join(adm.Admitted, ","); got != "ann,bob,eve" || adm.Skipped != 0 {
			t.Fatalf("admitted %s (skipped %d), want ann,bob,eve with dan kept", got, adm.Skipped)
		}
		if s := arrive("dan", Arrival{}); s.State != StateToll || s.Position != 1 {
			t.Fatalf("dan, unpaid at the front: %+v, want his place kept at 1", s)
		}
		if s := arrive("dan", paid("c4")); s.State != StateQueued || s.Position != 1 {
			t.Fatalf("dan pays at the front: %+v, want queued at 1 (the front passed his number while he paid)", s)
		}
		if s, _ := q.status(ctx, room, "dan", clk.now); s.State != StateQueued || s.Position != 1 {
			t.Fatalf("dan's status once paid: %+v, want queued at 1", s)
		}
		if adm, _ := q.admit(ctx, room, 1, clk.now); len(adm.Admitted) != 1 || adm.Admitted[0] != "dan" {
			t.Fatalf("dan paid: %+v", adm)
		}

		// Fay never pays: past her time the place is dropped at the front
		// (counted as abandoned), and if she comes back she starts again
		// at the back.
		arrive("fay", Arrival{})
		arrive("gus", paid("c5"))
		clk.add(grace + time.Second)
		if s, _ := q.status(ctx, room, "fay", clk.now); s.State != StateNone {
			t.Fatalf("fay past her time: %+v, want no place", s)
		}
		if s := arrive("fay", Arrival{}); s.State != StateToll || s.Position != 3 || s.Ticket != 8 {
			t.Fatalf("fay back: %+v, want a new place behind cat (unpaid, kept) and gus", s)
		}
		clk.add(grace + time.Second)
		adm, _ = q.admit(ctx, room, 5, clk.now)
		if len(adm.Admitted) != 1 || adm.Admitted[0] != "gus" || adm.Skipped != 2 {
			t.Fatalf("admission after fay's time: %+v, want gus in, cat and fay dropped", adm)
		}

		// One network gets two places kept for their tolls at once (a
		// household's two phones); its third new visitor pays first and is
		// placed when paid.
		venue := Arrival{Client: "203.0.113.9"}
		for i := range 2 {
			if s := arrive(fmt.Sprintf("v%d", i), venue); s.State != StateToll || s.Position == 0 {
				t.Fatalf("venue visitor %d: %+v, want a place kept", i, s)
			}
		}
		if s := arrive("v4", venue); s.State != StateToll || s.Position != 0 || s.Ticket != 0 {
			t.Fatalf("third at once from the venue: %+v, want the toll first, no place kept", s)
		}
		arrive("v0", Arrival{Client: venue.Client, Toll: "c6", TollUntil: clk.now.Add(time.Minute)})
		if s := arrive("v5", venue); s.State != StateToll || s.Position == 0 {
			t.Fatalf("after one paid: %+v, want a place kept again", s)
		}
		if s := arrive("v4", Arrival{Client: venue.Client, Toll: "c7", TollUntil: clk.now.Add(time.Minute)}); s.State != StateQueued || s.Position == 0 {
			t.Fatalf("the third pays: %+v, want a place", s)
		}

		// Lifting the toll makes a kept place count.
		arrive("hal", Arrival{})
		if err := q.Update(ctx, room.Name, Patch{Toll: ptr(false)}); err != nil {
			t.Fatal(err)
		}
		if s := arrive("hal", Arrival{}); s.State != StateQueued {
			t.Fatalf("toll lifted: %+v, want hal's place counted", s)
		}
	})
}
