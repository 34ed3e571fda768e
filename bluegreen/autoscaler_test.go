package bluegreen_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	autoscalingv1 "k8s.io/api/autoscaling/v1"
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	v2client "k8s.io/client-go/kubernetes/typed/autoscaling/v2"
	"k8s.io/utils/ptr"

	"github.com/switchyard-dev/switchyard/bluegreen"
	"github.com/switchyard-dev/switchyard/fake"
	"github.com/switchyard-dev/switchyard/internal/testkit"
	"github.com/switchyard-dev/switchyard/strategy"
)

// hpa is the app's HorizontalPodAutoscaler, scaling Deployment target.
func hpa(target string) *autoscalingv2.HorizontalPodAutoscaler {
	return &autoscalingv2.HorizontalPodAutoscaler{
		ObjectMeta: metav1.ObjectMeta{Name: "web", Namespace: app.Namespace},
		Spec: autoscalingv2.HorizontalPodAutoscalerSpec{
			ScaleTargetRef: autoscalingv2.CrossVersionObjectReference{APIVersion: "apps/v1", Kind: "Deployment", Name: target},
			MinReplicas:    ptr.To[int32](2), MaxReplicas: 10,
		},
	}
}

func autoscaledSpec() bluegreen.Spec {
	spec := baseSpec()
	spec.Autoscaler = "web"
	return spec
}

// autoscale sets Deployment name's replicas through its scale subresource,
// as the autoscaler's controller does, and waits until the pods are Ready
// (they start in a second of the fake clock).
func autoscale(t *testing.T, c *fake.Cluster, name string, replicas int32) {
	t.Helper()
	ctx := testCtx(t)
	_, err := c.Clients().Kube.AppsV1().Deployments(app.Namespace).UpdateScale(ctx, name,
		&autoscalingv1.Scale{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: app.Namespace}, Spec: autoscalingv1.ScaleSpec{Replicas: replicas}},
		metav1.UpdateOptions{FieldManager: "horizontal-pod-autoscaler"})
	require.NoError(t, err)
	require.NoError(t, c.WaitIdle(ctx))
	c.Clock().Step(time.Second)
	require.NoError(t, c.WaitIdle(ctx))
}

// scaleTarget is the Deployment the app's autoscaler scales now.
func scaleTarget(t *testing.T, c *fake.Cluster) string {
	t.Helper()
	h, err := c.Clients().Kube.AutoscalingV2().HorizontalPodAutoscalers(app.Namespace).Get(testCtx(t), "web", metav1.GetOptions{})
	require.NoError(t, err)
	return h.Spec.ScaleTargetRef.Name
}

// autoscaledV1 installs v1 with the autoscaler on blue, which it then
// scales to 7 while the workload says 3.
func autoscaledV1(t *testing.T) *fake.Cluster {
	t.Helper()
	c := newCluster(t, hpa("web-blue"))
	_, err := newStrategy(c, autoscaledSpec(), "driver-a").Run(testCtx(t), release("v1"))
	require.NoError(t, err)
	require.Equal(t, "web-blue", scaleTarget(t, c), "a first release leaves an autoscaler on its slot")
	autoscale(t, c, "web-blue", 7)
	return c
}

// TestAutoscalerKeepsItsSize: with the live slot scaled to 7 by its
// autoscaler and a workload of 3, the new slot comes up at 7, the switch
// moves the autoscaler to it, the Service never has fewer than 7 ready
// endpoints, and the live slot is never written while the autoscaler
// scales it.
func TestAutoscalerKeepsItsSize(t *testing.T) {
	t.Parallel()
	c := autoscaledV1(t)
	writes := &testkit.WriteLog{}
	writes.Install(c)
	ready := watchReadyEndpoints(t, c, "web")
	waitMinimum(t, ready, 7)

	res, err := newStrategy(c, autoscaledSpec(), "driver-a").Run(testCtx(t), release("v2"))
	require.NoError(t, err)
	assert.Equal(t, strategy.PhaseSucceeded, res.Phase)
	assert.Equal(t, endState{Blue: slotState{"v1", 7, 7}, Green: slotState{"v2", 7, 7}, Active: "green", Preview: "green",
		Phase: strategy.PhaseSucceeded, Revision: "v2", Stable: "v2"}, observe(t, c))
	assert.Equal(t, "web-green", scaleTarget(t, c), "the autoscaler follows the traffic")
	assert.GreaterOrEqual(t, ready.min(), 7, "ready endpoints of the active Service during the release")
	assert.Empty(t, writes.ToScaled("web-blue"), "no write to a Deployment while the autoscaler scales it")
	assert.Equal(t, 1, writes.Count("horizontalpodautoscalers"), "one write of the autoscaler")
}

