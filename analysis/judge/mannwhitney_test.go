package judge

import (
	"errors"
	"math"
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func seq(from, step float64, n int) []float64 {
	out := make([]float64, n)
	for i := range out {
		out[i] = from + step*float64(i)
	}
	return out
}

func TestMannWhitneyDecisions(t *testing.T) {
	base := seq(100, 1, 20) // 100..119, median 109.5
	tests := []struct {
		name      string
		canary    []float64
		direction Direction
		tolerance float64
		want      Decision
	}{
		{"same values pass", seq(100, 1, 20), Either, 0, Pass},
		{"much higher is High", seq(200, 1, 20), Either, 0, High},
		{"much lower is Low", seq(0, 1, 20), Either, 0, Low},
		{"higher with Increase is High", seq(200, 1, 20), Increase, 0, High},
		{"lower with Increase passes", seq(0, 1, 20), Increase, 0, Pass},
		{"higher with Decrease passes", seq(200, 1, 20), Decrease, 0, Pass},
		{"lower with Decrease is Low", seq(0, 1, 20), Decrease, 0, Low},
		// A shift of 20 is significant but within 25% of 109.5 = 27.4.
		{"shift within tolerance passes", seq(120, 1, 20), Either, 0.25, Pass},
		{"shift within tolerance fails without it", seq(120, 1, 20), Either, 0, High},
		// A shift of 60 is far beyond the margin.
		{"shift beyond tolerance is High", seq(160, 1, 20), Either, 0.25, High},
		{"shift beyond tolerance is Low", seq(40, 1, 20), Either, 0.25, Low},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			opts := DefaultMannWhitneyOptions()
			opts.Direction = tt.direction
			opts.Tolerance = tt.tolerance
			r, err := MannWhitney(base, tt.canary, opts)
			require.NoError(t, err)
			assert.Equal(t, tt.want, r.Decision, "%+v", r)
			assert.InDelta(t, tt.tolerance*109.5, r.Margin, 1e-9)
			if tt.tolerance == 0 {
				assert.Equal(t, r.PValue, r.DecisionPValue)
			}
		})
	}
}

func TestMannWhitneyMarginIsATestOfTheShiftedCanary(t *testing.T) {
	// With a margin, the decision p-value is the p-value of canary - margin
	// against the baseline: the same as judging the shifted canary with no
	// tolerance.
	rng := rand.New(rand.NewPCG(1, 2))
	base, canary := make([]float64, 40), make([]float64, 40)
	for i := range base {
		base[i] = 100 + 10*rng.NormFloat64()
		canary[i] = 130 + 10*rng.NormFloat64()
	}
	opts := DefaultMannWhitneyOptions()
	opts.Direction = Increase
	r, err := MannWhitney(base, canary, opts)
	require.NoError(t, err)
	shifted := make([]float64, len(canary))
	for i, v := range canary {
		shifted[i] = v - r.Margin
	}
	opts.Tolerance = 0
	s, err := MannWhitney(base, shifted, opts)
	require.NoError(t, err)
	assert.InDelta(t, s.PValue, r.DecisionPValue, 1e-12)
	assert.Equal(t, s.Decision, r.Decision)
}

func TestMannWhitneyNoData(t *testing.T) {
	opts := DefaultMannWhitneyOptions()
	for _, tt := range []struct {
		name             string
		baseline, canary []float64
	}{
		{"empty", nil, nil},
		{"empty canary", seq(1, 1, 10), nil},
		{"too few", seq(1, 1, 10), seq(1, 1, 4)},
		{"only NaN", seq(1, 1, 10), []float64{math.NaN(), math.NaN(), math.NaN(), math.NaN(), math.NaN(), math.Inf(1)}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			r, err := MannWhitney(tt.baseline, tt.canary, opts)
			require.NoError(t, err)
			assert.Equal(t, NoData, r.Decision)
			assert.Equal(t, 1.0, r.PValue)
			assert.Equal(t, len(tt.baseline), r.Baseline.N)
		})
	}
	opts.MinSamples = 2
	r, err := MannWhitney(seq(1, 1, 3), seq(5, 1, 2), opts)
	require.NoError(t, err)
	assert.NotEqual(t, NoData, r.Decision)
}

