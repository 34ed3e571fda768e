package analysis

import (
	"context"
	"errors"
	"fmt"
	"math"
	"strings"
	"text/template"
	"unicode"

	"github.com/switchyard-dev/switchyard/analysis/judge"
	"github.com/switchyard-dev/switchyard/strategy"
)

// Source is a provider and a query it measures, one side of a comparison.
// The query is a template, rendered with the run's Vars. A source is
// measured with Measure: Openers and Starters are not opened or started
// here.
type Source struct {
	Provider Provider
	Query    string
}

func (s Source) measure(ctx context.Context, q Query) (Result, error) {
	text, err := q.Vars.Render(s.Query)
	if err != nil {
		return Result{}, fmt.Errorf("query %q: %w", s.Query, err)
	}
	q.Text = text
	return s.Provider.Measure(ctx, q)
}

// validate adds the source's errors at path.
func (s Source) validate(v *strategy.Validator, path string) {
	if err := checkTemplate(s.Query); err != nil {
		v.Add(path+".query", s.Query, "%v", err)
	}
	if s.Provider == nil {
		v.Add(path+".provider", nil, "must be set")
		return
	}
	if pv, ok := s.Provider.(Validating); ok {
		pv.Validate(v, path, s.Query)
	}
}

// checkTemplate parses a query template without running it.
func checkTemplate(text string) error {
	_, err := template.New("query").Funcs(template.FuncMap{"arg": func(string) string { return "" }}).Parse(text)
	return err
}

// samplesOf returns the values of a result; ok is false for no data.
func samplesOf(r Result) ([]float64, bool) {
	switch {
	case r.empty():
		return nil, false
	case r.Samples != nil:
		return r.Samples, true
	}
	return []float64{r.Value}, true
}

// Decision is one judgement of a canary against its baseline.
type Decision struct {
	Decision judge.Decision
	// Value is the judge's measure of the difference: the shift of the
	// canary for Compare, the difference of the error ratios for
	// Proportion.
	Value float64
	// Reason says why, in one line.
	Reason string
	// Raw holds the measured inputs, for the report.
	Raw string
}

// Decider judges a canary against its baseline once. Compare and
// Proportion are Deciders; Score combines several.
type Decider interface {
	Decide(ctx context.Context, q Query) (Decision, error)
}

// result maps a decision to a measurement result: Pass is Successful, High
// and Low are Failed, NoData is no data.
func (d Decision) result() Result {
	r := Result{Value: d.Value, Reason: d.Reason, Raw: d.Raw}
	switch d.Decision {
	case judge.Pass:
		r.Verdict = PhaseSuccessful
	case judge.NoData:
		r.NoData = true
	default:
		r.Verdict = PhaseFailed
	}
	return r
}

// Compare is a provider that judges the canary's samples against the
// baseline's at each measurement with the Mann-Whitney U test
// (judge.MannWhitney): Pass is Successful, High or Low is Failed, and too
// few samples is no data. The result's value is the Hodges-Lehmann shift
// of the canary. A source's single value counts as one sample.
type Compare struct {
	Baseline, Canary Source
	// Options of the test; nil is judge.DefaultMannWhitneyOptions():
	// two-sided, confidence 0.98, tolerance 0.25.
	Options *judge.MannWhitneyOptions
}

var (
	_ Provider   = Compare{}
	_ Decider    = Compare{}
	_ Validating = Compare{}
)

func (c Compare) options() judge.MannWhitneyOptions {
	if c.Options == nil {
		return judge.DefaultMannWhitneyOptions()
	}
	return *c.Options
}

// Measure judges once; see Compare.
func (c Compare) Measure(ctx context.Context, q Query) (Result, error) {
	d, err := c.Decide(ctx, q)
	return d.result(), err
}

// Decide measures both sources and compares them.
func (c Compare) Decide(ctx context.Context, q Query) (Decision, error) {
	base, err := c.Baseline.measure(ctx, q)
	if err != nil {
		return Decision{}, fmt.Errorf("baseline: %w", err)
	}
	can, err := c.Canary.measure(ctx, q)
	if err != nil {
		return Decision{}, fmt.Errorf("canary: %w", err)
	}
	b, bok := samplesOf(base)
	k, kok := samplesOf(can)
	raw := fmt.Sprintf("baseline %s; canary %s", formatResult(Result{Samples: b}), formatResult(Result{Samples: k}))
	if !bok || !kok {
		return Decision{Decision: judge.NoData, Reason: fmt.Sprintf("no samples: baseline %d, canary %d", len(b), len(k)), Raw: raw}, nil
	}
	opts := c.options()
	r, err := judge.MannWhitney(b, k, opts)
	if err != nil {
		return Decision{}, err
	}
	d := Decision{Decision: r.Decision, Value: r.Effect.Estimate, Raw: raw}
	if r.Decision == judge.NoData {
		d.Reason = fmt.Sprintf("too few samples: baseline %d, canary %d (need %d each)", r.Baseline.N, r.Canary.N, opts.MinSamples)
		return d, nil
	}
	within := "within"
	if r.Decision.Failed() {
		within = "beyond"
	}
	d.Reason = fmt.Sprintf("canary %s: shift %s [%s, %s] %s margin %s at confidence %s (p %.2g, %d vs %d samples)",
		r.Decision, signed(r.Effect.Estimate), formatFloat(r.Effect.Lower), formatFloat(r.Effect.Upper), within,
		formatFloat(r.Margin), formatFloat(opts.Confidence), r.DecisionPValue, r.Baseline.N, r.Canary.N)
	return d, nil
}

