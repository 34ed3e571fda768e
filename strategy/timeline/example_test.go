package timeline_test

import (
	"os"
	"time"

	"k8s.io/apimachinery/pkg/types"

	"github.com/switchyard-dev/switchyard/strategy"
	"github.com/switchyard-dev/switchyard/strategy/timeline"
)

// The timeline of a canary release a person promoted past its pause, as
// Control.Status returns it, listed for a terminal.
func ExampleText() {
	start := time.Date(2026, time.March, 1, 12, 0, 0, 0, time.UTC)
	at := func(s int) time.Time { return start.Add(time.Duration(s) * time.Second) }
	st := &strategy.Status{
		App: types.NamespacedName{Namespace: "shop", Name: "web"}, Strategy: "canary", Revision: "v2", Stable: "v2",
		Phase: strategy.PhaseSucceeded, Started: start,
		Timeline: []strategy.Entry{
			{Time: at(0), Kind: strategy.EntryStep, Step: 1, StepName: "0-SetWeight", StepKind: "SetWeight"},
			{Time: at(5), Kind: strategy.EntryTraffic, Weight: 20, CanaryPods: 2, StablePods: 8},
			{Time: at(25), Kind: strategy.EntryMeasurement, Analysis: "errors", Metric: "error-ratio", Value: "0.004",
				Verdict: "Successful", Limit: "result <= 0.05"},
			{Time: at(25), Kind: strategy.EntryStep, Step: 2, StepName: "1-Pause", StepKind: "Pause"},
			{Time: at(25), Kind: strategy.EntryPhase, Phase: strategy.PhasePaused, Message: "paused until Promote"},
			{Time: at(90), Kind: strategy.EntryRequest, Action: strategy.ActionPromote, By: "oncall", Sent: at(89)},
			{Time: at(96), Kind: strategy.EntryTraffic, Weight: 100, CanaryPods: 10},
			{Time: at(96), Kind: strategy.EntryPhase, Phase: strategy.PhaseSucceeded},
		},
	}
	_ = timeline.Text(os.Stdout, st)
	// Output:
	// web in shop: canary v2, Succeeded, serving v2, started 2026-03-01 12:00:00.000 UTC
	// TIME          SINCE START  KIND         WHAT
	// 12:00:00.000  +0:00        step         step 1 0-SetWeight
	// 12:00:05.000  +0:05        traffic      weight 20% (pods: canary 2, stable 8)
	// 12:00:25.000  +0:25        measurement  errors/error-ratio 0.004 Successful (limit result <= 0.05)
	// 12:00:25.000  +0:25        step         step 2 1-Pause
	// 12:00:25.000  +0:25        phase        Paused: paused until Promote
	// 12:01:30.000  +1:30        request      Promote by oncall
	// 12:01:36.000  +1:36        traffic      weight 100% (pods: canary 10, stable 0)
	// 12:01:36.000  +1:36        phase        Succeeded
}
