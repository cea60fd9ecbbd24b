package surge

import (
	"math/rand/v2"
	"testing"
	"time"
)

// Recording a latency is on every visitor's every request: lock-free and
// allocation-free, also with every core recording at once.
func BenchmarkHistogramRecord(b *testing.B) {
	var h histogram
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		d := 3 * time.Millisecond
		for pb.Next() {
			h.record(d)
			d += 17 * time.Microsecond
		}
	})
}

// The FIFO check at the end of a 100,000-visitor run.
func BenchmarkCountInversions(b *testing.B) {
	const n = 100_000
	rng := rand.New(rand.NewPCG(5, 6))
	adm := make([]Admission, n)
	for i := range adm {
		a := time.Duration(i) * time.Millisecond
		adm[i] = Admission{Ticket: int64(i + rng.IntN(50)), LastQueued: a - time.Duration(rng.IntN(900))*time.Millisecond, Admitted: a}
	}
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		CountInversions(adm)
		CountCertainInversions(adm, time.Second)
	}
}