// Validate checks the sources and the options.
func (c Compare) Validate(v *strategy.Validator, path, _ string) {
	p := path + ".provider"
	c.Baseline.validate(v, p+".baseline")
	c.Canary.validate(v, p+".canary")
	if c.Options != nil {
		addConfigError(v, p+".options", c.Options.Validate())
	}
}

// Proportion is a provider that compares the canary's error ratio with
// the baseline's at each measurement with the two-proportion z-test
// (judge.TwoProportion): Pass is Successful, High or Low is Failed, and
// too few requests is no data. Each source gives a count (a value, or a
// sample set that is summed). The result's value is the canary's ratio
// minus the baseline's.
type Proportion struct {
	BaselineErrors, BaselineRequests Source
	CanaryErrors, CanaryRequests     Source
	// Options of the test; nil is judge.DefaultProportionOptions():
	// direction Increase, confidence 0.98, at least 30 requests a side.
	Options *judge.ProportionOptions
}

var (
	_ Provider   = Proportion{}
	_ Decider    = Proportion{}
	_ Validating = Proportion{}
)

func (p Proportion) options() judge.ProportionOptions {
	if p.Options == nil {
		return judge.DefaultProportionOptions()
	}
	return *p.Options
}

// Measure judges once; see Proportion.
func (p Proportion) Measure(ctx context.Context, q Query) (Result, error) {
	d, err := p.Decide(ctx, q)
	return d.result(), err
}

// Decide measures the four counts and compares the ratios.
func (p Proportion) Decide(ctx context.Context, q Query) (Decision, error) {
	var n [4]int64
	for i, s := range []struct {
		name string
		src  Source
	}{{"baseline errors", p.BaselineErrors}, {"baseline requests", p.BaselineRequests},
		{"canary errors", p.CanaryErrors}, {"canary requests", p.CanaryRequests}} {
		c, ok, err := count(ctx, s.src, q)
		if err != nil {
			return Decision{}, fmt.Errorf("%s: %w", s.name, err)
		}
		if !ok {
			return Decision{Decision: judge.NoData, Reason: "no data for " + s.name}, nil
		}
		n[i] = c
	}
	raw := fmt.Sprintf("baseline %d/%d; canary %d/%d", n[0], n[1], n[2], n[3])
	opts := p.options()
	r, err := judge.TwoProportion(n[0], n[1], n[2], n[3], opts)
	if err != nil {
		return Decision{}, err
	}
	d := Decision{Decision: r.Decision, Value: r.Diff, Raw: raw}
	if r.Decision == judge.NoData {
		d.Reason = fmt.Sprintf("too few requests: baseline %d, canary %d (need %d each)", n[1], n[3], opts.MinTotal)
		return d, nil
	}
	d.Reason = fmt.Sprintf("canary %s: error ratio %s vs baseline %s (z %.3g, p %.2g, confidence %s)",
		r.Decision, formatFloat(r.CanaryRate), formatFloat(r.BaselineRate), r.Z, r.PValue, formatFloat(opts.Confidence))
	return d, nil
}

// count measures a source as a whole, non-negative count.
func count(ctx context.Context, s Source, q Query) (int64, bool, error) {
	res, err := s.measure(ctx, q)
	if err != nil {
		return 0, false, err
	}
	vals, ok := samplesOf(res)
	if !ok {
		return 0, false, nil
	}
	var sum float64
	for _, v := range vals {
		sum += v
	}
	switch {
	case math.IsNaN(sum):
		return 0, false, nil
	case sum < 0 || math.IsInf(sum, 0) || sum > math.MaxInt64/2:
		return 0, false, fmt.Errorf("count %v is not a non-negative number", sum)
	}
	return int64(math.Round(sum)), true, nil
}

// Validate checks the sources and the options.
func (p Proportion) Validate(v *strategy.Validator, path, _ string) {
	pp := path + ".provider"
	p.BaselineErrors.validate(v, pp+".baselineErrors")
	p.BaselineRequests.validate(v, pp+".baselineRequests")
	p.CanaryErrors.validate(v, pp+".canaryErrors")
	p.CanaryRequests.validate(v, pp+".canaryRequests")
	if p.Options != nil {
		addConfigError(v, pp+".options", p.Options.Validate())
	}
}

// addConfigError adds a judge's *judge.ConfigError as a field error under
// path: Field "Confidence" becomes path+".confidence".
func addConfigError(v *strategy.Validator, path string, err error) {
	if err == nil {
		return
	}
	var ce *judge.ConfigError
	if !errors.As(err, &ce) {
		v.Add(path, nil, "%v", err)
		return
	}
	parts := strings.Split(ce.Field, ".")
	for i, s := range parts {
		if s != "" {
			r := []rune(s)
			r[0] = unicode.ToLower(r[0])
			parts[i] = string(r)
		}
	}
	v.Add(path+"."+strings.Join(parts, "."), nil, "%s", ce.Message)
}

// signed writes v with its sign.
func signed(v float64) string {
	if v > 0 {
		return "+" + formatFloat(v)
	}
	return formatFloat(v)
}
