package judge

import (
	"fmt"
	"math/rand/v2"
	"testing"
)

// BenchmarkMannWhitney judges two samples of n values each with Kayenta's
// defaults (the zero-shift test, both margin tests and the Hodges-Lehmann
// interval). Time should grow as n log n:
//
//	go test -run '^$' -bench MannWhitney -benchmem ./analysis/judge/
func BenchmarkMannWhitney(b *testing.B) {
	for _, n := range []int{1_000, 10_000, 100_000} {
		rng := rand.New(rand.NewPCG(1, uint64(n)))
		base, canary := make([]float64, n), make([]float64, n)
		for i := range base {
			base[i] = 100 + 20*rng.NormFloat64()
			canary[i] = 103 + 20*rng.NormFloat64()
		}
		opts := DefaultMannWhitneyOptions()
		b.Run(fmt.Sprintf("n=%d", n), func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if _, err := MannWhitney(base, canary, opts); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkMannWhitneyExact is the exact path at the default limit, 25 × 25.
func BenchmarkMannWhitneyExact(b *testing.B) {
	rng := rand.New(rand.NewPCG(2, 2))
	base, canary := make([]float64, 25), make([]float64, 25)
	for i := range base {
		base[i] = rng.NormFloat64()
		canary[i] = rng.NormFloat64()
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := MannWhitney(base, canary, DefaultMannWhitneyOptions()); err != nil {
			b.Fatal(err)
		}
	}
}
