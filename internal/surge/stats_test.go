package surge

import (
	"math/rand/v2"
	"sort"
	"testing"
	"time"
)

// bruteInversions is the O(n²) definition the fast counts must match.
func bruteInversions(adm []Admission) int64 {
	var n int64
	for i := range adm {
		for j := range adm {
			if adm[i].Ticket < adm[j].Ticket && adm[j].Admitted < adm[i].Admitted {
				n++
			}
		}
	}
	return n
}

func bruteCertain(adm []Admission, slack time.Duration) int64 {
	var n int64
	for i := range adm {
		for j := range adm {
			if adm[i].LastQueued >= 0 && adm[i].Ticket < adm[j].Ticket && adm[j].Admitted < adm[i].LastQueued-max(slack, adm[i].Gap) {
				n++
			}
		}
	}
	return n
}

func inOrder(tickets ...int64) []Admission {
	adm := make([]Admission, len(tickets))
	for i, t := range tickets {
		adm[i] = Admission{Ticket: t, LastQueued: -1, Admitted: time.Duration(i+1) * time.Second}
	}
	return adm
}

// Inversions are the pairs a FIFO queue got wrong: admitted in ticket order
// is 0, fully reversed is n(n-1)/2, one visitor let in early costs one pair
// per visitor it jumped.
func TestCountInversions(t *testing.T) {
	tests := []struct {
		name string
		adm  []Admission
		want int64
	}{
		{"empty", nil, 0},
		{"one", inOrder(7), 0},
		{"fifo", inOrder(1, 2, 3, 4, 5), 0},
		{"reversed", inOrder(5, 4, 3, 2, 1), 10},
		{"one jumps three", inOrder(4, 1, 2, 3, 5), 3},
		{"gaps in tickets", inOrder(10, 30, 20, 40), 1},
		{"equal tickets are no inversion", inOrder(2, 2, 1), 2},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := CountInversions(tt.adm); got != tt.want {
				t.Errorf("CountInversions = %d, want %d", got, tt.want)
			}
			if got := bruteInversions(tt.adm); got != tt.want {
				t.Fatalf("test table wrong: brute force says %d", got)
			}
		})
	}
}

// The fast counts agree with the quadratic definitions on random orders,
// including simultaneous admissions.
func TestCountInversionsMatchesBruteForce(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	for round := 0; round < 200; round++ {
		n := rng.IntN(60)
		adm := make([]Admission, n)
		for i := range adm {
			a := time.Duration(rng.IntN(40)) * time.Millisecond
			q := time.Duration(-1)
			if rng.IntN(4) > 0 {
				q = a - time.Duration(rng.IntN(30))*time.Millisecond
			}
			adm[i] = Admission{Ticket: int64(rng.IntN(50) + 1), LastQueued: q, Admitted: a, Gap: time.Duration(rng.IntN(3)) * 4 * time.Millisecond}
		}
		// CountInversions breaks ties by input order; make input order match
		// the brute force's strict comparison by giving ties no inversions.
		sort.SliceStable(adm, func(x, y int) bool {
			return adm[x].Admitted < adm[y].Admitted || adm[x].Admitted == adm[y].Admitted && adm[x].Ticket < adm[y].Ticket
		})
		if got, want := CountInversions(adm), bruteInversions(adm); got != want {
			t.Fatalf("round %d: CountInversions = %d, brute force %d", round, got, want)
		}
		for _, slack := range []time.Duration{0, 5 * time.Millisecond} {
			if got, want := CountCertainInversions(adm, slack), bruteCertain(adm, slack); got != want {
				t.Fatalf("round %d slack %s: CountCertainInversions = %d, brute force %d", round, slack, got, want)
			}
		}
	}
}

// A visitor who saw itself admitted after a later ticket did, but whose
// admission may have happened before (it was last seen waiting earlier), is
// not a provable inversion; one still waiting after a later ticket was let
// in is.
func TestCountCertainInversions(t *testing.T) {
	s := time.Second
	tests := []struct {
		name string
		adm  []Admission
		want int64
	}{
		{"noticed late is not an inversion", []Admission{
			{Ticket: 1, LastQueued: 1 * s, Admitted: 5 * s}, // a slow poller
			{Ticket: 2, LastQueued: 1 * s, Admitted: 2 * s},
		}, 0},
		{"still waiting after a later ticket got in", []Admission{
			{Ticket: 1, LastQueued: 4 * s, Admitted: 5 * s},
			{Ticket: 2, LastQueued: 1 * s, Admitted: 2 * s},
		}, 1},
		{"admitted at once never waited", []Admission{
			{Ticket: 1, LastQueued: -1, Admitted: 5 * s},
			{Ticket: 2, LastQueued: -1, Admitted: 2 * s},
		}, 0},
		{"a lagging push is not proof", []Admission{
			{Ticket: 1, LastQueued: 4 * s, Admitted: 5 * s, Gap: 3 * s}, // its messages came 3 s apart
			{Ticket: 2, LastQueued: 1 * s, Admitted: 2 * s},
		}, 0},
		{"same instant is not provable", []Admission{
			{Ticket: 1, LastQueued: 2 * s, Admitted: 3 * s},
			{Ticket: 2, LastQueued: 1 * s, Admitted: 2 * s},
		}, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := CountCertainInversions(tt.adm, 0); got != tt.want {
				t.Errorf("got %d, want %d", got, tt.want)
			}
		})
	}
}