// TestAutoscalerFollowsAbortAndUndo: an abort after the switch (in the
// post-promotion checks, and as soon as the autoscaler moved, while the
// Service's endpoints move), and an Undo inside the rollback window, send
// traffic and the autoscaler back to the old slot, which kept its 7 pods.
// The OnRollback gates, which run once traffic is back, see v1 alone
// served.
func TestAutoscalerFollowsAbortAndUndo(t *testing.T) {
	t.Parallel()
	for name, when := range map[string]func(strategy.Event) bool{
		"abort": func(ev strategy.Event) bool {
			return ev.Type == strategy.EventStepStarted && ev.StepName == "post-promotion"
		},
		"abort as the autoscaler moves": func(ev strategy.Event) bool {
			return ev.Type == strategy.EventTraffic && strings.Contains(ev.Message, "now scales web-green")
		},
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			c := autoscaledV1(t)
			spec := autoscaledSpec()
			spec.PostPromotion = []strategy.Check{{Name: "blocks", Func: func(ctx context.Context, _ strategy.CheckInput) error {
				<-ctx.Done()
				return ctx.Err()
			}}}
			var served map[string]float64
			spec.Gates.OnRollback = []strategy.Check{{Name: "served", Func: func(ctx context.Context, _ strategy.CheckInput) error {
				s, err := c.Traffic(ctx, fake.Entry{Kind: fake.EntryService, Namespace: app.Namespace, Name: "web"}, fake.Request{})
				served = s.Serve
				return err
			}}}
			control := strategy.NewControl(c.Clients().Kube, strategy.WithIdentity("operator"))
			var sent bool
			var moved string
			abort := strategy.WithObserver(func(ev strategy.Event) {
				if !sent && when(ev) {
					sent, moved = true, scaleTarget(t, c)
					assert.NoError(t, control.Abort(context.Background(), app))
				}
			})
			_, err := newStrategy(c, spec, "driver-a", abort).Run(testCtx(t), release("v2"))
			require.ErrorIs(t, err, strategy.ErrAborted)
			assert.Equal(t, "web-green", moved, "the autoscaler had moved with the switch")
			assert.Equal(t, map[string]float64{"v1": 1}, served, "v1 serves all traffic once it is back")
			end := observe(t, c)
			assert.Equal(t, "blue", end.Active)
			assert.Equal(t, slotState{"v1", 7, 7}, end.Blue)
			assert.Equal(t, "web-blue", scaleTarget(t, c), "the autoscaler is back on the old slot")
		})
	}
	t.Run("undo", func(t *testing.T) {
		t.Parallel()
		c := autoscaledV1(t)
		_, err := newStrategy(c, autoscaledSpec(), "driver-a").Run(testCtx(t), release("v2"))
		require.NoError(t, err)
		autoscale(t, c, "web-green", 8)
		res, err := newStrategy(c, autoscaledSpec(), "driver-a").Undo(testCtx(t), app, "v1")
		require.NoError(t, err)
		assert.Equal(t, "v1", res.Stable)
		end := observe(t, c)
		assert.Equal(t, "blue", end.Active)
		assert.Equal(t, slotState{"v1", 8, 8}, end.Blue, "the old slot grew to what the autoscaler chose for the live one")
		assert.Equal(t, slotState{"v2", 8, 8}, end.Green)
		assert.Equal(t, "web-blue", scaleTarget(t, c))
	})
}

