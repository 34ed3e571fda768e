package e2e

import (
	"context"
	"fmt"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/utils/ptr"

	"github.com/switchyard-dev/switchyard/analysis"
	"github.com/switchyard-dev/switchyard/analysis/prometheus"
	"github.com/switchyard-dev/switchyard/canary"
	"github.com/switchyard-dev/switchyard/internal/controlplane"
	"github.com/switchyard-dev/switchyard/internal/promtest"
	"github.com/switchyard-dev/switchyard/internal/slots"
	"github.com/switchyard-dev/switchyard/strategy"
)

const (
	appName  = "web"
	replicas = 4
)

// kwokToleration lets pods onto kwok's Nodes.
var kwokToleration = corev1.Toleration{Key: "kwok.x-k8s.io/node", Operator: corev1.TolerationOpExists, Effect: corev1.TaintEffectNoSchedule}

func workload(rev string) *appsv1.Deployment {
	return &appsv1.Deployment{Spec: appsv1.DeploymentSpec{
		Replicas: ptr.To[int32](replicas),
		Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": appName}},
		Template: corev1.PodTemplateSpec{
			ObjectMeta: metav1.ObjectMeta{Labels: map[string]string{"app": appName}},
			Spec: corev1.PodSpec{
				Containers:  []corev1.Container{{Name: "web", Image: "web:" + rev, Ports: []corev1.ContainerPort{{Name: "http", ContainerPort: 8080}}}},
				Tolerations: []corev1.Toleration{kwokToleration},
			},
		},
	}}
}

// errorRatio is the analysis the canary runs at its step: the new
// revision's share of 5xx responses over the last 10 seconds, from
// Prometheus, measured three times 2 seconds apart after 5 seconds of
// traffic; each must be at most 5%.
func errorRatio(promURL string) analysis.Analysis {
	return analysis.Analysis{Name: "error-ratio", Metrics: []analysis.Metric{{
		Name:         "error-ratio",
		Provider:     prometheus.New(promURL, prometheus.WithTimeout(5*time.Second)),
		Query:        `sum(rate(http_requests_total{app="{{.App}}",version="{{.Revision}}",code=~"5.."}[10s])) / sum(rate(http_requests_total{app="{{.App}}",version="{{.Revision}}"}[10s]))`,
		InitialDelay: 5 * time.Second,
		Interval:     2 * time.Second,
		Count:        3,
		Success:      analysis.Expr("result <= 0.05"),
	}}}
}

// TestPrometheusJudgesTheCanary releases a good and then a bad revision on
// the real control plane; traffic follows the canary weight into the
// exporter, and a real PromQL query decides.
func TestPrometheusJudgesTheCanary(t *testing.T) {
	cfg := controlplane.Config(t)
	exp, err := promtest.NewExporter(appName)
	require.NoError(t, err)
	t.Cleanup(func() { _ = exp.Stop() })
	prom := promtest.Start(t, exp.Addr())

	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	clients, err := strategy.NewClients(cfg)
	require.NoError(t, err)
	ns := "analysis-e2e"
	_, err = clients.Kube.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}, metav1.CreateOptions{})
	require.NoError(t, err)
	t.Cleanup(func() {
		_ = clients.Kube.CoreV1().Namespaces().Delete(context.Background(), ns, metav1.DeleteOptions{})
	})
	app := types.NamespacedName{Namespace: ns, Name: appName}

	// The exporter's traffic follows the release: 100 requests/s, split
	// between the stable and canary revisions by the canary's weight.
	var mu sync.Mutex
	var measured []strategy.Measurement
	stable := ""
	observer := strategy.WithObserver(func(e strategy.Event) {
		mu.Lock()
		defer mu.Unlock()
		switch e.Type {
		case strategy.EventTraffic:
			var w int
			if _, err := fmt.Sscanf(e.Message, "canary weight %d%%", &w); err == nil {
				exp.SetRate(e.Revision, float64(w))
				if stable != "" {
					exp.SetRate(stable, float64(100-w))
				}
			}
		case strategy.EventMeasurement:
			measured = append(measured, *e.Measurement)
		}
	})
	spec := canary.Spec{
		StableService: appName,
		ServicePorts:  []corev1.ServicePort{{Name: "http", Port: 80, TargetPort: intstr.FromString("http")}},
		Steps: []canary.Step{canary.SetWeight{Percent: 50},
			canary.Analysis{Checks: []strategy.Check{errorRatio(prom.URL()).Check()}}, canary.SetWeight{Percent: 100}},
	}
	s := canary.New(clients, spec, observer, strategy.WithIdentity("analysis-e2e"))
	release := func(rev string) (*strategy.Result, error) {
		return s.Run(ctx, strategy.Release{App: app, Revision: rev, Workload: workload(rev)})
	}

	res, err := release("v1")
	require.NoError(t, err)
	require.Equal(t, strategy.PhaseSucceeded, res.Phase)
	mu.Lock()
	stable = "v1"
	mu.Unlock()
	exp.SetRate("v1", 100)

	// A good revision: no errors.
	res, err = release("v2")
	require.NoError(t, err, "a good revision passes")
	assert.Equal(t, strategy.PhaseSucceeded, res.Phase)
	mu.Lock()
	require.Len(t, measured, 3, "three measurements, all Successful")
	for _, m := range measured {
		assert.Equal(t, "Successful", m.Phase, "%+v", m)
	}
	assert.Equal(t, "v2", res.Stable)
	measured, stable = nil, "v2"
	mu.Unlock()
	exp.SetRate("v1", 0)
	exp.SetRate("v2", 100)

	// A bad revision: one request in five fails.
	exp.SetErrorRate("v3", 0.2)
	res, err = release("v3")
	require.ErrorIs(t, err, strategy.ErrAnalysisFailed, "the bad revision is caught")
	assert.Equal(t, strategy.PhaseAborted, res.Phase)
	assert.Equal(t, "v2", res.Stable, "traffic went back to v2")
	assert.Contains(t, res.Message, "not <= 0.05")
	mu.Lock()
	require.NotEmpty(t, measured)
	last := measured[len(measured)-1]
	mu.Unlock()
	assert.Equal(t, "Failed", last.Phase)
	seen, err := strconv.ParseFloat(last.Value, 64)
	require.NoError(t, err, "%+v", last)
	assert.InDelta(t, 0.2, seen, 0.02, "Prometheus saw the 20%% error ratio")
	dep, err := clients.Kube.AppsV1().Deployments(ns).Get(ctx, slots.Name(appName, canary.Blue), metav1.GetOptions{})
	require.NoError(t, err)
	assert.Equal(t, "v3", dep.Spec.Template.Labels[strategy.LabelRevision])
	assert.Zero(t, ptr.Deref(dep.Spec.Replicas, 1), "the bad canary is scaled down")
	st, err := strategy.NewControl(clients.Kube).Status(ctx, app)
	require.NoError(t, err)
	assert.NotEmpty(t, st.Measurements, "the measurements are kept in the release record")
}
