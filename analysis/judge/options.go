package judge

import (
	"fmt"
	"math"
)

// NaNStrategy says what to do with missing measurements. Non-finite values
// (NaN, +Inf, -Inf) all count as missing.
type NaNStrategy int

const (
	// RemoveNaN drops missing values before judging (Kayenta's "remove").
	RemoveNaN NaNStrategy = iota
	// ReplaceNaN replaces missing values with MannWhitneyOptions.NaNValue
	// (Kayenta's "replace", typically with 0 for counters).
	ReplaceNaN
)

func (s NaNStrategy) String() string {
	switch s {
	case RemoveNaN:
		return "Remove"
	case ReplaceNaN:
		return "Replace"
	}
	return fmt.Sprintf("NaNStrategy(%d)", int(s))
}

// Method selects how the Mann-Whitney p-value is computed.
type Method int

const (
	// Auto uses the exact null distribution when neither sample is larger
	// than MannWhitneyOptions.ExactMax and there are no ties, and the normal
	// approximation otherwise.
	Auto Method = iota
	// Exact uses the exact distribution whenever there are no ties and
	// neither sample has more than 200 values, whatever ExactMax says. With
	// ties (where the distribution without ties would be wrong) or larger
	// samples it falls back to the normal approximation; Result.Exact tells.
	Exact
	// Asymptotic forces the normal approximation with tie and continuity
	// corrections.
	Asymptotic
)

func (m Method) String() string {
	switch m {
	case Auto:
		return "Auto"
	case Exact:
		return "Exact"
	case Asymptotic:
		return "Asymptotic"
	}
	return fmt.Sprintf("Method(%d)", int(m))
}

// Defaults of DefaultMannWhitneyOptions, those of Kayenta's NetflixACAJudge
// where it has one.
const (
	DefaultConfidence    = 0.98
	DefaultTolerance     = 0.25
	DefaultOutlierFactor = 3.0
	DefaultMinSamples    = 5
	DefaultExactMax      = 25
)

// MannWhitneyOptions configures MannWhitney. Start from
// DefaultMannWhitneyOptions: every field is taken as given, so a zero
// Confidence is an error rather than a default.
type MannWhitneyOptions struct {
	// Direction says which change fails the canary; Either tests two-sided,
	// Increase and Decrease one-sided.
	Direction Direction
	// Confidence of the test and of the interval of the shift, in (0, 1).
	// The significance level is 1 - Confidence.
	Confidence float64
	// Tolerance is the allowed change relative to the baseline median
	// (Kayenta's 0.25 allows a 25% shift): the canary is High only when the
	// shift is significantly larger than Tolerance × |median(baseline)|, and
	// Low only when it is significantly smaller than the negative of that.
	// It must be >= 0; 0 judges on significance alone.
	Tolerance float64
	// NaNStrategy says what to do with non-finite values.
	NaNStrategy NaNStrategy
	// NaNValue replaces non-finite values when NaNStrategy is ReplaceNaN. It
	// must be finite.
	NaNValue float64
	// RemoveOutliers drops, from each sample separately, values outside
	// [Q1 - OutlierFactor×IQR, Q3 + OutlierFactor×IQR] (quartiles by linear
	// interpolation). It runs after the NaN strategy.
	RemoveOutliers bool
	// OutlierFactor is the IQR multiple for RemoveOutliers; it must be > 0
	// when RemoveOutliers is set.
	OutlierFactor float64
	// MinSamples is the fewest values each sample must keep after cleaning;
	// fewer gives NoData. It must be >= 1. With 5 and 5 values the smallest
	// two-sided exact p-value is 2/252 ≈ 0.008, so 0.98 confidence can be
	// reached; with 3 and 3 it never can.
	MinSamples int
	// Method selects the exact distribution or the normal approximation.
	Method Method
	// ExactMax is the largest size of either sample for which Auto uses the
	// exact distribution. It must be between 0 and 200 (the exact
	// distribution costs O(n1 × n1 × n2) time).
	ExactMax int
}

// DefaultMannWhitneyOptions returns Kayenta's judge settings: two-sided,
// confidence 0.98, tolerance 0.25, NaNs removed, no outlier removal (factor 3
// when enabled), at least 5 values a sample, exact p-values up to 25 values a
// sample.
func DefaultMannWhitneyOptions() MannWhitneyOptions {
	return MannWhitneyOptions{
		Direction:     Either,
		Confidence:    DefaultConfidence,
		Tolerance:     DefaultTolerance,
		NaNStrategy:   RemoveNaN,
		OutlierFactor: DefaultOutlierFactor,
		MinSamples:    DefaultMinSamples,
		Method:        Auto,
		ExactMax:      DefaultExactMax,
	}
}

// maxExact bounds ExactMax so that the exact distribution stays cheap and its
// counts stay within float64 range.
const maxExact = 200

// Validate returns a *ConfigError naming the first invalid field, or nil.
func (o MannWhitneyOptions) Validate() error {
	switch {
	case !o.Direction.valid():
		return configErrorf("Direction", "unknown direction %d", int(o.Direction))
	case checkProbability("Confidence", o.Confidence) != nil:
		return checkProbability("Confidence", o.Confidence)
	case !(o.Tolerance >= 0) || math.IsInf(o.Tolerance, 1):
		return configErrorf("Tolerance", "%v must be finite and >= 0", o.Tolerance)
	case o.NaNStrategy != RemoveNaN && o.NaNStrategy != ReplaceNaN:
		return configErrorf("NaNStrategy", "unknown strategy %d", int(o.NaNStrategy))
	case o.NaNStrategy == ReplaceNaN && !isFinite(o.NaNValue):
		return configErrorf("NaNValue", "%v must be finite", o.NaNValue)
	case o.RemoveOutliers && (!(o.OutlierFactor > 0) || math.IsInf(o.OutlierFactor, 1)):
		return configErrorf("OutlierFactor", "%v must be finite and > 0 when outliers are removed", o.OutlierFactor)
	case o.MinSamples < 1:
		return configErrorf("MinSamples", "%d must be >= 1", o.MinSamples)
	case o.Method < Auto || o.Method > Asymptotic:
		return configErrorf("Method", "unknown method %d", int(o.Method))
	case o.ExactMax < 0 || o.ExactMax > maxExact:
		return configErrorf("ExactMax", "%d is outside [0, %d]", o.ExactMax, maxExact)
	}
	return nil
}

func isFinite(v float64) bool { return !math.IsNaN(v) && !math.IsInf(v, 0) }
