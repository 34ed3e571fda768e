package judge

import (
	"errors"
	"math"
	"math/rand/v2"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

var testSPRT = SPRTOptions{P0: 0.01, P1: 0.03, Alpha: 0.05, Beta: 0.10}

func TestSPRTBoundsAreWalds(t *testing.T) {
	lower, upper := testSPRT.Bounds()
	// Wald (1945): accept H0 at ln(β/(1-α)), reject at ln((1-β)/α).
	assert.InDelta(t, math.Log(0.10/0.95), lower, 1e-15)
	assert.InDelta(t, math.Log(0.90/0.05), upper, 1e-15)
	assert.InDelta(t, -2.2512917986064953, lower, 1e-15)
	assert.InDelta(t, 2.8903717578961645, upper, 1e-15)

	s, err := NewSPRT(testSPRT)
	require.NoError(t, err)
	l2, u2 := s.Bounds()
	assert.Equal(t, lower, l2)
	assert.Equal(t, upper, u2)
}

func TestSPRTLogLikelihoodRatio(t *testing.T) {
	s, err := NewSPRT(testSPRT)
	require.NoError(t, err)
	d, err := s.Observe(1, 50)
	require.NoError(t, err)
	assert.Equal(t, Continue, d)
	want := 1*math.Log(0.03/0.01) + 49*math.Log(0.97/0.99)
	assert.InDelta(t, want, s.LLR(), 1e-12)
	assert.Equal(t, SPRTState{Errors: 1, Requests: 50, Intervals: 1, LLR: s.LLR()}, s.State())
}

// bernoulli draws errors out of n requests at error ratio p.
func bernoulli(rng *rand.Rand, n int64, p float64) int64 {
	var k int64
	for range n {
		if rng.Float64() < p {
			k++
		}
	}
	return k
}

func TestSPRTRejectsABadCanaryQuickly(t *testing.T) {
	rng := rand.New(rand.NewPCG(11, 11))
	worst := 0
	for range 200 {
		s, err := NewSPRT(testSPRT)
		require.NoError(t, err)
		d := Continue
		for d == Continue {
			d, err = s.Observe(bernoulli(rng, 100, 0.10), 100)
			require.NoError(t, err)
			require.LessOrEqual(t, s.State().Intervals, 20)
		}
		require.Equal(t, Reject, d, "an error ratio of 10%% against 1%%")
		worst = max(worst, s.State().Intervals)
	}
	t.Logf("error ratio 0.10 against P0 0.01 / P1 0.03, 100 requests an interval: rejected within %d intervals in 200 runs", worst)
	assert.LessOrEqual(t, worst, 3)
}

func TestSPRTAcceptsAGoodCanary(t *testing.T) {
	rng := rand.New(rand.NewPCG(12, 12))
	const runs = 1000
	for _, p := range []float64{0.005, 0.01} {
		accepted, rejected, total := 0, 0, 0
		for range runs {
			s, err := NewSPRT(testSPRT)
			require.NoError(t, err)
			d := Continue
			for d == Continue && s.State().Intervals < 100 {
				d, err = s.Observe(bernoulli(rng, 100, p), 100)
				require.NoError(t, err)
			}
			switch d {
			case Accept:
				accepted++
			case Reject:
				rejected++
			}
			total += s.State().Intervals
		}
		t.Logf("error ratio %.3f against P0 0.01 / P1 0.03, 100 requests an interval: accepted %d, rejected %d of %d, %.1f intervals on average",
			p, accepted, rejected, runs, float64(total)/runs)
		// Wald: a canary at p <= P0 is rejected with probability at most
		// about α = 0.05; allow three standard errors.
		assert.LessOrEqual(t, float64(rejected)/runs, 0.05+3*math.Sqrt(0.05*0.95/runs))
		assert.Equal(t, runs, accepted+rejected, "every run decided within 100 intervals")
	}
}

func TestSPRTDeterministicPaths(t *testing.T) {
	s, err := NewSPRT(testSPRT)
	require.NoError(t, err)
	// 10 errors in 100: 10 ln 3 + 90 ln(0.97/0.99) = 9.15 >= 2.89.
	d, err := s.Observe(10, 100)
	require.NoError(t, err)
	assert.Equal(t, Reject, d)
	// Stopped: later observations are ignored.
	d, err = s.Observe(0, 1_000_000)
	require.NoError(t, err)
	assert.Equal(t, Reject, d)
	assert.Equal(t, 1, s.State().Intervals)

	s, err = NewSPRT(testSPRT)
	require.NoError(t, err)
	// No errors: each request adds ln(0.97/0.99) = -0.0204, so 111 requests
	// reach -2.2513.
	d, err = s.Observe(0, 110)
	require.NoError(t, err)
	assert.Equal(t, Continue, d)
	d, err = s.Observe(0, 1)
	require.NoError(t, err)
	assert.Equal(t, Accept, d)
	assert.Equal(t, Accept, s.Decision())
}

func TestSPRTResume(t *testing.T) {
	s, err := NewSPRT(testSPRT)
	require.NoError(t, err)
	_, err = s.Observe(2, 100)
	require.NoError(t, err)
	st := s.State()
	st.LLR = 1e9 // recomputed from the totals, not trusted
	r, err := ResumeSPRT(testSPRT, st)
	require.NoError(t, err)
	assert.Equal(t, s.State(), r.State())
	d1, _ := s.Observe(1, 100)
	d2, _ := r.Observe(1, 100)
	assert.Equal(t, d1, d2)
	assert.Equal(t, s.LLR(), r.LLR())
}

func TestSPRTErrors(t *testing.T) {
	for _, tt := range []struct {
		field string
		o     SPRTOptions
	}{
		{"P0", SPRTOptions{P0: 0, P1: 0.1, Alpha: 0.05, Beta: 0.1}},
		{"P1", SPRTOptions{P0: 0.1, P1: 1, Alpha: 0.05, Beta: 0.1}},
		{"P1", SPRTOptions{P0: 0.1, P1: 0.1, Alpha: 0.05, Beta: 0.1}},
		{"Alpha", SPRTOptions{P0: 0.01, P1: 0.1, Alpha: 0, Beta: 0.1}},
		{"Beta", SPRTOptions{P0: 0.01, P1: 0.1, Alpha: 0.05, Beta: math.NaN()}},
		{"Beta", SPRTOptions{P0: 0.01, P1: 0.1, Alpha: 0.6, Beta: 0.5}},
	} {
		_, err := NewSPRT(tt.o)
		var ce *ConfigError
		require.True(t, errors.As(err, &ce), "%+v", tt.o)
		assert.Equal(t, tt.field, ce.Field)
	}
	s, err := NewSPRT(testSPRT)
	require.NoError(t, err)
	for _, tt := range []struct {
		field      string
		errs, reqs int64
	}{{"errors", -1, 10}, {"requests", 0, -1}, {"errors", 11, 10}} {
		_, err := s.Observe(tt.errs, tt.reqs)
		var ce *ConfigError
		require.ErrorAs(t, err, &ce)
		assert.Equal(t, tt.field, ce.Field)
	}
	assert.Equal(t, SPRTState{}, s.State(), "a rejected observation changes nothing")
	_, err = ResumeSPRT(testSPRT, SPRTState{Errors: 5, Requests: 4})
	assert.Error(t, err)
}
