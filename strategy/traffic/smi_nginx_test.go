package traffic_test

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	networkingv1 "k8s.io/api/networking/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	k8stesting "k8s.io/client-go/testing"

	"github.com/switchyard-dev/switchyard/fake"
	"github.com/switchyard-dev/switchyard/internal/routertest"
	"github.com/switchyard-dev/switchyard/strategy"
	"github.com/switchyard-dev/switchyard/strategy/traffic"
)

func TestSMIValidate(t *testing.T) {
	e := newEnv(t, routertest.SMICRD)
	e.create(traffic.TrafficSplitGVR, routertest.TrafficSplit)
	wrongRoot := traffic.NewSMITrafficSplit(e.cl, key("web"), stable, stable, canary)
	requireInvalid(t, wrongRoot.Validate(e.ctx), "smiTrafficSplit.trafficSplit.spec.service")
	assert.ErrorContains(t, wrongRoot.SetWeight(e.ctx, 10), "spec.service")
	noRoot := traffic.NewSMITrafficSplit(e.cl, key("web"), "nope", stable, canary)
	requireInvalid(t, noRoot.Validate(e.ctx), "smiTrafficSplit.rootService")

	e.create(traffic.TrafficSplitGVR, `{apiVersion: split.smi-spec.io/v1alpha2, kind: TrafficSplit, metadata: {name: half},
		spec: {service: web, backends: [{service: web-stable, weight: 100}]}}`)
	half := traffic.NewSMITrafficSplit(e.cl, key("half"), root, stable, canary)
	requireInvalid(t, half.Validate(e.ctx), "smiTrafficSplit.trafficSplit.spec.backends")
}

func nginxRouter(e *env) (*traffic.NGINXIngress, fake.Entry) {
	e.createIngress(ingress("web", stable))
	r := traffic.NewNGINXIngress(e.cl, key("web"), canary)
	return r, fake.Entry{Kind: fake.EntryIngress, Namespace: ns, Name: "web"}
}

func (e *env) canaryIngress() (*networkingv1.Ingress, error) {
	return e.cl.Kube.NetworkingV1().Ingresses(ns).Get(e.ctx, "web-canary", metav1.GetOptions{})
}

func TestNGINXCanaryIngress(t *testing.T) {
	e := newEnv(t)
	r, entry := nginxRouter(e)
	require.NoError(t, r.Validate(e.ctx))
	got, err := r.Weight(e.ctx)
	require.NoError(t, err)
	assert.Zero(t, got, "no canary Ingress yet")
	_, err = e.canaryIngress()
	require.True(t, apierrors.IsNotFound(err), "Validate writes nothing: %v", err)

	require.NoError(t, r.SetWeight(e.ctx, 0))
	c, err := e.canaryIngress()
	require.NoError(t, err, "weight 0 creates the canary Ingress")
	assert.Equal(t, strategy.ManagedBy, c.Labels[strategy.LabelManagedBy])
	assert.Equal(t, map[string]string{traffic.NGINXCanary: "true", traffic.NGINXCanaryWeight: "0"}, c.Annotations)
	assert.Equal(t, "nginx", *c.Spec.IngressClassName)
	require.Len(t, c.Spec.Rules, 1)
	assert.Equal(t, "web.example.com", c.Spec.Rules[0].Host)
	assert.Equal(t, canary, c.Spec.Rules[0].HTTP.Paths[0].Backend.Service.Name)
	assert.Equal(t, int32(80), c.Spec.Rules[0].HTTP.Paths[0].Backend.Service.Port.Number)
	require.Len(t, c.OwnerReferences, 1)
	assert.Equal(t, "web", c.OwnerReferences[0].Name)
	e.assertSplit(entry, nil, 0, "weight 0")

	require.NoError(t, r.SetWeight(e.ctx, 30))
	require.NoError(t, r.SetHeaderRoute(e.ctx, "beta", []traffic.HeaderMatch{{Name: "X-Canary", Value: "yes"}}))
	assert.ErrorContains(t, r.SetHeaderRoute(e.ctx, "gamma", []traffic.HeaderMatch{{Name: "X-B", Value: "1"}}), "allows one")
	e.assertSplit(entry, map[string]string{"X-Canary": "yes"}, 100, "the first header route stays")
	require.NoError(t, r.SetWeight(e.ctx, 0))
	e.assertSplit(entry, map[string]string{"X-Canary": "yes"}, 100, "a header route works at weight 0")

	require.NoError(t, r.Remove(e.ctx))
	_, err = e.canaryIngress()
	assert.True(t, apierrors.IsNotFound(err), "Remove deletes the canary Ingress: %v", err)
	e.assertSplit(entry, map[string]string{"X-Canary": "yes"}, 0, "no canary")
	require.NoError(t, r.Remove(e.ctx), "removing twice is fine")
	require.NoError(t, r.RemoveHeaderRoutes(e.ctx), "creates nothing")
	_, err = e.canaryIngress()
	assert.True(t, apierrors.IsNotFound(err))
}

