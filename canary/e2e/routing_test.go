package e2e

import (
	"context"
	"strconv"
	"sync"
	"testing"

	"github.com/stretchr/testify/require"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/rest"

	"github.com/switchyard-dev/switchyard/internal/e2ekit"
	"github.com/switchyard-dev/switchyard/internal/routertest"
	"github.com/switchyard-dev/switchyard/strategy"
	"github.com/switchyard-dev/switchyard/strategy/traffic"
)

// routing is one way of splitting the app's traffic, set up in a test's
// namespace.
type routing struct {
	name string
	// setup creates the router's objects; nil for none.
	setup func(e *env)
	// router builds the router on clients; nil for ReplicaRatio.
	router func(cl strategy.Clients, ns string) traffic.Router
	// weights reads, from the router's objects, the weight each Service
	// gets, keyed by Service name.
	weights func(e *env) map[string]int64
}

func key(ns string) types.NamespacedName { return types.NamespacedName{Namespace: ns, Name: appName} }

var routings = []routing{{
	name: "ReplicaRatio",
}, {
	name:  "GatewayHTTPRoute",
	setup: func(e *env) { e.create(traffic.HTTPRouteGVR, routertest.HTTPRoute) },
	router: func(cl strategy.Clients, ns string) traffic.Router {
		return traffic.NewGatewayHTTPRoute(cl, key(ns), stableSvc, canarySvc)
	},
	weights: func(e *env) map[string]int64 {
		return e.weightsAt(traffic.HTTPRouteGVR, []string{"spec", "rules"}, "backendRefs", []string{"name"})
	},
}, {
	name:  "IstioVirtualService",
	setup: func(e *env) { e.create(traffic.VirtualServiceGVR, routertest.VirtualService) },
	router: func(cl strategy.Clients, ns string) traffic.Router {
		return traffic.NewIstioVirtualService(cl, key(ns), nil, stableSvc, canarySvc)
	},
	weights: func(e *env) map[string]int64 {
		return e.weightsAt(traffic.VirtualServiceGVR, []string{"spec", "http"}, "route", []string{"destination", "host"})
	},
}, {
	name: "SMITrafficSplit",
	setup: func(e *env) {
		e.service(appName, "") // the root Service the TrafficSplit splits
		e.create(traffic.TrafficSplitGVR, routertest.TrafficSplit)
	},
	router: func(cl strategy.Clients, ns string) traffic.Router {
		return traffic.NewSMITrafficSplit(cl, key(ns), appName, stableSvc, canarySvc)
	},
	weights: func(e *env) map[string]int64 {
		u := e.get(traffic.TrafficSplitGVR)
		backends, _, err := unstructured.NestedSlice(u.Object, "spec", "backends")
		require.NoError(e.t, err)
		return backendWeights(e.t, backends, []string{"service"})
	},
}, {
	name: "NGINXIngress",
	setup: func(e *env) {
		_, err := e.kube.NetworkingV1().Ingresses(e.ns).Create(e.ctx, routertest.Ingress(appName, stableSvc), metav1.CreateOptions{})
		require.NoError(e.t, err)
	},
	router: func(cl strategy.Clients, ns string) traffic.Router {
		r := traffic.NewNGINXIngress(cl, key(ns), canarySvc)
		r.StableService = stableSvc
		return r
	},
	weights: func(e *env) map[string]int64 {
		// The primary Ingress sends everything to stable; the canary
		// Ingress takes its canary-weight share of it.
		ingresses := e.kube.NetworkingV1().Ingresses(e.ns)
		primary, err := ingresses.Get(e.ctx, appName, metav1.GetOptions{})
		require.NoError(e.t, err)
		require.Equal(e.t, stableSvc, primary.Spec.Rules[0].HTTP.Paths[0].Backend.Service.Name, "the primary Ingress is never written")
		w := int64(0)
		c, err := ingresses.Get(e.ctx, appName+"-canary", metav1.GetOptions{})
		switch {
		case apierrors.IsNotFound(err):
		case err != nil:
			require.NoError(e.t, err)
		default:
			require.Equal(e.t, "true", c.Annotations[traffic.NGINXCanary])
			require.Equal(e.t, canarySvc, c.Spec.Rules[0].HTTP.Paths[0].Backend.Service.Name)
			w, err = strconv.ParseInt(c.Annotations[traffic.NGINXCanaryWeight], 10, 64)
			require.NoError(e.t, err, "canary-weight annotation")
		}
		return map[string]int64{stableSvc: 100 - w, canarySvc: w}
	},
}}

func routingNamed(name string) routing {
	for _, r := range routings {
		if r.name == name {
			return r
		}
	}
	panic("no routing " + name)
}

// get reads the router's custom resource, named after the app.
func (e *env) get(gvr schema.GroupVersionResource) *unstructured.Unstructured {
	e.t.Helper()
	u, err := e.clients.Dynamic.Resource(gvr).Namespace(e.ns).Get(e.ctx, appName, metav1.GetOptions{})
	require.NoError(e.t, err)
	return u
}

// weightsAt reads the weights of the router's custom resource: the list at
// rules holds rules whose field backends lists backends, each named at
// name. Every rule must give the same weights.
func (e *env) weightsAt(gvr schema.GroupVersionResource, rules []string, backends string, name []string) map[string]int64 {
	e.t.Helper()
	list, _, err := unstructured.NestedSlice(e.get(gvr).Object, rules...)
	require.NoError(e.t, err)
	require.NotEmpty(e.t, list)
	var out map[string]int64
	for i, r := range list {
		bs, _, err := unstructured.NestedSlice(r.(map[string]any), backends)
		require.NoError(e.t, err)
		got := backendWeights(e.t, bs, name)
		if out != nil {
			require.Equal(e.t, out, got, "rule %d", i)
		}
		out = got
	}
	return out
}

func backendWeights(t testing.TB, backends []any, name []string) map[string]int64 {
	t.Helper()
	out := map[string]int64{}
	for _, b := range backends {
		m := b.(map[string]any)
		n, _, _ := unstructured.NestedString(m, name...)
		w, ok, err := unstructured.NestedInt64(m, "weight")
		require.NoError(t, err)
		require.True(t, ok, "backend %s has a weight", n)
		out[n] = w
	}
	return out
}

// create creates a custom resource from YAML in the test's namespace.
func (e *env) create(gvr schema.GroupVersionResource, doc string) {
	e.t.Helper()
	_, err := e.clients.Dynamic.Resource(gvr).Namespace(e.ns).Create(e.ctx, routertest.Parse(e.t, doc), metav1.CreateOptions{})
	require.NoError(e.t, err)
}

// crds guards installing the CRDs: tests that run in parallel wait for one
// install.
var crds struct {
	sync.Mutex
	done bool
}

// installCRDs creates the routers' CRDs and waits, on a watch, until each
// is Established; once per control plane.
func installCRDs(tb testing.TB, ctx context.Context, cfg *rest.Config) {
	tb.Helper()
	crds.Lock()
	defer crds.Unlock()
	if crds.done {
		return
	}
	dyn, err := dynamic.NewForConfig(cfg)
	require.NoError(tb, err)
	for _, f := range []string{routertest.GatewayCRD, routertest.IstioCRD, routertest.SMICRD} {
		require.NoError(tb, e2ekit.InstallCRD(ctx, dyn, routertest.CRD(tb, f)))
	}
	crds.done = true
}