// TestAutoscalerCrashAfterEveryWrite stops the driver after each write of
// an autoscaled release; the next driver ends where an uncrashed run ends,
// with the autoscaler on the new slot and the old slot never written.
func TestAutoscalerCrashAfterEveryWrite(t *testing.T) {
	t.Parallel()
	setup := func(t *testing.T) (*fake.Cluster, *testkit.Crasher, *testkit.WriteLog) {
		c := autoscaledV1(t)
		cr, writes := &testkit.Crasher{}, &testkit.WriteLog{}
		cr.Install(c)
		writes.Install(c)
		return c, cr, writes
	}
	c, cr, _ := setup(t)
	cr.Arm(0, func() {})
	_, err := newStrategy(c, autoscaledSpec(), "driver-a").Run(testCtx(t), release("v2"))
	require.NoError(t, err)
	n := cr.Disarm()
	want := observe(t, c)
	require.Equal(t, slotState{"v2", 7, 7}, want.Green)

	for k := 1; k < n; k++ {
		t.Run(fmt.Sprintf("after write %d", k), func(t *testing.T) {
			t.Parallel()
			c, cr, writes := setup(t)
			ctx, cancel := context.WithCancel(testCtx(t))
			cr.Arm(k, cancel)
			if _, err := newStrategy(c, autoscaledSpec(), "driver-a").Run(ctx, release("v2")); err == nil {
				// A lease renewal that meets one of the driver's writes counts as
				// one more write, so that a run can end within k writes; the next
				// Run then finds the release ended.
				t.Logf("the release ended within %d writes", k)
			}
			cr.Disarm()
			res, err := newStrategy(c, autoscaledSpec(), "driver-a").Run(testCtx(t), release("v2"))
			require.NoError(t, err)
			assert.Equal(t, strategy.PhaseSucceeded, res.Phase)
			assert.Equal(t, want, observe(t, c))
			assert.Equal(t, "web-green", scaleTarget(t, c))
			assert.Empty(t, writes.ToScaled("web-blue"))
		})
	}
}

// TestAdoptedAutoscaler: an autoscaler on a plain Deployment of the app
// gives the first release its size and moves to blue at the switch.
func TestAdoptedAutoscaler(t *testing.T) {
	t.Parallel()
	plain := workload("v0")
	plain.ObjectMeta = metav1.ObjectMeta{Name: "web", Namespace: app.Namespace}
	plain.Spec.Replicas = ptr.To[int32](6)
	c := newCluster(t, plain, hpa("web"))
	require.NoError(t, c.WaitIdle(testCtx(t)))
	spec := autoscaledSpec()
	spec.ScaleDownDelay = ptr.To[time.Duration](0)
	_, err := newStrategy(c, spec, "driver-a").Run(testCtx(t), release("v1"))
	require.NoError(t, err)
	end := observe(t, c)
	assert.Equal(t, slotState{"v1", 6, 6}, end.Blue)
	assert.Equal(t, "web-blue", scaleTarget(t, c))
	d, err := c.Clients().Kube.AppsV1().Deployments(app.Namespace).Get(testCtx(t), "web", metav1.GetOptions{})
	require.NoError(t, err)
	assert.Zero(t, ptr.Deref(d.Spec.Replicas, 1), "the adopted Deployment is scaled down once the autoscaler left it")
}

