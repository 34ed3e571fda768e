package canary_test

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	autoscalingv1 "k8s.io/api/autoscaling/v1"
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"

	"github.com/switchyard-dev/switchyard/canary"
	"github.com/switchyard-dev/switchyard/internal/e2ekit"
	"github.com/switchyard-dev/switchyard/internal/testkit"
	"github.com/switchyard-dev/switchyard/strategy"
)

// autoscaled is an env whose app has a HorizontalPodAutoscaler on blue: v1
// is installed with a workload of 3, then the autoscaler scales blue to 7.
func autoscaled(t *testing.T, rname string) *env {
	t.Helper()
	e := newEnv(t, routingNamed(rname))
	ctx := testCtx(t)
	_, err := e.cl.Kube.AutoscalingV2().HorizontalPodAutoscalers(ns).Create(ctx, &autoscalingv2.HorizontalPodAutoscaler{
		ObjectMeta: metav1.ObjectMeta{Name: "web", Namespace: ns},
		Spec: autoscalingv2.HorizontalPodAutoscalerSpec{
			ScaleTargetRef: autoscalingv2.CrossVersionObjectReference{APIVersion: "apps/v1", Kind: "Deployment", Name: "web-blue"},
			MinReplicas:    ptr.To[int32](2), MaxReplicas: 10,
		},
	}, metav1.CreateOptions{})
	require.NoError(t, err)
	res, err := e.strategy(e.autoscaledSpec(canary.SetWeight{Percent: 50}), "installer").Run(ctx, release3("v1"))
	require.NoError(t, err)
	require.Equal(t, strategy.PhaseSucceeded, res.Phase)
	require.Equal(t, "web-blue", e.scaleTarget())
	e.autoscale("web-blue", 7)
	return e
}

func release3(rev string) strategy.Release {
	return strategy.Release{App: app, Revision: rev, Workload: workload(rev, 3)}
}

func (e *env) autoscaledSpec(steps ...canary.Step) canary.Spec {
	spec := e.spec(steps...)
	spec.Autoscaler = "web"
	return spec
}

// autoscale sets Deployment name's replicas through its scale subresource,
// as the autoscaler's controller does, and waits until the pods are Ready.
func (e *env) autoscale(name string, replicas int32) {
	e.t.Helper()
	ctx := testCtx(e.t)
	_, err := e.cl.Kube.AppsV1().Deployments(ns).UpdateScale(ctx, name,
		&autoscalingv1.Scale{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns}, Spec: autoscalingv1.ScaleSpec{Replicas: replicas}},
		metav1.UpdateOptions{FieldManager: "horizontal-pod-autoscaler"})
	require.NoError(e.t, err)
	require.NoError(e.t, e.c.WaitIdle(ctx))
	e.c.Clock().Step(time.Second) // the new pods start
	require.NoError(e.t, e.c.WaitIdle(ctx))
}

// scaleTarget is the Deployment the app's autoscaler scales now.
func (e *env) scaleTarget() string {
	e.t.Helper()
	h, err := e.cl.Kube.AutoscalingV2().HorizontalPodAutoscalers(ns).Get(testCtx(e.t), "web", metav1.GetOptions{})
	require.NoError(e.t, err)
	return h.Spec.ScaleTargetRef.Name
}

// stableService is the Service that carries the app's traffic.
func (e *env) stableService() string {
	if e.r.router != nil {
		return "web-stable"
	}
	return "web"
}

