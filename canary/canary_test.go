package canary_test

import (
	"context"
	"fmt"
	"math"
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
	"github.com/switchyard-dev/switchyard/internal/slots"
	"github.com/switchyard-dev/switchyard/strategy"
	"github.com/switchyard-dev/switchyard/strategy/traffic"
)

// TestFullCanaryOnEveryRouter runs Steps(2, 25, 75, 100) with a pause on
// every kind of routing and measures, after each weight, how the fake data
// plane serves the app's requests.
func TestFullCanaryOnEveryRouter(t *testing.T) {
	for _, r := range routings {
		t.Run(r.name, func(t *testing.T) {
			t.Parallel()
			e := newEnv(t, r)
			m := &measure{e: e}
			weights := []int32{2, 25, 75, 100}
			var steps []canary.Step
			for i, w := range weights {
				steps = append(steps, canary.SetWeight{Percent: w}, m.step())
				if i == 1 {
					steps = append(steps, canary.Pause{Duration: time.Minute})
				}
			}
			spec := e.spec(steps...)
			e.install(spec)
			first := e.observe()
			assert.Equal(t, slotState{"v1", 10, 10}, first.Blue)
			assert.Equal(t, map[string]float64{"v1": 1}, first.Serving)

			res, err := e.strategy(spec, "driver-a").Run(testCtx(t), release("v2"))
			require.NoError(t, err)
			assert.Equal(t, strategy.PhaseSucceeded, res.Phase)
			assert.Equal(t, "v2", res.Stable)

			require.Len(t, m.shares, len(weights))
			for i, w := range weights {
				got := 100 * m.shares[i]["v2"]
				if r.exact {
					assert.InDelta(t, float64(w), got, 1, "weight %d: canary share %.2f%%", w, got)
					continue
				}
				c, s := canary.ReplicaSplit(10, w, 0, false)
				assert.InDelta(t, canary.ServedShare(c, s), got, 1e-9, "weight %d: served as the split says", w)
				assert.Less(t, math.Abs(got-float64(w)), 100/float64(c+s)+1e-9, "weight %d: within one pod's share", w)
			}

			end := e.observe()
			assert.Equal(t, slotState{"v1", 0, 0}, end.Blue, "the old stable slot is scaled down")
			assert.Equal(t, slotState{"v2", 10, 10}, end.Green)
			assert.Equal(t, map[string]float64{"v2": 1}, end.Serving)
			assert.Equal(t, strategy.PhaseSucceeded, end.Phase)
			if r.router != nil {
				assert.Equal(t, "green", end.Stable, "the stable Service moved to the new slot")
				assert.Zero(t, end.Weight, "the router sends nothing to the canary Service between releases")
			}

			// The next release goes the other way round.
			res, err = e.strategy(spec, "driver-a").Run(testCtx(t), release("v3"))
			require.NoError(t, err)
			assert.Equal(t, strategy.PhaseSucceeded, res.Phase)
			end = e.observe()
			assert.Equal(t, slotState{"v3", 10, 10}, end.Blue)
			assert.Equal(t, slotState{"v2", 0, 0}, end.Green)
			assert.Equal(t, map[string]float64{"v3": 1}, end.Serving)
		})
	}
}

