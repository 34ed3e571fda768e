// Package leaktest checks that a Run leaves no goroutine behind: after
// blue/green, canary, rolling and bootstrap Runs return (with a context that
// never ends), the goroutines are the ones that ran before, but for the fake
// cluster's own, which Stop ends.
package leaktest

import (
	"context"
	"testing"
	"time"

	"go.uber.org/goleak"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/utils/ptr"

	"github.com/switchyard-dev/switchyard/bluegreen"
	"github.com/switchyard-dev/switchyard/bootstrap"
	"github.com/switchyard-dev/switchyard/canary"
	"github.com/switchyard-dev/switchyard/fake"
	"github.com/switchyard-dev/switchyard/strategy"
	"github.com/switchyard-dev/switchyard/strategy/rolling"
)

var app = types.NamespacedName{Namespace: "shop", Name: "web"}

func release(rev string) strategy.Release {
	return strategy.Release{App: app, Revision: rev, Workload: &appsv1.Deployment{Spec: appsv1.DeploymentSpec{
		Replicas: ptr.To[int32](3),
		Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": "web"}},
		Template: corev1.PodTemplateSpec{
			ObjectMeta: metav1.ObjectMeta{Labels: map[string]string{"app": "web"}},
			Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "web", Image: "web:" + rev}}},
		},
	}}}
}

func newCluster(t *testing.T) *fake.Cluster {
	svc := &corev1.Service{ObjectMeta: metav1.ObjectMeta{Name: "web", Namespace: app.Namespace},
		Spec: corev1.ServiceSpec{Selector: map[string]string{"app": "web"},
			Ports: []corev1.ServicePort{{Port: 80, TargetPort: intstr.FromInt32(8080)}}}}
	return fake.NewCluster(fake.WithAutoAdvance(), fake.WithObjects(
		&corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: app.Namespace}}, svc))
}

// TestRunsLeaveNoGoroutines runs each strategy twice on a fake cluster with
// context.Background, and checks the goroutines after the cluster stops.
func TestRunsLeaveNoGoroutines(t *testing.T) {
	defer goleak.VerifyNone(t, goleak.IgnoreCurrent())
	ctx := context.Background()
	runs := map[string]func(c *fake.Cluster, opts ...strategy.Option) strategy.Strategy{
		"bluegreen": func(c *fake.Cluster, opts ...strategy.Option) strategy.Strategy {
			return bluegreen.New(c.Clients(), bluegreen.Spec{ActiveService: "web"}, opts...)
		},
		"canary": func(c *fake.Cluster, opts ...strategy.Option) strategy.Strategy {
			return canary.New(c.Clients(), canary.Spec{StableService: "web",
				Steps: []canary.Step{canary.SetWeight{Percent: 50}, canary.Pause{Duration: time.Minute}}}, opts...)
		},
		"rolling": func(c *fake.Cluster, opts ...strategy.Option) strategy.Strategy {
			return rolling.New(c.Clients(), rolling.Spec{}, opts...)
		},
	}
	for name, build := range runs {
		c := newCluster(t)
		s := build(c, strategy.WithClock(c.Clock()))
		for _, rev := range []string{"v1", "v2"} {
			if _, err := s.Run(ctx, release(rev)); err != nil {
				t.Fatalf("%s %s: %v", name, rev, err)
			}
		}
		c.Stop()
	}

	c := newCluster(t)
	cm := &unstructured.Unstructured{Object: map[string]any{"apiVersion": "v1", "kind": "ConfigMap",
		"metadata": map[string]any{"name": "settings", "namespace": app.Namespace}, "data": map[string]any{"k": "v"}}}
	b := bootstrap.New(c.Clients(), bootstrap.Spec{}, strategy.WithClock(c.Clock()))
	if _, err := b.Apply(ctx, strategy.Release{App: app, Revision: "day1", Objects: []*unstructured.Unstructured{cm}}); err != nil {
		t.Fatalf("bootstrap: %v", err)
	}
	c.Stop()
}