// TestAutoscalerKeepsTheStableSize: with stable scaled to 7 by its
// autoscaler and a workload of 3, the weights are split from 7, the canary
// ends with 7 pods and the autoscaler, the stable Service never has fewer
// than 7 ready endpoints, and the stable slot is never written while the
// autoscaler scales it.
func TestAutoscalerKeepsTheStableSize(t *testing.T) {
	t.Parallel()
	// At 25% of 7 stable pods: ReplicaRatio adds ceil(25×7/75) = 3 canary
	// pods, a router runs ceil(7×25/100) = 2.
	for rname, want := range map[string]strategy.Traffic{
		"ReplicaRatio":     {Weight: 25, CanaryPods: 3, StablePods: 7},
		"GatewayHTTPRoute": {Weight: 25, CanaryPods: 2, StablePods: 7},
	} {
		t.Run(rname, func(t *testing.T) {
			t.Parallel()
			e := autoscaled(t, rname)
			writes := &testkit.WriteLog{}
			writes.Install(e.c)
			ctx := testCtx(t)
			eps := e2ekit.WatchEndpoints(t, ctx, e.cl.Kube, ns, app.Name, e.stableService())
			p, err := eps.FullyServed(ctx, "7 ready endpoints", func(s e2ekit.Sample) bool { return s.Ready >= 7 })
			require.NoError(t, err)
			var mu sync.Mutex
			var at25 *strategy.Traffic
			obs := strategy.WithObserver(func(ev strategy.Event) {
				if ev.Traffic != nil && ev.Traffic.Weight == 25 {
					mu.Lock()
					at25 = ev.Traffic
					mu.Unlock()
				}
			})
			res, err := e.strategy(e.autoscaledSpec(canary.Steps(25, 50)...), "driver-a", obs).Run(ctx, release3("v2"))
			require.NoError(t, err)
			assert.Equal(t, strategy.PhaseSucceeded, res.Phase)
			end := e.observe()
			assert.Equal(t, slotState{"v2", 7, 7}, end.Green)
			assert.Equal(t, slotState{"v1", 0, 0}, end.Blue)
			assert.Equal(t, "web-green", e.scaleTarget(), "the autoscaler follows the traffic")
			mu.Lock()
			assert.Equal(t, &want, at25, "the split at 25%% comes from the stable size")
			mu.Unlock()
			assert.Empty(t, writes.ToScaled("web-blue"), "no write to a Deployment while the autoscaler scales it")
			assert.Equal(t, 1, writes.Count("horizontalpodautoscalers"))
			require.NoError(t, eps.WaitFor(ctx, "only the canary's 7 pods", func(s e2ekit.Sample) bool { return s.Ready == 7 && s.BySlot["green"] == 7 }))
			p.Check(t, "ready endpoints of "+e.stableService()+" during the release", 7)
		})
	}
}

// TestAutoscalerGoesBackOnAbort aborts once the autoscaler has moved to the
// canary: without a router at the pause after weight 100 (the stable slot
// has no pods then), with one in the scale-down delay, and in both as soon
// as the autoscaler moved (while the stable slot's pods leave the Service,
// or the stable Service moves to the canary). Stable grows back to 7 and
// gets the autoscaler back; the canary is scaled down. When the release
// says that all traffic is back on the stable slot, the data plane serves
// v1 alone from 7 Ready pods.
func TestAutoscalerGoesBackOnAbort(t *testing.T) {
	t.Parallel()
	moved := func(ev strategy.Event) bool {
		return ev.Type == strategy.EventTraffic && strings.HasSuffix(ev.Object, "/web") && strings.Contains(ev.Message, "now scales web-green")
	}
	type abortAt struct {
		name string
		when func(strategy.Event) bool
	}
	cases := map[string]struct {
		steps []canary.Step
		at    []abortAt
	}{
		"ReplicaRatio": {steps: []canary.Step{canary.SetWeight{Percent: 100}, canary.Pause{}}, at: []abortAt{
			{"paused", func(ev strategy.Event) bool { return ev.Type == strategy.EventStepStarted && ev.StepName == "1-Pause" }},
			{"autoscaler moved", moved},
		}},
		"GatewayHTTPRoute": {steps: canary.Steps(50), at: []abortAt{
			{"scale-down delay", func(ev strategy.Event) bool {
				return ev.Type == strategy.EventWaiting && strings.Contains(ev.Message, "old pods keep running")
			}},
			{"autoscaler moved", moved},
		}},
	}
	for rname, tc := range cases {
		t.Run(rname, func(t *testing.T) {
			t.Parallel()
			for _, at := range tc.at {
				t.Run(at.name, func(t *testing.T) {
					t.Parallel()
					e := autoscaled(t, rname)
					control := strategy.NewControl(e.cl.Kube, strategy.WithIdentity("operator"), strategy.WithClock(e.c.Clock()))
					var sent, reported bool
					var target string
					var served map[string]float64
					var ready int32
					// The observer receives events synchronously: what it reads is
					// the cluster at that point of the release.
					obs := strategy.WithObserver(func(ev strategy.Event) {
						if !sent && at.when(ev) {
							sent, target = true, e.scaleTarget()
							assert.NoError(t, control.Abort(context.Background(), app))
						}
						if ev.Type == strategy.EventTraffic && strings.HasPrefix(ev.Message, "all traffic back on stable slot") {
							reported, served, ready = true, e.share(nil).Serve, e.readyPods(canary.Blue)
						}
					})
					_, err := e.strategy(e.autoscaledSpec(tc.steps...), "driver-a", obs).Run(testCtx(t), release3("v2"))
					require.ErrorIs(t, err, strategy.ErrAborted)
					assert.Equal(t, "web-green", target, "the autoscaler had moved to the canary")
					require.True(t, reported, "the release says when traffic is back on the stable slot")
					assert.Equal(t, map[string]float64{"v1": 1}, served, "v1 serves all traffic once the release says so")
					assert.GreaterOrEqual(t, ready, int32(7), "the stable slot's pods are Ready once traffic is back on it")
					end := e.observe()
					assert.Equal(t, slotState{"v1", 7, 7}, end.Blue, "stable at the size the autoscaler chose")
					assert.Equal(t, slotState{"v2", 0, 0}, end.Green)
					assert.Equal(t, map[string]float64{"v1": 1}, end.Serving)
					assert.Equal(t, "web-blue", e.scaleTarget(), "the autoscaler is back on stable")
				})
			}
		})
	}
}