// TestAbortAtEveryStep asks for an abort as each step starts: all traffic
// goes back to stable and the canary is scaled down.
func TestAbortAtEveryStep(t *testing.T) {
	steps := []canary.Step{canary.SetWeight{Percent: 25}, canary.Pause{}, canary.SetWeight{Percent: 50},
		canary.Analysis{Checks: []strategy.Check{{Name: "ok", Func: func(context.Context, strategy.CheckInput) error { return nil }}}},
		canary.SetCanaryScale{Replicas: ptr.To[int32](8)}, canary.Pause{Duration: time.Minute}, canary.SetWeight{Percent: 75}}
	for _, rname := range []string{"ReplicaRatio", "GatewayHTTPRoute"} {
		for i, s := range steps {
			t.Run(fmt.Sprintf("%s/step %d %T", rname, i, s), func(t *testing.T) {
				t.Parallel()
				e := newEnv(t, routingNamed(rname))
				spec := e.spec(steps...)
				e.install(spec)
				control := strategy.NewControl(e.cl.Kube, strategy.WithIdentity("operator"), strategy.WithClock(e.c.Clock()))
				var once sync.Once
				var maxWeight int32
				obs := strategy.WithObserver(func(ev strategy.Event) {
					if ev.Type == strategy.EventStepStarted && strings.HasPrefix(ev.StepName, fmt.Sprintf("%d-", i)) {
						once.Do(func() { require.NoError(t, control.Abort(context.Background(), app)) })
					}
					if ev.Type == strategy.EventStepStarted && strings.HasPrefix(ev.StepName, "1-") && i > 1 {
						require.NoError(t, control.Promote(context.Background(), app)) // past the indefinite pause
					}
					if ev.Type == strategy.EventTraffic && strings.HasPrefix(ev.Message, "canary weight") {
						var w int32
						fmt.Sscanf(ev.Message, "canary weight %d%%", &w)
						maxWeight = max(maxWeight, w)
					}
				})
				res, err := e.strategy(spec, "driver-a", obs).Run(testCtx(t), release("v2"))
				require.ErrorIs(t, err, strategy.ErrAborted)
				assert.Equal(t, strategy.PhaseAborted, res.Phase)
				assert.Equal(t, strategy.ReasonRequested, res.Reason)
				assert.Equal(t, "v1", res.Stable)
				end := e.observe()
				assert.Equal(t, slotState{"v1", 10, 10}, end.Blue, "stable keeps its size")
				assert.Equal(t, slotState{"v2", 0, 0}, end.Green, "the canary is scaled down")
				assert.Equal(t, map[string]float64{"v1": 1}, end.Serving, "all traffic on stable")
				assert.Zero(t, end.Weight)
				limit := []int32{25, 25, 50, 50, 50, 50, 75}[i]
				assert.LessOrEqual(t, maxWeight, limit, "no step after the one the abort came in ran")
			})
		}
	}
}

func TestPausesPromoteAndPromoteFull(t *testing.T) {
	e := newEnv(t, routingNamed("GatewayHTTPRoute"))
	spec := e.spec(canary.SetWeight{Percent: 10}, canary.Pause{Duration: 10 * time.Minute}, canary.SetWeight{Percent: 20},
		canary.Pause{}, canary.SetWeight{Percent: 40}, canary.Pause{}, canary.SetWeight{Percent: 80}, canary.Pause{})
	e.install(spec)
	control := strategy.NewControl(e.cl.Kube, strategy.WithIdentity("operator"), strategy.WithClock(e.c.Clock()))
	var mu sync.Mutex
	var weights []string
	obs := strategy.WithObserver(func(ev strategy.Event) {
		if ev.Type == strategy.EventTraffic {
			mu.Lock()
			weights = append(weights, ev.Message)
			mu.Unlock()
		}
	})
	start := e.c.Clock().Now()
	done := make(chan error, 1)
	var res *strategy.Result
	go func() {
		var err error
		res, err = e.strategy(spec, "driver-a", obs).Run(testCtx(t), release("v2"))
		done <- err
	}()
	waitPhase(t, e.c, strategy.PhasePaused)
	paused := e.observe()
	assert.Equal(t, int32(20), paused.Weight, "the first indefinite pause holds at 20%")
	assert.GreaterOrEqual(t, e.c.Clock().Since(start), 10*time.Minute, "the timed pause lasted its duration")
	assert.InDelta(t, 0.2, paused.Serving["v2"], 0.01)

	// Resume does not end a pause that waits for Promote.
	require.NoError(t, control.Resume(testCtx(t), app))
	require.NoError(t, e.c.WaitIdle(testCtx(t)))
	st, err := control.Status(testCtx(t), app)
	require.NoError(t, err)
	assert.Equal(t, strategy.PhasePaused, st.Phase)

	require.NoError(t, control.Promote(testCtx(t), app))
	require.Eventually(t, func() bool {
		w, err := e.r.router(e.cl).Weight(context.Background())
		return err == nil && w == 40
	}, 10*time.Second, time.Millisecond, "Promote moves on to the next step")
	waitPhase(t, e.c, strategy.PhasePaused)
	require.NoError(t, control.PromoteFull(testCtx(t), app))
	require.NoError(t, <-done)
	assert.Equal(t, strategy.PhaseSucceeded, res.Phase)
	for _, w := range weights {
		assert.NotContains(t, w, "80%", "PromoteFull skips the remaining steps")
	}
	end := e.observe()
	assert.Equal(t, map[string]float64{"v2": 1}, end.Serving)
	assert.Equal(t, "green", end.Stable)
}

