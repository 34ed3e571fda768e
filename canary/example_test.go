package canary_test

import (
	"context"
	"fmt"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/rest"
	"k8s.io/utils/ptr"

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
	var cfg *rest.Config // the cluster's, from k8s.io/client-go/tools/clientcmd
	clients, err := strategy.NewClients(cfg)
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
	web := &appsv1.Deployment{Spec: appsv1.DeploymentSpec{
		Replicas: ptr.To[int32](10),
		Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": "web"}},
		Template: corev1.PodTemplateSpec{
			ObjectMeta: metav1.ObjectMeta{Labels: map[string]string{"app": "web"}},
			Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "web", Image: "registry.example/web:v2"}}},
		},
	}}
	res, err := s.Run(ctx, strategy.Release{App: route, Revision: "v2", Workload: web})
	fmt.Println(res, err)
}
