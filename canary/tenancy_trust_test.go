package canary_test

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/intstr"

	"github.com/switchyard-dev/switchyard/canary"
	"github.com/switchyard-dev/switchyard/fake"
	"github.com/switchyard-dev/switchyard/internal/routertest"
	"github.com/switchyard-dev/switchyard/strategy"
	"github.com/switchyard-dev/switchyard/strategy/traffic"
)

// A canary of an app in team-a whose router names an HTTPRoute in team-b
// is refused before any write, unless the router allows it in code.
func TestRouterInAnotherNamespaceIsRefusedBeforeAnyWrite(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	const home, foreign = "team-a", "team-b"
	svc := func(ns, name string, sel map[string]string) *corev1.Service {
		return &corev1.Service{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name}, Spec: corev1.ServiceSpec{Selector: sel,
			Ports: []corev1.ServicePort{{Name: "http", Port: 80, TargetPort: intstr.FromString("http")}}}}
	}
	var objs []runtime.Object
	for _, ns := range []string{home, foreign} {
		objs = append(objs, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}},
			svc(ns, "web-stable", map[string]string{"app": "web", strategy.LabelSlot: "blue"}),
			svc(ns, "web-canary", map[string]string{"app": "web", strategy.LabelSlot: "green"}))
	}
	c := fake.NewCluster(fake.WithAutoAdvance(), fake.WithObjects(objs...))
	t.Cleanup(c.Stop)
	cl := c.Clients()
	_, err := cl.Dynamic.Resource(crdGVR).Create(ctx, routertest.CRD(t, routertest.GatewayCRD), metav1.CreateOptions{})
	require.NoError(t, err)
	require.NoError(t, c.WaitIdle(ctx))
	route := routertest.Parse(t, routertest.HTTPRoute)
	route.SetNamespace(foreign)
	route, err = cl.Dynamic.Resource(traffic.HTTPRouteGVR).Namespace(foreign).Create(ctx, route, metav1.CreateOptions{})
	require.NoError(t, err)

	app := types.NamespacedName{Namespace: home, Name: "web"}
	rel := strategy.Release{App: app, Revision: "v1", Workload: workload("v1", 2)}
	spec := canary.Spec{StableService: "web-stable", CanaryService: "web-canary", Steps: canary.Steps(50, 100),
		Router: traffic.NewGatewayHTTPRoute(cl, types.NamespacedName{Namespace: foreign, Name: "web"}, "web-stable", "web-canary")}
	_, err = canary.New(cl, spec, strategy.WithClock(c.Clock())).Run(ctx, rel)
	var ve *strategy.ValidationError
	require.ErrorAs(t, err, &ve)
	assert.True(t, ve.Has("spec.router.namespace"), "%v", err)

	after, err := cl.Dynamic.Resource(traffic.HTTPRouteGVR).Namespace(foreign).Get(ctx, "web", metav1.GetOptions{})
	require.NoError(t, err)
	assert.Equal(t, route.GetResourceVersion(), after.GetResourceVersion(), "the foreign HTTPRoute was written")
	deps, err := cl.Kube.AppsV1().Deployments(home).List(ctx, metav1.ListOptions{})
	require.NoError(t, err)
	assert.Empty(t, deps.Items, "a slot was deployed")
	cms, err := cl.Kube.CoreV1().ConfigMaps(home).List(ctx, metav1.ListOptions{})
	require.NoError(t, err)
	assert.Empty(t, cms.Items, "a release record was written")

	// Opting in, in code, lets the same release through validation.
	spec.Router = traffic.NewGatewayHTTPRoute(cl, types.NamespacedName{Namespace: foreign, Name: "web"}, "web-stable", "web-canary",
		traffic.AllowCrossNamespace())
	_, err = canary.New(cl, spec, strategy.WithClock(c.Clock())).Plan(ctx, rel)
	require.NoError(t, err)
}

// A release into a namespace that does not exist fails validation, by
// field, before any write.
func TestMissingNamespaceIsReportedBeforeTheFirstWrite(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	c := fake.NewCluster(fake.WithAutoAdvance())
	t.Cleanup(c.Stop)
	c.ResetRequests()
	rel := strategy.Release{App: types.NamespacedName{Namespace: "ghost", Name: "web"}, Revision: "v1", Workload: workload("v1", 2)}
	spec := canary.Spec{StableService: "web", ServicePorts: []corev1.ServicePort{{Name: "http", Port: 80}}, Steps: canary.Steps(50, 100)}
	_, err := canary.New(c.Clients(), spec, strategy.WithClock(c.Clock())).Run(ctx, rel)
	var ve *strategy.ValidationError
	require.ErrorAs(t, err, &ve)
	assert.True(t, ve.Has("release.app.namespace"), "%v", err)
	got := c.Requests()
	for _, verb := range []string{"create", "update", "patch", "delete"} {
		assert.Zero(t, got.Count(verb, "*"), "%s before validating:\n%s", verb, got)
	}
}