func TestHeaderAndMirrorRoutes(t *testing.T) {
	for _, rname := range []string{"GatewayHTTPRoute", "IstioVirtualService", "NGINXIngress"} {
		t.Run(rname, func(t *testing.T) {
			t.Parallel()
			e := newEnv(t, routingNamed(rname))
			beta := map[string]string{"x-beta": "1"}
			var headerShare, plainShare, mirror fake.Share
			_, mirrors := traffic.Supports(e.r.router(e.cl))
			steps := []canary.Step{
				canary.SetCanaryScale{Replicas: ptr.To[int32](2)},
				canary.SetHeaderRoute{Name: "beta", Match: []traffic.HeaderMatch{{Name: "X-Beta", Value: "1"}}},
				canary.Custom{Name: "look", Run: func(context.Context, strategy.CheckInput) error {
					headerShare, plainShare = e.share(beta), e.share(nil)
					return nil
				}},
			}
			if mirrors {
				steps = append(steps, canary.SetMirrorRoute{Name: "shadow", Percent: 50},
					canary.Custom{Name: "look-mirror", Run: func(context.Context, strategy.CheckInput) error {
						mirror = e.share(nil)
						return nil
					}})
			}
			steps = append(steps, canary.SetWeight{Percent: 100})
			spec := e.spec(steps...)
			e.install(spec)
			res, err := e.strategy(spec, "driver-a").Run(testCtx(t), release("v2"))
			require.NoError(t, err)
			assert.Equal(t, strategy.PhaseSucceeded, res.Phase)
			assert.Equal(t, map[string]float64{"v2": 1}, headerShare.Serve, "requests with the header go to the canary")
			assert.Equal(t, map[string]float64{"v1": 1}, plainShare.Serve, "the rest stays on stable")
			if mirrors {
				assert.Equal(t, map[string]float64{"v1": 1}, mirror.Serve)
				assert.InDelta(t, 0.5, mirror.Mirror["v2"], 0.01, "half the requests are copied to the canary")
			}
			after := e.share(beta)
			assert.Equal(t, map[string]float64{"v2": 1}, after.Serve)
			assert.Empty(t, after.Mirror, "routes are removed once the canary is stable")
		})
	}
}

func TestSetCanaryScale(t *testing.T) {
	for _, rname := range []string{"ReplicaRatio", "IstioVirtualService"} {
		t.Run(rname, func(t *testing.T) {
			t.Parallel()
			e := newEnv(t, routingNamed(rname))
			var sizes []int32
			look := canary.Custom{Name: "look", Run: func(ctx context.Context, in strategy.CheckInput) error {
				d, err := e.cl.Kube.AppsV1().Deployments(ns).Get(ctx, in.Slot, metav1.GetOptions{})
				if err != nil {
					return err
				}
				sizes = append(sizes, ptr.Deref(d.Spec.Replicas, 0))
				return nil
			}}
			spec := e.spec(canary.SetCanaryScale{Replicas: ptr.To[int32](4)}, canary.SetWeight{Percent: 10}, look,
				canary.SetCanaryScale{Percent: ptr.To[int32](50)}, look,
				canary.SetCanaryScale{MatchTrafficWeight: true}, look, canary.SetWeight{Percent: 100})
			e.install(spec)
			_, err := e.strategy(spec, "driver-a").Run(testCtx(t), release("v2"))
			require.NoError(t, err)
			followsWeight, _ := canary.ReplicaSplit(10, 10, 0, false)
			if rname != "ReplicaRatio" {
				followsWeight = 1
			}
			assert.Equal(t, []int32{4, 5, followsWeight}, sizes)
		})
	}
}

