package traffic_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/utils/ptr"

	"github.com/switchyard-dev/switchyard/fake"
	"github.com/switchyard-dev/switchyard/internal/routertest"
	"github.com/switchyard-dev/switchyard/strategy"
	"github.com/switchyard-dev/switchyard/strategy/traffic"
)

const (
	ns     = "shop"
	stable = "web-stable"
	canary = "web-canary"
	root   = "web"
)

var crdGVR = schema.GroupVersionResource{Group: "apiextensions.k8s.io", Version: "v1", Resource: "customresourcedefinitions"}

// env is a fake cluster with the app running: slot blue (version v1)
// behind Service web-stable, slot green (v2) behind web-canary, and Service
// web selecting both.
type env struct {
	t   *testing.T
	ctx context.Context
	c   *fake.Cluster
	cl  strategy.Clients
}

// newEnv starts the cluster, installs the CRDs of routertest files crds and
// waits for the app's pods to be Ready.
func newEnv(t *testing.T, crds ...string) *env {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	t.Cleanup(cancel)
	c := fake.NewCluster()
	t.Cleanup(c.Stop)
	e := &env{t: t, ctx: ctx, c: c, cl: c.Clients()}
	_, err := e.cl.Kube.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}, metav1.CreateOptions{})
	require.NoError(t, err)
	for _, f := range crds {
		_, err := e.cl.Dynamic.Resource(crdGVR).Create(ctx, routertest.CRD(t, f), metav1.CreateOptions{})
		require.NoError(t, err, f)
	}
	for slot, version := range map[string]string{"blue": "v1", "green": "v2"} {
		labels := map[string]string{"app": "web", strategy.LabelSlot: slot}
		pod := map[string]string{"app": "web", strategy.LabelSlot: slot, strategy.LabelRevision: version}
		_, err := e.cl.Kube.AppsV1().Deployments(ns).Create(ctx, &appsv1.Deployment{
			ObjectMeta: metav1.ObjectMeta{Name: "web-" + slot},
			Spec: appsv1.DeploymentSpec{
				Replicas: ptr.To[int32](2),
				Selector: &metav1.LabelSelector{MatchLabels: labels},
				Template: corev1.PodTemplateSpec{
					ObjectMeta: metav1.ObjectMeta{Labels: pod},
					Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "web", Image: "web:" + version}}},
				},
			},
		}, metav1.CreateOptions{})
		require.NoError(t, err)
	}
	e.service(stable, map[string]string{"app": "web", strategy.LabelSlot: "blue"})
	e.service(canary, map[string]string{"app": "web", strategy.LabelSlot: "green"})
	e.service(root, map[string]string{"app": "web"})
	e.service("other", map[string]string{"app": "other"})
	require.NoError(t, c.WaitIdle(ctx))
	c.Clock().Step(time.Second) // the default pod start-up
	require.NoError(t, c.WaitIdle(ctx))
	share, err := c.Traffic(ctx, fake.Entry{Kind: fake.EntryService, Namespace: ns, Name: canary}, fake.Request{})
	require.NoError(t, err)
	require.Equal(t, map[string]float64{"v2": 1}, share.Serve, "the canary Service serves v2")
	return e
}

func (e *env) service(name string, selector map[string]string) {
	e.t.Helper()
	_, err := e.cl.Kube.CoreV1().Services(ns).Create(e.ctx, &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Name: name},
		Spec: corev1.ServiceSpec{Selector: selector,
			Ports: []corev1.ServicePort{{Name: "http", Port: 80, TargetPort: intstr.FromInt32(8080)}}},
	}, metav1.CreateOptions{})
	require.NoError(e.t, err)
}

// object parses a YAML object.
func (e *env) object(doc string) *unstructured.Unstructured {
	e.t.Helper()
	return routertest.Parse(e.t, doc)
}

// create creates a custom resource from YAML in the app's namespace.
func (e *env) create(gvr schema.GroupVersionResource, doc string) {
	e.t.Helper()
	_, err := e.cl.Dynamic.Resource(gvr).Namespace(ns).Create(e.ctx, e.object(doc), metav1.CreateOptions{})
	require.NoError(e.t, err)
}

// get reads a custom resource.
func (e *env) get(gvr schema.GroupVersionResource, name string) *unstructured.Unstructured {
	e.t.Helper()
	u, err := e.cl.Dynamic.Resource(gvr).Namespace(ns).Get(e.ctx, name, metav1.GetOptions{})
	require.NoError(e.t, err)
	return u
}

// share asks the fake data plane how requests with headers h sent to entry
// are served.
func (e *env) share(entry fake.Entry, h map[string]string) fake.Share {
	e.t.Helper()
	s, err := e.c.Traffic(e.ctx, entry, fake.Request{Headers: h})
	require.NoError(e.t, err)
	return s
}

// assertSplit checks that requests with headers h go percent% to the
// canary (v2) and the rest to stable (v1), within one percentage point.
func (e *env) assertSplit(entry fake.Entry, h map[string]string, percent int32, msg string) {
	e.t.Helper()
	s := e.share(entry, h)
	want := float64(percent) / 100
	assert.InDelta(e.t, want, s.Serve["v2"], 0.01, "%s: canary share of %v (all: %v)", msg, h, s.Serve)
	assert.InDelta(e.t, 1-want, s.Serve["v1"], 0.01, "%s: stable share of %v (all: %v)", msg, h, s.Serve)
	assert.Zero(e.t, s.Unserved, "%s: unserved", msg)
}

// requireInvalid checks that err is a *strategy.ValidationError naming path.
func requireInvalid(t *testing.T, err error, path string) {
	t.Helper()
	var ve *strategy.ValidationError
	require.True(t, errors.As(err, &ve), "want a ValidationError, got %v", err)
	assert.True(t, ve.Has(path), "want field %s in %v", path, err)
	assert.ErrorIs(t, err, strategy.ErrInvalid)
}

// weights are the weights every router must honour exactly.
var weights = []int32{0, 2, 25, 75, 100}

// checkWeights sets each of weights and checks both what the router reads
// back and how the data plane splits requests.
func checkWeights(t *testing.T, e *env, r traffic.Router, entry fake.Entry) {
	t.Helper()
	for _, w := range weights {
		require.NoError(t, r.SetWeight(e.ctx, w), "SetWeight(%d)", w)
		got, err := r.Weight(e.ctx)
		require.NoError(t, err)
		assert.Equal(t, w, got, "Weight after SetWeight(%d)", w)
		e.assertSplit(entry, nil, w, r.Name())
	}
}
