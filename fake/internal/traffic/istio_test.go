package traffic

import "testing"

func vsEntry(name string) Entry {
	return Entry{Kind: KindVirtualService, Namespace: testNS, Name: name}
}

func vsYAML(version, http string) string {
	return "apiVersion: networking.istio.io/" + version + "\nkind: VirtualService\nmetadata: {name: web}\nspec:\n  hosts: [web]\n  http:\n" + http
}

func TestRouteVirtualService(t *testing.T) {
	t.Parallel()
	headers := vsYAML("v1", `
  - match:
    - headers: {x-canary: {exact: "yes"}}
    - headers: {user-agent: {prefix: "beta/"}}
    - headers: {x-user: {regex: "tester-[a-z]+"}}
    route: [{destination: {host: canary}}]
  - match:
    - headers: {x-debug: {}}
      withoutHeaders: {x-env: {exact: prod}}
    route: [{destination: {host: canary.prod.svc.cluster.local}}]
  - route:
    - {destination: {host: stable.prod.svc.cluster.local}, weight: 80}
    - {destination: {host: canary.prod}, weight: 20}
    mirror: {host: shadow}
    mirrorPercentage: {value: 12.5}
`)
	subsets := `
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {name: web}
spec:
  host: web.prod.svc.cluster.local
  subsets:
  - {name: stable, labels: {switchyard.dev/revision: v1}}
  - {name: canary, labels: {switchyard.dev/revision: v2}}
`
	both := func(m string) *world {
		return twoBackends(t, m).backend("shadow", "v3", 1, 0)
	}
	web := func() *world {
		w := &world{}
		w.service("web").pod("a", "v1").pod("b", "v1").pod("c", "v2")
		return w.slice("web", "web", w.endpoint("a", true, false), w.endpoint("b", true, false), w.endpoint("c", true, false))
	}
	cases := []routeCase{
		{name: "weights and mirror percentage", world: both(headers), entry: vsEntry("web"),
			serve: map[string]float64{"v1": 0.8, "v2": 0.2}, mirror: map[string]float64{"v3": 0.125}},
		{name: "exact header", world: both(headers), entry: vsEntry("web"), headers: map[string]string{"X-Canary": "yes"},
			serve: map[string]float64{"v2": 1}},
		{name: "prefix header", world: both(headers), entry: vsEntry("web"), headers: map[string]string{"user-agent": "beta/1.2"},
			serve: map[string]float64{"v2": 1}},
		{name: "regex header", world: both(headers), entry: vsEntry("web"), headers: map[string]string{"x-user": "tester-ann"},
			serve: map[string]float64{"v2": 1}},
		{name: "presence with withoutHeaders", world: both(headers), entry: vsEntry("web"), headers: map[string]string{"x-debug": "1"},
			serve: map[string]float64{"v2": 1}},
		{name: "withoutHeaders excludes", world: both(headers), entry: vsEntry("web"),
			headers: map[string]string{"x-debug": "1", "x-env": "prod"},
			serve:   map[string]float64{"v1": 0.8, "v2": 0.2}, mirror: map[string]float64{"v3": 0.125}},
		{name: "single destination without weight, mirrorPercent, v1beta1", entry: vsEntry("web"),
			world: both(vsYAML("v1beta1", `
  - route: [{destination: {host: stable}}]
    mirror: {host: canary}
    mirrorPercent: 30
`)), serve: map[string]float64{"v1": 1}, mirror: map[string]float64{"v2": 0.3}},
		{name: "mirror without percentage is full, mirrors list", entry: vsEntry("web"),
			world: both(vsYAML("v1", `
  - route: [{destination: {host: stable}, weight: 100}]
    mirror: {host: canary}
    mirrors: [{destination: {host: shadow}, percentage: {value: 5}}]
`)), serve: map[string]float64{"v1": 1}, mirror: map[string]float64{"v2": 1, "v3": 0.05}},
		{name: "weights 0/100", entry: vsEntry("web"),
			world: both(vsYAML("v1", `
  - route: [{destination: {host: stable}, weight: 100}, {destination: {host: canary}, weight: 0}]
`)), serve: map[string]float64{"v1": 1}},
		{name: "subsets of one Service", entry: vsEntry("web"),
			world: web().add(obj(t, subsets), obj(t, vsYAML("v1", `
  - route: [{destination: {host: web, subset: stable}, weight: 90}, {destination: {host: web, subset: canary}, weight: 10}]
`))), serve: map[string]float64{"v1": 0.9, "v2": 0.1}},
		{name: "empty subset fails its share", entry: vsEntry("web"),
			world: (&world{}).backend("web", "v1", 2, 0).add(obj(t, subsets), obj(t, vsYAML("v1", `
  - route: [{destination: {host: web, subset: stable}, weight: 75}, {destination: {host: web, subset: canary}, weight: 25}]
`))), serve: map[string]float64{"v1": 0.75}, unserved: 0.25},
		{name: "unknown subset", entry: vsEntry("web"),
			world: web().add(obj(t, subsets), obj(t, vsYAML("v1", `
  - route: [{destination: {host: web, subset: preview}}]
`))), wantErr: `subset "preview" of Service prod/web: no DestinationRule defines it`},
		{name: "no route matches", entry: vsEntry("web"),
			world: both(vsYAML("v1", `
  - match: [{headers: {x-canary: {exact: "yes"}}}]
    route: [{destination: {host: canary}}]
`)), serve: map[string]float64{}, unserved: 1},
		{name: "missing destination Service", entry: vsEntry("web"),
			world: both(vsYAML("v1", `
  - route: [{destination: {host: gone.prod.svc.cluster.local}}]
`)), wantErr: `VirtualService prod/web: reading Service prod/gone`},
		{name: "missing VirtualService", world: &world{}, entry: vsEntry("web"),
			wantErr: `reading VirtualService prod/web: virtualservices.networking.istio.io "web" not found`},
	}
	runRouteCases(t, cases)
}
