package judge

import (
	"fmt"
	"math"
)

// SPRTDecision is the state of a sequential probability ratio test.
type SPRTDecision int

const (
	// Continue: not enough evidence either way yet; observe another interval.
	Continue SPRTDecision = iota
	// Accept: accept H0, the error ratio is at most P0; the canary is good.
	Accept
	// Reject: reject H0 in favour of H1, the error ratio is at least P1; the
	// canary is bad.
	Reject
)

func (d SPRTDecision) String() string {
	switch d {
	case Continue:
		return "Continue"
	case Accept:
		return "Accept"
	case Reject:
		return "Reject"
	}
	return fmt.Sprintf("SPRTDecision(%d)", int(d))
}

// SPRTOptions configures an SPRT on a Bernoulli error ratio p:
// H0: p <= P0 against H1: p >= P1.
type SPRTOptions struct {
	// P0 is the acceptable error ratio and P1 > P0 the unacceptable one,
	// both in (0, 1). Between them lies the indifference zone, where either
	// answer is acceptable.
	P0, P1 float64
	// Alpha is the probability of rejecting a good canary (p <= P0) and Beta
	// of accepting a bad one (p >= P1); both in (0, 1) with Alpha + Beta < 1.
	Alpha, Beta float64
}

// Validate returns a *ConfigError naming the first invalid field, or nil.
func (o SPRTOptions) Validate() error {
	for _, f := range []struct {
		name string
		v    float64
	}{{"P0", o.P0}, {"P1", o.P1}, {"Alpha", o.Alpha}, {"Beta", o.Beta}} {
		if err := checkProbability(f.name, f.v); err != nil {
			return err
		}
	}
	switch {
	case o.P1 <= o.P0:
		return configErrorf("P1", "%v must be greater than P0 %v", o.P1, o.P0)
	case o.Alpha+o.Beta >= 1:
		return configErrorf("Beta", "Alpha %v + Beta %v must be below 1", o.Alpha, o.Beta)
	}
	return nil
}

// Bounds are Wald's approximate boundaries of the log-likelihood ratio:
//
//	Lower = ln(Beta / (1 - Alpha))   accept H0 at or below it
//	Upper = ln((1 - Beta) / Alpha)   reject H0 at or above it
//
// Overshooting a boundary makes the real error probabilities at most about
// Alpha/(1-Beta) and Beta/(1-Alpha), and their sum at most Alpha + Beta.
func (o SPRTOptions) Bounds() (lower, upper float64) {
	return math.Log(o.Beta / (1 - o.Alpha)), math.Log((1 - o.Beta) / o.Alpha)
}

// SPRTState is the progress of an SPRT; store it to resume the test later
// with ResumeSPRT.
type SPRTState struct {
	// Errors and Requests are the totals observed so far.
	Errors, Requests int64
	// Intervals counts the calls to Observe that counted.
	Intervals int
	// LLR is the log-likelihood ratio ln(L(P1)/L(P0)) of the totals:
	// Errors·ln(P1/P0) + (Requests-Errors)·ln((1-P1)/(1-P0)).
	LLR float64
	// Decision is Continue until the LLR first crosses a boundary, then the
	// final answer.
	Decision SPRTDecision
}

// SPRT is Wald's sequential probability ratio test for a Bernoulli error
// ratio, fed one interval of (errors, requests) at a time. The boundaries are
// checked at the end of each interval (a group-sequential test: a crossing
// inside an interval is seen at its end, which only lowers the error
// probabilities). It stops at the first crossing of a boundary; observations after that are ignored and the
// decision stays. An SPRT is not safe for concurrent use.
type SPRT struct {
	opts            SPRTOptions
	lower, upper    float64
	perErr, perOkay float64 // LLR increments of one error and one success
	state           SPRTState
}

// NewSPRT returns a test with no observations.
func NewSPRT(opts SPRTOptions) (*SPRT, error) {
	return ResumeSPRT(opts, SPRTState{})
}

// ResumeSPRT returns a test continuing from a stored state. The LLR is
// recomputed from the totals; a negative or inconsistent total is an error.
func ResumeSPRT(opts SPRTOptions, st SPRTState) (*SPRT, error) {
	if err := opts.Validate(); err != nil {
		return nil, err
	}
	if err := checkCounts("Errors", "Requests", st.Errors, st.Requests); err != nil {
		return nil, err
	}
	if st.Decision < Continue || st.Decision > Reject {
		return nil, configErrorf("Decision", "unknown decision %d", int(st.Decision))
	}
	s := &SPRT{
		opts:    opts,
		perErr:  math.Log(opts.P1 / opts.P0),
		perOkay: math.Log1p(-opts.P1) - math.Log1p(-opts.P0),
		state:   st,
	}
	s.lower, s.upper = opts.Bounds()
	s.state.LLR = s.llr(st.Errors, st.Requests)
	return s, nil
}

func (s *SPRT) llr(errs, requests int64) float64 {
	return float64(errs)*s.perErr + float64(requests-errs)*s.perOkay
}

// Observe adds one interval's errors out of requests and returns the
// decision. Negative counts, or more errors than requests, are a
// *ConfigError and change nothing.
func (s *SPRT) Observe(errors, requests int64) (SPRTDecision, error) {
	if err := checkCounts("errors", "requests", errors, requests); err != nil {
		return s.state.Decision, err
	}
	if s.state.Decision != Continue {
		return s.state.Decision, nil
	}
	s.state.Errors += errors
	s.state.Requests += requests
	s.state.Intervals++
	s.state.LLR = s.llr(s.state.Errors, s.state.Requests)
	switch {
	case s.state.LLR >= s.upper:
		s.state.Decision = Reject
	case s.state.LLR <= s.lower:
		s.state.Decision = Accept
	}
	return s.state.Decision, nil
}

// LLR is the current log-likelihood ratio.
func (s *SPRT) LLR() float64 { return s.state.LLR }

// Decision is the current decision.
func (s *SPRT) Decision() SPRTDecision { return s.state.Decision }

// State returns the progress, for storing.
func (s *SPRT) State() SPRTState { return s.state }

// Bounds returns the boundaries of the LLR; see SPRTOptions.Bounds.
func (s *SPRT) Bounds() (lower, upper float64) { return s.lower, s.upper }