func TestDynamicStableScale(t *testing.T) {
	e := newEnv(t, routingNamed("GatewayHTTPRoute"))
	var stable []int32
	look := canary.Custom{Name: "look", Run: func(ctx context.Context, in strategy.CheckInput) error {
		d, err := e.cl.Kube.AppsV1().Deployments(ns).Get(ctx, slots.Name(app.Name, canary.Blue), metav1.GetOptions{})
		if err != nil {
			return err
		}
		stable = append(stable, ptr.Deref(d.Spec.Replicas, 0))
		return nil
	}}
	spec := e.spec(canary.SetWeight{Percent: 30}, look, canary.SetWeight{Percent: 80}, look, canary.Pause{})
	spec.DynamicStableScale = true
	e.install(spec)
	done := make(chan error, 1)
	go func() { _, err := e.strategy(spec, "driver-a").Run(testCtx(t), release("v2")); done <- err }()
	waitPhase(t, e.c, strategy.PhasePaused)
	assert.Equal(t, []int32{7, 2}, stable, "the stable slot shrinks as its traffic falls")
	assert.InDelta(t, 0.8, e.share(nil).Serve["v2"], 0.01)
	control := strategy.NewControl(e.cl.Kube, strategy.WithIdentity("operator"), strategy.WithClock(e.c.Clock()))
	require.NoError(t, control.Abort(testCtx(t), app))
	require.ErrorIs(t, <-done, strategy.ErrAborted)
	end := e.observe()
	assert.Equal(t, slotState{"v1", 10, 10}, end.Blue, "stable grew back before it took all traffic")
	assert.Equal(t, map[string]float64{"v1": 1}, end.Serving)
}

// errorRatio is a check that fails when the canary's error ratio over the
// last minute is above 5%.
func errorRatio(c *fake.Cluster) strategy.Check {
	return strategy.Check{Name: "error-ratio", Func: func(_ context.Context, in strategy.CheckInput) error {
		r, ok := c.Metrics().ErrorRatio(in.Release.Revision, time.Minute)
		if !ok {
			return fmt.Errorf("no requests reached %s: %w", in.Release.Revision, strategy.ErrInconclusive)
		}
		if r > 0.05 {
			return fmt.Errorf("error ratio %.3f > 0.05", r)
		}
		return nil
	}}
}

func TestBadRevisionIsRolledBackGoodOnePasses(t *testing.T) {
	for _, rname := range []string{"ReplicaRatio", "SMITrafficSplit"} {
		t.Run(rname, func(t *testing.T) {
			t.Parallel()
			e := newEnv(t, routingNamed(rname))
			e.c.SetBehavior("v2", fake.Behavior{ErrorRate: 0.2})
			stop := e.c.SendLoad(e.r.entry, 100, fake.Request{})
			defer stop()
			spec := e.spec(canary.SetWeight{Percent: 20}, canary.Pause{Duration: time.Minute},
				canary.Analysis{Checks: []strategy.Check{errorRatio(e.c)}}, canary.SetWeight{Percent: 60},
				canary.Pause{Duration: time.Minute}, canary.Analysis{Checks: []strategy.Check{errorRatio(e.c)}})
			e.install(spec)
			res, err := e.strategy(spec, "driver-a").Run(testCtx(t), release("v2"))
			require.ErrorIs(t, err, strategy.ErrAnalysisFailed)
			assert.Equal(t, strategy.ReasonAnalysisFailed, res.Reason)
			assert.Contains(t, res.Message, "error ratio 0.200 > 0.05")
			end := e.observe()
			assert.Equal(t, map[string]float64{"v1": 1}, end.Serving)
			assert.Equal(t, slotState{"v2", 0, 0}, end.Green)

			res, err = e.strategy(spec, "driver-a").Run(testCtx(t), release("v3"))
			require.NoError(t, err)
			assert.Equal(t, strategy.PhaseSucceeded, res.Phase)
			assert.Equal(t, map[string]float64{"v3": 1}, e.observe().Serving)
		})
	}
}

