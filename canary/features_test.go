package canary_test

import (
	"context"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"

	"github.com/switchyard-dev/switchyard/canary"
	"github.com/switchyard-dev/switchyard/fake"
	"github.com/switchyard-dev/switchyard/strategy"
)

func TestNeverReadyCanaryMissesItsProgressDeadline(t *testing.T) {
	e := newEnv(t, routingNamed("GatewayHTTPRoute"))
	spec := e.spec(canary.Steps(20, 100)...)
	spec.ProgressDeadline = 2 * time.Minute
	e.install(spec)
	e.c.SetBehavior("v2", fake.Behavior{NeverReady: true})
	start := e.c.Clock().Now()
	res, err := e.strategy(spec, "driver-a").Run(testCtx(t), release("v2"))
	require.ErrorIs(t, err, strategy.ErrProgressDeadline)
	assert.Equal(t, strategy.ReasonProgressDeadline, res.Reason)
	assert.Equal(t, start.Add(2*time.Minute+canary.DefaultAbortScaleDownDelay), res.Finished,
		"aborted at the deadline, canary scaled down after AbortScaleDownDelay")
	end := e.observe()
	assert.Equal(t, map[string]float64{"v1": 1}, end.Serving)
	assert.Zero(t, end.Weight, "no traffic ever went to pods that were not ready")
	assert.Equal(t, int32(0), end.Green.Replicas)
}

func TestScaleDownDelaysAndMinPods(t *testing.T) {
	e := newEnv(t, routingNamed("IstioVirtualService"))
	var canaryPods int32
	look := canary.Custom{Name: "look", Run: func(ctx context.Context, in strategy.CheckInput) error {
		d, err := e.cl.Kube.AppsV1().Deployments(ns).Get(ctx, in.Slot, metav1.GetOptions{})
		canaryPods = ptr.Deref(d.Spec.Replicas, 0)
		return err
	}}
	spec := e.spec(canary.SetWeight{Percent: 2}, look, canary.SetWeight{Percent: 100})
	spec.MinPodsPerSlot = 3
	spec.ScaleDownDelay = ptr.To(45 * time.Second)
	e.install(spec)
	var promoted time.Time
	obs := strategy.WithObserver(func(ev strategy.Event) {
		if ev.Type == strategy.EventTraffic && ev.StepName == "promote" {
			promoted = ev.Time
		}
	})
	res, err := e.strategy(spec, "driver-a", obs).Run(testCtx(t), release("v2"))
	require.NoError(t, err)
	assert.Equal(t, int32(3), canaryPods, "2% of 10 pods is 1, but a slot with traffic keeps MinPodsPerSlot")
	assert.Equal(t, promoted.Add(45*time.Second), res.Finished, "the old slot runs ScaleDownDelay after the swap")

	// An aborted canary keeps running AbortScaleDownDelay, without traffic.
	spec.Steps = []canary.Step{canary.SetWeight{Percent: 50}, canary.Pause{}}
	spec.AbortScaleDownDelay = ptr.To(time.Minute)
	done := make(chan *strategy.Result, 1)
	back := make(chan struct{})
	var once sync.Once
	// The abort is recorded before traffic moves; the strategy says when
	// it has moved, and the data plane is looked at then.
	onBack := strategy.WithObserver(func(ev strategy.Event) {
		if ev.Type == strategy.EventTraffic && strings.Contains(ev.Message, "back on stable") {
			once.Do(func() { close(back) })
		}
	})
	go func() { res, _ := e.strategy(spec, "driver-a", onBack).Run(testCtx(t), release("v3")); done <- res }()
	waitPhase(t, e.c, strategy.PhasePaused)
	control := strategy.NewControl(e.cl.Kube, strategy.WithIdentity("operator"), strategy.WithClock(e.c.Clock()))
	require.NoError(t, control.Abort(testCtx(t), app))
	<-back
	require.NoError(t, e.c.WaitIdle(testCtx(t)))
	mid := e.observe()
	assert.Equal(t, map[string]float64{"v2": 1}, mid.Serving, "traffic went back at once")
	res = <-done
	assert.Equal(t, strategy.PhaseAborted, res.Phase)
	end := e.observe()
	assert.Equal(t, slotState{"v3", 0, 0}, end.Blue)
	st, err := control.Status(testCtx(t), app)
	require.NoError(t, err)
	assert.Equal(t, "v2", st.Stable)
}

func TestPauseAndResumeHoldATimedPause(t *testing.T) {
	e := newEnv(t, routingNamed("ReplicaRatio"))
	spec := e.spec(canary.SetWeight{Percent: 30}, canary.Pause{Duration: time.Minute}, canary.SetWeight{Percent: 100})
	e.install(spec)
	control := strategy.NewControl(e.cl.Kube, strategy.WithIdentity("operator"), strategy.WithClock(e.c.Clock()))
	held := false
	obs := strategy.WithObserver(func(ev strategy.Event) {
		if ev.Type == strategy.EventStepStarted && ev.StepName == "1-Pause" && !held {
			held = true
			require.NoError(t, control.Pause(context.Background(), app))
		}
	})
	done := make(chan *strategy.Result, 1)
	go func() { res, _ := e.strategy(spec, "driver-a", obs).Run(testCtx(t), release("v2")); done <- res }()
	waitPhase(t, e.c, strategy.PhasePaused)
	e.c.Clock().Step(10 * time.Minute) // far past the pause's minute
	require.NoError(t, e.c.WaitIdle(testCtx(t)))
	st, err := control.Status(testCtx(t), app)
	require.NoError(t, err)
	assert.Equal(t, strategy.PhasePaused, st.Phase, "a paused release stays paused whatever the time")
	assert.True(t, st.Paused)
	require.NoError(t, control.Resume(testCtx(t), app))
	res := <-done
	assert.Equal(t, strategy.PhaseSucceeded, res.Phase)
}
