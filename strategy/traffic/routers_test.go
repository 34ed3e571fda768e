package traffic_test

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	networkingv1 "k8s.io/api/networking/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"

	"github.com/switchyard-dev/switchyard/fake"
	"github.com/switchyard-dev/switchyard/internal/routertest"
	"github.com/switchyard-dev/switchyard/strategy/traffic"
)

// routerCase sets one kind of router up on an env; every test below runs
// on each.
type routerCase struct {
	name string
	// crds are the routertest files of the CRDs the router's objects need.
	crds []string
	// resource is the API resource SetWeight updates.
	resource string
	// setup creates the router's objects, sending all traffic to stable,
	// and returns the router and the entry requests are sent to.
	setup func(e *env) (traffic.Router, fake.Entry)
	// missing returns a router whose object does not exist, and the
	// field Validate must name.
	missing func(e *env) (traffic.Router, string)
	// unrelated creates an object that does not reference the app's
	// Services and returns a router on it, and the field Validate must
	// name.
	unrelated func(e *env) (traffic.Router, string)
	// headers and mirror are what the router supports; maxHeaders is
	// the most header matches a header route may have (0: any).
	headers, mirror bool
	maxHeaders      int
}

func key(name string) types.NamespacedName { return types.NamespacedName{Namespace: ns, Name: name} }

const virtualService = `
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: web, namespace: shop}
spec:
  hosts: [web.example.com]
  http:
  - name: primary
    route:
    - destination: {host: web-stable}
      weight: 100
    - destination: {host: web-canary.shop.svc.cluster.local}
      weight: 0
`

func ingress(name, svc string) *networkingv1.Ingress { return routertest.Ingress(name, svc) }

func (e *env) createIngress(ing *networkingv1.Ingress) {
	e.t.Helper()
	_, err := e.cl.Kube.NetworkingV1().Ingresses(ns).Create(e.ctx, ing, metav1.CreateOptions{})
	require.NoError(e.t, err)
}

var routerCases = []routerCase{{
	name: "GatewayHTTPRoute", crds: []string{routertest.GatewayCRD}, resource: "httproutes", headers: true, mirror: true,
	setup: func(e *env) (traffic.Router, fake.Entry) {
		e.create(traffic.HTTPRouteGVR, routertest.HTTPRoute)
		return traffic.NewGatewayHTTPRoute(e.cl, key("web"), stable, canary), fake.Entry{Kind: fake.EntryHTTPRoute, Namespace: ns, Name: "web"}
	},
	missing: func(e *env) (traffic.Router, string) {
		return traffic.NewGatewayHTTPRoute(e.cl, key("nope"), stable, canary), "gatewayHTTPRoute.route"
	},
	unrelated: func(e *env) (traffic.Router, string) {
		e.create(traffic.HTTPRouteGVR, `{apiVersion: gateway.networking.k8s.io/v1, kind: HTTPRoute, metadata: {name: unrelated},
			spec: {rules: [{backendRefs: [{name: other, port: 80}]}]}}`)
		return traffic.NewGatewayHTTPRoute(e.cl, key("unrelated"), stable, canary), "gatewayHTTPRoute.route"
	},
}, {
	name: "IstioVirtualService", crds: []string{routertest.IstioCRD}, resource: "virtualservices", headers: true, mirror: true,
	setup: func(e *env) (traffic.Router, fake.Entry) {
		e.create(traffic.VirtualServiceGVR, virtualService)
		return traffic.NewIstioVirtualService(e.cl, key("web"), nil, stable, canary), fake.Entry{Kind: fake.EntryVirtualService, Namespace: ns, Name: "web"}
	},
	missing: func(e *env) (traffic.Router, string) {
		return traffic.NewIstioVirtualService(e.cl, key("nope"), nil, stable, canary), "istioVirtualService.virtualService"
	},
	unrelated: func(e *env) (traffic.Router, string) {
		e.create(traffic.VirtualServiceGVR, `{apiVersion: networking.istio.io/v1, kind: VirtualService, metadata: {name: unrelated},
			spec: {http: [{route: [{destination: {host: other}}]}]}}`)
		return traffic.NewIstioVirtualService(e.cl, key("unrelated"), nil, stable, canary), "istioVirtualService.virtualService"
	},
}, {
	name: "SMITrafficSplit", crds: []string{routertest.SMICRD}, resource: "trafficsplits",
	setup: func(e *env) (traffic.Router, fake.Entry) {
		e.create(traffic.TrafficSplitGVR, routertest.TrafficSplit)
		return traffic.NewSMITrafficSplit(e.cl, key("web"), root, stable, canary), fake.Entry{Kind: fake.EntryTrafficSplit, Namespace: ns, Name: "web"}
	},
	missing: func(e *env) (traffic.Router, string) {
		return traffic.NewSMITrafficSplit(e.cl, key("nope"), root, stable, canary), "smiTrafficSplit.trafficSplit"
	},
	unrelated: func(e *env) (traffic.Router, string) {
		e.create(traffic.TrafficSplitGVR, `{apiVersion: split.smi-spec.io/v1alpha2, kind: TrafficSplit, metadata: {name: unrelated},
			spec: {service: web, backends: [{service: other, weight: 100}]}}`)
		return traffic.NewSMITrafficSplit(e.cl, key("unrelated"), root, stable, canary), "smiTrafficSplit.trafficSplit.spec.backends"
	},
}, {
	name: "NGINXIngress", resource: "ingresses", headers: true, maxHeaders: 1,
	setup: func(e *env) (traffic.Router, fake.Entry) {
		e.createIngress(ingress("web", stable))
		r := traffic.NewNGINXIngress(e.cl, key("web"), canary)
		r.StableService = stable
		return r, fake.Entry{Kind: fake.EntryIngress, Namespace: ns, Name: "web"}
	},
	missing: func(e *env) (traffic.Router, string) {
		return traffic.NewNGINXIngress(e.cl, key("nope"), canary), "nginxIngress.ingress"
	},
	unrelated: func(e *env) (traffic.Router, string) {
		e.createIngress(ingress("unrelated", "other"))
		r := traffic.NewNGINXIngress(e.cl, key("unrelated"), canary)
		r.StableService = stable
		return r, "nginxIngress.ingress"
	},
}}