// Counting stays O(n log n): a million admissions in reverse order are
// counted exactly (n(n-1)/2) without a quadratic loop.
func TestCountInversionsLarge(t *testing.T) {
	if testing.Short() {
		t.Skip("large input")
	}
	const n = 1_000_000
	adm := make([]Admission, n)
	for i := range adm {
		adm[i] = Admission{Ticket: int64(n - i), LastQueued: -1, Admitted: time.Duration(i)}
	}
	if got, want := CountInversions(adm), int64(n)*(n-1)/2; got != want {
		t.Fatalf("got %d, want %d", got, want)
	}
}

// Percentiles read from the histogram are within 1% of the exact
// nearest-rank percentiles of the recorded values.
func TestHistogramPercentiles(t *testing.T) {
	tests := []struct {
		name string
		gen  func(rng *rand.Rand) time.Duration
	}{
		{"uniform 1-100ms", func(rng *rand.Rand) time.Duration {
			return time.Millisecond + time.Duration(rng.Int64N(int64(99*time.Millisecond)))
		}},
		{"long tail", func(rng *rand.Rand) time.Duration {
			return time.Duration(rng.ExpFloat64() * float64(20*time.Millisecond))
		}},
		{"seconds", func(rng *rand.Rand) time.Duration {
			return time.Duration(1+rng.IntN(600)) * time.Second
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rng := rand.New(rand.NewPCG(3, 4))
			var h histogram
			vals := make([]time.Duration, 20000)
			for i := range vals {
				vals[i] = tt.gen(rng)
				h.record(vals[i])
			}
			sort.Slice(vals, func(i, j int) bool { return vals[i] < vals[j] })
			for _, q := range []float64{0.5, 0.95, 0.99, 1} {
				exact := vals[int(float64(len(vals))*q+0.999999)-1]
				got := h.quantile(q)
				if exact < 10*time.Microsecond {
					continue // below the histogram's resolution
				}
				if diff := float64(got-exact) / float64(exact); diff > 0.01 || diff < -0.01 {
					t.Errorf("q%.2f = %s, exact %s (%.2f%% off)", q, got, exact, 100*diff)
				}
			}
		})
	}
}

// An empty histogram reports zeros, not garbage.
func TestHistogramEmpty(t *testing.T) {
	var h histogram
	if p := h.percentiles(); p != (Percentiles{}) {
		t.Fatalf("empty histogram: %+v", p)
	}
}

// The oversell check catches both ways an origin can give away more than
// it has: confirming more tickets than the stock, and a negative remaining.
func TestStockCheck(t *testing.T) {
	tests := []struct {
		name                      string
		known                     bool
		total, before, after, cnf int64
		oversell, unconfirmed     int64
	}{
		{"sold out exactly", true, 100, 100, 0, 100, 0, 0},
		{"partial sale", true, 100, 100, 60, 40, 0, 0},
		{"more confirmed than stock", true, 100, 100, 0, 103, 3, 0},
		{"remaining went negative", true, 100, 100, -5, 100, 5, 5},
		{"stock left without a confirmation", true, 100, 50, 40, 8, 0, 2},
		{"origin not readable", false, 0, 0, 0, 10, -1, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := stockCheck(tt.known, tt.total, tt.before, tt.after, tt.cnf)
			if s.Oversell != tt.oversell || s.Unconfirmed != tt.unconfirmed {
				t.Errorf("oversell %d unconfirmed %d, want %d and %d", s.Oversell, s.Unconfirmed, tt.oversell, tt.unconfirmed)
			}
			if s.TicketsConfirmed != tt.cnf {
				t.Errorf("tickets confirmed %d, want %d", s.TicketsConfirmed, tt.cnf)
			}
		})
	}
}
