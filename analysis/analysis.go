package analysis

import (
	"context"
	"fmt"

	"github.com/switchyard-dev/switchyard/strategy"
)

// Analysis is a set of metrics judged together. Its zero value is not
// valid: it needs a Name and at least one Metric.
type Analysis struct {
	// Name identifies the analysis in events, reports and the check.
	Name string
	// Metrics are measured side by side.
	Metrics []Metric
	// Args are arguments for the query templates, as {{arg "name"}} or
	// {{.Args.name}}.
	Args map[string]string
}

// Validate adds every error of the spec at path to v: empty or repeated
// names, a missing provider, negative durations and limits, a count above
// one without an interval, template and CEL errors, and the providers' own
// errors (an unparsable Prometheus address, a judge's confidence outside
// (0, 1)).
func (a Analysis) Validate(v *strategy.Validator, path string) {
	v.Check(a.Name != "", path+".name", nil, "must not be empty")
	v.Check(len(a.Metrics) > 0, path+".metrics", nil, "must not be empty")
	seen := make(map[string]bool, len(a.Metrics))
	vars := placeholderVars(a)
	for i, m := range a.Metrics {
		p := fmt.Sprintf("%s.metrics[%d]", path, i)
		m.validate(v, p, vars)
		if m.Name != "" {
			v.Check(!seen[m.Name], p+".name", m.Name, "must be unique")
			seen[m.Name] = true
		}
	}
}

// Check returns a strategy.Check named a.Name that runs the analysis. It
// passes when the report is Successful; it returns an error that matches
// strategy.ErrInconclusive when the report is Inconclusive, and a *Failure
// (matching strategy.ErrAnalysisFailed) when it is Failed or Error. Bad
// input is a *strategy.ValidationError; a context that ends before the
// analysis decides is returned as an error wrapping the context's error.
func (a Analysis) Check() strategy.Check {
	return strategy.Check{Name: a.Name, Validate: a.Validate, Func: func(ctx context.Context, in strategy.CheckInput) error {
		rep, err := a.Run(ctx, in)
		switch {
		case err != nil:
			return err
		case rep.Phase == PhaseSuccessful:
			return nil
		}
		return &Failure{Report: rep}
	}}
}