// eachRouter runs test on a fresh env for every router.
func eachRouter(t *testing.T, test func(t *testing.T, tc routerCase, e *env, r traffic.Router, entry fake.Entry)) {
	for _, tc := range routerCases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			e := newEnv(t, tc.crds...)
			r, entry := tc.setup(e)
			test(t, tc, e, r, entry)
		})
	}
}

func TestWeights(t *testing.T) {
	eachRouter(t, func(t *testing.T, _ routerCase, e *env, r traffic.Router, entry fake.Entry) {
		require.NoError(t, r.Validate(e.ctx))
		got, err := r.Weight(e.ctx)
		require.NoError(t, err)
		assert.Zero(t, got, "all traffic starts on stable")
		e.assertSplit(entry, nil, 0, "before any write")
		checkWeights(t, e, r, entry)
		// And back down, as an abort would.
		require.NoError(t, r.SetWeight(e.ctx, 0))
		e.assertSplit(entry, nil, 0, "after the abort")
	})
}

func TestSetWeightTwiceWritesOnce(t *testing.T) {
	eachRouter(t, func(t *testing.T, tc routerCase, e *env, r traffic.Router, _ fake.Entry) {
		require.NoError(t, r.SetWeight(e.ctx, 40))
		e.c.ResetRequests()
		require.NoError(t, r.SetWeight(e.ctx, 40))
		assert.Zero(t, e.c.Requests().Count("update", tc.resource), "nothing to change")
		assert.Zero(t, e.c.Requests().Count("create", tc.resource), "nothing to change")
	})
}

func TestInvalidPercent(t *testing.T) {
	eachRouter(t, func(t *testing.T, tc routerCase, e *env, r traffic.Router, _ fake.Entry) {
		e.c.ResetRequests()
		for _, p := range []int32{-1, 101} {
			requireInvalid(t, r.SetWeight(e.ctx, p), "percent")
		}
		assert.Zero(t, e.c.Requests().Total(), "rejected before any request")
	})
}

func TestValidate(t *testing.T) {
	eachRouter(t, func(t *testing.T, tc routerCase, e *env, r traffic.Router, _ fake.Entry) {
		require.NoError(t, r.Validate(e.ctx))

		missing, path := tc.missing(e)
		requireInvalid(t, missing.Validate(e.ctx), path)
		assert.Error(t, missing.SetWeight(e.ctx, 10))

		unrelated, path := tc.unrelated(e)
		requireInvalid(t, unrelated.Validate(e.ctx), path)
		assert.Error(t, unrelated.SetWeight(e.ctx, 10), "a router does not split an object it cannot")
	})
}

func TestConflictsAreRetried(t *testing.T) {
	eachRouter(t, func(t *testing.T, tc routerCase, e *env, r traffic.Router, entry fake.Entry) {
		require.NoError(t, r.SetWeight(e.ctx, 10)) // the NGINX canary Ingress exists from here
		e.c.Conflicts("update", tc.resource, 1)
		e.c.ResetRequests()
		require.NoError(t, r.SetWeight(e.ctx, 40))
		assert.Equal(t, 2, e.c.Requests().Count("update", tc.resource), "one conflict, one success")
		e.assertSplit(entry, nil, 40, "after a conflict")

		e.c.Conflicts("update", tc.resource, 0) // until cleared
		err := r.SetWeight(e.ctx, 60)
		e.c.ClearFaults()
		require.Error(t, err)
		assert.True(t, apierrors.IsConflict(err), "gives up with the conflict: %v", err)
		got, err := r.Weight(e.ctx)
		require.NoError(t, err)
		assert.Equal(t, int32(40), got)
	})
}

func TestSupports(t *testing.T) {
	c := fake.NewCluster()
	t.Cleanup(c.Stop)
	for _, tc := range routerCases {
		t.Run(tc.name, func(t *testing.T) {
			// Constructing a router makes no request: setup's objects are
			// not needed to ask what it supports.
			var r traffic.Router
			switch tc.name {
			case "GatewayHTTPRoute":
				r = traffic.NewGatewayHTTPRoute(c.Clients(), key("web"), stable, canary)
			case "IstioVirtualService":
				r = traffic.NewIstioVirtualService(c.Clients(), key("web"), nil, stable, canary)
			case "SMITrafficSplit":
				r = traffic.NewSMITrafficSplit(c.Clients(), key("web"), root, stable, canary)
			case "NGINXIngress":
				r = traffic.NewNGINXIngress(c.Clients(), key("web"), canary)
			}
			headers, mirror := traffic.Supports(r)
			assert.Equal(t, tc.headers, headers, "headers")
			assert.Equal(t, tc.mirror, mirror, "mirror")
		})
	}
}
