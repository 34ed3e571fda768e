package judge

import (
	"math"
	"testing"

	"github.com/stretchr/testify/assert"
)

// TestExactDistTails checks P(U <= u) deep in the lower tail against exact
// rational values: the Gaussian binomial coefficients in Python integers
// (no rounding), divided by C(m+n, m) with fractions.Fraction, then rounded
// to float64 (Python 3.11, the generating function of exact.go without
// rescaling).
func TestExactDistTails(t *testing.T) {
	cases := []struct {
		m, n int
		u    []int
		want []float64
	}{
		{200, 200, []int{20000, 18000, 15000, 12000, 10000, 6667},
			[]float64{0.5001723371733408, 0.04186418362941083, 6.792399144103907e-06, 9.324325518742228e-13, 2.539272642765826e-19, 9.910236269936136e-35}},
		{150, 200, []int{15000, 13500, 11250, 9000, 7500, 5000},
			[]float64{0.5002126578005962, 0.05475081482045945, 2.8332904668408957e-05, 3.517543250868412e-11, 8.051510610357412e-17, 4.6693315429253644e-30}},
		{40, 60, []int{1200, 1080, 900, 720, 600, 400},
			[]float64{0.5013967706306087, 0.20109462033864514, 0.01733326982445097, 0.0003107559410936027, 7.473357868116292e-06, 1.3681429897665976e-09}},
	}
	for _, c := range cases {
		d := newExactDist(c.m, c.n)
		swapped := newExactDist(c.n, c.m)
		for i, u := range c.u {
			got := d.le(u)
			if rel := math.Abs(got-c.want[i]) / c.want[i]; rel > 1e-9 {
				t.Errorf("%dx%d P(U <= %d) = %.17g, want %.17g (relative error %.2g)", c.m, c.n, u, got, c.want[i], rel)
			}
			assert.Equal(t, got, swapped.le(u), "symmetric in the sizes")
			// P(U >= n - u) = P(U <= u) by symmetry.
			assert.Equal(t, got, d.ge(c.m*c.n-u))
		}
	}
}

// TestExactDistRecurrence compares the whole distribution with the classic
// recurrence #(m, n, u) = #(m-1, n, u-n) + #(m, n-1, u) for every size up to
// 12 × 12.
func TestExactDistRecurrence(t *testing.T) {
	const max = 12
	// counts[m][n][u]
	counts := make([][][]float64, max+1)
	for m := 0; m <= max; m++ {
		counts[m] = make([][]float64, max+1)
		for n := 0; n <= max; n++ {
			c := make([]float64, m*n+1)
			switch {
			case m == 0 || n == 0:
				c[0] = 1
			default:
				for u := range c {
					if u-n >= 0 && u-n < len(counts[m-1][n]) {
						c[u] += counts[m-1][n][u-n]
					}
					if u < len(counts[m][n-1]) {
						c[u] += counts[m][n-1][u]
					}
				}
			}
			counts[m][n] = c
		}
	}
	for m := 1; m <= max; m++ {
		for n := 1; n <= max; n++ {
			d := newExactDist(m, n)
			total, acc := 0.0, 0.0
			for _, v := range counts[m][n] {
				total += v
			}
			for u, v := range counts[m][n] {
				acc += v
				assert.InEpsilon(t, acc/total, d.le(u), 1e-12, "%dx%d u=%d", m, n, u)
			}
			assert.Equal(t, 0.0, d.le(-1))
			assert.Equal(t, 1.0, d.le(m*n))
		}
	}
}

func TestExactDistQuantile(t *testing.T) {
	d := newExactDist(5, 6)
	for _, p := range []float64{0.001, 0.01, 0.05, 0.3, 0.5, 0.9} {
		q := d.quantile(p)
		assert.GreaterOrEqual(t, d.le(q), p)
		if q > 0 {
			assert.Less(t, d.le(q-1), p)
		}
	}
}