func TestBackgroundAnalysisAbortsDuringAPause(t *testing.T) {
	e := newEnv(t, routingNamed("IstioVirtualService"))
	e.c.SetBehavior("v2", fake.Behavior{ErrorRate: 0.3})
	stop := e.c.SendLoad(e.r.entry, 100, fake.Request{})
	defer stop()
	watcher := strategy.Check{Name: "watch-errors", Func: func(ctx context.Context, in strategy.CheckInput) error {
		tick := in.Clock.NewTicker(30 * time.Second)
		defer tick.Stop()
		for {
			select {
			case <-ctx.Done():
				return nil
			case <-tick.C():
				if r, ok := e.c.Metrics().ErrorRatio("v2", 30*time.Second); ok && r > 0.05 {
					return fmt.Errorf("error ratio %.2f", r)
				}
			}
		}
	}}
	spec := e.spec(canary.SetWeight{Percent: 10}, canary.Pause{Duration: time.Hour}, canary.SetWeight{Percent: 100})
	spec.Background = &canary.Background{Checks: []strategy.Check{watcher}}
	e.install(spec)
	start := e.c.Clock().Now()
	res, err := e.strategy(spec, "driver-a").Run(testCtx(t), release("v2"))
	require.ErrorIs(t, err, strategy.ErrAnalysisFailed)
	assert.Contains(t, res.Message, "watch-errors")
	assert.Less(t, res.Finished.Sub(start), 30*time.Minute, "the hour-long pause did not have to end first")
	assert.Equal(t, map[string]float64{"v1": 1}, e.observe().Serving)
}

func TestInconclusiveAnalysisPausesForADecision(t *testing.T) {
	e := newEnv(t, routingNamed("GatewayHTTPRoute"))
	spec := e.spec(canary.SetWeight{Percent: 10}, canary.Analysis{Checks: []strategy.Check{errorRatio(e.c)}}, canary.SetWeight{Percent: 100})
	e.install(spec)
	done := make(chan error, 1)
	go func() { _, err := e.strategy(spec, "driver-a").Run(testCtx(t), release("v2")); done <- err }()
	waitPhase(t, e.c, strategy.PhasePaused) // no load: no data, so no verdict
	control := strategy.NewControl(e.cl.Kube, strategy.WithIdentity("operator"), strategy.WithClock(e.c.Clock()))
	st, err := control.Status(testCtx(t), app)
	require.NoError(t, err)
	assert.Contains(t, st.Message, "no requests reached v2")
	require.NoError(t, control.Promote(testCtx(t), app))
	require.NoError(t, <-done)
	assert.Equal(t, map[string]float64{"v2": 1}, e.observe().Serving)
}

func TestNewRevisionMidFlightRestartsOnTheCanarySlot(t *testing.T) {
	e := newEnv(t, routingNamed("GatewayHTTPRoute"))
	spec := e.spec(canary.SetWeight{Percent: 25}, canary.Pause{}, canary.SetWeight{Percent: 100})
	e.install(spec)
	ctx := testCtx(t)
	blue, err := e.cl.Kube.AppsV1().Deployments(ns).Get(ctx, "web-blue", metav1.GetOptions{})
	require.NoError(t, err)

	first := make(chan error, 1)
	go func() { _, err := e.strategy(spec, "driver-a").Run(ctx, release("v2")); first <- err }()
	waitPhase(t, e.c, strategy.PhasePaused)
	second := make(chan error, 1)
	go func() { _, err := e.strategy(spec, "driver-b").Run(ctx, release("v3")); second <- err }()
	require.ErrorIs(t, <-first, strategy.ErrSuperseded)
	waitPhase(t, e.c, strategy.PhasePaused)
	mid := e.observe()
	assert.Equal(t, "v3", mid.Revision)
	assert.Equal(t, "v3", mid.Green.Revision, "the canary slot runs the new revision")
	assert.InDelta(t, 0.25, mid.Serving["v3"], 0.01)
	assert.Zero(t, mid.Serving["v2"], "the replaced revision serves nothing")
	after, err := e.cl.Kube.AppsV1().Deployments(ns).Get(ctx, "web-blue", metav1.GetOptions{})
	require.NoError(t, err)
	assert.Equal(t, blue.Generation, after.Generation, "stable is not touched")

	control := strategy.NewControl(e.cl.Kube, strategy.WithIdentity("operator"), strategy.WithClock(e.c.Clock()))
	require.NoError(t, control.Promote(ctx, app))
	require.NoError(t, <-second)
	assert.Equal(t, map[string]float64{"v3": 1}, e.observe().Serving)
}

