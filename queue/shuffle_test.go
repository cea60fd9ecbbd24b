package queue

import (
	"fmt"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

// Visitors who join before opens_at wait without a position, are placed by
// a random shuffle at opening (numbered in batches), and whoever joins after
// the opening queues FIFO behind them. Nobody's position goes up once they
// have one.
func TestPrequeue(t *testing.T) {
	eachBackend(t, func(t *testing.T, q *Queue, rdb redis.UniversalClient) {
		q.cfg.Batch = 64
		clk := newClock(t, rdb)
		opens := clk.now.Add(time.Hour)
		room := Room{Name: "pre", AdmitPerMinute: 60000, MaxActive: 1 << 20, AbandonAfter: 2 * time.Hour, OpensAt: opens}
		const n = 300
		for i, s := range joinAll(t, q, room, n, clk.now) {
			if s.State != StatePrequeue || s.Position != 0 || s.Ticket != 0 || s.ETA != -1 || !s.OpensAt.Equal(opens) || s.Waiting != int64(i+1) {
				t.Fatalf("pre-queue join %d: %+v", i, s)
			}
		}
		if a, _ := q.AdmitAt(ctx, room, clk.add(time.Minute)); len(a.Admitted) > 0 {
			t.Fatalf("admitted %v before opening", a.Admitted)
		}
		if f := figures(t, q, room, clk.now); f.State != StatePrequeue || f.Waiting != n || f.Unnumbered != n {
			t.Fatalf("figures before opening: %+v", f)
		}
		// opened, nobody numbered yet: late arrivals go behind everyone
		clk.now = opens.Add(time.Second)
		late := []string{"late-1", "late-2", "late-3"}
		for i, v := range late {
			s, err := q.join(ctx, room, v, clk.now)
			if err != nil || s.State != StateQueued || s.Position != int64(n+i+1) {
				t.Fatalf("late join %s: %+v %v", v, s, err)
			}
		}
		all := append(joinedIDs(n), late...)
		var watched []string // every 10th visitor and the late ones
		for i, v := range all {
			if i%10 == 0 || i >= n {
				watched = append(watched, v)
			}
		}
		last := map[string]int64{}
		for _, v := range watched {
			s, _ := q.status(ctx, room, v, clk.now)
			if s.State != StateQueued || s.Position < 1 || s.Position > n+3 {
				t.Fatalf("%s after opening: %+v", v, s)
			}
			last[v] = s.Position
		}
		var order []string
		for len(order) < len(all) {
			a, err := q.AdmitAt(ctx, room, clk.add(5*time.Millisecond)) // a few per step
			if err != nil {
				t.Fatal(err)
			}
			order = append(order, a.Admitted...)
			for _, v := range watched {
				s, _ := q.status(ctx, room, v, clk.now)
				if s.State == StateQueued && s.Position > last[v] {
					t.Fatalf("%s: position went up from %d to %d", v, last[v], s.Position)
				}
				last[v] = s.Position
			}
		}
		seen := map[string]bool{}
		for _, v := range order {
			if seen[v] {
				t.Fatalf("%s admitted twice", v)
			}
			seen[v] = true
		}
		if len(seen) != len(all) {
			t.Fatalf("admitted %d distinct, want %d", len(seen), len(all))
		}
		if fmt.Sprint(order[n:]) != fmt.Sprint(late) {
			t.Fatalf("late arrivals admitted as %v, want %v last", order[n:], late)
		}
		if fmt.Sprint(order[:n]) == fmt.Sprint(all[:n]) {
			t.Fatal("pre-queue admitted in arrival order: not shuffled")
		}
	})
}

func joinedIDs(n int) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = visitorID(i)
	}
	return out
}

// chiSquare of a k×k table of how often visitor i ended up at place j,
// against the uniform expectation.
func chiSquare(counts [][]int, total int) float64 {
	k := len(counts)
	want := float64(total) / float64(k)
	x := 0.0
	for i := range counts {
		for j := range counts[i] {
			d := float64(counts[i][j]) - want
			x += d * d / want
		}
	}
	return x
}

