// Package leaktest checks that a Run leaves no goroutine behind: after
// blue/green, canary, rolling and bootstrap Runs return (with a context that
// never ends), the goroutines are the ones that ran before, but for the fake
// cluster's own, which Stop ends; with shared strategy.Watches, their
// goroutines end with Close.
package leaktest

import (
	"context"
	"runtime"
	"strings"
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
		for _, shared := range []bool{false, true} {
			c := newCluster(t)
			before := goroutines()
			opts := []strategy.Option{strategy.WithClock(c.Clock())}
			var w *strategy.Watches
			if shared {
				w = strategy.NewWatches(c.Clients(), strategy.WithClock(c.Clock()))
				opts = append(opts, strategy.WithWatches(w))
			}
			s := build(c, opts...)
			for _, rev := range []string{"v1", "v2"} {
				if _, err := s.Run(ctx, release(rev)); err != nil {
					t.Fatalf("%s %s: %v", name, rev, err)
				}
				if !shared {
					noneLeft(t, name+" "+rev, before)
				}
			}
			if shared {
				w.Close()
				noneLeft(t, name+" with shared watches, after Close", before)
			}
			c.Stop()
		}
	}

	c := newCluster(t)
	before := goroutines()
	cm := &unstructured.Unstructured{Object: map[string]any{"apiVersion": "v1", "kind": "ConfigMap",
		"metadata": map[string]any{"name": "settings", "namespace": app.Namespace}, "data": map[string]any{"k": "v"}}}
	b := bootstrap.New(c.Clients(), bootstrap.Spec{}, strategy.WithClock(c.Clock()))
	if _, err := b.Apply(ctx, strategy.Release{App: app, Revision: "day1", Objects: []*unstructured.Unstructured{cm}}); err != nil {
		t.Fatalf("bootstrap: %v", err)
	}
	noneLeft(t, "bootstrap", before)
	c.Stop()
}

// goroutines returns the stacks of the goroutines running now, by id.
func goroutines() map[string]string {
	buf := make([]byte, 1<<20)
	for {
		n := runtime.Stack(buf, true)
		if n < len(buf) {
			buf = buf[:n]
			break
		}
		buf = make([]byte, 2*len(buf))
	}
	out := map[string]string{}
	for _, g := range strings.Split(string(buf), "\n\n") {
		id, _, _ := strings.Cut(g, " [")
		out[id] = g
	}
	return out
}

// noneLeft fails the test when a goroutine started since before, other
// than the fake cluster's own, is still running: it waits for them to end
// for a few seconds of real time, as goleak does.
func noneLeft(t *testing.T, what string, before map[string]string) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	tick := time.NewTicker(5 * time.Millisecond)
	defer tick.Stop()
	for {
		var left []string
		for id, g := range goroutines() {
			if _, ok := before[id]; ok || strings.Contains(g, "created by github.com/switchyard-dev/switchyard/fake") ||
				strings.Contains(g, "created by k8s.io/client-go/testing") || strings.Contains(g, "leaktest.goroutines") {
				continue
			}
			left = append(left, g)
		}
		if len(left) == 0 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: %d goroutines left:\n%s", what, len(left), strings.Join(left, "\n\n"))
		}
		<-tick.C
	}
}
