package analysis

import (
	"fmt"
	"strings"
	"time"

	"github.com/switchyard-dev/switchyard/strategy"
)

// Report is the outcome of a run.
type Report struct {
	// Analysis names the analysis.
	Analysis string
	// Phase is the worst phase of the metrics that are not dry runs.
	Phase Phase
	// Message says why, in one line: the metrics at that phase and what
	// they saw.
	Message string
	// Started and Finished are times on the run's clock.
	Started, Finished time.Time
	// Metrics are the metrics' results, in the order of the analysis.
	Metrics []MetricResult
}

// Metric returns the result of the metric called name, or nil.
func (r *Report) Metric(name string) *MetricResult {
	for i := range r.Metrics {
		if r.Metrics[i].Name == name {
			return &r.Metrics[i]
		}
	}
	return nil
}

// MetricResult is what one metric measured.
type MetricResult struct {
	Name   string
	Phase  Phase
	DryRun bool
	// Message says why the metric has its phase, in one line, such as
	// "metric error-rate failed 3 of 3 times (limit 2): result 0.071 > 0.05".
	Message string
	// Count is the measurements taken, errors not included; Successful,
	// Failed, Inconclusive and Error count them by phase.
	Count, Successful, Failed, Inconclusive, Error int
	// ConsecutiveErrors and ConsecutiveSuccesses are the current streaks.
	ConsecutiveErrors, ConsecutiveSuccesses int
	// Measurements are the latest measurements, oldest first, at most the
	// metric's Keep.
	Measurements []Measurement
}

// Measurement is one measurement of a metric, as the report keeps it.
type Measurement struct {
	Phase Phase
	Time  time.Time
	// Value and Samples are the provider's result; NoData when it had none.
	Value   float64
	Samples []float64
	NoData  bool
	// Message says why the measurement has its phase.
	Message string
	// Raw is the provider's response, or a short form of it.
	Raw string
}

// ValueText is the measured value as text, "" for an error or no data.
func (m Measurement) ValueText() string {
	if m.Phase == PhaseError || m.NoData {
		return ""
	}
	return formatResult(Result{Value: m.Value, Samples: m.Samples})
}

// event turns a measurement into the event a strategy keeps; limit is the
// condition it is held to.
func (m Measurement) event(analysis, metric, limit string) strategy.Event {
	return strategy.Event{
		Time: m.Time,
		Type: strategy.EventMeasurement,
		Measurement: &strategy.Measurement{
			Analysis: analysis,
			Metric:   metric,
			Phase:    string(m.Phase),
			Value:    m.ValueText(),
			Time:     m.Time,
			Message:  m.Message,
			Limit:    limit,
		},
		Message: fmt.Sprintf("analysis %s metric %s: %s: %s", analysis, metric, m.Phase, m.Message),
	}
}

// summarize sets the report's phase and message from its metrics.
func (r *Report) summarize() {
	var phases []Phase
	for _, m := range r.Metrics {
		if !m.DryRun {
			phases = append(phases, m.Phase)
		}
	}
	r.Phase = Worst(phases...)
	var why, dry []string
	for _, m := range r.Metrics {
		switch {
		case m.DryRun && (m.Phase == PhaseFailed || m.Phase == PhaseError || m.Phase == PhaseInconclusive):
			dry = append(dry, m.Message)
		case !m.DryRun && m.Phase == r.Phase && r.Phase != PhaseSuccessful:
			why = append(why, m.Message)
		}
	}
	switch {
	case len(why) > 0:
		r.Message = strings.Join(why, "; ")
	case r.Phase == PhaseSuccessful:
		r.Message = fmt.Sprintf("%d of %d metrics successful", len(phases), len(phases))
		if len(phases) == 0 {
			r.Message = "only dry-run metrics"
		}
	default:
		r.Message = "analysis " + strings.ToLower(string(r.Phase))
	}
	if len(dry) > 0 {
		r.Message += "; dry run: " + strings.Join(dry, "; ")
	}
}

// Failure is the error of an analysis that did not pass. It unwraps to
// strategy.ErrInconclusive when the report's phase is Inconclusive, and to
// strategy.ErrAnalysisFailed otherwise (Failed or Error).
type Failure struct {
	Report *Report
}

func (f *Failure) Error() string {
	return fmt.Sprintf("analysis %s %s: %s", f.Report.Analysis, strings.ToLower(string(f.Report.Phase)), f.Report.Message)
}

// Unwrap returns strategy.ErrInconclusive or strategy.ErrAnalysisFailed.
func (f *Failure) Unwrap() error {
	if f.Report.Phase == PhaseInconclusive {
		return strategy.ErrInconclusive
	}
	return strategy.ErrAnalysisFailed
}