func TestUndoSkipsTheSteps(t *testing.T) {
	e := newEnv(t, routingNamed("GatewayHTTPRoute"))
	spec := e.spec(canary.SetWeight{Percent: 25}, canary.Pause{}, canary.SetWeight{Percent: 100})
	e.install(spec)
	ctx := testCtx(t)
	done := make(chan error, 1)
	go func() { _, err := e.strategy(spec, "driver-a").Run(ctx, release("v2")); done <- err }()
	waitPhase(t, e.c, strategy.PhasePaused)
	control := strategy.NewControl(e.cl.Kube, strategy.WithIdentity("operator"), strategy.WithClock(e.c.Clock()))
	require.NoError(t, control.Promote(ctx, app))
	require.NoError(t, <-done)

	res, err := e.strategy(spec, "driver-a").Undo(ctx, app, "v1")
	require.NoError(t, err)
	assert.Equal(t, strategy.PhaseSucceeded, res.Phase)
	end := e.observe()
	assert.Equal(t, map[string]float64{"v1": 1}, end.Serving)
	assert.Equal(t, "blue", end.Stable)
	_, err = e.strategy(spec, "driver-a").Undo(ctx, app, "v9")
	assert.ErrorIs(t, err, strategy.ErrUnknownRevision)
}

func TestRetryAfterAbort(t *testing.T) {
	e := newEnv(t, routingNamed("ReplicaRatio"))
	e.c.SetBehavior("v2", fake.Behavior{ErrorRate: 0.5})
	stop := e.c.SendLoad(e.r.entry, 100, fake.Request{})
	defer stop()
	spec := e.spec(canary.SetWeight{Percent: 20}, canary.Pause{Duration: time.Minute},
		canary.Analysis{Checks: []strategy.Check{errorRatio(e.c)}}, canary.SetWeight{Percent: 100})
	e.install(spec)
	ctx := testCtx(t)
	_, err := e.strategy(spec, "driver-a").Run(ctx, release("v2"))
	require.ErrorIs(t, err, strategy.ErrAnalysisFailed)
	res, err := e.strategy(spec, "driver-a").Run(ctx, release("v2"))
	require.ErrorIs(t, err, strategy.ErrAnalysisFailed, "an ended release is not run again without Retry")
	assert.Equal(t, strategy.PhaseAborted, res.Phase)

	e.c.SetBehavior("v2", fake.Behavior{}) // fixed, say, by a config change
	control := strategy.NewControl(e.cl.Kube, strategy.WithIdentity("operator"), strategy.WithClock(e.c.Clock()))
	require.NoError(t, control.Retry(ctx, app))
	res, err = e.strategy(spec, "driver-a").Run(ctx, release("v2"))
	require.NoError(t, err)
	assert.Equal(t, strategy.PhaseSucceeded, res.Phase)
}

func TestMeasurementsAreKeptInTheRecord(t *testing.T) {
	e := newEnv(t, routingNamed("GatewayHTTPRoute"))
	check := strategy.Check{Name: "latency", Func: func(_ context.Context, in strategy.CheckInput) error {
		in.Emit(strategy.Event{Type: strategy.EventMeasurement, Message: "p99 120ms",
			Measurement: &strategy.Measurement{Analysis: "latency", Metric: "p99", Phase: "Successful", Value: "0.120", Time: in.Clock.Now()}})
		return nil
	}}
	spec := e.spec(canary.SetWeight{Percent: 10}, canary.Analysis{Checks: []strategy.Check{check}}, canary.SetWeight{Percent: 100})
	e.install(spec)
	var seen []strategy.Event
	obs := strategy.WithObserver(func(ev strategy.Event) {
		if ev.Type == strategy.EventMeasurement {
			seen = append(seen, ev)
		}
	})
	_, err := e.strategy(spec, "driver-a", obs).Run(testCtx(t), release("v2"))
	require.NoError(t, err)
	require.Len(t, seen, 1)
	assert.Equal(t, "v2", seen[0].Revision)
	assert.Contains(t, seen[0].StepName, "Analysis")
	rec, err := strategy.NewControl(e.cl.Kube).Status(testCtx(t), app)
	require.NoError(t, err)
	require.Len(t, rec.Measurements, 1)
	assert.Equal(t, "0.120", rec.Measurements[0].Value)
}
