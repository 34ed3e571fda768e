// Command canary ships an app with canary releases and prints each step as
// it happens. By default it runs on switchyard's in-memory fake cluster,
// whose clock moves by itself while a release waits and whose traffic model
// serves a steady load of requests to the pods the Service selects; with
// -kubeconfig it runs against a real cluster.
//
// The app runs 50 replicas behind one Service, with no mesh: the canary's
// share of traffic is its share of the ready pods (ReplicaRatio), and the
// stable slot shrinks as its share falls. Each release moves 2%, 25%, 75%
// and 100% of the traffic to the new revision; after each of the first
// three steps an analysis measures the new revision's error ratio three
// times, 20 seconds apart, the first after 20 seconds.
//
// It installs v1, releases v2 (good: it rolls through every step), then
// v3, a bad revision that fails 12% of its requests: the first check sees
// it, and all traffic goes back to v2 at once.
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

	"github.com/switchyard-dev/switchyard/analysis"
	"github.com/switchyard-dev/switchyard/canary"
	"github.com/switchyard-dev/switchyard/examples/internal/target"
	"github.com/switchyard-dev/switchyard/fake"
	"github.com/switchyard-dev/switchyard/strategy"
)

func main() {
	target.Main("canary", 30*time.Minute, []fake.Option{fake.WithPodStartup(5 * time.Second)}, run)
}

func run(ctx context.Context, t *target.Target, namespace string) error {
	app := types.NamespacedName{Namespace: namespace, Name: "web"}

	var gate []canary.Step
	if t.Fake != nil {
		t.Fake.SetBehavior("v3", fake.Behavior{ErrorRate: 0.12})
		stop := t.Fake.SendLoad(fake.Entry{Kind: fake.EntryService, Namespace: namespace, Name: "web"}, 200, fake.Request{})
		defer stop()
		gate = []canary.Step{canary.Analysis{Checks: []strategy.Check{errorRatio(t.Fake).Check()}}}
	} else {
		gate = []canary.Step{canary.Pause{Duration: 30 * time.Second}}
	}
	var steps []canary.Step
	for _, w := range []int32{2, 25, 75} {
		steps = append(steps, canary.SetWeight{Percent: w})
		steps = append(steps, gate...)
	}
	steps = append(steps, canary.SetWeight{Percent: 100})

	spec := canary.Spec{
		StableService:      "web",
		ServicePorts:       []corev1.ServicePort{{Name: "http", Port: 80, TargetPort: intstr.FromInt32(8080)}},
		Steps:              steps,
		DynamicStableScale: true,
	}
	printer := t.Printer(strategy.EventStepSucceeded, strategy.EventRetrying, strategy.EventLeaseAcquired, strategy.EventWaiting)
	observer := func(e strategy.Event) {
		printer(e)
		if t.Fake != nil && e.Type == strategy.EventTraffic {
			share, err := t.Fake.Traffic(ctx, fake.Entry{Kind: fake.EntryService, Namespace: namespace, Name: "web"}, fake.Request{})
			if err == nil {
				fmt.Printf("%9s  %-4s %-14s %s\n", "", e.Revision, "Served", servedLine(share))
			}
		}
	}
	s := canary.New(t.Clients, spec, strategy.WithClock(t.Clock), strategy.WithIdentity("examples-canary"), strategy.WithObserver(observer))

	for _, rev := range []string{"v1", "v2", "v3"} {
		fmt.Printf("\n== release %s\n", rev)
		res, err := s.Run(ctx, strategy.Release{App: app, Revision: rev, Workload: workload(rev)})
		if res == nil {
			return err
		}
		fmt.Printf("== release %s ended %s after %s; serving %s\n", rev, res.Phase, res.Finished.Sub(res.Started).Round(time.Second), res.Stable)
	}
	if t.Fake != nil {
		fmt.Printf("\nAPI requests made: %d\n", t.Fake.Requests().Total())
	}
	return nil
}

// errorRatio is an analysis of the canary's error ratio on the fake
// cluster's metrics: three measurements 20 seconds apart, the first after
// 20 seconds of traffic, each of the last 20 seconds of requests, all of
// which must be at most 5%.
func errorRatio(c *fake.Cluster) analysis.Analysis {
	return analysis.Analysis{Name: "error-ratio", Metrics: []analysis.Metric{{
		Name:  "error-ratio",
		Query: "{{.Revision}}",
		Provider: analysis.Func(func(_ context.Context, q analysis.Query) (analysis.Result, error) {
			ratio, ok := c.Metrics().ErrorRatio(q.Text, 20*time.Second)
			return analysis.Result{Value: ratio, NoData: !ok}, nil
		}),
		InitialDelay: 20 * time.Second,
		Interval:     20 * time.Second,
		Count:        3,
		Success:      analysis.Expr("result <= 0.05"),
	}}}
}

func servedLine(s fake.Share) string {
	line := ""
	for _, v := range []string{"v1", "v2", "v3"} {
		if f, ok := s.Serve[v]; ok {
			line += fmt.Sprintf("%s %.1f%%  ", v, 100*f)
		}
	}
	return line
}

func workload(rev string) *appsv1.Deployment {
	return &appsv1.Deployment{Spec: appsv1.DeploymentSpec{
		Replicas: ptr.To[int32](50),
		Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": "web"}},
		Template: corev1.PodTemplateSpec{
			ObjectMeta: metav1.ObjectMeta{Labels: map[string]string{"app": "web"}},
			Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "web", Image: "registry.example/web:" + rev,
				Ports: []corev1.ContainerPort{{Name: "http", ContainerPort: 8080}}}}},
		},
	}}
}
