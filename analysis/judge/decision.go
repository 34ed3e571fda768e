package judge

import "fmt"

// Decision is the verdict of a judge on one metric.
type Decision int

const (
	// Pass: no significant difference in the direction that matters, or a
	// difference within the tolerance.
	Pass Decision = iota
	// High: the canary is significantly higher than the baseline, beyond the
	// tolerance, and higher is bad for this metric.
	High
	// Low: the canary is significantly lower than the baseline, beyond the
	// tolerance, and lower is bad for this metric.
	Low
	// NoData: too few samples to judge.
	NoData
)

var decisionNames = [...]string{Pass: "Pass", High: "High", Low: "Low", NoData: "NoData"}

func (d Decision) String() string {
	if d >= 0 && int(d) < len(decisionNames) {
		return decisionNames[d]
	}
	return fmt.Sprintf("Decision(%d)", int(d))
}

// MarshalText encodes the decision by name.
func (d Decision) MarshalText() ([]byte, error) {
	if d < 0 || int(d) >= len(decisionNames) {
		return nil, fmt.Errorf("judge: unknown decision %d", int(d))
	}
	return []byte(d.String()), nil
}

// UnmarshalText decodes a decision name as written by MarshalText.
func (d *Decision) UnmarshalText(b []byte) error {
	for i, n := range decisionNames {
		if n == string(b) {
			*d = Decision(i)
			return nil
		}
	}
	return configErrorf("Decision", "unknown decision %q", b)
}

// Failed reports whether the decision counts against the canary (High or
// Low). NoData is not a failure by itself; see MetricOutcome.MustHaveData.
func (d Decision) Failed() bool { return d == High || d == Low }

// Direction says which change of a metric is bad for the canary.
type Direction int

const (
	// Either: a significant change in either direction fails (two-sided test).
	Either Direction = iota
	// Increase: only a significant increase fails (one-sided test); latency
	// and error counts are typical.
	Increase
	// Decrease: only a significant decrease fails (one-sided test); throughput
	// and success counts are typical.
	Decrease
)

var directionNames = [...]string{Either: "Either", Increase: "Increase", Decrease: "Decrease"}

func (d Direction) String() string {
	if d >= 0 && int(d) < len(directionNames) {
		return directionNames[d]
	}
	return fmt.Sprintf("Direction(%d)", int(d))
}

// MarshalText encodes the direction by name.
func (d Direction) MarshalText() ([]byte, error) {
	if !d.valid() {
		return nil, fmt.Errorf("judge: unknown direction %d", int(d))
	}
	return []byte(d.String()), nil
}

// UnmarshalText decodes a direction name, case-sensitively as written by
// MarshalText.
func (d *Direction) UnmarshalText(b []byte) error {
	for i, n := range directionNames {
		if n == string(b) {
			*d = Direction(i)
			return nil
		}
	}
	return configErrorf("Direction", "unknown direction %q", b)
}

func (d Direction) valid() bool { return d >= 0 && int(d) < len(directionNames) }
