package timeline

import (
	"fmt"
	"strings"
	"time"

	"github.com/switchyard-dev/switchyard/strategy"
)

// describe says what an entry records, in one line.
func describe(e strategy.Entry) string {
	switch e.Kind {
	case strategy.EntryStep:
		s := fmt.Sprintf("step %d %s", e.Step, e.StepName)
		if e.StepKind != "" && !strings.Contains(e.StepName, e.StepKind) {
			s += " (" + e.StepKind + ")"
		}
		return s
	case strategy.EntryStepFailed:
		return fmt.Sprintf("step %d %s failed: %s", e.Step, e.StepName, e.Message)
	case strategy.EntryPhase:
		return join(string(e.Phase), reasonText(e.Reason), e.Message)
	case strategy.EntryTraffic:
		s := fmt.Sprintf("weight %d%% (pods: canary %d, stable %d)", e.Weight, e.CanaryPods, e.StablePods)
		if e.Slot != "" {
			s += ", slot " + e.Slot + " serves"
		}
		return s
	case strategy.EntryRollback:
		return join("traffic back to the previous revision", "", e.Message)
	case strategy.EntryMeasurement:
		return measurementText(e)
	case strategy.EntryRequest:
		s := string(e.Action)
		if e.Revision != "" {
			s += " to " + e.Revision
		}
		return fmt.Sprintf("%s by %s", s, orDash(e.By))
	case strategy.EntryResumed:
		return join("continued by "+orDash(e.By), "", e.Message)
	}
	return join(e.Verdict, "", e.Message)
}

func measurementText(e strategy.Entry) string {
	s := fmt.Sprintf("%s %s %s", metricName(e), orDash(e.Value), e.Verdict)
	if e.Limit != "" {
		s += " (limit " + e.Limit + ")"
	}
	if e.Message != "" {
		s += ": " + e.Message
	}
	return s
}

// metricName is "analysis/metric", or the metric alone when they are the
// same or there is no analysis.
func metricName(e strategy.Entry) string {
	if e.Analysis == "" || e.Analysis == e.Metric {
		return e.Metric
	}
	return e.Analysis + "/" + e.Metric
}

func reasonText(r strategy.Reason) string {
	if r == "" {
		return ""
	}
	return "(" + string(r) + ")"
}

// join is a and b separated by a space, then ": " and c, each only when
// set.
func join(a, b, c string) string {
	s := strings.TrimSpace(a + " " + b)
	if c != "" {
		if s != "" {
			s += ": "
		}
		s += c
	}
	return s
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

// offset writes d as "+1:05" (minutes and seconds) or "+1:02:03", with
// tenths of a second when there are any.
func offset(d time.Duration) string {
	sign := "+"
	if d < 0 {
		sign, d = "-", -d
	}
	d = d.Round(100 * time.Millisecond)
	h, m, s := int(d/time.Hour), int(d/time.Minute)%60, d%time.Minute
	sec := fmt.Sprintf("%02d", int(s/time.Second))
	if tenths := int(s%time.Second) / int(100*time.Millisecond); tenths > 0 {
		sec += fmt.Sprintf(".%d", tenths)
	}
	if h > 0 {
		return fmt.Sprintf("%s%d:%02d:%s", sign, h, m, sec)
	}
	return fmt.Sprintf("%s%d:%s", sign, m, sec)
}
