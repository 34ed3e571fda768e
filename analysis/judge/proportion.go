package judge

import "math"

// DefaultMinTotal is the default ProportionOptions.MinTotal.
const DefaultMinTotal = 30

// ProportionOptions configures TwoProportion. Start from
// DefaultProportionOptions: every field is taken as given.
type ProportionOptions struct {
	// Direction says which change of the error ratio fails the canary;
	// Increase is usual for errors.
	Direction Direction
	// Confidence of the test and of the interval, in (0, 1).
	Confidence float64
	// MinTotal is the fewest requests each side needs; fewer gives NoData.
	// It must be >= 1.
	MinTotal int64
}

// DefaultProportionOptions returns confidence 0.98, direction Increase and
// at least 30 requests a side.
func DefaultProportionOptions() ProportionOptions {
	return ProportionOptions{Direction: Increase, Confidence: DefaultConfidence, MinTotal: DefaultMinTotal}
}

// Validate returns a *ConfigError naming the first invalid field, or nil.
func (o ProportionOptions) Validate() error {
	switch {
	case !o.Direction.valid():
		return configErrorf("Direction", "unknown direction %d", int(o.Direction))
	case checkProbability("Confidence", o.Confidence) != nil:
		return checkProbability("Confidence", o.Confidence)
	case o.MinTotal < 1:
		return configErrorf("MinTotal", "%d must be >= 1", o.MinTotal)
	}
	return nil
}

// ProportionResult is the outcome of TwoProportion. All fields are finite.
type ProportionResult struct {
	// Decision is the verdict: Pass, High, Low or NoData.
	Decision Decision
	// BaselineRate and CanaryRate are errors/total of each side; PooledRate
	// is all errors over all requests.
	BaselineRate, CanaryRate, PooledRate float64
	// Diff is CanaryRate - BaselineRate; Lower and Upper bound it at
	// Confidence, two-sided, by the unpooled (Wald) standard error.
	Diff, Lower, Upper float64
	// Z is Diff over the pooled standard error; 0 when the pooled rate is
	// 0 or 1 (no variation, no evidence).
	Z float64
	// PValue is the p-value of Z against the alternative of Direction.
	PValue float64
}

// TwoProportion compares error ratios with the pooled two-proportion z-test:
//
//	p = (errBaseline + errCanary) / (totalBaseline + totalCanary)
//	z = (errCanary/totalCanary - errBaseline/totalBaseline) / √(p(1-p)(1/totalBaseline + 1/totalCanary))
//
// The canary is High when z is significantly positive at 1 - Confidence
// (one-sided for Increase, two-sided for Either) and Low when significantly
// negative (Decrease or Either). With fewer than opts.MinTotal requests on a
// side the decision is NoData. Zero errors on both sides (or only errors)
// give z = 0 and Pass, never NaN. Negative counts or more errors than
// requests are a *ConfigError naming the argument.
func TwoProportion(errBaseline, totalBaseline, errCanary, totalCanary int64, opts ProportionOptions) (ProportionResult, error) {
	if err := opts.Validate(); err != nil {
		return ProportionResult{}, err
	}
	if err := checkCounts("errBaseline", "totalBaseline", errBaseline, totalBaseline); err != nil {
		return ProportionResult{}, err
	}
	if err := checkCounts("errCanary", "totalCanary", errCanary, totalCanary); err != nil {
		return ProportionResult{}, err
	}
	r := ProportionResult{Decision: NoData, PValue: 1}
	if totalBaseline < opts.MinTotal || totalCanary < opts.MinTotal {
		return r, nil
	}
	nb, nc := float64(totalBaseline), float64(totalCanary)
	r.BaselineRate = float64(errBaseline) / nb
	r.CanaryRate = float64(errCanary) / nc
	r.PooledRate = float64(errBaseline+errCanary) / (nb + nc)
	r.Diff = r.CanaryRate - r.BaselineRate

	alpha := 1 - opts.Confidence
	se := math.Sqrt(r.BaselineRate*(1-r.BaselineRate)/nb + r.CanaryRate*(1-r.CanaryRate)/nc)
	half := normalQuantile(1-alpha/2) * se
	r.Lower, r.Upper = r.Diff-half, r.Diff+half

	if pooled := math.Sqrt(r.PooledRate * (1 - r.PooledRate) * (1/nb + 1/nc)); pooled > 0 {
		r.Z = r.Diff / pooled
	}
	r.Decision = Pass
	switch opts.Direction {
	case Increase:
		r.PValue = normalSF(r.Z)
		if r.PValue < alpha {
			r.Decision = High
		}
	case Decrease:
		r.PValue = normalCDF(r.Z)
		if r.PValue < alpha {
			r.Decision = Low
		}
	default:
		r.PValue = min(1, 2*normalSF(math.Abs(r.Z)))
		if r.PValue < alpha {
			r.Decision = High
			if r.Z < 0 {
				r.Decision = Low
			}
		}
	}
	return r, nil
}

func checkCounts(errField, totalField string, errs, total int64) error {
	switch {
	case total < 0:
		return configErrorf(totalField, "%d is negative", total)
	case errs < 0:
		return configErrorf(errField, "%d is negative", errs)
	case errs > total:
		return configErrorf(errField, "%d errors exceed %s %d", errs, totalField, total)
	}
	return nil
}
