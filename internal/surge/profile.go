package surge

import (
	"math/rand/v2"
	"time"
)

// arrivals returns when each of the n visitors arrives, as offsets from the
// start, in non-decreasing order. The same Config (and Seed) always gives
// the same schedule, so surge compare sends the same crowd twice.
func arrivals(c Config) []time.Duration {
	n := c.Visitors
	at := make([]time.Duration, n)
	rng := rand.New(rand.NewPCG(uint64(c.Seed), 0x5eed))
	switch c.Profile {
	case Ramp:
		for i := range at {
			at[i] = time.Duration(float64(c.Ramp) * float64(i) / float64(n))
		}
	case Poisson:
		var t float64 // seconds
		for i := range at {
			at[i] = time.Duration(t * float64(time.Second))
			t += rng.ExpFloat64() / c.Rate
		}
	case OpensAt:
		pre := int(float64(n)*c.PrequeueShare + 0.5)
		for i := 0; i < pre; i++ {
			at[i] = time.Duration(float64(c.OpensAt) * float64(i) / float64(pre))
		}
		for i := pre; i < n; i++ {
			at[i] = c.OpensAt
		}
	default: // Burst
	}
	return at
}
