package canary

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/utils/ptr"

	"github.com/switchyard-dev/switchyard/strategy"
	"github.com/switchyard-dev/switchyard/strategy/traffic"
)

// fieldsOf returns the field paths of a validator's error.
func fieldsOf(t *testing.T, v *strategy.Validator) map[string]bool {
	t.Helper()
	got := map[string]bool{}
	if v.Err() == nil {
		return got
	}
	var ve *strategy.ValidationError
	require.ErrorAs(t, v.Err(), &ve)
	for _, f := range ve.Fields {
		got[f.Path] = true
	}
	return got
}

func TestSpecNamesPortsAndMetadataAreValidated(t *testing.T) {
	t.Parallel()
	var cl strategy.Clients
	gw := traffic.NewGatewayHTTPRoute(cl, types.NamespacedName{Namespace: "shop", Name: "web"}, "web-stable", "web-canary")
	nginx := traffic.NewNGINXIngress(cl, types.NamespacedName{Namespace: "shop", Name: "web"}, "web-canary")
	good := func() Spec {
		return Spec{StableService: "web-stable", CanaryService: "web-canary", Router: gw,
			StableMetadata: PodMetadata{Labels: map[string]string{"role": "stable"}, Annotations: map[string]string{"example.com/note": "free text"}},
			Steps:          []Step{SetWeight{Percent: 10}, SetHeaderRoute{Name: "beta", Match: []traffic.HeaderMatch{{Name: "x-beta", Value: "1"}}}, SetMirrorRoute{Name: "shadow", Percent: 5}, SetWeight{Percent: 100}},
		}
	}
	tests := map[string]struct {
		change func(s *Spec)
		paths  []string
	}{
		"valid":                     {change: func(*Spec) {}},
		"stable Service not a name": {change: func(s *Spec) { s.StableService = "Web_Svc!" }, paths: []string{"spec.stableService"}},
		"canary Service not a name": {change: func(s *Spec) { s.CanaryService = "Bad..Name" }, paths: []string{"spec.canaryService"}},
		"port 0": {change: func(s *Spec) { s.ServicePorts = []corev1.ServicePort{{Name: "http", Port: 0}} },
			paths: []string{"spec.servicePorts[0].port"}},
		"port 70000": {change: func(s *Spec) { s.ServicePorts = []corev1.ServicePort{{Port: 70000}} },
			paths: []string{"spec.servicePorts[0].port"}},
		"bad protocol": {change: func(s *Spec) { s.ServicePorts = []corev1.ServicePort{{Port: 80, Protocol: "HTTP"}} },
			paths: []string{"spec.servicePorts[0].protocol"}},
		"bad stable label key": {change: func(s *Spec) { s.StableMetadata.Labels["bad key!"] = "x" },
			paths: []string{"spec.stableMetadata.labels"}},
		"bad canary label value": {change: func(s *Spec) { s.CanaryMetadata.Labels = map[string]string{"role": strings.Repeat("x", 64)} },
			paths: []string{"spec.canaryMetadata.labels"}},
		"bad annotation key": {change: func(s *Spec) { s.CanaryMetadata.Annotations = map[string]string{"bad key!": "x"} },
			paths: []string{"spec.canaryMetadata.annotations"}},
		"switchyard's own label": {change: func(s *Spec) { s.CanaryMetadata.Labels = map[string]string{strategy.LabelSlot: "blue"} },
			paths: []string{"spec.canaryMetadata.labels"}},
		"header route regex": {change: func(s *Spec) {
			s.Steps[1] = SetHeaderRoute{Name: "beta", Match: []traffic.HeaderMatch{{Name: "x-beta", Value: "(", Type: traffic.HeaderRegularExpression}}}
		}, paths: []string{"spec.steps[1].setHeaderRoute.matches[0].value"}},
		"header route name": {change: func(s *Spec) {
			s.Steps[1] = SetHeaderRoute{Name: "Beta Users", Match: []traffic.HeaderMatch{{Name: "x-beta", Value: "1"}}}
		}, paths: []string{"spec.steps[1].setHeaderRoute.name"}},
		"header name": {change: func(s *Spec) {
			s.Steps[1] = SetHeaderRoute{Name: "beta", Match: []traffic.HeaderMatch{{Name: "x beta", Value: "1"}}}
		}, paths: []string{"spec.steps[1].setHeaderRoute.matches[0].name"}},
		"removal name": {change: func(s *Spec) { s.Steps[1] = SetHeaderRoute{Name: "Beta!"} },
			paths: []string{"spec.steps[1].setHeaderRoute.name"}},
		"two headers on ingress-nginx": {change: func(s *Spec) {
			s.Router = nginx
			s.Steps = []Step{SetWeight{Percent: 10}, SetHeaderRoute{Name: "beta", Match: []traffic.HeaderMatch{{Name: "x-a", Value: "1"}, {Name: "x-b", Value: "2"}}}}
		}, paths: []string{"spec.steps[1].setHeaderRoute.matches"}},
		"mirror name": {change: func(s *Spec) { s.Steps[2] = SetMirrorRoute{Name: "Shadow!", Percent: 5} },
			paths: []string{"spec.steps[2].setMirrorRoute.name"}},
		"mirror percent": {change: func(s *Spec) { s.Steps[2] = SetMirrorRoute{Name: "shadow", Percent: 101} },
			paths: []string{"spec.steps[2].setMirrorRoute.percent"}},
		"canary scale too big": {change: func(s *Spec) {
			s.Steps = []Step{SetCanaryScale{Replicas: ptr.To[int32](2147483647)}, SetWeight{Percent: 100}}
		}, paths: []string{"spec.steps[0].setCanaryScale.replicas"}},
		"min pods too big": {change: func(s *Spec) { s.MinPodsPerSlot = 2147483647 }, paths: []string{"spec.minPodsPerSlot"}},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			s := good()
			tc.change(&s)
			var v strategy.Validator
			s.validate(&v)
			want := map[string]bool{}
			for _, p := range tc.paths {
				want[p] = true
			}
			assert.Equal(t, want, fieldsOf(t, &v), "%v", v.Err())
		})
	}
}

func TestRouterMustBeInTheAppsNamespace(t *testing.T) {
	t.Parallel()
	var cl strategy.Clients
	app := types.NamespacedName{Namespace: "team-a", Name: "web"}
	other := types.NamespacedName{Namespace: "team-b", Name: "web"}

	var v strategy.Validator
	Spec{Router: traffic.NewGatewayHTTPRoute(cl, other, "s", "c")}.validateNamespace(&v, app)
	assert.Equal(t, map[string]bool{"spec.router.namespace": true}, fieldsOf(t, &v), "%v", v.Err())

	var allowed strategy.Validator
	Spec{Router: traffic.NewGatewayHTTPRoute(cl, other, "s", "c", traffic.AllowCrossNamespace())}.validateNamespace(&allowed, app)
	require.NoError(t, allowed.Err())

	var same, none strategy.Validator
	Spec{Router: traffic.NewIstioVirtualService(cl, app, nil, "s", "c")}.validateNamespace(&same, app)
	require.NoError(t, same.Err())
	Spec{}.validateNamespace(&none, app)
	require.NoError(t, none.Err(), "ReplicaRatio writes only the app's own objects")
}
