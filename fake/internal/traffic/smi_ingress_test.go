package traffic

import (
	"strconv"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

func TestRouteTrafficSplit(t *testing.T) {
	t.Parallel()
	split := func(version string, stable, canary int) string {
		return `
apiVersion: split.smi-spec.io/` + version + `
kind: TrafficSplit
metadata: {name: web}
spec:
  service: web
  backends:
  - {service: stable, weight: ` + strconv.Itoa(stable) + `}
  - {service: canary, weight: ` + strconv.Itoa(canary) + `}
`
	}
	entry := Entry{Kind: KindTrafficSplit, Namespace: testNS, Name: "web"}
	root := func(m string) *world { return twoBackends(t, m).service("web") }
	runRouteCases(t, []routeCase{
		{name: "v1alpha4 98/2", world: root(split("v1alpha4", 98, 2)), entry: entry,
			serve: map[string]float64{"v1": 0.98, "v2": 0.02}},
		{name: "v1alpha3 75/25", world: root(split("v1alpha3", 75, 25)), entry: entry,
			serve: map[string]float64{"v1": 0.75, "v2": 0.25}},
		{name: "v1alpha2 0/100", world: root(split("v1alpha2", 0, 100)), entry: entry,
			serve: map[string]float64{"v2": 1}},
		{name: "all zero", world: root(split("v1alpha4", 0, 0)), entry: entry,
			serve: map[string]float64{}, unserved: 1},
		{name: "missing root Service", world: twoBackends(t, split("v1alpha4", 50, 50)), entry: entry,
			wantErr: `TrafficSplit prod/web: reading root Service web: services "web" not found`},
		{name: "missing TrafficSplit", world: &world{}, entry: entry,
			wantErr: `reading TrafficSplit prod/web: trafficsplits.split.smi-spec.io "web" not found`},
	})
}

func TestRouteIngress(t *testing.T) {
	t.Parallel()
	entry := Entry{Kind: KindIngress, Namespace: testNS, Name: "web"}
	primary := ingress("web", nil, "shop.example.com", "/", "stable")
	canary := func(ann map[string]string) *world {
		ann["nginx.ingress.kubernetes.io/canary"] = "true"
		c := ingress("web-canary", ann, "shop.example.com", "/", "canary")
		c.CreationTimestamp = metav1.NewTime(time.Date(2026, 2, 1, 0, 0, 0, 0, time.UTC))
		return (&world{}).backend("stable", "v1", 3, 0).backend("canary", "v2", 1, 0).add(primary.DeepCopy(), c)
	}
	byHeader := func() *world {
		return canary(map[string]string{
			"nginx.ingress.kubernetes.io/canary-by-header": "X-Canary",
			"nginx.ingress.kubernetes.io/canary-weight":    "10",
		})
	}
	other := ingress("other-canary", map[string]string{
		"nginx.ingress.kubernetes.io/canary": "true", "nginx.ingress.kubernetes.io/canary-weight": "100",
	}, "other.example.com", "/", "canary")
	older := ingress("a-older", map[string]string{
		"nginx.ingress.kubernetes.io/canary": "true", "nginx.ingress.kubernetes.io/canary-weight": "50",
	}, "shop.example.com", "/", "canary")
	older.CreationTimestamp = metav1.NewTime(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
	runRouteCases(t, []routeCase{
		{name: "weight 25", world: canary(map[string]string{"nginx.ingress.kubernetes.io/canary-weight": "25"}), entry: entry,
			serve: map[string]float64{"v1": 0.75, "v2": 0.25}},
		{name: "weight 2 of total 1000", entry: entry, world: canary(map[string]string{
			"nginx.ingress.kubernetes.io/canary-weight": "2", "nginx.ingress.kubernetes.io/canary-weight-total": "1000"}),
			serve: map[string]float64{"v1": 0.998, "v2": 0.002}},
		{name: "total below 100 is ignored", entry: entry, world: canary(map[string]string{
			"nginx.ingress.kubernetes.io/canary-weight": "25", "nginx.ingress.kubernetes.io/canary-weight-total": "50"}),
			serve: map[string]float64{"v1": 0.75, "v2": 0.25}},
		{name: "weight 100", world: canary(map[string]string{"nginx.ingress.kubernetes.io/canary-weight": "100"}), entry: entry,
			serve: map[string]float64{"v2": 1}},
		{name: "no weight", world: canary(map[string]string{}), entry: entry,
			serve: map[string]float64{"v1": 1}},
		{name: "header always", world: byHeader(), entry: entry, headers: map[string]string{"x-canary": "always"},
			serve: map[string]float64{"v2": 1}},
		{name: "header never", world: byHeader(), entry: entry, headers: map[string]string{"X-Canary": "never"},
			serve: map[string]float64{"v1": 1}},
		{name: "header other value falls to weight", world: byHeader(), entry: entry, headers: map[string]string{"X-Canary": "maybe"},
			serve: map[string]float64{"v1": 0.9, "v2": 0.1}},
		{name: "header value", entry: entry, headers: map[string]string{"X-Canary": "blue"}, world: canary(map[string]string{
			"nginx.ingress.kubernetes.io/canary-by-header": "X-Canary", "nginx.ingress.kubernetes.io/canary-by-header-value": "blue"}),
			serve: map[string]float64{"v2": 1}},
		{name: "header value mismatch, always is not special", entry: entry, headers: map[string]string{"X-Canary": "always"},
			world: canary(map[string]string{
				"nginx.ingress.kubernetes.io/canary-by-header": "X-Canary", "nginx.ingress.kubernetes.io/canary-by-header-value": "blue"}),
			serve: map[string]float64{"v1": 1}},
		{name: "header pattern", entry: entry, headers: map[string]string{"X-Canary": "team-a"}, world: canary(map[string]string{
			"nginx.ingress.kubernetes.io/canary-by-header": "X-Canary", "nginx.ingress.kubernetes.io/canary-by-header-pattern": "^team-"}),
			serve: map[string]float64{"v2": 1}},
		{name: "cookie always", entry: entry, headers: map[string]string{"Cookie": "a=1; canary=always"},
			world: canary(map[string]string{"nginx.ingress.kubernetes.io/canary-by-cookie": "canary"}),
			serve: map[string]float64{"v2": 1}},
		{name: "canary without endpoints falls back to primary", entry: entry,
			world: (&world{}).backend("stable", "v1", 2, 0).backend("canary", "v2", 0, 1).add(primary.DeepCopy(),
				ingress("web-canary", map[string]string{"nginx.ingress.kubernetes.io/canary": "true", "nginx.ingress.kubernetes.io/canary-weight": "50"},
					"shop.example.com", "/", "canary")),
			serve: map[string]float64{"v1": 1}},
		{name: "primary without endpoints fails everything", entry: entry,
			world: (&world{}).backend("stable", "v1", 0, 2).backend("canary", "v2", 1, 0).add(primary.DeepCopy(),
				ingress("web-canary", map[string]string{"nginx.ingress.kubernetes.io/canary": "true", "nginx.ingress.kubernetes.io/canary-weight": "50"},
					"shop.example.com", "/", "canary")),
			serve: map[string]float64{}, unserved: 1},
		{name: "canary for another host is ignored, oldest canary wins", entry: entry,
			world: canary(map[string]string{"nginx.ingress.kubernetes.io/canary-weight": "10"}).add(other, older),
			serve: map[string]float64{"v1": 0.5, "v2": 0.5}},
		{name: "no canary", world: (&world{}).backend("stable", "v1", 1, 0).add(primary.DeepCopy()), entry: entry,
			serve: map[string]float64{"v1": 1}},
		{name: "entry names the canary", world: canary(map[string]string{}), entry: Entry{Kind: KindIngress, Namespace: testNS, Name: "web-canary"},
			wantErr: "is a canary"},
		{name: "missing canary Service", entry: entry, world: (&world{}).backend("stable", "v1", 1, 0).add(primary.DeepCopy(),
			ingress("web-canary", map[string]string{"nginx.ingress.kubernetes.io/canary": "true"}, "shop.example.com", "/", "gone")),
			wantErr: `canary Ingress prod/web-canary: reading Service prod/gone`},
		{name: "missing Ingress", world: &world{}, entry: entry,
			wantErr: `reading Ingress prod/web: ingresses.networking.k8s.io "web" not found`},
	})
}
