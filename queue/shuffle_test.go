package queue

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"sort"
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

// shuffleCritical is the chi-square critical value for 9 degrees of
// freedom at p = 1e-6: across the six shuffle checks of a run (two shuffles,
// three backends) a uniform shuffle fails about once in 170,000 runs.
const shuffleCritical = 44.81

// placementStat measures how far a k×k table of how often visitor i ended
// up at place j (over rounds random permutations) is from uniform. Every
// round adds a permutation matrix, so rows and columns always sum to rounds
// and the cells move together: Pearson's sum over the cells is then
// k/(k-1) times a chi-square with (k-1)² degrees of freedom, not a
// chi-square itself. placementStat scales it back, so it can be compared
// with the chi-square table for (k-1)² degrees of freedom.
func placementStat(counts [][]int, rounds int) float64 {
	k := len(counts)
	want := float64(rounds) / float64(k)
	x := 0.0
	for i := range counts {
		for j := range counts[i] {
			d := float64(counts[i][j]) - want
			x += d * d / want
		}
	}
	return x * float64(k-1) / float64(k)
}

// placements tallies rounds permutations of k visitors drawn by shuffle.
func placements(k, rounds int, shuffle func() []int) [][]int {
	counts := make([][]int, k)
	for i := range counts {
		counts[i] = make([]int, k)
	}
	for range rounds {
		for place, v := range shuffle() {
			counts[v][place]++
		}
	}
	return counts
}

// The uniformity check passes a uniform shuffle and fails the biased ones
// it exists to catch, at the rounds TestShuffleUniform runs: scores too
// short so that ties fall back to arrival order, and a shuffle that keeps
// the first visitor first too often (at 250 rounds, a bias
// smaller than these can pass: the price of a false alarm once in 170,000 runs).
func TestPlacementStat(t *testing.T) {
	const k = 4
	rng := rand.New(rand.NewPCG(1, 2))
	uniform := func() []int { return rng.Perm(k) }
	tiedScores := func(bits uint) func() []int {
		return func() []int {
			p := make([]int, k)
			s := make([]uint64, k)
			for i := range p {
				p[i], s[i] = i, rng.Uint64()>>(64-bits)
			}
			sort.SliceStable(p, func(a, b int) bool { return s[p[a]] < s[p[b]] })
			return p
		}
	}
	stickyFirst := func() []int {
		p := rng.Perm(k)
		if rng.IntN(3) == 0 { // a third of rounds: visitor 0 goes first
			j := slices.Index(p, 0)
			p[0], p[j] = p[j], p[0]
		}
		return p
	}
	for _, rounds := range []int{shuffleRounds, shuffleRoundsSlow} {
		for _, tc := range []struct {
			name    string
			shuffle func() []int
			biased  bool
		}{
			{"uniform", uniform, false},
			{"2-bit scores, ties in arrival order", tiedScores(2), true},
			{"first visitor put first in a third of rounds", stickyFirst, true},
		} {
			x := placementStat(placements(k, rounds, tc.shuffle), rounds)
			if (x > shuffleCritical) != tc.biased {
				t.Errorf("%s, %d rounds: statistic %.1f (critical %.2f), biased %v", tc.name, rounds, x, shuffleCritical, tc.biased)
			}
		}
	}
}

// Rounds of the uniformity check: fewer on the embedded server, which runs
// each script in a fresh Lua state.
const (
	shuffleRounds     = 600
	shuffleRoundsSlow = 250
)

// The opening shuffle is uniform: over many openings each visitor lands at
// each place equally often (chi-square, 9 degrees of freedom, p = 1e-6),
// both for the pre-queue (scores from crypto/rand) and for a random-mode
// reshuffle of a waiting line (scores from the seeded generator in Lua).
// Each subtest uses a fresh key prefix and a fresh room per round, so the
// rounds are independent.
func TestShuffleUniform(t *testing.T) {
	const k = 4
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
				rounds := shuffleRounds
				if slow(t) {
					rounds = shuffleRoundsSlow
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
				if x := placementStat(counts, rounds); x > shuffleCritical {
					t.Fatalf("chi-square %.1f > %.2f (df 9, p = 1e-6): not uniform: %v", x, shuffleCritical, counts)
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

// While a reshuffle is under way, a waiting visitor's old place is void:
// Status says queued with no ticket and no position (not the place from
// before, which a page would go on showing), and the new place once the
// admission steps have drawn and numbered it.
func TestStatusDuringReshuffle(t *testing.T) {
	eachBackend(t, func(t *testing.T, q *Queue, rdb redis.UniversalClient) {
		room := Room{Name: "resh", AdmitPerMinute: 0, MaxActive: 100, AbandonAfter: time.Hour}
		joinAll(t, q, room, 20, time.Time{})
		if err := q.Update(ctx, room.Name, Patch{Mode: ptr(Random)}); err != nil {
			t.Fatal(err)
		}
		st, err := q.Status(ctx, room, visitorID(0))
		if err != nil {
			t.Fatal(err)
		}
		if st.State != StateQueued || st.Ticket != 0 || st.Position != 0 {
			t.Fatalf("during the reshuffle: %+v, want queued with no ticket or position", st)
		}
		seen := make(map[int64]bool)
		for range 4 {
			if _, err := q.Admit(ctx, room); err != nil {
				t.Fatal(err)
			}
		}
		for i := range 20 {
			st, err := q.Status(ctx, room, visitorID(i))
			if err != nil {
				t.Fatal(err)
			}
			if st.State != StateQueued || st.Ticket == 0 || st.Position < 1 || st.Position > 20 || seen[st.Position] {
				t.Fatalf("visitor %d after the reshuffle: %+v", i, st)
			}
			seen[st.Position] = true
		}
	})
}
