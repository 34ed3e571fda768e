package canary_test

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"

	"github.com/switchyard-dev/switchyard/canary"
	"github.com/switchyard-dev/switchyard/fake"
	"github.com/switchyard-dev/switchyard/strategy"
	"github.com/switchyard-dev/switchyard/strategy/traffic"
)

// lingeringPod adds to slot a Ready pod of revision that no ReplicaSet
// owns, made after one of the app's pods, and deletes it after linger:
// what the real Deployment controller leaves in a slot it rolls from an
// older revision while it lags behind (its scale-down of the old
// ReplicaSet and the pods' deletion come after the new pods are Ready).
// The fake's controllers run in no time, so they do not show it on their
// own.
func (e *env) lingeringPod(slot, revision string, linger time.Duration) {
	e.t.Helper()
	ctx := testCtx(e.t)
	kube := e.cl.Kube
	pods, err := kube.CoreV1().Pods(ns).List(ctx, metav1.ListOptions{LabelSelector: strategy.LabelApp + "=" + app.Name})
	require.NoError(e.t, err)
	require.NotEmpty(e.t, pods.Items)
	src := pods.Items[0]
	lb := map[string]string{}
	for k, v := range src.Labels {
		if k != "pod-template-hash" {
			lb[k] = v
		}
	}
	lb[strategy.LabelSlot], lb[strategy.LabelRevision] = slot, revision
	p := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "web-" + slot + "-" + revision + "-lingering", Namespace: ns, Labels: lb},
		Spec: *src.Spec.DeepCopy()}
	p.Spec.NodeName = ""
	_, err = kube.CoreV1().Pods(ns).Create(ctx, p, metav1.CreateOptions{})
	require.NoError(e.t, err)
	e.c.Clock().AfterFunc(linger, func() {
		_ = kube.CoreV1().Pods(ns).Delete(context.Background(), p.Name, metav1.DeleteOptions{})
	})
}

// TestTrafficWaitsForOldRevisionToLeaveTheCanarySlot releases v2 into a
// canary slot where a Ready pod of an older revision, v0, lingers for 10s
// (as after a release superseded mid-flight, when the slot is rolled
// again). No request may reach v0: as the fake's data plane counts them
// from the router and the EndpointSlices, independently of the strategy,
// neither the weight steps nor a header route send traffic to the canary
// slot before the v0 pod has gone.
func TestTrafficWaitsForOldRevisionToLeaveTheCanarySlot(t *testing.T) {
	beta := map[string]string{"x-beta": "1"}
	for _, tc := range []struct {
		name  string
		steps []canary.Step
		load  map[string]string // the headers of the load
	}{
		{name: "SetWeight", steps: []canary.Step{canary.SetWeight{Percent: 50}, canary.Pause{Duration: 20 * time.Second}}},
		{name: "SetHeaderRoute", load: beta, steps: []canary.Step{canary.SetCanaryScale{Replicas: ptr.To[int32](2)},
			canary.SetHeaderRoute{Name: "beta", Match: []traffic.HeaderMatch{{Name: "x-beta", Value: "1"}}},
			canary.Pause{Duration: 20 * time.Second}, canary.SetWeight{Percent: 50}}},
		{name: "Promotion", steps: []canary.Step{canary.Pause{Duration: time.Second}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t, routingNamed("GatewayHTTPRoute"))
			spec := e.spec(tc.steps...)
			e.install(spec)
			start := e.c.Clock().Now()
			e.lingeringPod(canary.Green, "v0", 10*time.Second)
			stop := e.c.SendLoad(e.r.entry, 100, fake.Request{Headers: tc.load})
			res, err := e.strategy(spec, "driver-a").Run(testCtx(t), release("v2"))
			stop()
			require.NoError(t, err)
			assert.Equal(t, strategy.PhaseSucceeded, res.Phase)
			assert.Zero(t, e.c.Metrics().Requests("v0"), "requests served by the canary slot's older revision (versions %v)",
				e.c.Metrics().Versions())
			assert.NotZero(t, e.c.Metrics().Requests("v2"))
			assert.False(t, res.Finished.Before(start.Add(10*time.Second)))
		})
	}
}
