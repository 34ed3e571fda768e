package analysis_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"k8s.io/utils/ptr"

	"github.com/switchyard-dev/switchyard/analysis"
	"github.com/switchyard-dev/switchyard/analysis/judge"
	"github.com/switchyard-dev/switchyard/strategy"
)

func TestValidate(t *testing.T) {
	t.Parallel()
	p, _ := script(sGood)
	src := analysis.Source{Provider: p, Query: "q"}
	tests := map[string]struct {
		edit    func(*analysis.Analysis)
		paths   []string
		message string
	}{
		"valid":      {edit: func(*analysis.Analysis) {}},
		"no name":    {edit: func(a *analysis.Analysis) { a.Name = "" }, paths: []string{"spec.name"}},
		"no metrics": {edit: func(a *analysis.Analysis) { a.Metrics = nil }, paths: []string{"spec.metrics"}},
		"metric without name and provider": {edit: func(a *analysis.Analysis) { a.Metrics[0].Name, a.Metrics[0].Provider = "", nil },
			paths: []string{"spec.metrics[0].name", "spec.metrics[0].provider"}},
		"duplicate names": {edit: func(a *analysis.Analysis) { a.Metrics = append(a.Metrics, a.Metrics[0]) }, paths: []string{"spec.metrics[1].name"}},
		"negative durations": {edit: func(a *analysis.Analysis) {
			a.Metrics[0].Interval, a.Metrics[0].InitialDelay, a.Metrics[0].ErrorInterval = -time.Second, -time.Second, -time.Second
		}, paths: []string{"spec.metrics[0].interval", "spec.metrics[0].initialDelay", "spec.metrics[0].errorInterval"}},
		"count without interval": {edit: func(a *analysis.Analysis) { a.Metrics[0].Interval = 0 }, paths: []string{"spec.metrics[0].interval"},
			message: "must be positive with a count of 3"},
		"negative limits": {edit: func(a *analysis.Analysis) {
			m := &a.Metrics[0]
			m.Count, m.FailureLimit, m.InconclusiveLimit, m.ConsecutiveErrorLimit, m.ConsecutiveSuccessLimit, m.Keep = -1, -1, -1, ptr.To(-1), -1, -1
		}, paths: []string{"spec.metrics[0].count", "spec.metrics[0].failureLimit", "spec.metrics[0].inconclusiveLimit",
			"spec.metrics[0].consecutiveErrorLimit", "spec.metrics[0].consecutiveSuccessLimit", "spec.metrics[0].keep"}},
		"success streak longer than the count": {edit: func(a *analysis.Analysis) { a.Metrics[0].ConsecutiveSuccessLimit = 4 },
			paths: []string{"spec.metrics[0].consecutiveSuccessLimit"}},
		"unknown no-data policy": {edit: func(a *analysis.Analysis) { a.Metrics[0].NoData = 7 }, paths: []string{"spec.metrics[0].noData"}},
		"CEL syntax error": {edit: func(a *analysis.Analysis) { a.Metrics[0].Success = analysis.Expr("result <") },
			paths: []string{"spec.metrics[0].successCondition"}, message: "Syntax error"},
		"CEL unknown variable": {edit: func(a *analysis.Analysis) { a.Metrics[0].Failure = analysis.Expr("value > 1.0") },
			paths: []string{"spec.metrics[0].failureCondition"}, message: "undeclared reference to 'value'"},
		"CEL not boolean": {edit: func(a *analysis.Analysis) { a.Metrics[0].Success = analysis.Expr("result + 1.0") },
			paths: []string{"spec.metrics[0].successCondition"}, message: "must be a boolean expression"},
		"CEL of a known non-boolean type": {edit: func(a *analysis.Analysis) { a.Metrics[0].Failure = analysis.Expr("size(result)") },
			paths: []string{"spec.metrics[0].failureCondition"}, message: "must be a boolean expression, not int"},
		"CEL and Go predicate both set": {edit: func(a *analysis.Analysis) {
			a.Metrics[0].Success = analysis.Condition{CEL: "result < 1.0", Func: func(analysis.Result) (bool, error) { return true, nil }}
		}, paths: []string{"spec.metrics[0].successCondition"}, message: "not both"},
		"bad template":           {edit: func(a *analysis.Analysis) { a.Metrics[0].Query = "up{v=\"{{.Revision\"}" }, paths: []string{"spec.metrics[0].query"}},
		"unknown template field": {edit: func(a *analysis.Analysis) { a.Metrics[0].Query = "{{.Version}}" }, paths: []string{"spec.metrics[0].query"}},
		"missing argument": {edit: func(a *analysis.Analysis) { a.Metrics[0].Query = `{{arg "window"}}` }, paths: []string{"spec.metrics[0].query"},
			message: `no argument "window"`},
		"judge confidence outside (0, 1)": {edit: func(a *analysis.Analysis) {
			o := judge.DefaultMannWhitneyOptions()
			o.Confidence = 1
			a.Metrics[0].Provider = analysis.Compare{Baseline: src, Canary: src, Options: &o}
		}, paths: []string{"spec.metrics[0].provider.options.confidence"}},
		"compare without sources": {edit: func(a *analysis.Analysis) { a.Metrics[0].Provider = analysis.Compare{} },
			paths: []string{"spec.metrics[0].provider.baseline.provider", "spec.metrics[0].provider.canary.provider"}},
		"proportion confidence": {edit: func(a *analysis.Analysis) {
			o := judge.DefaultProportionOptions()
			o.Confidence = 0
			a.Metrics[0].Provider = analysis.Proportion{BaselineErrors: src, BaselineRequests: src, CanaryErrors: src,
				CanaryRequests: analysis.Source{Provider: p, Query: "{{"}, Options: &o}
		}, paths: []string{"spec.metrics[0].provider.options.confidence", "spec.metrics[0].provider.canaryRequests.query"}},
		"sequential without options": {edit: func(a *analysis.Analysis) {
			a.Metrics[0].Provider = analysis.Sequential{Errors: src, Requests: src}
		}, paths: []string{"spec.metrics[0].provider.options.p0"}},
		"score without judges": {edit: func(a *analysis.Analysis) { a.Metrics[0].Provider = analysis.Score{} },
			paths: []string{"spec.metrics[0].provider.judges"}},
		"score with bad parts": {edit: func(a *analysis.Analysis) {
			a.Metrics[0].Provider = analysis.Score{
				Judges: []analysis.Scored{
					{Name: "latency", Group: "perf", Weight: -1, Judge: analysis.Compare{Baseline: src, Canary: src}},
					{Name: "latency"},
				},
				Options: &judge.ScoreOptions{PassThreshold: 101},
			}
		}, paths: []string{"spec.metrics[0].provider.judges[1].name", "spec.metrics[0].provider.judges[1].judge",
			"spec.metrics[0].provider.options.passThreshold"}},
		"score weight": {edit: func(a *analysis.Analysis) {
			a.Metrics[0].Provider = analysis.Score{Judges: []analysis.Scored{{Name: "x", Weight: -1, Judge: analysis.Compare{Baseline: src, Canary: src}}}}
		}, paths: []string{"spec.metrics[0].provider.judges[0].weight"}},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			a := analysis.Analysis{Name: "a", Metrics: []analysis.Metric{thresholdMetric("m", p)}}
			tc.edit(&a)
			var v strategy.Validator
			a.Validate(&v, "spec")
			err := v.Err()
			if len(tc.paths) == 0 {
				require.NoError(t, err)
				return
			}
			var ve *strategy.ValidationError
			require.ErrorAs(t, err, &ve)
			for _, path := range tc.paths {
				assert.True(t, ve.Has(path), "missing %s in %v", path, err)
			}
			assert.Contains(t, err.Error(), tc.message)
		})
	}
}

func TestRunValidatesBeforeMeasuring(t *testing.T) {
	t.Parallel()
	p, calls := script(sGood)
	a := analysis.Analysis{Name: "a", Metrics: []analysis.Metric{thresholdMetric("ok", p), {Name: "bad", Provider: p, Success: analysis.Expr("result")}}}
	rep, _, err := run(t, context.Background(), a)
	assert.Nil(t, rep)
	var ve *strategy.ValidationError
	require.True(t, errors.As(err, &ve), "%v", err)
	assert.True(t, ve.Has("analysis.metrics[1].successCondition"), err.Error())
	assert.Zero(t, calls.Load(), "nothing was measured")
}
