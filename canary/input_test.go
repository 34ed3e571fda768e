package canary_test

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/utils/ptr"

	"github.com/switchyard-dev/switchyard/canary"
	"github.com/switchyard-dev/switchyard/strategy"
	"github.com/switchyard-dev/switchyard/strategy/traffic"
)

// TestBadInputIsRejectedBeforeAnyWrite runs each bad spec or release and
// checks the error names the field and nothing was written.
func TestBadInputIsRejectedBeforeAnyWrite(t *testing.T) {
	header := canary.SetHeaderRoute{Name: "beta", Match: []traffic.HeaderMatch{{Name: "x-beta", Value: "1"}}}
	cases := []struct {
		name    string
		routing string
		edit    func(e *env, s *canary.Spec, r *strategy.Release)
		field   string
	}{
		{"weight above 100", "GatewayHTTPRoute", func(_ *env, s *canary.Spec, _ *strategy.Release) {
			s.Steps = canary.Steps(10, 120)
		}, "spec.steps[1].setWeight.percent"},
		{"negative weight", "ReplicaRatio", func(_ *env, s *canary.Spec, _ *strategy.Release) {
			s.Steps = canary.Steps(-1)
		}, "spec.steps[0].setWeight.percent"},
		{"weight going down unmarked", "GatewayHTTPRoute", func(_ *env, s *canary.Spec, _ *strategy.Release) {
			s.Steps = canary.Steps(50, 20, 100)
		}, "spec.steps[1].setWeight.percent"},
		{"no steps", "GatewayHTTPRoute", func(_ *env, s *canary.Spec, _ *strategy.Release) { s.Steps = nil }, "spec.steps"},
		{"negative pause", "ReplicaRatio", func(_ *env, s *canary.Spec, _ *strategy.Release) {
			s.Steps = []canary.Step{canary.SetWeight{Percent: 10}, canary.Pause{Duration: -time.Second}}
		}, "spec.steps[1].pause.duration"},
		{"header route without a router", "ReplicaRatio", func(_ *env, s *canary.Spec, _ *strategy.Release) {
			s.Steps = []canary.Step{canary.SetWeight{Percent: 10}, header}
		}, "spec.steps[1].setHeaderRoute"},
		{"mirror on a router without mirrors", "NGINXIngress", func(_ *env, s *canary.Spec, _ *strategy.Release) {
			s.Steps = []canary.Step{canary.SetWeight{Percent: 10}, canary.SetMirrorRoute{Name: "m", Percent: 10}}
		}, "spec.steps[1].setMirrorRoute"},
		{"header route to a canary with no pods", "GatewayHTTPRoute", func(_ *env, s *canary.Spec, _ *strategy.Release) {
			s.Steps = []canary.Step{header, canary.SetWeight{Percent: 100}}
		}, "spec.steps[0].setHeaderRoute"},
		{"router object missing", "GatewayHTTPRoute", func(e *env, s *canary.Spec, _ *strategy.Release) {
			s.Router = traffic.NewGatewayHTTPRoute(e.cl, key("nope"), "web-stable", "web-canary")
		}, "spec.router.gatewayHTTPRoute.route"},
		{"router not referencing the Services", "IstioVirtualService", func(e *env, s *canary.Spec, _ *strategy.Release) {
			s.Router = traffic.NewIstioVirtualService(e.cl, key("web"), nil, "web-stable", "other")
		}, "spec.router.istioVirtualService.virtualService.spec.http[0].route"},
		{"canary Service missing", "GatewayHTTPRoute", func(_ *env, s *canary.Spec, _ *strategy.Release) {
			s.CanaryService = "nope"
		}, "spec.canaryService"},
		{"canary Service is the stable one", "GatewayHTTPRoute", func(_ *env, s *canary.Spec, _ *strategy.Release) {
			s.CanaryService = s.StableService
		}, "spec.canaryService"},
		{"stable Service selects one slot without a router", "ReplicaRatio", func(_ *env, s *canary.Spec, _ *strategy.Release) {
			s.StableService = "one-slot"
		}, "spec.stableService"},
		{"stable Service selects other pods", "ReplicaRatio", func(_ *env, s *canary.Spec, _ *strategy.Release) {
			s.StableService = "other"
		}, "spec.stableService"},
		{"stable Service missing without ports", "ReplicaRatio", func(_ *env, s *canary.Spec, _ *strategy.Release) {
			s.StableService = "nope"
		}, "spec.stableService"},
		{"background from a step that does not exist", "GatewayHTTPRoute", func(_ *env, s *canary.Spec, _ *strategy.Release) {
			s.Background = &canary.Background{StartingStep: 9, Checks: []strategy.Check{{Name: "x", Func: func(context.Context, strategy.CheckInput) error { return nil }}}}
		}, "spec.background.startingStep"},
		{"maxSurge and maxUnavailable both 0", "GatewayHTTPRoute", func(_ *env, s *canary.Spec, _ *strategy.Release) {
			s.MaxSurge, s.MaxUnavailable = ptr.To(intstr.FromInt32(0)), ptr.To(intstr.FromString("0%"))
		}, "spec.maxUnavailable"},
		{"canary scale with two sizes", "GatewayHTTPRoute", func(_ *env, s *canary.Spec, _ *strategy.Release) {
			s.Steps = []canary.Step{canary.SetCanaryScale{Replicas: ptr.To[int32](1), MatchTrafficWeight: true}}
		}, "spec.steps[0].setCanaryScale"},
		{"stable Service selecting both slots once one runs", "GatewayHTTPRoute", func(e *env, s *canary.Spec, _ *strategy.Release) {
			e.install(*s)
			svc, err := e.cl.Kube.CoreV1().Services(ns).Get(context.Background(), "web-stable", metav1.GetOptions{})
			require.NoError(e.t, err)
			delete(svc.Spec.Selector, strategy.LabelSlot)
			_, err = e.cl.Kube.CoreV1().Services(ns).Update(context.Background(), svc, metav1.UpdateOptions{})
			require.NoError(e.t, err)
			require.NoError(e.t, e.c.WaitIdle(context.Background()))
		}, "spec.stableService"},
		{"no workload", "GatewayHTTPRoute", func(_ *env, _ *canary.Spec, r *strategy.Release) { r.Workload = nil }, "release.workload"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			e := newEnv(t, routingNamed(tc.routing))
			ctx := testCtx(t)
			for name, sel := range map[string]map[string]string{"one-slot": {"app": "web", strategy.LabelSlot: "blue"}, "other": {"app": "other"}} {
				_, err := e.cl.Kube.CoreV1().Services(ns).Create(ctx, service(name, sel), metav1.CreateOptions{})
				require.NoError(t, err)
			}
			require.NoError(t, e.c.WaitIdle(ctx))
			spec := e.spec(canary.Steps(10, 100)...)
			rel := release("v1")
			tc.edit(e, &spec, &rel)
			e.c.ResetRequests()
			_, err := e.strategy(spec, "driver-a").Run(ctx, rel)
			requireInvalid(t, err, tc.field)
			assert.ErrorIs(t, err, strategy.ErrInvalid)
			for k, n := range e.c.Requests() {
				assert.Contains(t, []string{"get", "list", "watch"}, k.Verb, "nothing is written: %d× %v", n, k)
			}
			_, err = e.strategy(spec, "driver-a").Plan(ctx, rel)
			requireInvalid(t, err, tc.field)
		})
	}
}

func TestPlanListsTheSteps(t *testing.T) {
	e := newEnv(t, routingNamed("GatewayHTTPRoute"))
	spec := e.spec(canary.Canary10Percent5Minutes()...)
	p, err := e.strategy(spec, "driver-a").Plan(testCtx(t), release("v1"))
	require.NoError(t, err)
	var names []string
	for _, s := range p.Steps {
		names = append(names, s.Name)
	}
	assert.Equal(t, []string{"deploy", "0-SetWeight", "1-Pause", "2-SetWeight", "promote", "scale-down"}, names)
	assert.Equal(t, "pause for 5m0s", p.Steps[2].Description)
}