// readyPods counts slot's Ready pods that are not terminating, as the API
// server has them now.
func (e *env) readyPods(slot string) int32 {
	e.t.Helper()
	pods, err := e.cl.Kube.CoreV1().Pods(ns).List(context.Background(), metav1.ListOptions{LabelSelector: strategy.LabelSlot + "=" + slot})
	require.NoError(e.t, err)
	var n int32
	for _, p := range pods.Items {
		for _, c := range p.Status.Conditions {
			if c.Type == corev1.PodReady && c.Status == corev1.ConditionTrue && p.DeletionTimestamp == nil {
				n++
			}
		}
	}
	return n
}

// TestAutoscalerCrashAfterEveryWrite stops the driver after each write of
// an autoscaled canary; the next driver ends where an uncrashed run ends,
// with the autoscaler on the new stable slot and the old one never
// written while the autoscaler scaled it.
func TestAutoscalerCrashAfterEveryWrite(t *testing.T) {
	t.Parallel()
	for _, rname := range []string{"ReplicaRatio", "GatewayHTTPRoute"} {
		t.Run(rname, func(t *testing.T) {
			t.Parallel()
			spec := func(e *env) canary.Spec { return e.autoscaledSpec(canary.Steps(50, 100)...) }
			setup := func(t *testing.T) (*env, *testkit.Crasher, *testkit.WriteLog) {
				e := autoscaled(t, rname)
				cr, writes := &testkit.Crasher{}, &testkit.WriteLog{}
				cr.Install(e.c)
				writes.Install(e.c)
				return e, cr, writes
			}
			e, cr, _ := setup(t)
			cr.Arm(0, func() {})
			_, err := e.strategy(spec(e), "driver-a").Run(testCtx(t), release3("v2"))
			require.NoError(t, err)
			n := cr.Disarm()
			want := e.observe()
			require.Equal(t, slotState{"v2", 7, 7}, want.Green)
			for k := 1; k < n; k++ {
				t.Run(fmt.Sprintf("after write %d", k), func(t *testing.T) {
					t.Parallel()
					e, cr, writes := setup(t)
					ctx, cancel := context.WithCancel(testCtx(t))
					cr.Arm(k, cancel)
					if _, err := e.strategy(spec(e), "driver-a").Run(ctx, release3("v2")); err == nil {
						// A lease renewal that meets one of the driver's writes counts as
						// one more write, so that a run can end within k writes; the next
						// Run then finds the release ended.
						t.Logf("the release ended within %d writes", k)
					}
					cr.Disarm()
					res, err := e.strategy(spec(e), "driver-a").Run(testCtx(t), release3("v2"))
					require.NoError(t, err)
					assert.Equal(t, strategy.PhaseSucceeded, res.Phase)
					assert.Equal(t, want, e.observe())
					assert.Equal(t, "web-green", e.scaleTarget())
					assert.Empty(t, writes.ToScaled("web-blue"))
				})
			}
		})
	}
}

// TestAutoscalerValidation: a missing autoscaler, and one with dynamic
// stable scaling, are refused before any write.
func TestAutoscalerValidation(t *testing.T) {
	t.Parallel()
	e := newEnv(t, routingNamed("GatewayHTTPRoute"))
	missing := e.autoscaledSpec(canary.SetWeight{Percent: 50})
	dynamic := e.autoscaledSpec(canary.SetWeight{Percent: 50})
	dynamic.DynamicStableScale = true
	e.c.ResetRequests()
	_, err := e.strategy(missing, "driver-a").Run(testCtx(t), release3("v1"))
	requireInvalid(t, err, "spec.autoscaler")
	_, err = e.strategy(dynamic, "driver-a").Run(testCtx(t), release3("v1"))
	requireInvalid(t, err, "spec.dynamicStableScale")
	for k := range e.c.Requests() {
		assert.Contains(t, []string{"get", "list", "watch"}, k.Verb, "nothing written: %s %s", k.Verb, k.Resource)
	}
}
