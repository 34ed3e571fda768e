package traffic

import (
	"fmt"
	"testing"
)

func routeEntry(name string) Entry { return Entry{Kind: KindHTTPRoute, Namespace: testNS, Name: name} }

func httpRouteYAML(rules string) string {
	return "apiVersion: gateway.networking.k8s.io/v1\nkind: HTTPRoute\nmetadata: {name: web}\nspec:\n  rules:\n" + rules
}

// twoBackends: stable has 3 ready v1 pods, canary 1 ready v2 pod.
func twoBackends(t testing.TB, manifest string) *world {
	return (&world{}).backend("stable", "v1", 3, 1).backend("canary", "v2", 1, 0).add(obj(t, manifest))
}

func TestRouteHTTPRouteWeights(t *testing.T) {
	t.Parallel()
	var cases []routeCase
	for _, w := range [][2]int{{2, 98}, {25, 75}, {0, 100}, {100, 0}, {1, 1}, {1, 2}} {
		m := httpRouteYAML(fmt.Sprintf(`
  - backendRefs:
    - {name: stable, port: 80, weight: %d}
    - {name: canary, port: 80, weight: %d}
`, w[1], w[0]))
		total := float64(w[0] + w[1])
		cases = append(cases, routeCase{
			name: fmt.Sprintf("canary %d of %d", w[0], w[0]+w[1]), world: twoBackends(t, m), entry: routeEntry("web"),
			serve: map[string]float64{"v1": float64(w[1]) / total, "v2": float64(w[0]) / total},
		})
	}
	runRouteCases(t, cases)
}

func TestRouteHTTPRoute(t *testing.T) {
	t.Parallel()
	headerRoute := httpRouteYAML(`
  - backendRefs: [{name: stable}]
  - matches:
    - headers: [{name: X-Canary, value: "yes"}]
    - headers: [{type: RegularExpression, name: x-user, value: "beta-[0-9]+"}]
    backendRefs: [{name: canary}]
`)
	mirrored := httpRouteYAML(`
  - filters:
    - type: RequestMirror
      requestMirror: {backendRef: {name: canary, port: 80}, percent: 40}
    backendRefs: [{name: stable}]
`)
	fraction := httpRouteYAML(`
  - backendRefs:
    - name: stable
      weight: 75
    - name: canary
      weight: 25
      filters:
      - type: RequestMirror
        requestMirror: {backendRef: {name: shadow}, fraction: {numerator: 1, denominator: 2}}
`)
	cases := []routeCase{
		{name: "no header takes catch-all rule", world: twoBackends(t, headerRoute), entry: routeEntry("web"),
			serve: map[string]float64{"v1": 1}},
		{name: "exact header match, any case of name", world: twoBackends(t, headerRoute), entry: routeEntry("web"),
			headers: map[string]string{"x-canary": "yes"}, serve: map[string]float64{"v2": 1}},
		{name: "header value mismatch", world: twoBackends(t, headerRoute), entry: routeEntry("web"),
			headers: map[string]string{"X-Canary": "Yes"}, serve: map[string]float64{"v1": 1}},
		{name: "regular expression match is anchored", world: twoBackends(t, headerRoute), entry: routeEntry("web"),
			headers: map[string]string{"X-User": "beta-42"}, serve: map[string]float64{"v2": 1}},
		{name: "regular expression partial is no match", world: twoBackends(t, headerRoute), entry: routeEntry("web"),
			headers: map[string]string{"X-User": "beta-42x"}, serve: map[string]float64{"v1": 1}},
		{name: "rule mirror percent", world: twoBackends(t, mirrored), entry: routeEntry("web"),
			serve: map[string]float64{"v1": 1}, mirror: map[string]float64{"v2": 0.4}},
		{name: "backendRef mirror fraction", world: twoBackends(t, fraction).backend("shadow", "v3", 2, 0), entry: routeEntry("web"),
			serve: map[string]float64{"v1": 0.75, "v2": 0.25}, mirror: map[string]float64{"v3": 0.125}},
		{name: "canary without ready pods fails its share", entry: routeEntry("web"),
			world: (&world{}).backend("stable", "v1", 2, 0).backend("canary", "v2", 0, 2).add(obj(t, httpRouteYAML(`
  - backendRefs: [{name: stable, weight: 90}, {name: canary, weight: 10}]
`))), serve: map[string]float64{"v1": 0.9}, unserved: 0.1},
		{name: "shared version across backends adds up", entry: routeEntry("web"),
			world: (&world{}).backend("stable", "v1", 1, 0).backend("canary", "v1", 4, 0).add(obj(t, httpRouteYAML(`
  - backendRefs: [{name: stable, weight: 30}, {name: canary, weight: 70}]
`))), serve: map[string]float64{"v1": 1}},
		{name: "non-Service backend fails its share", entry: routeEntry("web"),
			world: twoBackends(t, httpRouteYAML(`
  - backendRefs: [{name: stable}, {group: example.com, kind: Bucket, name: b}]
`)), serve: map[string]float64{"v1": 0.5}, unserved: 0.5},
		{name: "all weights zero", entry: routeEntry("web"),
			world: twoBackends(t, httpRouteYAML(`
  - backendRefs: [{name: stable, weight: 0}]
`)), serve: map[string]float64{}, unserved: 1},
		{name: "no rule matches", entry: routeEntry("web"), headers: map[string]string{"x-canary": "no"},
			world: twoBackends(t, httpRouteYAML(`
  - matches: [{headers: [{name: x-canary, value: "yes"}]}]
    backendRefs: [{name: canary}]
`)), serve: map[string]float64{}, unserved: 1},
		{name: "missing backend Service", entry: routeEntry("web"),
			world: twoBackends(t, httpRouteYAML(`
  - backendRefs: [{name: stable}, {name: gone}]
`)), wantErr: `HTTPRoute prod/web: reading Service prod/gone: services "gone" not found`},
		{name: "missing HTTPRoute", world: &world{}, entry: routeEntry("web"),
			wantErr: `reading HTTPRoute prod/web: httproutes.gateway.networking.k8s.io "web" not found`},
	}
	runRouteCases(t, cases)
}
