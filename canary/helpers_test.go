package canary_test

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/utils/ptr"

	"github.com/switchyard-dev/switchyard/canary"
	"github.com/switchyard-dev/switchyard/fake"
	"github.com/switchyard-dev/switchyard/internal/routertest"
	"github.com/switchyard-dev/switchyard/internal/slots"
	"github.com/switchyard-dev/switchyard/internal/testkit"
	"github.com/switchyard-dev/switchyard/strategy"
	"github.com/switchyard-dev/switchyard/strategy/traffic"
)

const ns = "shop"

var app = types.NamespacedName{Namespace: ns, Name: "web"}

func workload(rev string, replicas int32) *appsv1.Deployment {
	return &appsv1.Deployment{Spec: appsv1.DeploymentSpec{
		Replicas: ptr.To(replicas),
		Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": "web"}},
		Template: corev1.PodTemplateSpec{
			ObjectMeta: metav1.ObjectMeta{Labels: map[string]string{"app": "web"}},
			Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "web", Image: "web:" + rev,
				Ports: []corev1.ContainerPort{{Name: "http", ContainerPort: 8080}}}}},
		},
	}}
}

func release(rev string) strategy.Release {
	return strategy.Release{App: app, Revision: rev, Workload: workload(rev, 10)}
}

func service(name string, selector map[string]string) *corev1.Service {
	return &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns},
		Spec: corev1.ServiceSpec{Selector: selector,
			Ports: []corev1.ServicePort{{Name: "http", Port: 80, TargetPort: intstr.FromString("http")}}},
	}
}

func testCtx(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// routing is one way of splitting traffic, set up on a fresh cluster.
type routing struct {
	name string
	// crds are routertest files.
	crds []string
	// objects are created before the router is built.
	objects func(t *testing.T, c *fake.Cluster)
	// router builds the router; nil for ReplicaRatio.
	router func(cl strategy.Clients) traffic.Router
	// entry is where the app's requests arrive.
	entry fake.Entry
	// exact: the served share must be within one percentage point of the
	// weight; otherwise within one pod's share (ReplicaRatio).
	exact bool
}

func key(name string) types.NamespacedName { return types.NamespacedName{Namespace: ns, Name: name} }

var routings = []routing{{
	name:  "ReplicaRatio",
	entry: fake.Entry{Kind: fake.EntryService, Namespace: ns, Name: "web"},
}, {
	name: "GatewayHTTPRoute", crds: []string{routertest.GatewayCRD}, exact: true,
	objects: func(t *testing.T, c *fake.Cluster) { create(t, c, traffic.HTTPRouteGVR, routertest.HTTPRoute) },
	router: func(cl strategy.Clients) traffic.Router {
		return traffic.NewGatewayHTTPRoute(cl, key("web"), "web-stable", "web-canary")
	},
	entry: fake.Entry{Kind: fake.EntryHTTPRoute, Namespace: ns, Name: "web"},
}, {
	name: "IstioVirtualService", crds: []string{routertest.IstioCRD}, exact: true,
	objects: func(t *testing.T, c *fake.Cluster) {
		create(t, c, traffic.VirtualServiceGVR, routertest.VirtualService)
	},
	router: func(cl strategy.Clients) traffic.Router {
		return traffic.NewIstioVirtualService(cl, key("web"), nil, "web-stable", "web-canary")
	},
	entry: fake.Entry{Kind: fake.EntryVirtualService, Namespace: ns, Name: "web"},
}, {
	name: "SMITrafficSplit", crds: []string{routertest.SMICRD}, exact: true,
	objects: func(t *testing.T, c *fake.Cluster) { create(t, c, traffic.TrafficSplitGVR, routertest.TrafficSplit) },
	router: func(cl strategy.Clients) traffic.Router {
		return traffic.NewSMITrafficSplit(cl, key("web"), "web", "web-stable", "web-canary")
	},
	entry: fake.Entry{Kind: fake.EntryTrafficSplit, Namespace: ns, Name: "web"},
}, {
	name: "NGINXIngress", exact: true,
	objects: func(t *testing.T, c *fake.Cluster) {
		_, err := c.Clients().Kube.NetworkingV1().Ingresses(ns).Create(context.Background(), routertest.Ingress("web", "web-stable"), metav1.CreateOptions{})
		require.NoError(t, err)
	},
	router: func(cl strategy.Clients) traffic.Router {
		r := traffic.NewNGINXIngress(cl, key("web"), "web-canary")
		r.StableService = "web-stable"
		return r
	},
	entry: fake.Entry{Kind: fake.EntryIngress, Namespace: ns, Name: "web"},
}}

func routingNamed(name string) routing {
	for _, r := range routings {
		if r.name == name {
			return r
		}
	}
	panic("no routing " + name)
}

var crdGVR = schema.GroupVersionResource{Group: "apiextensions.k8s.io", Version: "v1", Resource: "customresourcedefinitions"}

func create(t *testing.T, c *fake.Cluster, gvr schema.GroupVersionResource, doc string) {
	t.Helper()
	_, err := c.Clients().Dynamic.Resource(gvr).Namespace(ns).Create(context.Background(), routertest.Parse(t, doc), metav1.CreateOptions{})
	require.NoError(t, err)
}

func installCRD(t *testing.T, c *fake.Cluster, file string) {
	t.Helper()
	_, err := c.Clients().Dynamic.Resource(crdGVR).Create(context.Background(), routertest.CRD(t, file), metav1.CreateOptions{})
	require.NoError(t, err)
}

// env is a fake cluster set up for one routing, with the app's Services:
// web-stable and web-canary for routers, web selecting both slots.
type env struct {
	t  *testing.T
	c  *fake.Cluster
	r  routing
	cl strategy.Clients
}

func newEnv(t *testing.T, r routing, opts ...fake.Option) *env {
	t.Helper()
	objs := []runtime.Object{&corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}},
		service("web", map[string]string{"app": "web"})}
	if r.router != nil {
		objs = append(objs, service("web-stable", map[string]string{"app": "web", strategy.LabelSlot: "blue"}),
			service("web-canary", map[string]string{"app": "web", strategy.LabelSlot: "green"}))
	}
	c := fake.NewCluster(append([]fake.Option{fake.WithAutoAdvance(), fake.WithObjects(objs...)}, opts...)...)
	t.Cleanup(c.Stop)
	for _, f := range r.crds {
		installCRD(t, c, f)
	}
	require.NoError(t, c.WaitIdle(testCtx(t)), "the cluster learns the CRDs")
	if r.objects != nil {
		r.objects(t, c)
	}
	return &env{t: t, c: c, r: r, cl: c.Clients()}
}

