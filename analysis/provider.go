package analysis

import (
	"context"
	"time"

	"k8s.io/utils/clock"

	"github.com/switchyard-dev/switchyard/strategy"
)

// Provider measures a metric's query now. Implementations are safe for
// concurrent use: one provider may serve several metrics and runs.
type Provider interface {
	Measure(ctx context.Context, q Query) (Result, error)
}

// Query is what a provider is asked to measure.
type Query struct {
	// Text is the metric's query with its template filled in.
	Text string
	// Metric names the metric being measured.
	Metric string
	// Vars are the template variables of the run; providers that have
	// templates of their own (URLs, sub-queries) render them with Vars.
	Vars Vars
	// Input is the check's input: the release, the slot, the clients and
	// the clock. Providers wait on Input.Clock, never on real time.
	Input strategy.CheckInput
	// Start is when the run started, on Input.Clock.
	Start time.Time
}

// Result is one measurement as a provider reports it: a value or a sample
// set, or no data.
type Result struct {
	// Value is the measured value when Samples is nil.
	Value float64
	// Samples is a sample set, such as the series of a Prometheus vector
	// or the points of a range. A non-nil empty set is no data.
	Samples []float64
	// NoData says the query returned nothing to judge (an empty vector, a
	// missing JSON field). The metric's NoData policy decides its phase.
	NoData bool
	// Verdict is set by providers that judge for themselves (a Job, the
	// statistical judges): Successful, Failed or Inconclusive, or Running
	// for "no decision yet". The metric's conditions are then not used.
	Verdict Phase
	// Done ends the metric after this measurement, as if its count was
	// reached: a sequential test that has accepted the canary sets it.
	Done bool
	// Reason says why, in one line: the provider's verdict or why there is
	// no data.
	Reason string
	// Time is when the measurement was taken; zero means the clock's now.
	Time time.Time
	// Raw is the provider's response, or a short form of it, for the
	// report.
	Raw string
}

// empty reports whether r holds nothing to judge.
func (r Result) empty() bool { return r.NoData || (r.Samples != nil && len(r.Samples) == 0) }

// Func is a Provider written as a Go function.
type Func func(ctx context.Context, q Query) (Result, error)

// Measure calls f.
func (f Func) Measure(ctx context.Context, q Query) (Result, error) { return f(ctx, q) }

// Opener is implemented by providers that keep state for the length of a
// run, such as the restart counts of pods when the analysis started. Run
// calls Open once per metric before the first measurement and measures
// with the provider it returns; when that provider has a Close method, Run
// calls it at the end.
type Opener interface {
	Open(ctx context.Context, q Query) (Provider, error)
}

// Starter is implemented by providers whose measurement lasts a while,
// such as a Kubernetes Job that must run to its end. Run prefers it to
// Measure: it calls Start in one clock callback and then Poll every
// PollInterval, each in a callback of its own, so that a fake clock can
// move while the measurement runs. Run calls Stop once the measurement
// ends, whether it finished, failed or was abandoned because the run
// ended.
type Starter interface {
	Start(ctx context.Context, q Query) (Pending, error)
}

// Pending is a measurement a Starter has begun.
type Pending interface {
	// Poll reports the result once the measurement is done; done is false
	// while it is still going.
	Poll(ctx context.Context) (res Result, done bool, err error)
	// PollInterval is the time between polls.
	PollInterval() time.Duration
	// Stop releases what the measurement holds, such as its Job.
	Stop(ctx context.Context)
}

// Validating is implemented by providers that check their settings, and
// the metric's query, when the analysis is validated. path names the
// metric ("…metrics[2]"): provider fields go under path+".provider" and
// query errors at path+".query". query is the metric's query rendered with
// placeholder variables.
type Validating interface {
	Validate(v *strategy.Validator, path, query string)
}

var _ Provider = Func(nil)

// WithTimeout returns a context that is cancelled after d on clk, or when
// ctx ends. A d <= 0 means no timeout. Providers use it so that timeouts
// follow the injected clock.
func WithTimeout(ctx context.Context, clk clock.WithDelayedExecution, d time.Duration) (context.Context, context.CancelFunc) {
	ctx, cancel := context.WithCancelCause(ctx)
	if d <= 0 || clk == nil {
		return ctx, func() { cancel(nil) }
	}
	t := clk.AfterFunc(d, func() { cancel(&TimeoutError{After: d}) })
	return ctx, func() {
		t.Stop()
		cancel(nil)
	}
}

// TimeoutError is the cause of a context ended by WithTimeout; it matches
// context.DeadlineExceeded.
type TimeoutError struct{ After time.Duration }

func (e *TimeoutError) Error() string { return "timed out after " + e.After.String() }

// Is reports whether target is context.DeadlineExceeded.
func (e *TimeoutError) Is(target error) bool { return target == context.DeadlineExceeded }
