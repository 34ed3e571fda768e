package traffic_test

import (
	"context"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"k8s.io/apimachinery/pkg/types"

	"github.com/switchyard-dev/switchyard/strategy"
	"github.com/switchyard-dev/switchyard/strategy/traffic"
)

// requireFields asserts err is a *strategy.ValidationError naming paths.
func requireFields(t *testing.T, err error, paths ...string) {
	t.Helper()
	var ve *strategy.ValidationError
	require.ErrorAs(t, err, &ve)
	for _, p := range paths {
		assert.True(t, ve.Has(p), "want %s in %v", p, err)
	}
}

func TestRoutersStayInTheAppsNamespace(t *testing.T) {
	t.Parallel()
	var cl strategy.Clients // CheckNamespace makes no request
	app := types.NamespacedName{Namespace: "team-a", Name: "web"}
	elsewhere := types.NamespacedName{Namespace: "team-b", Name: "web"}
	here := types.NamespacedName{Namespace: "team-a", Name: "web"}
	routers := map[string]func(obj types.NamespacedName, opts ...traffic.Option) traffic.Router{
		"GatewayHTTPRoute": func(obj types.NamespacedName, opts ...traffic.Option) traffic.Router {
			return traffic.NewGatewayHTTPRoute(cl, obj, "web-stable", "web-canary", opts...)
		},
		"IstioVirtualService": func(obj types.NamespacedName, opts ...traffic.Option) traffic.Router {
			return traffic.NewIstioVirtualService(cl, obj, nil, "web-stable", "web-canary", opts...)
		},
		"SMITrafficSplit": func(obj types.NamespacedName, opts ...traffic.Option) traffic.Router {
			return traffic.NewSMITrafficSplit(cl, obj, "web", "web-stable", "web-canary", opts...)
		},
		"NGINXIngress": func(obj types.NamespacedName, opts ...traffic.Option) traffic.Router {
			return traffic.NewNGINXIngress(cl, obj, "web-canary", opts...)
		},
	}
	for name, build := range routers {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			require.NoError(t, traffic.CheckNamespace(build(here), app), "the app's own namespace")

			err := traffic.CheckNamespace(build(elsewhere), app)
			requireFields(t, err, "namespace")
			assert.ErrorIs(t, err, strategy.ErrInvalid)
			assert.ErrorContains(t, err, "team-b")
			assert.ErrorContains(t, err, "AllowCrossNamespace")

			require.NoError(t, traffic.CheckNamespace(build(elsewhere, traffic.AllowCrossNamespace()), app), "allowed in code")
			r, ok := build(elsewhere).(traffic.Namespaced)
			require.True(t, ok)
			assert.Equal(t, "team-b", r.Namespace())
			assert.False(t, r.AllowsCrossNamespace())
		})
	}
	lit := &traffic.SMITrafficSplit{TrafficSplit: elsewhere, RootService: "web", StableService: "s", CanaryService: "c", AllowCrossNamespace: true}
	require.NoError(t, traffic.CheckNamespace(lit, app), "the field a struct literal sets")
	lit.AllowCrossNamespace = false
	requireFields(t, traffic.CheckNamespace(lit, app), "namespace")
	require.NoError(t, traffic.CheckNamespace(ownRouter{}, app), "a caller's own router is the caller's to scope")
	requireFields(t, traffic.CheckNamespace(traffic.NewGatewayHTTPRoute(cl, types.NamespacedName{Name: "web"}, "s", "c"), app), "namespace")
}

type ownRouter struct{}

func (ownRouter) Name() string                           { return "own" }
func (ownRouter) Validate(context.Context) error         { return nil }
func (ownRouter) SetWeight(context.Context, int32) error { return nil }
func (ownRouter) Weight(context.Context) (int32, error)  { return 0, nil }

func TestHeaderRoutesAndMirrorsAreCheckedBeforeAnyWrite(t *testing.T) {
	t.Parallel()
	var cl strategy.Clients
	gw := traffic.NewGatewayHTTPRoute(cl, key("web"), stable, canary)
	nginx := traffic.NewNGINXIngress(cl, key("web"), canary)
	one := []traffic.HeaderMatch{{Name: "x-beta", Value: "1"}}
	two := []traffic.HeaderMatch{{Name: "x-beta", Value: "1"}, {Name: "x-team", Value: "qa", Type: traffic.HeaderPrefix}}

	require.NoError(t, traffic.ValidateHeaderRoute(gw, "beta", two))
	require.NoError(t, traffic.ValidateHeaderRoute(nil, "beta", two))
	require.NoError(t, traffic.ValidateHeaderRoute(nginx, "beta", one))
	requireFields(t, traffic.ValidateHeaderRoute(nginx, "beta", two), "headerRoute.matches")
	requireFields(t, traffic.ValidateHeaderRoute(gw, "Bad_Name", one), "headerRoute.name")
	requireFields(t, traffic.ValidateHeaderRoute(gw, "beta", []traffic.HeaderMatch{{Name: "x-beta", Value: "(", Type: traffic.HeaderRegularExpression}}),
		"headerRoute.matches[0].value")
	requireFields(t, traffic.ValidateHeaderRoute(gw, "beta", []traffic.HeaderMatch{{Name: "bad header", Value: "1"}}), "headerRoute.matches[0].name")
	requireFields(t, traffic.ValidateHeaderRoute(gw, "beta", []traffic.HeaderMatch{{Name: "x", Value: "1", Type: "Suffix"}}), "headerRoute.matches[0].type")

	require.NoError(t, traffic.ValidateMirror("shadow", 10))
	requireFields(t, traffic.ValidateMirror("", 10), "mirror.name")
	requireFields(t, traffic.ValidateMirror("Shadow!", 10), "mirror.name")
	requireFields(t, traffic.ValidateMirror("shadow", 101), "mirror.percent")
}
