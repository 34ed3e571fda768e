// Command bluegreen ships an app with blue/green releases and prints each
// step as it happens. By default it runs on switchyard's in-memory fake
// cluster, whose clock moves by itself while a release waits, and whose
// traffic model serves requests to the pods each Service selects; with
// -kubeconfig it runs against a real cluster.
//
// It releases v1, then v2 (tested through the preview Service before the
// switch), undoes to v1 (an instant switch back: the old slot still runs),
// and releases v3, a bad revision whose preview answers 30% of requests with
// errors: its pre-promotion check fails and traffic never leaves v1.
package main

import (
	"context"
	"fmt"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/utils/ptr"

	"github.com/switchyard-dev/switchyard/bluegreen"
	"github.com/switchyard-dev/switchyard/examples/internal/target"
	"github.com/switchyard-dev/switchyard/fake"
	"github.com/switchyard-dev/switchyard/strategy"
)

func main() {
	target.Main("bluegreen", 30*time.Minute, []fake.Option{fake.WithPodStartup(5 * time.Second)}, run)
}

func run(ctx context.Context, t *target.Target, namespace string) error {
	app := types.NamespacedName{Namespace: namespace, Name: "web"}

	spec := bluegreen.Spec{ActiveService: "web", PreviewService: "web-preview", ServicePorts: []corev1.ServicePort{
		{Name: "http", Port: 80, TargetPort: intstr.FromInt32(8080)}}}
	if t.Fake != nil {
		t.Fake.SetBehavior("v3", fake.Behavior{ErrorRate: 0.3})
		spec.PrePromotion = []strategy.Check{errorRateCheck(t.Fake)}
	}
	s := bluegreen.New(t.Clients, spec, strategy.WithClock(t.Clock), strategy.WithIdentity("examples-bluegreen"),
		strategy.WithObserver(t.Printer(strategy.EventStepSucceeded, strategy.EventRetrying)))

	report := func(what string, res *strategy.Result) {
		fmt.Printf("== %s ended %s after %s; serving %s\n", what, res.Phase, res.Finished.Sub(res.Started).Round(time.Millisecond), res.Stable)
	}
	for _, step := range []struct{ what, rev string }{{"release v1", "v1"}, {"release v2", "v2"}, {"undo to v1", ""}, {"release v3", "v3"}} {
		fmt.Printf("\n== %s\n", step.what)
		var res *strategy.Result
		var err error
		if step.rev == "" {
			res, err = s.Undo(ctx, app, "v1")
		} else {
			res, err = s.Run(ctx, strategy.Release{App: app, Revision: step.rev, Workload: workload(step.rev)})
		}
		if res == nil {
			return err
		}
		report(step.what, res)
	}
	if t.Fake != nil {
		fmt.Printf("\nAPI requests made: %d\n", t.Fake.Requests().Total())
	}
	return nil
}

// errorRateCheck sends a minute of requests to the preview Service on the
// fake and fails when more than 5% of them fail.
func errorRateCheck(c *fake.Cluster) strategy.Check {
	return strategy.Check{Name: "preview-error-rate", Func: func(ctx context.Context, in strategy.CheckInput) error {
		entry := fake.Entry{Kind: fake.EntryService, Namespace: in.Release.App.Namespace, Name: in.Service}
		stop := c.SendLoad(entry, 50, fake.Request{})
		t := in.Clock.NewTimer(time.Minute)
		select {
		case <-t.C():
		case <-ctx.Done():
			stop()
			return ctx.Err()
		}
		stop()
		ratio, ok := c.Metrics().ErrorRatio(in.Release.Revision, time.Minute)
		if !ok {
			return fmt.Errorf("no requests reached %s", in.Release.Revision)
		}
		if ratio > 0.05 {
			return fmt.Errorf("%.1f%% of requests to %s failed, above 5%%", 100*ratio, in.Service)
		}
		return nil
	}}
}

func workload(rev string) *appsv1.Deployment {
	return &appsv1.Deployment{Spec: appsv1.DeploymentSpec{
		Replicas: ptr.To[int32](3),
		Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": "web"}},
		Template: corev1.PodTemplateSpec{
			ObjectMeta: metav1.ObjectMeta{Labels: map[string]string{"app": "web"}},
			Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "web", Image: "registry.example/web:" + rev,
				Ports: []corev1.ContainerPort{{Name: "http", ContainerPort: 8080}}}}},
		},
	}}
}
