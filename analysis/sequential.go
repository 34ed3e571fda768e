package analysis

import (
	"context"
	"errors"
	"fmt"
	"sync"

	"github.com/switchyard-dev/switchyard/analysis/judge"
	"github.com/switchyard-dev/switchyard/strategy"
)

// Sequential is a provider that runs Wald's sequential probability ratio
// test (judge.SPRT) on the canary's error ratio, one interval at a time,
// so that a clearly bad canary fails after a few intervals and a clearly
// good one passes early. Errors and Requests measure the canary's counts in
// the last interval (such as increase(...[1m]) with a one-minute
// interval).
//
// Each measurement adds an interval: Reject is Failed, Accept is
// Successful and ends the metric, and no decision yet is Running. A metric
// that reaches its count (or is stopped) undecided is Inconclusive. The
// result's value is the log-likelihood ratio. The test's state lasts one
// run: Run opens a fresh one each time.
type Sequential struct {
	Errors, Requests Source
	// Options of the test: the good and bad error ratios P0 < P1 and the
	// error probabilities Alpha and Beta. There is no default.
	Options judge.SPRTOptions
}

var (
	_ Opener     = Sequential{}
	_ Validating = Sequential{}
)

// errNotOpened is returned by Sequential.Measure: its state needs Open.
var errNotOpened = errors.New("sequential test measured without Open; use it as a metric's provider")

// Measure fails: a sequential test keeps state across a run, so Run measures
// through Open.
func (s Sequential) Measure(context.Context, Query) (Result, error) { return Result{}, errNotOpened }

// Open starts a test with no observations.
func (s Sequential) Open(context.Context, Query) (Provider, error) {
	t, err := judge.NewSPRT(s.Options)
	if err != nil {
		return nil, err
	}
	return &sequentialRun{spec: s, test: t}, nil
}

// Validate checks the sources and the options.
func (s Sequential) Validate(v *strategy.Validator, path, _ string) {
	p := path + ".provider"
	s.Errors.validate(v, p+".errors")
	s.Requests.validate(v, p+".requests")
	addConfigError(v, p+".options", s.Options.Validate())
}

type sequentialRun struct {
	spec Sequential
	mu   sync.Mutex
	test *judge.SPRT
}

func (r *sequentialRun) Measure(ctx context.Context, q Query) (Result, error) {
	errs, ok, err := count(ctx, r.spec.Errors, q)
	if err != nil {
		return Result{}, fmt.Errorf("errors: %w", err)
	}
	reqs, ok2, err := count(ctx, r.spec.Requests, q)
	if err != nil {
		return Result{}, fmt.Errorf("requests: %w", err)
	}
	if !ok || !ok2 {
		return Result{NoData: true, Reason: "no error or request count for the interval"}, nil
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	d, err := r.test.Observe(errs, reqs)
	if err != nil {
		return Result{}, err
	}
	st := r.test.State()
	lo, hi := r.test.Bounds()
	res := Result{
		Value: st.LLR,
		Raw:   fmt.Sprintf("interval %d/%d; total %d/%d over %d intervals", errs, reqs, st.Errors, st.Requests, st.Intervals),
	}
	ratio := 0.0
	if st.Requests > 0 {
		ratio = float64(st.Errors) / float64(st.Requests)
	}
	o := r.spec.Options
	switch d {
	case judge.Reject:
		res.Verdict = PhaseFailed
		res.Reason = fmt.Sprintf("error ratio %s over %d requests is at least %s: log-likelihood ratio %.3g reached %.3g",
			formatFloat(ratio), st.Requests, formatFloat(o.P1), st.LLR, hi)
	case judge.Accept:
		res.Verdict, res.Done = PhaseSuccessful, true
		res.Reason = fmt.Sprintf("error ratio %s over %d requests is at most %s: log-likelihood ratio %.3g reached %.3g",
			formatFloat(ratio), st.Requests, formatFloat(o.P0), st.LLR, lo)
	default:
		res.Verdict = PhaseRunning
		res.Reason = fmt.Sprintf("no decision: error ratio %s over %d requests, log-likelihood ratio %.3g within (%.3g, %.3g)",
			formatFloat(ratio), st.Requests, st.LLR, lo, hi)
	}
	return res, nil
}
