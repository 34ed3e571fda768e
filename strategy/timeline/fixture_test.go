package timeline_test

import (
	"time"

	"github.com/switchyard-dev/switchyard/strategy"
)

var t0 = time.Date(2026, time.March, 1, 12, 0, 0, 0, time.UTC)

func at(d time.Duration) time.Time { return t0.Add(d) }

// abortedStatus is a canary release of v3 that a person paused, whose
// driver was restarted, and whose analysis failed: traffic went back to
// v2.
func abortedStatus() *strategy.Status {
	const s = time.Second
	errs := func(d time.Duration, v, verdict, msg string) strategy.Entry {
		return strategy.Entry{Time: at(d), Kind: strategy.EntryMeasurement, Analysis: "errors", Metric: "error-ratio", Value: v,
			Verdict: verdict, Limit: "result <= 0.05", Message: msg}
	}
	latency := func(d time.Duration, v, verdict string) strategy.Entry {
		return strategy.Entry{Time: at(d), Kind: strategy.EntryMeasurement, Analysis: "latency", Metric: "p99", Value: v,
			Verdict: verdict, Limit: "not result > 0.3"}
	}
	return &strategy.Status{
		App: web, Strategy: "canary", Revision: "v3", Stable: "v2", Phase: strategy.PhaseAborted,
		Reason: strategy.ReasonAnalysisFailed, Message: "check errors failed: metric error-ratio failed 2 of 3 times (limit 1)",
		Started: t0, Updated: at(130 * s),
		Timeline: []strategy.Entry{
			{Time: at(0), Kind: strategy.EntryPhase, Phase: strategy.PhaseProgressing},
			{Time: at(0), Kind: strategy.EntryStep, Step: 0, StepName: "deploy"},
			{Time: at(0), Kind: strategy.EntryStep, Step: 1, StepName: "0-SetWeight", StepKind: "SetWeight"},
			{Time: at(6 * s), Kind: strategy.EntryTraffic, Weight: 10, CanaryPods: 1, StablePods: 9},
			{Time: at(6 * s), Kind: strategy.EntryStep, Step: 2, StepName: "1-Analysis", StepKind: "Analysis"},
			latency(26*s, "0.21", "Successful"),
			errs(26*s, "0.02", "Successful", ""),
			latency(46*s, "0.25", "Successful"),
			errs(46*s, "0.09", "Failed", "result 0.09 not <= 0.05"),
			{Time: at(60 * s), Kind: strategy.EntryRequest, Action: strategy.ActionPause, By: "alice@example", Sent: at(59 * s)},
			{Time: at(60 * s), Kind: strategy.EntryPhase, Phase: strategy.PhasePaused},
			{Time: at(66 * s), Kind: strategy.EntryResumed, By: "deployer-2", Message: "resuming at step 2 (1-Analysis)"},
			latency(66*s, "[0.1 0.2]", "Inconclusive"),
			errs(66*s, "", "Error", "connection refused"),
			{Time: at(90 * s), Kind: strategy.EntryRequest, Action: strategy.ActionResume, By: "alice@example", Sent: at(89 * s)},
			{Time: at(90 * s), Kind: strategy.EntryPhase, Phase: strategy.PhaseProgressing},
			errs(106*s, "0.11", "Failed", "result 0.11 not <= 0.05"),
			{Time: at(106 * s), Kind: strategy.EntryCheck, Verdict: "Failed", Message: "check errors failed"},
			{Time: at(106 * s), Kind: strategy.EntryPhase, Phase: strategy.PhaseAborted, Reason: strategy.ReasonAnalysisFailed,
				Message: "check errors failed"},
			{Time: at(112 * s), Kind: strategy.EntryRollback, Message: "all traffic back on stable slot blue"},
		},
	}
}
