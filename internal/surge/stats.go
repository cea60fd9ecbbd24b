package surge

import (
	"math"
	"sort"
	"sync/atomic"
	"time"
)

// histogram records durations in logarithmic buckets 1% wide, from 1 µs to
// about one hour, with atomic counters: many visitor goroutines record into
// it at once without a lock, memory stays fixed however long the run, and a
// percentile read from it is within 1% of the exact value.
type histogram struct {
	counts [histBuckets]atomic.Int64
	n      atomic.Int64
	max    atomic.Int64 // nanoseconds
}

const (
	histGrowth  = 1.01
	histBuckets = 2200 // 1.01^2200 µs ≈ 3.1e9 µs ≈ 52 min
)

var logGrowth = math.Log(histGrowth)

func bucketOf(d time.Duration) int {
	us := float64(d) / float64(time.Microsecond)
	if us <= 1 {
		return 0
	}
	i := int(math.Log(us) / logGrowth)
	if i >= histBuckets {
		return histBuckets - 1
	}
	return i
}

// bucketValue is the middle (geometric) of bucket i's range.
func bucketValue(i int) time.Duration {
	us := math.Pow(histGrowth, float64(i)+0.5)
	return time.Duration(us * float64(time.Microsecond))
}

func (h *histogram) record(d time.Duration) {
	if d < 0 {
		d = 0
	}
	h.counts[bucketOf(d)].Add(1)
	h.n.Add(1)
	for {
		m := h.max.Load()
		if int64(d) <= m || h.max.CompareAndSwap(m, int64(d)) {
			return
		}
	}
}

// quantile returns the nearest-rank q-quantile (0 < q ≤ 1): the smallest
// recorded value with at least q of the values at or below it.
func (h *histogram) quantile(q float64) time.Duration {
	n := h.n.Load()
	if n == 0 {
		return 0
	}
	rank := int64(math.Ceil(q * float64(n)))
	if rank < 1 {
		rank = 1
	}
	var seen int64
	for i := range h.counts {
		seen += h.counts[i].Load()
		if seen >= rank {
			v := bucketValue(i)
			if m := time.Duration(h.max.Load()); v > m {
				v = m // the top bucket's middle can lie above the real maximum
			}
			return v
		}
	}
	return time.Duration(h.max.Load())
}

func (h *histogram) percentiles() Percentiles {
	return Percentiles{
		Count: h.n.Load(),
		P50:   ms(h.quantile(0.50)),
		P95:   ms(h.quantile(0.95)),
		P99:   ms(h.quantile(0.99)),
		Max:   ms(time.Duration(h.max.Load())),
	}
}

func ms(d time.Duration) float64 {
	return math.Round(float64(d)/float64(time.Millisecond)*1000) / 1000
}

// Admission is one visitor's admission as the client saw it, the input of
// the FIFO check. Times are offsets from the start of the run.
type Admission struct {
	Ticket int64 // the visitor's queue number (arrival order at the gateway)
	// LastQueued is when the visitor last saw itself still waiting; -1 if it
	// was never seen waiting (admitted at once).
	LastQueued time.Duration
	// Admitted is when the visitor first saw itself admitted.
	Admitted time.Duration
	// Gap is the longest the visitor went between two status messages
	// while waiting: a "waiting" message may be as stale as the server's
	// own push cadence, which is what this measures (a lagging gateway
	// pushes less often). 0 when unknown.
	Gap time.Duration
}

// CountInversions counts the pairs (a, b) where a's ticket is smaller than
// b's but b was admitted first, ordering admissions by when the client saw
// them (ties kept in input order). O(n log n): a binary indexed tree over
// ticket ranks, swept in admission order.
//
// Clients observe admission with a delay (a poll interval, a push), so this
// "observed" count can include pairs admitted in the right order but seen in
// the wrong one; CountCertainInversions counts only provable ones.
func CountInversions(adm []Admission) int64 {
	order := make([]int, len(adm))
	for i := range order {
		order[i] = i
	}
	sort.SliceStable(order, func(x, y int) bool { return adm[order[x]].Admitted < adm[order[y]].Admitted })
	rank := ticketRanks(adm)
	bit := newFenwick(len(adm))
	var inv int64
	for seen, i := range order {
		// Every visitor already admitted with a larger ticket is ahead of i
		// unfairly.
		inv += int64(seen) - bit.sum(rank[i])
		bit.add(rank[i])
	}
	return inv
}

// CountCertainInversions counts the pairs where a visitor with a larger
// ticket was seen admitted before a visitor with a smaller ticket was last
// seen still waiting, by more than the larger of slack and the waiting
// visitor's Gap. Such a pair is an inversion whatever the observation
// delays, because the true admission of each lies between its last
// "waiting" and its first "admitted" observation; the slack covers how
// stale a "waiting" message may already be when it arrives.
func CountCertainInversions(adm []Admission, slack time.Duration) int64 {
	type event struct {
		at     time.Duration
		insert bool // an admission; otherwise a "last seen waiting" query
		i      int
	}
	ev := make([]event, 0, 2*len(adm))
	for i, a := range adm {
		ev = append(ev, event{at: a.Admitted, insert: true, i: i})
		if a.LastQueued >= 0 {
			ev = append(ev, event{at: a.LastQueued - max(slack, a.Gap), i: i})
		}
	}
	// At equal times queries go first: "admitted strictly before".
	sort.Slice(ev, func(x, y int) bool {
		if ev[x].at != ev[y].at {
			return ev[x].at < ev[y].at
		}
		return !ev[x].insert && ev[y].insert
	})
	rank := ticketRanks(adm)
	bit := newFenwick(len(adm))
	var inv, inserted int64
	for _, e := range ev {
		if e.insert {
			bit.add(rank[e.i])
			inserted++
			continue
		}
		inv += inserted - bit.sum(rank[e.i])
	}
	return inv
}

// ticketRanks maps each admission's ticket to 1..n, equal tickets sharing a
// rank, so the tree's size is the number of visitors whatever the tickets.
func ticketRanks(adm []Admission) []int {
	idx := make([]int, len(adm))
	for i := range idx {
		idx[i] = i
	}
	sort.Slice(idx, func(x, y int) bool { return adm[idx[x]].Ticket < adm[idx[y]].Ticket })
	rank := make([]int, len(adm))
	r := 0
	for k, i := range idx {
		if k == 0 || adm[i].Ticket != adm[idx[k-1]].Ticket {
			r++
		}
		rank[i] = r
	}
	return rank
}

// fenwick is a binary indexed tree of counts over ranks 1..n.
type fenwick []int64

func newFenwick(n int) fenwick { return make(fenwick, n+1) }

func (f fenwick) add(r int) {
	for ; r < len(f); r += r & -r {
		f[r]++
	}
}

// sum returns how many ranks ≤ r were added.
func (f fenwick) sum(r int) int64 {
	var s int64
	for ; r > 0; r -= r & -r {
		s += f[r]
	}
	return s
}
