package judge

import "math"

// Effect is the Hodges-Lehmann estimate of the location shift of the canary
// from the baseline (canary ≈ baseline + Estimate) and its distribution-free
// confidence interval: the median and two order statistics of the n1 × n2
// pairwise differences canary[j] - baseline[i], as R's
// wilcox.test(canary, baseline, conf.int = TRUE) computes them.
type Effect struct {
	// Estimate is the median of the pairwise differences.
	Estimate float64
	// Lower and Upper bound the two-sided interval at Confidence: the k-th
	// smallest and the k-th largest difference. With the exact distribution
	// k is R's qwilcox((1-Confidence)/2, n1, n2), at least 1; otherwise
	// k = ⌊n1·n2/2 - z·σ⌋ with σ the tie-corrected standard deviation of U
	// (Hollander and Wolfe's large-sample rule, rounded to the wider side).
	Lower, Upper float64
	// Confidence of the interval.
	Confidence float64
}

// diffSelector finds order statistics of the pairwise differences c[j] - b[i]
// of two ascending samples without building the n1 × n2 differences.
type diffSelector struct {
	b, c []float64
	buf  []float64 // scratch for gather
}

// countLE is #{(i, j) : c[j] - b[i] <= d}, O(n1 + n2). For a fixed j the
// difference falls as i grows, so the pairs that qualify are a suffix of b,
// and that suffix starts no earlier for a larger c[j]. Floating-point
// subtraction is monotone in each operand, so this holds for the computed
// differences too.
func (s diffSelector) countLE(d float64) int64 {
	var n int64
	p := 0
	for _, cj := range s.c {
		for p < len(s.b) && cj-s.b[p] > d {
			p++
		}
		n += int64(len(s.b) - p)
	}
	return n
}

// kth is the k-th smallest difference, 1 <= k <= n1·n2: the smallest d with
// countLE(d) >= k.
//
// It keeps a bracket lo < d <= hi with countLE(lo) < k <= countLE(hi) and
// narrows it with counts, each one linear pass. Once at most n1 + n2
// differences remain inside, they are gathered in one pass and the answer is
// picked among them by quickselect.
//
// The pivots are first interpolated between the bracket's counts, aiming a
// quarter of that window beyond k on alternate sides, so a smooth
// distribution of differences is bracketed in a handful of passes. After a
// few pivots that do not halve the bracket it falls back to bisecting the
// float64 values in their bit order, which needs at most 64 passes and lands
// exactly on a difference even with heavy ties. Time O((n1 + n2) · 68) at
// worst, memory O(n1 + n2).
func (s *diffSelector) kth(k int64) float64 {
	n := int64(len(s.b)) * int64(len(s.c))
	// countLE(lo) = 0 < k <= n = countLE(hi).
	loKey := orderedKey(s.c[0]-s.b[len(s.b)-1]) - 1
	if fromOrderedKey(loKey) == 0 { // -0 counts the zeros as +0 does
		loKey--
	}
	hiKey := orderedKey(s.c[len(s.c)-1] - s.b[0])
	loCount, hiCount := int64(0), n
	window := int64(len(s.b) + len(s.c))
	misses := 0 // interpolated pivots that did not halve the bracket
	for step := 0; hiKey-loKey > 1; step++ {
		inside := hiCount - loCount
		if inside <= window {
			return s.gather(fromOrderedKey(loKey), fromOrderedKey(hiKey), inside, k-loCount)
		}
		mid := loKey + (hiKey-loKey)/2
		if misses < 4 {
			aim := k + window/4
			if step%2 == 1 {
				aim = k - window/4
			}
			aim = min(max(aim, loCount+1), hiCount-1)
			lo, hi := fromOrderedKey(loKey), fromOrderedKey(hiKey)
			f := float64(aim-loCount) / float64(inside)
			if v := lo + f*hi - f*lo; v > lo && v < hi {
				mid = orderedKey(v)
			}
		}
		if c := s.countLE(fromOrderedKey(mid)); c >= k {
			hiKey, hiCount = mid, c
		} else {
			loKey, loCount = mid, c
		}
		if misses < 4 && 2*(hiCount-loCount) > inside {
			misses++
		}
	}
	return fromOrderedKey(hiKey) + 0 // + 0 turns -0 into 0
}

// gather collects the m differences in (lo, hi] and returns the r-th
// smallest of them.
func (s *diffSelector) gather(lo, hi float64, m, r int64) float64 {
	if int64(cap(s.buf)) < m {
		s.buf = make([]float64, 0, max(m, int64(len(s.b)+len(s.c))))
	}
	s.buf = s.buf[:0]
	pHi, pLo := 0, 0 // first i with c[j]-b[i] <= hi, and <= lo
	for _, cj := range s.c {
		for pHi < len(s.b) && cj-s.b[pHi] > hi {
			pHi++
		}
		for pLo < len(s.b) && cj-s.b[pLo] > lo {
			pLo++
		}
		for _, bi := range s.b[pHi:pLo] {
			s.buf = append(s.buf, cj-bi)
		}
	}
	return quickselect(s.buf, int(r-1)) + 0
}

// next is the smallest difference greater than d, or +Inf if there is none.
func (s *diffSelector) next(d float64) float64 {
	best := math.Inf(1)
	p := 0
	for _, cj := range s.c {
		for p < len(s.b) && cj-s.b[p] > d {
			p++
		}
		// b[p-1] is the largest baseline value with cj - b > d.
		if p > 0 {
			best = min(best, cj-s.b[p-1])
		}
	}
	return best
}

// median is the median of the differences, the mean of the two middle ones
// for an even count.
func (s *diffSelector) median() float64 {
	n := int64(len(s.b)) * int64(len(s.c))
	if n%2 == 1 {
		return s.kth(n/2 + 1)
	}
	a := s.kth(n / 2)
	b := a
	if s.countLE(a) < n/2+1 {
		b = s.next(a)
	}
	return a + (b-a)/2
}

// orderedKey maps a float64 to a uint64 of the same order (for non-NaN
// values; -0 sorts just below 0).
func orderedKey(f float64) uint64 {
	b := math.Float64bits(f)
	if b>>63 == 1 {
		return ^b
	}
	return b | 1<<63
}

func fromOrderedKey(k uint64) float64 {
	if k>>63 == 1 {
		return math.Float64frombits(k &^ (1 << 63))
	}
	return math.Float64frombits(^k)
}

// hodgesLehmann computes the Effect of sorted, non-empty samples; k is the
// rank of the lower bound (1 <= k <= (n1·n2+1)/2).
func hodgesLehmann(b, c []float64, k int64, confidence float64) Effect {
	s := &diffSelector{b: b, c: c}
	n := int64(len(b)) * int64(len(c))
	return Effect{
		Estimate:   s.median(),
		Lower:      s.kth(k),
		Upper:      s.kth(n - k + 1),
		Confidence: confidence,
	}
}
