package analysis

import (
	"fmt"
)

// judge turns a provider's result, or its error, into a measurement.
func (mr *metricRun) judge(res Result, err error) Measurement {
	t := res.Time
	if t.IsZero() {
		t = mr.r.in.Clock.Now()
	}
	// Whatever the provider, a measurement never shows a secret: it is
	// kept in the report and the release record, and emitted as an event.
	raw := Redact(res.Raw)
	if err != nil {
		return Measurement{Phase: PhaseError, Time: t, Message: Redact(err.Error()), Raw: raw}
	}
	res.Reason = Redact(res.Reason)
	m := Measurement{Time: t, Value: res.Value, Samples: res.Samples, NoData: res.empty(), Raw: raw}
	switch {
	case m.NoData:
		m.Phase = mr.m.NoData.phase()
		m.Message = "no data"
		if res.Reason != "" {
			m.Message += ": " + res.Reason
		}
		if m.Phase != PhaseInconclusive {
			m.Message += fmt.Sprintf(" (counted as %s)", m.Phase)
		}
	case res.Verdict != "":
		switch res.Verdict {
		case PhaseSuccessful, PhaseFailed, PhaseInconclusive, PhaseRunning:
			m.Phase, m.Message = res.Verdict, res.Reason
			if m.Message == "" {
				m.Message = fmt.Sprintf("result %s: %s", formatResult(res), res.Verdict)
			}
		default:
			m.Phase, m.Message = PhaseError, fmt.Sprintf("provider returned the unknown verdict %q", res.Verdict)
		}
	default:
		m.Phase, m.Message = mr.evaluate(res)
	}
	return m
}

// evaluate judges a result by the metric's conditions.
func (mr *metricRun) evaluate(res Result) (Phase, string) {
	succ, fail := mr.success, mr.failure
	var sOK, fOK bool
	var err error
	if fail != nil {
		if fOK, err = fail.eval(res); err != nil {
			return PhaseError, err.Error()
		}
	}
	if succ != nil {
		if sOK, err = succ.eval(res); err != nil {
			return PhaseError, err.Error()
		}
	}
	switch {
	case succ == nil && fail == nil:
		return PhaseSuccessful, "result " + formatResult(res)
	case fail != nil && fOK:
		return PhaseFailed, fail.met(res, "failure")
	case succ == nil:
		return PhaseSuccessful, fail.unmet(res, "failure")
	case sOK:
		return PhaseSuccessful, succ.met(res, "success")
	case fail == nil:
		return PhaseFailed, succ.unmet(res, "success")
	}
	return PhaseInconclusive, succ.unmet(res, "success") + " and " + fail.unmet(res, "failure")
}

// limit is the condition a measurement is held to, for the record: the
// success condition, or "not " and the failure condition; "" with neither.
func (mr *metricRun) limit() string {
	switch {
	case mr.success != nil:
		return mr.success.text()
	case mr.failure != nil:
		return "not " + mr.failure.text()
	}
	return ""
}

// record counts a measurement and keeps it.
func (mr *metricRun) record(m Measurement) {
	s := &mr.res
	if m.Phase == PhaseError {
		s.Error++
		s.ConsecutiveErrors++
		mr.lastErr = m.Message
	} else {
		s.Count++
		s.ConsecutiveErrors = 0
		mr.lastPhase = m.Phase
		switch m.Phase {
		case PhaseSuccessful:
			s.Successful++
			s.ConsecutiveSuccesses++
		case PhaseFailed:
			s.Failed++
			mr.lastFail = m.Message
		case PhaseInconclusive:
			s.Inconclusive++
			mr.lastInconclusive = m.Message
		case PhaseRunning:
			mr.lastUndecided = m.Message
		}
		if m.Phase != PhaseSuccessful {
			s.ConsecutiveSuccesses = 0
		}
	}
	if keep := mr.m.keep(); len(s.Measurements) >= keep {
		s.Measurements = append(s.Measurements[:0], s.Measurements[len(s.Measurements)-keep+1:]...)
	}
	s.Measurements = append(s.Measurements, m)
}

// assess returns the metric's phase after a measurement, a message, and
// whether the metric is done. done says the provider has decided for good.
func (mr *metricRun) assess(done bool) (Phase, string, bool) {
	s, m, name := &mr.res, mr.m, mr.m.Name
	switch {
	case s.Failed > m.FailureLimit:
		return PhaseFailed, fmt.Sprintf("metric %s failed %d of %d times (limit %d): %s",
			name, s.Failed, s.Count, m.FailureLimit, mr.lastFail), true
	case s.Inconclusive > m.InconclusiveLimit:
		return PhaseInconclusive, fmt.Sprintf("metric %s was inconclusive %d of %d times (limit %d): %s",
			name, s.Inconclusive, s.Count, m.InconclusiveLimit, mr.lastInconclusive), true
	case s.ConsecutiveErrors > m.errorLimit():
		return PhaseError, fmt.Sprintf("metric %s errored %d times in a row (limit %d): %s",
			name, s.ConsecutiveErrors, m.errorLimit(), mr.lastErr), true
	case m.ConsecutiveSuccessLimit > 0 && s.ConsecutiveSuccesses >= m.ConsecutiveSuccessLimit:
		return PhaseSuccessful, fmt.Sprintf("metric %s successful %d times in a row: %s",
			name, s.ConsecutiveSuccesses, mr.tally()), true
	case !done && (m.count() == 0 || s.Count < m.count()):
		return PhaseRunning, "", false // the message is written when the run ends
	case mr.lastPhase == PhaseRunning:
		return PhaseInconclusive, fmt.Sprintf("metric %s undecided after %d measurements: %s",
			name, s.Count, mr.lastUndecided), true
	case m.ConsecutiveSuccessLimit > 0:
		return PhaseInconclusive, fmt.Sprintf("metric %s took %d measurements without %d successes in a row",
			name, s.Count, m.ConsecutiveSuccessLimit), true
	}
	return PhaseSuccessful, fmt.Sprintf("metric %s successful: %s", name, mr.tally()), true
}

// tally counts the measurements by phase, in words.
func (mr *metricRun) tally() string {
	s := mr.res
	t := fmt.Sprintf("%d of %d measurements successful", s.Successful, s.Count)
	if s.Failed > 0 {
		t += fmt.Sprintf(", %d failed (limit %d)", s.Failed, mr.m.FailureLimit)
	}
	if s.Inconclusive > 0 {
		t += fmt.Sprintf(", %d inconclusive (limit %d)", s.Inconclusive, mr.m.InconclusiveLimit)
	}
	if s.Error > 0 {
		t += fmt.Sprintf(", %d errors", s.Error)
	}
	return t
}