// TestBadAutoscalerIsRefused: an autoscaler that is missing, misnamed or
// scales something else than the app's Deployments is a ValidationError
// at spec.autoscaler, and nothing is written.
func TestBadAutoscalerIsRefused(t *testing.T) {
	t.Parallel()
	statefulSet := hpa("web-blue")
	statefulSet.Spec.ScaleTargetRef.Kind = "StatefulSet"
	otherGroup := hpa("web-blue")
	otherGroup.Spec.ScaleTargetRef.APIVersion = "extensions/v1beta1"
	cases := map[string]struct {
		name string
		objs []runtime.Object
	}{
		"missing":            {name: "web"},
		"not a name":         {name: "Web_1"},
		"another Deployment": {name: "web", objs: []runtime.Object{hpa("api")}},
		"a StatefulSet":      {name: "web", objs: []runtime.Object{statefulSet}},
		"another app's slot": {name: "web", objs: []runtime.Object{hpa("webshop-blue")}},
		"another API group":  {name: "web", objs: []runtime.Object{otherGroup}},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			c := newCluster(t, tc.objs...)
			spec := baseSpec()
			spec.Autoscaler = tc.name
			c.ResetRequests()
			_, err := newStrategy(c, spec, "driver-a").Run(testCtx(t), release("v1"))
			var ve *strategy.ValidationError
			require.ErrorAs(t, err, &ve)
			assert.True(t, ve.Has("spec.autoscaler"), "%v", err)
			for k := range c.Requests() {
				assert.Contains(t, []string{"get", "list", "watch"}, k.Verb, "nothing written: %s %s", k.Verb, k.Resource)
			}
		})
	}
}

// TestAutoscalerChangedDuringARelease: the user edits the autoscaler
// after the release read it; the move's precondition fails, the release
// reads it again and moves it, keeping the user's edit. An autoscaler
// deleted during a release stays deleted, and the release goes on.
func TestAutoscalerChangedDuringARelease(t *testing.T) {
	t.Parallel()
	hpas := func(c *fake.Cluster) v2client.HorizontalPodAutoscalerInterface {
		return c.Clients().Kube.AutoscalingV2().HorizontalPodAutoscalers(app.Namespace)
	}
	edits := map[string]func(ctx context.Context, c *fake.Cluster) error{
		"labelled": func(ctx context.Context, c *fake.Cluster) error {
			_, err := hpas(c).Patch(ctx, "web", types.MergePatchType, []byte(`{"metadata":{"labels":{"team":"shop"}}}`), metav1.PatchOptions{})
			return err
		},
		"deleted": func(ctx context.Context, c *fake.Cluster) error {
			return hpas(c).Delete(ctx, "web", metav1.DeleteOptions{})
		},
	}
	for name, edit := range edits {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			c := autoscaledV1(t)
			writes := &testkit.WriteLog{}
			writes.Install(c)
			at := atStep(t, "switch", func(ctx context.Context) error { return edit(ctx, c) })
			res, err := newStrategy(c, autoscaledSpec(), "driver-a", at).Run(testCtx(t), release("v2"))
			require.NoError(t, err)
			assert.Equal(t, strategy.PhaseSucceeded, res.Phase)
			assert.Equal(t, slotState{"v2", 7, 7}, observe(t, c).Green)
			h, err := hpas(c).Get(testCtx(t), "web", metav1.GetOptions{})
			if name == "deleted" {
				assert.True(t, isNotFound(err), "not created again: %v", err)
				return
			}
			require.NoError(t, err)
			assert.Equal(t, "web-green", h.Spec.ScaleTargetRef.Name)
			assert.Equal(t, "shop", h.Labels["team"], "the user's edit is kept")
			assert.Equal(t, 3, writes.Count("horizontalpodautoscalers"), "the user's edit, a refused move, the move")
		})
	}
}

// TestAutoscalerOnTheIdleSlot: an autoscaler left on the idle slot is
// pointed at the live one when a release starts, so that it never scales
// the candidate while it is rolled, and then follows the switch.
func TestAutoscalerOnTheIdleSlot(t *testing.T) {
	t.Parallel()
	c := newCluster(t, hpa("web-green"))
	_, err := newStrategy(c, baseSpec(), "driver-a").Run(testCtx(t), release("v1"))
	require.NoError(t, err)
	autoscale(t, c, "web-blue", 5)
	var during string
	at := atStep(t, "preview-available", func(context.Context) error { during = scaleTarget(t, c); return nil })
	_, err = newStrategy(c, autoscaledSpec(), "driver-a", at).Run(testCtx(t), release("v2"))
	require.NoError(t, err)
	assert.Equal(t, "web-blue", during, "on the live slot while the candidate rolls")
	assert.Equal(t, "web-green", scaleTarget(t, c))
	assert.Equal(t, slotState{"v2", 5, 5}, observe(t, c).Green)
}
