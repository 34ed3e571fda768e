package traffic

import (
	"errors"
	"testing"

	discoveryv1 "k8s.io/api/discovery/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
)

func svcEntry(name string) Entry { return Entry{Kind: KindService, Namespace: testNS, Name: name} }

func TestRouteService(t *testing.T) {
	t.Parallel()
	mixed := func() *world {
		w := &world{}
		w.service("web").pod("a", "v1").pod("b", "v1").pod("c", "v1").pod("d", "v2")
		return w.slice("web", "web-1", w.endpoint("a", true, false), w.endpoint("b", true, false)).
			slice("web", "web-2", w.endpoint("c", true, false), w.endpoint("d", true, false))
	}
	nilReady := func() *world {
		w := &world{}
		w.service("web").pod("a", "v1")
		e := w.endpoint("a", true, false)
		e.Conditions = discoveryv1.EndpointConditions{}
		return w.slice("web", "web-1", e)
	}
	duplicate := func() *world {
		w := &world{}
		w.service("web").pod("a", "v1").pod("b", "v2")
		a, b := w.endpoint("a", true, false), w.endpoint("b", true, false)
		return w.slice("web", "web-1", a, b).slice("web", "web-2", a) // a, mid-move between slices
	}
	terminating := func() *world {
		w := &world{}
		w.service("web").pod("old", "v1").pod("new", "v2")
		return w.slice("web", "web-1", w.endpoint("old", false, true), w.endpoint("new", false, false))
	}
	unlabelled := func() *world {
		w := &world{}
		w.service("web").pod("a", "-").pod("b", "v1")
		e := w.endpoint("gone", true, false) // its Pod was deleted
		return w.slice("web", "web-1", w.endpoint("a", true, false), w.endpoint("b", true, false), e)
	}
	runRouteCases(t, []routeCase{
		{name: "uneven pods across slices", world: mixed(), entry: svcEntry("web"),
			serve: map[string]float64{"v1": 0.75, "v2": 0.25}},
		{name: "not ready endpoints get nothing", world: (&world{}).backend("web", "v1", 1, 3), entry: svcEntry("web"),
			serve: map[string]float64{"v1": 1}},
		{name: "unset ready counts as ready", world: nilReady(), entry: svcEntry("web"),
			serve: map[string]float64{"v1": 1}},
		{name: "endpoint in two slices counts once", world: duplicate(), entry: svcEntry("web"),
			serve: map[string]float64{"v1": 0.5, "v2": 0.5}},
		{name: "no ready endpoints serves nothing", world: (&world{}).backend("web", "v1", 0, 2), entry: svcEntry("web"),
			serve: map[string]float64{}, unserved: 1},
		{name: "no EndpointSlice serves nothing", world: (&world{}).service("web"), entry: svcEntry("web"),
			serve: map[string]float64{}, unserved: 1},
		{name: "serving terminating endpoints when none ready", world: terminating(), entry: svcEntry("web"),
			serve: map[string]float64{"v1": 1}},
		{name: "unlabelled or missing pods are version empty", world: unlabelled(), entry: svcEntry("web"),
			serve: map[string]float64{"": 2.0 / 3, "v1": 1.0 / 3}},
		{name: "missing Service", world: &world{}, entry: svcEntry("web"),
			wantErr: `reading Service prod/web: services "web" not found`},
		{name: "unknown kind", world: &world{}, entry: Entry{Kind: "Gateway", Namespace: testNS, Name: "gw"},
			wantErr: "unknown entry kind"},
	})
}

func TestRouteErrorsWrap(t *testing.T) {
	t.Parallel()
	m := (&world{}).model()
	_, err := m.Route(t.Context(), svcEntry("web"), Request{})
	if !apierrors.IsNotFound(err) {
		t.Errorf("missing Service: IsNotFound(%v) = false", err)
	}
	_, err = m.Route(t.Context(), Entry{Kind: "Mesh"}, Request{})
	if !errors.Is(err, ErrUnknownKind) {
		t.Errorf("unknown kind: errors.Is(%v, ErrUnknownKind) = false", err)
	}
	for _, kind := range []string{KindHTTPRoute, KindVirtualService, KindTrafficSplit, KindIngress} {
		_, err := m.Route(t.Context(), Entry{Kind: kind, Namespace: testNS, Name: "x"}, Request{})
		if !apierrors.IsNotFound(err) {
			t.Errorf("missing %s: IsNotFound(%v) = false", kind, err)
		}
	}
}

func TestRouteVersionLabelUnset(t *testing.T) {
	t.Parallel()
	m := (&world{}).backend("web", "v1", 2, 0).model()
	m.VersionLabel = ""
	got, err := m.Route(t.Context(), svcEntry("web"), Request{})
	if err != nil {
		t.Fatal(err)
	}
	sameShares(t, "Serve", map[string]float64{"": 1}, got.Serve)
}
