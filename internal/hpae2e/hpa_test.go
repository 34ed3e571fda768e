package hpae2e

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/switchyard-dev/switchyard/bluegreen"
	"github.com/switchyard-dev/switchyard/canary"
	"github.com/switchyard-dev/switchyard/internal/e2ekit"
	"github.com/switchyard-dev/switchyard/internal/slots"
	"github.com/switchyard-dev/switchyard/strategy"
)

// autoscaledV1 releases v1 (3 replicas, on blue, where the autoscaler
// is), then scales blue to 7 as the autoscaler would, and waits until the
// autoscaler controller has seen that and left it. It returns the period
// of the endpoint record from the moment the Service had 7 ready pods.
func (e *env) autoscaledV1(s strategy.Strategy) e2ekit.Period {
	e.t.Helper()
	took := e.run(s, "v1")
	e.serves(slots.Blue, workloadReplicas)
	require.Equal(e.t, slots.Name(appName, slots.Blue), e.scaleTarget())
	e.autoscale(slots.Blue, autoscaled)
	p, err := e.eps.FullyServed(e.ctx, "7 ready pods", func(s e2ekit.Sample) bool { return s.Ready >= autoscaled })
	require.NoError(e.t, err)
	e.settled(slots.Blue, autoscaled)
	waited, cond := e.controllerLeavesIt(slots.Blue, autoscaled)
	e.t.Logf("v1 released in %s; the autoscaler controller observed blue at 7 after %s and left it (%s)",
		took.Round(time.Millisecond), waited.Round(time.Millisecond), cond)
	return p
}

// checkEnd checks that the new slot green serves with 7 ready pods and has
// the autoscaler, which the controller then leaves at 7, and that the
// Service never had fewer than 7 ready endpoints since p.
func (e *env) checkEnd(p e2ekit.Period, name string, took time.Duration) {
	e.t.Helper()
	e.serves(slots.Green, autoscaled)
	e.settled(slots.Green, autoscaled)
	assert.Equal(e.t, slots.Name(appName, slots.Green), e.scaleTarget(), "the autoscaler moved with the traffic")
	low := p.Check(e.t, name, autoscaled)
	waited, cond := e.controllerLeavesIt(slots.Green, autoscaled)
	e.t.Logf("%s: v2 released in %s with at least %d ready endpoints; the autoscaler controller had observed the moved autoscaler within %s of the check and left green at 7 (%s)",
		name, took.Round(time.Millisecond), low, waited.Round(time.Millisecond), cond)
}

// TestBlueGreenKeepsTheAutoscaledSize: a workload of 3, a live slot the
// autoscaler scaled to 7; the release brings green up to 7, switches, and
// moves the autoscaler to green; blue keeps its 7 pods for an Undo.
func TestBlueGreenKeepsTheAutoscaledSize(t *testing.T) {
	t.Parallel()
	e := newEnv(t, "hpa-bluegreen")
	s := bluegreen.New(e.clients, bluegreen.Spec{ActiveService: appName, Autoscaler: appName, ProgressDeadline: time.Minute},
		strategy.WithIdentity("hpa-e2e"))
	p := e.autoscaledV1(s)
	took := e.run(s, "v2")
	e.checkEnd(p, "blue/green v1 -> v2", took)
	want, ready := e.replicas(slots.Blue)
	assert.Equal(t, [2]int32{autoscaled, autoscaled}, [2]int32{want, ready}, "the old slot was not written")
}

// TestCanaryKeepsTheAutoscaledSize: the same with a canary without a
// router, whose shares are its pods: at 25% of 7 stable pods the canary
// runs 3 (ReplicaSplit), at 50% 7; promotion moves the autoscaler to green
// and the old slot then leaves.
func TestCanaryKeepsTheAutoscaledSize(t *testing.T) {
	t.Parallel()
	e := newEnv(t, "hpa-canary")
	var weights []strategy.Traffic
	s := canary.New(e.clients, canary.Spec{StableService: appName, Steps: canary.Steps(25, 50), Autoscaler: appName, ProgressDeadline: time.Minute},
		strategy.WithIdentity("hpa-e2e"), strategy.WithObserver(func(ev strategy.Event) {
			if ev.Traffic != nil && ev.Traffic.StablePods > 0 {
				weights = append(weights, *ev.Traffic)
			}
		}))
	p := e.autoscaledV1(s)
	weights = nil
	took := e.run(s, "v2")
	e.checkEnd(p, "canary v1 -> v2", took)
	e.settled(slots.Blue, 0)
	assert.Equal(t, []strategy.Traffic{{Weight: 25, CanaryPods: 3, StablePods: autoscaled}, {Weight: 50, CanaryPods: autoscaled, StablePods: autoscaled}},
		weights, "the split comes from the stable size the autoscaler chose")
}
