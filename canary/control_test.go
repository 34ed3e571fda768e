package canary_test

import (
	"context"
	"fmt"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/switchyard-dev/switchyard/canary"
	"github.com/switchyard-dev/switchyard/strategy"
)

// TestAbortAroundPromotion aborts from another goroutine as the release
// deploys, as it promotes and while the old stable slot waits out its
// scale-down delay: all traffic goes back to v1, which kept every pod.
func TestAbortAroundPromotion(t *testing.T) {
	steps := []canary.Step{canary.SetWeight{Percent: 50}}
	moments := map[string]func(strategy.Event) bool{
		"deploy":  func(e strategy.Event) bool { return e.Type == strategy.EventStepStarted && e.StepName == "deploy" },
		"promote": func(e strategy.Event) bool { return e.Type == strategy.EventStepStarted && e.StepName == "promote" },
		"scale-down delay": func(e strategy.Event) bool {
			return e.Type == strategy.EventWaiting && strings.Contains(e.Message, "old pods keep running")
		},
	}
	for name, when := range moments {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			e := newEnv(t, routingNamed("GatewayHTTPRoute"))
			spec := e.spec(steps...)
			e.install(spec)
			control := strategy.NewControl(e.cl.Kube, strategy.WithIdentity("operator"), strategy.WithClock(e.c.Clock()))
			var sent atomic.Bool
			obs := strategy.WithObserver(func(ev strategy.Event) {
				if when(ev) && sent.CompareAndSwap(false, true) {
					done := make(chan error, 1)
					go func() { done <- control.Abort(context.Background(), app) }()
					assert.NoError(t, <-done)
				}
			})
			res, err := e.strategy(spec, "driver-a", obs).Run(testCtx(t), release("v2"))
			require.ErrorIs(t, err, strategy.ErrAborted)
			assert.Equal(t, "v1", res.Stable)
			end := e.observe()
			assert.Equal(t, slotState{"v1", 10, 10}, end.Blue, "stable keeps its size")
			assert.Equal(t, slotState{"v2", 0, 0}, end.Green, "the canary is scaled down")
			assert.Equal(t, "blue", end.Stable, "the stable Service is on v1's slot")
			assert.Equal(t, map[string]float64{"v1": 1}, end.Serving, "all traffic on stable")
			st, err := control.Status(testCtx(t), app)
			require.NoError(t, err)
			assert.Empty(t, st.Pending)
		})
	}
}

// TestHundredthStepIsAStep: step 100 used to be the abort marker. A
// release of Linear(1, minute) stopped at its hundredth step ("99-Pause")
// and resumed by another driver goes on to the end.
func TestHundredthStepIsAStep(t *testing.T) {
	steps := canary.Linear(1, time.Minute)
	require.Greater(t, len(steps), 100)
	e := newEnv(t, routingNamed("GatewayHTTPRoute"))
	spec := e.spec(steps...)
	e.install(spec)
	ctx, crash := context.WithCancel(testCtx(t))
	obs := strategy.WithObserver(func(ev strategy.Event) {
		if ev.Type == strategy.EventStepStarted && ev.StepName == "99-Pause" {
			crash()
		}
	})
	_, err := e.strategy(spec, "driver-a", obs).Run(ctx, release("v2"))
	require.Error(t, err)
	st, err := strategy.NewControl(e.cl.Kube).Status(testCtx(t), app)
	require.NoError(t, err)
	require.Equal(t, "99-Pause", st.StepName)
	res, err := e.strategy(spec, "driver-a").Run(testCtx(t), release("v2"))
	require.NoError(t, err)
	assert.Equal(t, strategy.PhaseSucceeded, res.Phase)
	assert.Equal(t, slotState{"v2", 10, 10}, e.observe().Green)
}

// TestEventsCarryTypedFields: an observer learns the step's kind and the
// traffic split from fields, without parsing names or messages.
func TestEventsCarryTypedFields(t *testing.T) {
	e := newEnv(t, routingNamed("GatewayHTTPRoute"))
	spec := e.spec(canary.SetWeight{Percent: 25}, canary.Pause{Duration: time.Minute}, canary.SetWeight{Percent: 50})
	e.install(spec)
	var kinds []string
	var weights []int32
	obs := strategy.WithObserver(func(ev strategy.Event) {
		if ev.Type == strategy.EventStepStarted {
			kinds = append(kinds, ev.StepKind)
		}
		if ev.Type == strategy.EventTraffic && ev.Traffic != nil {
			weights = append(weights, ev.Traffic.Weight)
		}
	})
	_, err := e.strategy(spec, "driver-a", obs).Run(testCtx(t), release("v2"))
	require.NoError(t, err)
	assert.Equal(t, []string{"deploy", "SetWeight", "Pause", "SetWeight", "promote", "scale-down"}, kinds)
	assert.Equal(t, []int32{25, 50, 100}, weights)
}

// TestNoBusyLoopAfterAnInconclusiveBackgroundAnalysis: once a background
// analysis that could not decide has been judged (a person promoted), the
// release waits on: an indefinite pause after it blocks once instead of
// waking again and again on the finished analysis.
func TestNoBusyLoopAfterAnInconclusiveBackgroundAnalysis(t *testing.T) {
	e := newEnv(t, routingNamed("GatewayHTTPRoute"))
	undecided := strategy.Check{Name: "undecided", Func: func(context.Context, strategy.CheckInput) error {
		return fmt.Errorf("no data: %w", strategy.ErrInconclusive)
	}}
	spec := e.spec(canary.SetWeight{Percent: 10}, canary.Pause{Duration: time.Minute}, canary.Pause{}, canary.SetWeight{Percent: 100})
	spec.Background = &canary.Background{StartingStep: 0, Checks: []strategy.Check{undecided}}
	e.install(spec)
	control := strategy.NewControl(e.cl.Kube, strategy.WithIdentity("operator"), strategy.WithClock(e.c.Clock()))
	var waits atomic.Int32
	var decided atomic.Int32
	obs := strategy.WithObserver(func(ev strategy.Event) {
		if ev.Type == strategy.EventWaiting && ev.StepName == "2-Pause" {
			waits.Add(1)
		}
		if ev.Type == strategy.EventPhaseChanged && ev.Phase == strategy.PhasePaused {
			n := decided.Add(1)
			go func() {
				if n == 2 { // the indefinite pause: let it wait a simulated hour first
					<-e.c.Clock().After(time.Hour)
				}
				assert.NoError(t, control.Promote(context.Background(), app))
			}()
		}
	})
	_, err := e.strategy(spec, "driver-a", obs).Run(testCtx(t), release("v2"))
	require.NoError(t, err)
	assert.EqualValues(t, 2, decided.Load(), "paused for the inconclusive analysis, then at the indefinite pause")
	assert.LessOrEqual(t, waits.Load(), int32(2), "the indefinite pause blocked instead of spinning")
}
