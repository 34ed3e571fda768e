package judge

// exactDist is the exact null distribution of the Mann-Whitney U statistic
// for samples of sizes m and n without ties.
type exactDist struct {
	n   int       // m × n, the largest value of U
	cdf []float64 // cdf[u] = P(U <= u) for u <= n/2; the rest by symmetry
}

// newExactDist computes the distribution of U by the generating function
//
//	Σ_u #{arrangements with U = u} q^u = [m+n choose m]_q = Π_{i=1..m} (1 - q^(n+i)) / (1 - q^i),
//
// the Gaussian binomial coefficient, built one factor at a time: multiplying
// by (1 - q^(n+i)) is a shifted subtraction and dividing by (1 - q^i) a
// strided running sum. Each step is rescaled by i/(n+i) so the coefficients
// stay probabilities (the counts overflow float64 near m = n = 510).
// Time O(m² n) with m <= n, memory O(m n).
func newExactDist(m, n int) *exactDist {
	if m > n {
		m, n = n, m
	}
	maxU := m * n
	p := make([]float64, maxU+n+m+1)
	p[0] = 1
	deg := 0 // degree of the current polynomial, (i-1) × n
	for i := 1; i <= m; i++ {
		s := n + i
		for k := deg + s; k >= s; k-- {
			p[k] -= p[k-s]
		}
		deg += n
		for k := i; k <= deg; k++ {
			p[k] += p[k-i]
		}
		scale := float64(i) / float64(n+i)
		for k := 0; k <= deg; k++ {
			p[k] *= scale
		}
		clear(p[deg+1:]) // the division is exact: nothing remains above deg
	}
	half := maxU / 2
	cdf := make([]float64, half+1)
	acc := 0.0
	for u := 0; u <= half; u++ {
		acc += p[u]
		cdf[u] = acc
	}
	return &exactDist{n: maxU, cdf: cdf}
}

// le is P(U <= u).
func (d *exactDist) le(u int) float64 {
	switch {
	case u < 0:
		return 0
	case u >= d.n:
		return 1
	case u < len(d.cdf):
		return d.cdf[u]
	}
	// P(U <= u) = 1 - P(U >= u+1) = 1 - P(U <= n-u-1) by symmetry.
	return 1 - d.cdf[d.n-u-1]
}

// ge is P(U >= u), which is P(U <= n-u) by symmetry.
func (d *exactDist) ge(u int) float64 { return d.le(d.n - u) }

// quantile is the smallest u with P(U <= u) >= p (R's qwilcox).
func (d *exactDist) quantile(p float64) int {
	lo, hi := 0, d.n
	for lo < hi {
		mid := (lo + hi) / 2
		if d.le(mid) >= p {
			hi = mid
		} else {
			lo = mid + 1
		}
	}
	return lo
}