func TestNGINXWeightTotal(t *testing.T) {
	e := newEnv(t)
	r, entry := nginxRouter(e)
	require.NoError(t, r.SetWeight(e.ctx, 10))
	c, err := e.canaryIngress()
	require.NoError(t, err)
	c.Annotations[traffic.NGINXCanaryWeight] = "50"
	c.Annotations[traffic.NGINXCanaryWeightTotal] = "200"
	_, err = e.cl.Kube.NetworkingV1().Ingresses(ns).Update(e.ctx, c, metav1.UpdateOptions{})
	require.NoError(t, err)
	got, err := r.Weight(e.ctx)
	require.NoError(t, err)
	assert.Equal(t, int32(25), got, "50 of 200")
	e.assertSplit(entry, nil, 25, "50 of 200")
	require.NoError(t, r.SetWeight(e.ctx, 40), "SetWeight goes back to a total of 100")
	c, err = e.canaryIngress()
	require.NoError(t, err)
	assert.NotContains(t, c.Annotations, traffic.NGINXCanaryWeightTotal)
	e.assertSplit(entry, nil, 40, "40 of 100")
}

func TestNGINXValidate(t *testing.T) {
	e := newEnv(t)
	r, _ := nginxRouter(e)
	foreign := &networkingv1.Ingress{ObjectMeta: metav1.ObjectMeta{Name: "web-canary", Namespace: ns}}
	_, err := e.cl.Kube.NetworkingV1().Ingresses(ns).Create(e.ctx, foreign, metav1.CreateOptions{})
	require.NoError(t, err)
	requireInvalid(t, r.Validate(e.ctx), "nginxIngress.ingress")
	assert.ErrorContains(t, r.SetWeight(e.ctx, 10), "not managed by switchyard")
	assert.ErrorContains(t, r.Remove(e.ctx), "not managed by switchyard")

	e.createIngress(ingress("named-port", stable))
	named := traffic.NewNGINXIngress(e.cl, key("named-port"), canary)
	require.NoError(t, named.Validate(e.ctx))
	ing, err := e.cl.Kube.NetworkingV1().Ingresses(ns).Get(e.ctx, "named-port", metav1.GetOptions{})
	require.NoError(t, err)
	ing.Spec.Rules[0].HTTP.Paths[0].Backend.Service.Port = networkingv1.ServiceBackendPort{Name: "grpc"}
	_, err = e.cl.Kube.NetworkingV1().Ingresses(ns).Update(e.ctx, ing, metav1.UpdateOptions{})
	require.NoError(t, err)
	requireInvalid(t, named.Validate(e.ctx), "nginxIngress.canaryService")

	e.createIngress(ingress("is-canary", stable))
	ing, err = e.cl.Kube.NetworkingV1().Ingresses(ns).Get(e.ctx, "is-canary", metav1.GetOptions{})
	require.NoError(t, err)
	ing.Annotations = map[string]string{traffic.NGINXCanary: "true"}
	_, err = e.cl.Kube.NetworkingV1().Ingresses(ns).Update(e.ctx, ing, metav1.UpdateOptions{})
	require.NoError(t, err)
	requireInvalid(t, traffic.NewNGINXIngress(e.cl, key("is-canary"), canary).Validate(e.ctx), "nginxIngress.ingress")
}

// A mutating webhook that clamps the weight makes SetWeight fail, naming
// the object.
func TestWeightThatDoesNotTake(t *testing.T) {
	e := newEnv(t)
	r, _ := nginxRouter(e)
	require.NoError(t, r.SetWeight(e.ctx, 5))
	e.c.Clientset().PrependReactor("update", "ingresses", func(a k8stesting.Action) (bool, runtime.Object, error) {
		if ing, ok := a.(k8stesting.UpdateAction).GetObject().(*networkingv1.Ingress); ok && ing.Name == "web-canary" {
			ing.Annotations[traffic.NGINXCanaryWeight] = "5"
		}
		return false, nil, nil // the cluster stores the changed object
	})
	err := r.SetWeight(e.ctx, 40)
	require.ErrorIs(t, err, traffic.ErrWeightNotTaken)
	assert.ErrorContains(t, err, "Ingress shop/web-canary")
}