// The opening shuffle is uniform: over many openings each visitor lands at
// each place equally often (chi-square, 9 degrees of freedom, p = 0.001),
// both for the pre-queue (scores from crypto/rand) and for a random-mode
// reshuffle of a waiting line (scores from the seeded generator in Lua).
func TestShuffleUniform(t *testing.T) {
	const k = 4
	const critical = 27.88 // chi-square, df = 9, p = 0.001
	shuffles := []struct {
		name string
		run  func(t *testing.T, q *Queue, room Room, clk *clock) []string
	}{
		{"prequeue", func(t *testing.T, q *Queue, room Room, clk *clock) []string {
			room.OpensAt = clk.now.Add(time.Second)
			joinAll(t, q, room, k, clk.now)
			a, err := q.AdmitAt(ctx, room, clk.now.Add(2*time.Second))
			if err != nil {
				t.Fatal(err)
			}
			return a.Admitted
		}},
		{"random-mode", func(t *testing.T, q *Queue, room Room, clk *clock) []string {
			_ = q.Update(ctx, room.Name, Patch{Paused: ptr(true)})
			joinAll(t, q, room, k, clk.now)
			_ = q.Update(ctx, room.Name, Patch{Mode: ptr(Random), Paused: ptr(false)})
			if a, err := q.AdmitAt(ctx, room, clk.now); err != nil || len(a.Admitted) > 0 {
				t.Fatalf("the shuffle step admitted %v (%v)", a.Admitted, err)
			}
			a, err := q.AdmitAt(ctx, room, clk.now)
			if err != nil {
				t.Fatal(err)
			}
			return a.Admitted
		}},
	}
	for _, sh := range shuffles {
		t.Run(sh.name, func(t *testing.T) {
			eachBackend(t, func(t *testing.T, q *Queue, rdb redis.UniversalClient) {
				clk := newClock(t, rdb)
				rounds := 250
				if slow(t) {
					rounds = 120
				}
				counts := make([][]int, k)
				for i := range counts {
					counts[i] = make([]int, k)
				}
				for r := range rounds {
					room := Room{Name: fmt.Sprintf("sh-%d", r), AdmitPerMinute: 60000, MaxActive: 100, AbandonAfter: time.Hour}
					order := sh.run(t, q, room, clk)
					if len(order) != k {
						t.Fatalf("round %d admitted %v", r, order)
					}
					for place, v := range order {
						var i int
						fmt.Sscanf(v, "v%d", &i)
						counts[i][place]++
					}
				}
				if x := chiSquare(counts, rounds); x > critical {
					t.Fatalf("chi-square %.1f > %.2f: not uniform: %v", x, critical, counts)
				}
			})
		})
	}
}

// Reopening a closed room in random mode shuffles the visitors who waited
// while it was closed; in FIFO mode they keep their order.
func TestReopenShuffle(t *testing.T) {
	eachBackend(t, func(t *testing.T, q *Queue, rdb redis.UniversalClient) {
		for _, mode := range []Mode{FIFO, Random} {
			room := Room{Name: "reopen-" + string(mode), AdmitPerMinute: 60000, MaxActive: 1000, AbandonAfter: time.Hour, Mode: mode}
			_ = q.Update(ctx, room.Name, Patch{Closed: ptr(true)})
			joinAll(t, q, room, 40, time.Time{})
			_ = q.Update(ctx, room.Name, Patch{Closed: ptr(false)})
			var order []string
			for range 5 {
				a, err := q.Admit(ctx, room)
				if err != nil {
					t.Fatal(err)
				}
				order = append(order, a.Admitted...)
			}
			inOrder := fmt.Sprint(order) == fmt.Sprint(joinedIDs(40))
			if len(order) != 40 || inOrder != (mode == FIFO) {
				t.Fatalf("%s: admitted %v", mode, order)
			}
			f, _ := q.Figures(ctx, []Room{room})
			if wantGen := map[Mode]int64{FIFO: 0, Random: 1}[mode]; f[0].Reshuffles != wantGen {
				t.Fatalf("%s: reshuffles %d, want %d", mode, f[0].Reshuffles, wantGen)
			}
		}
	})
}
