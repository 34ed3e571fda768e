package judge

import (
	"math/bits"
	"slices"
)

// quickselect reorders x so that x[r] is the value it would have after
// sorting, and returns it. Median-of-three pivots with three-way
// partitioning; after 2·log2(len(x)) rounds without finishing it sorts the
// rest, so the worst case stays O(n log n).
func quickselect(x []float64, r int) float64 {
	lo, hi := 0, len(x) // the answer is in x[lo:hi]
	budget := 2 * bits.Len(uint(len(x)))
	for hi-lo > 16 {
		if budget--; budget < 0 {
			slices.Sort(x[lo:hi])
			return x[r]
		}
		m := lo + (hi-lo)/2
		a, b, c := x[lo], x[m], x[hi-1]
		pivot := max(min(a, b), min(max(a, b), c))
		// Three-way partition: [lo, lt) < pivot, [lt, gt) == pivot, [gt, hi) > pivot.
		lt, i, gt := lo, lo, hi
		for i < gt {
			switch v := x[i]; {
			case v < pivot:
				x[lt], x[i] = x[i], x[lt]
				lt++
				i++
			case v > pivot:
				gt--
				x[gt], x[i] = x[i], x[gt]
			default:
				i++
			}
		}
		switch {
		case r < lt:
			hi = lt
		case r >= gt:
			lo = gt
		default:
			return pivot
		}
	}
	slices.Sort(x[lo:hi])
	return x[r]
}
