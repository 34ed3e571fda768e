package analysis

import (
	"fmt"
	"time"

	"github.com/switchyard-dev/switchyard/strategy"
)

// Defaults of a Metric's zero fields, as in Argo Rollouts.
const (
	// DefaultConsecutiveErrorLimit is the errors in a row a metric
	// tolerates when ConsecutiveErrorLimit is nil.
	DefaultConsecutiveErrorLimit = 4
	// DefaultKeep is how many measurements a metric's report keeps.
	DefaultKeep = 10
	// DefaultErrorInterval is how long after an Error the measurement is
	// retried.
	DefaultErrorInterval = 10 * time.Second
)

// NoDataPolicy says what a measurement without data counts as.
type NoDataPolicy int

// The no-data policies. An empty Prometheus vector, a missing JSON field
// and an empty sample set are all no data.
const (
	// NoDataInconclusive, the default, counts it as Inconclusive.
	NoDataInconclusive NoDataPolicy = iota
	// NoDataFailure counts it as Failed.
	NoDataFailure
	// NoDataSuccess counts it as Successful: for metrics where silence is
	// good, such as an error counter that only exists once errors happen.
	NoDataSuccess
)

func (p NoDataPolicy) String() string {
	switch p {
	case NoDataInconclusive:
		return "Inconclusive"
	case NoDataFailure:
		return "Failure"
	case NoDataSuccess:
		return "Success"
	}
	return fmt.Sprintf("NoDataPolicy(%d)", int(p))
}

func (p NoDataPolicy) phase() Phase {
	switch p {
	case NoDataFailure:
		return PhaseFailed
	case NoDataSuccess:
		return PhaseSuccessful
	}
	return PhaseInconclusive
}

// Metric is one thing an analysis measures, how often, and how it is
// judged. The zero values of its fields are documented defaults.
//
// A measurement is judged by the provider when it returns a verdict, and
// otherwise by the conditions: with none it is Successful; with only a
// success condition it is Failed when that does not hold; with only a
// failure condition it is Failed when that holds; with both it is Failed
// when the failure condition holds, Successful when only the success
// condition does, and Inconclusive when neither does. A provider or
// condition error makes it an Error.
//
// The metric is Failed once more than FailureLimit measurements failed,
// Inconclusive once more than InconclusiveLimit were inconclusive, and
// Error once more than ConsecutiveErrorLimit errors came in a row; it is
// Successful after ConsecutiveSuccessLimit successes in a row (when set) or
// when Count is reached. Errors do not count toward Count: an Error is
// retried after ErrorInterval.
type Metric struct {
	// Name identifies the metric in the report; unique in its analysis.
	Name string
	// Provider measures Query. Required.
	Provider Provider
	// Query is what the provider measures, a template; see Vars.Render.
	Query string

	// Interval is the time between measurements. Zero takes one
	// measurement (Count must then be 0 or 1).
	Interval time.Duration
	// Count is how many measurements to take. Zero with an Interval
	// measures until the run's context ends.
	Count int
	// InitialDelay is the wait before the first measurement.
	InitialDelay time.Duration
	// ErrorInterval is the wait before retrying after an Error; zero is
	// DefaultErrorInterval, or Interval when that is shorter.
	ErrorInterval time.Duration

	// Success and Failure are the conditions; see Metric.
	Success, Failure Condition
	// NoData says what a measurement without data counts as; the default
	// is Inconclusive.
	NoData NoDataPolicy

	// FailureLimit is how many failed measurements are tolerated; the
	// default 0 fails the metric at the first.
	FailureLimit int
	// InconclusiveLimit is how many inconclusive measurements are
	// tolerated; the default 0 makes the metric Inconclusive at the first.
	InconclusiveLimit int
	// ConsecutiveErrorLimit is how many errors in a row are tolerated; nil
	// is DefaultConsecutiveErrorLimit (4).
	ConsecutiveErrorLimit *int
	// ConsecutiveSuccessLimit, when above 0, makes the metric Successful
	// after that many successes in a row. If Count is reached first, the
	// metric is Inconclusive.
	ConsecutiveSuccessLimit int

	// DryRun metrics are measured and reported but never fail the run.
	DryRun bool
	// Keep is how many of the latest measurements the report keeps; zero
	// is DefaultKeep (10).
	Keep int
}

func (m Metric) errorLimit() int {
	if m.ConsecutiveErrorLimit == nil {
		return DefaultConsecutiveErrorLimit
	}
	return *m.ConsecutiveErrorLimit
}

func (m Metric) keep() int {
	if m.Keep == 0 {
		return DefaultKeep
	}
	return m.Keep
}

func (m Metric) errorInterval() time.Duration {
	switch {
	case m.ErrorInterval > 0:
		return m.ErrorInterval
	case m.Interval > 0 && m.Interval < DefaultErrorInterval:
		return m.Interval
	}
	return DefaultErrorInterval
}

// count is the number of measurements to take, 0 for "until stopped".
func (m Metric) count() int {
	if m.Interval == 0 {
		return 1
	}
	return m.Count
}

// validate adds the metric's errors at path to v.
func (m Metric) validate(v *strategy.Validator, path string, vars Vars) {
	v.Check(m.Name != "", path+".name", nil, "must not be empty")
	v.Check(m.Interval >= 0, path+".interval", m.Interval, "must not be negative")
	v.Check(m.Count >= 0, path+".count", m.Count, "must not be negative")
	v.Check(m.Count <= 1 || m.Interval > 0, path+".interval", m.Interval, "must be positive with a count of %d", m.Count)
	v.Check(m.InitialDelay >= 0, path+".initialDelay", m.InitialDelay, "must not be negative")
	v.Check(m.ErrorInterval >= 0, path+".errorInterval", m.ErrorInterval, "must not be negative")
	v.Check(m.FailureLimit >= 0, path+".failureLimit", m.FailureLimit, "must not be negative")
	v.Check(m.InconclusiveLimit >= 0, path+".inconclusiveLimit", m.InconclusiveLimit, "must not be negative")
	v.Check(m.errorLimit() >= 0, path+".consecutiveErrorLimit", m.errorLimit(), "must not be negative")
	v.Check(m.ConsecutiveSuccessLimit >= 0, path+".consecutiveSuccessLimit", m.ConsecutiveSuccessLimit, "must not be negative")
	v.Check(m.Count == 0 || m.ConsecutiveSuccessLimit <= m.Count, path+".consecutiveSuccessLimit", m.ConsecutiveSuccessLimit,
		"must not exceed the count %d", m.Count)
	v.Check(m.Keep >= 0, path+".keep", m.Keep, "must not be negative")
	v.Check(m.NoData >= NoDataInconclusive && m.NoData <= NoDataSuccess, path+".noData", m.NoData, "unknown policy")
	for _, c := range []struct {
		name string
		c    Condition
	}{{"successCondition", m.Success}, {"failureCondition", m.Failure}} {
		if _, err := compileCondition(c.c); err != nil {
			v.Add(path+"."+c.name, c.c.String(), "%v", err)
		}
	}
	query, err := vars.Render(m.Query)
	if err != nil {
		v.Add(path+".query", m.Query, "%v", err)
	}
	if m.Provider == nil {
		v.Add(path+".provider", nil, "must be set")
		return
	}
	if pv, ok := m.Provider.(Validating); ok {
		pv.Validate(v, path, query)
	}
}
