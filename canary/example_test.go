package canary_test

import (
	"context"
	"fmt"
	"time"

	"k8s.io/apimachinery/pkg/types"

	"github.com/switchyard-dev/switchyard/analysis"
	"github.com/switchyard-dev/switchyard/analysis/prometheus"
	"github.com/switchyard-dev/switchyard/canary"
	"github.com/switchyard-dev/switchyard/strategy"
	"github.com/switchyard-dev/switchyard/strategy/traffic"
)

// A canary through a Gateway API HTTPRoute, judged by Prometheus at two of
// its steps, as the README shows it. (Compiled, not run: it needs a
// cluster and a Prometheus.)
func Example() {
	ctx := context.Background()
	clients, err := strategy.NewClients(nil) // a *rest.Config of the cluster
	if err != nil {
		fmt.Println(err)
		return
	}
	route := types.NamespacedName{Namespace: "shop", Name: "web"}
	errors := analysis.Analysis{Name: "errors", Metrics: []analysis.Metric{{
		Name:     "error-ratio",
		Provider: prometheus.New("http://prometheus:9090"),
		Query:    `sum(rate(http_requests_total{version="{{.Revision}}",code=~"5.."}[1m])) / sum(rate(http_requests_total{version="{{.Revision}}"}[1m]))`,
		Interval: time.Minute, Count: 3,
		Success: analysis.Expr("result <= 0.01"),
	}}}
	s := canary.New(clients, canary.Spec{
		StableService: "web-stable", CanaryService: "web-canary",
		Router: traffic.NewGatewayHTTPRoute(clients, route, "web-stable", "web-canary"),
		Steps: []canary.Step{
			canary.SetWeight{Percent: 2}, canary.Analysis{Checks: []strategy.Check{errors.Check()}},
			canary.SetWeight{Percent: 25}, canary.Pause{Duration: 10 * time.Minute},
			canary.SetWeight{Percent: 75}, canary.Analysis{Checks: []strategy.Check{errors.Check()}},
			canary.SetWeight{Percent: 100},
		},
	})
	res, err := s.Run(ctx, strategy.Release{App: route, Revision: "v2", Workload: workload("v2", 10)})
	fmt.Println(res, err)
}