func (e *env) spec(steps ...canary.Step) canary.Spec {
	s := canary.Spec{StableService: "web", Steps: steps}
	if e.r.router != nil {
		s.StableService, s.CanaryService, s.Router = "web-stable", "web-canary", e.r.router(e.cl)
	}
	return s
}

func (e *env) strategy(spec canary.Spec, id string, opts ...strategy.Option) *canary.Strategy {
	return canary.New(e.cl, spec, append([]strategy.Option{strategy.WithClock(e.c.Clock()), strategy.WithIdentity(id)}, opts...)...)
}

// install runs the first release, v1, which goes straight to full size.
func (e *env) install(spec canary.Spec) {
	e.t.Helper()
	res, err := e.strategy(spec, "installer").Run(testCtx(e.t), release("v1"))
	require.NoError(e.t, err)
	require.Equal(e.t, strategy.PhaseSucceeded, res.Phase)
}

// share is how the data plane serves requests with headers h now, per
// version.
func (e *env) share(h map[string]string) fake.Share {
	e.t.Helper()
	s, err := e.c.Traffic(context.Background(), e.r.entry, fake.Request{Headers: h})
	require.NoError(e.t, err)
	return s
}

// slotState is what the cluster says about one slot.
type slotState struct {
	Revision string
	Replicas int32
	Ready    int32
}

// endState is what tests assert at the end of a release.
type endState struct {
	Blue, Green slotState
	// Stable is the slot the stable Service selects ("" for ReplicaRatio).
	Stable   string
	Weight   int32
	Phase    strategy.Phase
	Revision string
	StableRv string
	Serving  map[string]float64
}

func (e *env) observe() endState {
	e.t.Helper()
	ctx := testCtx(e.t)
	require.NoError(e.t, e.c.WaitIdle(ctx))
	kube := e.cl.Kube
	slot := func(name string) slotState {
		d, err := kube.AppsV1().Deployments(ns).Get(ctx, slots.Name(app.Name, name), metav1.GetOptions{})
		if err != nil {
			return slotState{}
		}
		pods, err := kube.CoreV1().Pods(ns).List(ctx, metav1.ListOptions{LabelSelector: strategy.LabelSlot + "=" + name})
		require.NoError(e.t, err)
		var ready int32
		for _, p := range pods.Items {
			for _, cond := range p.Status.Conditions {
				if cond.Type == corev1.PodReady && cond.Status == corev1.ConditionTrue && p.DeletionTimestamp == nil {
					ready++
				}
			}
		}
		return slotState{Revision: d.Spec.Template.Labels[strategy.LabelRevision], Replicas: ptr.Deref(d.Spec.Replicas, 1), Ready: ready}
	}
	st, err := strategy.NewControl(kube).Status(ctx, app)
	require.NoError(e.t, err)
	out := endState{Blue: slot(canary.Blue), Green: slot(canary.Green), Phase: st.Phase, Revision: st.Revision, StableRv: st.Stable,
		Serving: e.share(nil).Serve}
	if e.r.router != nil {
		svc, err := kube.CoreV1().Services(ns).Get(ctx, "web-stable", metav1.GetOptions{})
		require.NoError(e.t, err)
		out.Stable = traffic.Slot(svc)
		out.Weight, err = e.r.router(e.cl).Weight(ctx)
		require.NoError(e.t, err)
	}
	return out
}

// waitPhase waits, on the record's watch, until the release reaches phase.
func waitPhase(t *testing.T, c *fake.Cluster, phase strategy.Phase) {
	t.Helper()
	testkit.WaitPhase(t, testCtx(t), c, app, phase)
}

// measure is a Custom step that records how the data plane serves the
// app's requests at that point of the release.
type measure struct {
	e      *env
	mu     sync.Mutex
	shares []map[string]float64
}

func (m *measure) step() canary.Step {
	return canary.Custom{Name: "measure", Run: func(ctx context.Context, _ strategy.CheckInput) error {
		s, err := m.e.c.Traffic(ctx, m.e.r.entry, fake.Request{})
		if err != nil {
			return err
		}
		if s.Unserved > 0 {
			return errors.New("requests unserved")
		}
		m.mu.Lock()
		m.shares = append(m.shares, s.Serve)
		m.mu.Unlock()
		return nil
	}}
}

func requireInvalid(t *testing.T, err error, path string) {
	t.Helper()
	var ve *strategy.ValidationError
	require.True(t, errors.As(err, &ve), "want a ValidationError, got %v", err)
	assert.True(t, ve.Has(path), "want field %s in %v", path, err)
}