func TestMannWhitneyNaNStrategy(t *testing.T) {
	base := []float64{10, 11, 12, math.NaN(), 13, 14, 15}
	canary := []float64{10, math.Inf(-1), 11, 12, 13, math.NaN(), 14, 15}
	orig := slices.Clone(canary)

	opts := DefaultMannWhitneyOptions()
	r, err := MannWhitney(base, canary, opts)
	require.NoError(t, err)
	assert.Equal(t, SampleSummary{N: 6, Median: 12.5, NonFinite: 1}, r.Baseline)
	assert.Equal(t, SampleSummary{N: 6, Median: 12.5, NonFinite: 2}, r.Canary)
	assert.Equal(t, Pass, r.Decision)
	assert.Equal(t, 18.0, r.U)
	assert.False(t, math.IsNaN(r.PValue))
	assert.Equal(t, len(orig), len(canary))
	for i := range orig { // the input is untouched (NaN != NaN, so compare bits)
		assert.Equal(t, math.Float64bits(orig[i]), math.Float64bits(canary[i]))
	}

	opts.NaNStrategy = ReplaceNaN
	opts.NaNValue = 0
	r, err = MannWhitney(base, canary, opts)
	require.NoError(t, err)
	assert.Equal(t, 7, r.Baseline.N)
	assert.Equal(t, 8, r.Canary.N)
	assert.Equal(t, 2, r.Canary.NonFinite)
}

func TestMannWhitneyOutliers(t *testing.T) {
	base := append(seq(100, 1, 20), 10_000)
	opts := DefaultMannWhitneyOptions()
	opts.RemoveOutliers = true
	r, err := MannWhitney(base, seq(100, 1, 20), opts)
	require.NoError(t, err)
	assert.Equal(t, 1, r.Baseline.Outliers)
	assert.Equal(t, 20, r.Baseline.N)
	assert.Equal(t, 0, r.Canary.Outliers)

	// numpy.percentile gives quartiles 103.25 and 115.75: IQR 12.5, so a
	// factor of 1 keeps [90.75, 128.25] and drops 80 and 150 only.
	opts.OutlierFactor = 1
	r, err = MannWhitney(append(seq(100, 1, 20), 95, 95.3, 123.7, 124, 80, 150), seq(100, 1, 20), opts)
	require.NoError(t, err)
	assert.Equal(t, 2, r.Baseline.Outliers)
	assert.Equal(t, 24, r.Baseline.N)
}

func TestMannWhitneyAllEqual(t *testing.T) {
	same := []float64{5, 5, 5, 5, 5, 5}
	r, err := MannWhitney(same, same, DefaultMannWhitneyOptions())
	require.NoError(t, err)
	assert.Equal(t, Pass, r.Decision)
	assert.Equal(t, 18.0, r.U)
	assert.Equal(t, 0.0, r.Z)
	assert.Equal(t, 1.0, r.PValue)
	assert.False(t, r.Exact, "ties rule out the exact distribution")
	assert.Equal(t, Effect{Confidence: 0.98}, r.Effect)
}

func TestMannWhitneyExactFallsBackOnTies(t *testing.T) {
	opts := DefaultMannWhitneyOptions()
	opts.Method = Exact
	r, err := MannWhitney([]float64{1, 2, 3, 4, 5}, []float64{3, 6, 7, 8, 9}, opts)
	require.NoError(t, err)
	assert.False(t, r.Exact)
	opts.Tolerance = 0
	r, err = MannWhitney([]float64{1, 2, 3, 4, 5}, []float64{4.5, 6, 7, 8, 9}, opts)
	require.NoError(t, err)
	assert.True(t, r.Exact)
	assert.Equal(t, 24.0, r.U)
	// 5x5: of the 252 arrangements, one has U = 25 and one U = 24, so
	// P(U >= 24) = 2/252 and the two-sided p-value 4/252 ≈ 0.0159 < 0.02.
	assert.InDelta(t, 4.0/252, r.PValue, 1e-15)
	assert.Equal(t, High, r.Decision)
}

func TestHodgesLehmannSelection(t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 7))
	for trial := range 220 {
		n1, n2 := 1+rng.IntN(30), 1+rng.IntN(30)
		if trial >= 200 { // large enough for the interpolated pivots
			n1, n2 = 200+rng.IntN(200), 200+rng.IntN(200)
		}
		gen := func(n int) []float64 {
			out := make([]float64, n)
			for i := range out {
				if trial%2 == 0 {
					out[i] = float64(rng.IntN(6)) // many ties
				} else {
					out[i] = rng.NormFloat64() * 1e3
				}
			}
			slices.Sort(out)
			return out
		}
		b, c := gen(n1), gen(n2)
		var all []float64
		for _, cj := range c {
			for _, bi := range b {
				all = append(all, cj-bi)
			}
		}
		slices.Sort(all)
		s := &diffSelector{b: b, c: c}
		for k := 1; k <= len(all); k += 1 + len(all)/17 {
			require.Equal(t, all[k-1]+0, s.kth(int64(k)), "trial %d k %d", trial, k)
		}
		require.Equal(t, all[len(all)-1], s.kth(int64(len(all))))
	}
}

func TestMannWhitneyConfigErrors(t *testing.T) {
	tests := []struct {
		field  string
		modify func(*MannWhitneyOptions)
	}{
		{"Confidence", func(o *MannWhitneyOptions) { o.Confidence = 0 }},
		{"Confidence", func(o *MannWhitneyOptions) { o.Confidence = 1 }},
		{"Confidence", func(o *MannWhitneyOptions) { o.Confidence = math.NaN() }},
		{"Tolerance", func(o *MannWhitneyOptions) { o.Tolerance = -0.1 }},
		{"Tolerance", func(o *MannWhitneyOptions) { o.Tolerance = math.Inf(1) }},
		{"Direction", func(o *MannWhitneyOptions) { o.Direction = 7 }},
		{"NaNStrategy", func(o *MannWhitneyOptions) { o.NaNStrategy = 3 }},
		{"NaNValue", func(o *MannWhitneyOptions) { o.NaNStrategy, o.NaNValue = ReplaceNaN, math.NaN() }},
		{"OutlierFactor", func(o *MannWhitneyOptions) { o.RemoveOutliers, o.OutlierFactor = true, 0 }},
		{"MinSamples", func(o *MannWhitneyOptions) { o.MinSamples = 0 }},
		{"Method", func(o *MannWhitneyOptions) { o.Method = 9 }},
		{"ExactMax", func(o *MannWhitneyOptions) { o.ExactMax = 201 }},
	}
	for _, tt := range tests {
		opts := DefaultMannWhitneyOptions()
		tt.modify(&opts)
		_, err := MannWhitney(seq(1, 1, 10), seq(1, 1, 10), opts)
		var ce *ConfigError
		require.True(t, errors.As(err, &ce), "%s: %v", tt.field, err)
		assert.Equal(t, tt.field, ce.Field)
		assert.Contains(t, err.Error(), tt.field)
	}
	// Outlier factor 0 is fine while outliers are kept.
	opts := DefaultMannWhitneyOptions()
	opts.OutlierFactor = 0
	require.NoError(t, opts.Validate())
}

func TestTextEncodings(t *testing.T) {
	for d := Pass; d <= NoData; d++ {
		b, err := d.MarshalText()
		require.NoError(t, err)
		var back Decision
		require.NoError(t, back.UnmarshalText(b))
		assert.Equal(t, d, back)
	}
	for d := Either; d <= Decrease; d++ {
		b, err := d.MarshalText()
		require.NoError(t, err)
		var back Direction
		require.NoError(t, back.UnmarshalText(b))
		assert.Equal(t, d, back)
	}
	var d Direction
	var ce *ConfigError
	require.ErrorAs(t, d.UnmarshalText([]byte("up")), &ce)
	assert.Equal(t, "Direction", ce.Field)
	_, err := Decision(9).MarshalText()
	assert.Error(t, err)
	assert.Equal(t, "Decision(9)", Decision(9).String())
}
