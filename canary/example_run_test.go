package canary_test

import (
	"context"
	"errors"
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
	"github.com/switchyard-dev/switchyard/fake"
	"github.com/switchyard-dev/switchyard/strategy"
)

// A good revision rolled through 20%, 50% and 100%; with no mesh, the weight is the share of pods.
func ExampleSetWeight() {
	ctx := context.Background()
	cluster := fake.NewCluster(fake.WithAutoAdvance())
	defer cluster.Stop()
	s := canary.New(cluster.Clients(), canary.Spec{
		StableService:      "web",
		ServicePorts:       []corev1.ServicePort{{Name: "http", Port: 80, TargetPort: intstr.FromInt32(8080)}},
		Steps:              []canary.Step{canary.SetWeight{Percent: 20}, canary.SetWeight{Percent: 50}, canary.SetWeight{Percent: 100}},
		DynamicStableScale: true,
	}, strategy.WithClock(cluster.Clock()), strategy.WithObserver(func(e strategy.Event) {
		if e.Type == strategy.EventTraffic {
			fmt.Printf("%s: %s\n", e.Revision, e.Message)
		}
	}))

	web := types.NamespacedName{Namespace: "default", Name: "web"}
	for _, rev := range []string{"v1", "v2"} { // v1, the first release, goes straight to full size
		res, err := s.Run(ctx, strategy.Release{App: web, Revision: rev, Workload: exampleWorkload("web:" + rev)})
		if err != nil {
			fmt.Println(err)
			return
		}
		fmt.Printf("%s: %s, stable %s\n", rev, res.Phase, res.Stable)
	}
	// Output:
	// v1: slot blue is stable and takes all traffic
	// v1: Succeeded, stable v1
	// v2: canary weight 20% (pods: canary 2, stable 8)
	// v2: canary weight 50% (pods: canary 5, stable 5)
	// v2: canary weight 100% (pods: canary 10, stable 0)
	// v2: slot green is stable and takes all traffic
	// v2: Succeeded, stable v2
}

// A revision that fails 20% of its requests, rolled back by an analysis of its error ratio.
func ExampleAnalysis() {
	ctx := context.Background()
	cluster := fake.NewCluster(fake.WithAutoAdvance())
	defer cluster.Stop()
	cluster.SetBehavior("v2", fake.Behavior{ErrorRate: 0.2})
	defer cluster.SendLoad(fake.Entry{Kind: fake.EntryService, Namespace: "default", Name: "web"}, 100, fake.Request{})()
	errorRatio := analysis.Analysis{Name: "errors", Metrics: []analysis.Metric{{
		Name: "error-ratio", Query: "{{.Revision}}",
		Provider: analysis.Func(func(_ context.Context, q analysis.Query) (analysis.Result, error) {
			ratio, ok := cluster.Metrics().ErrorRatio(q.Text, 20*time.Second)
			return analysis.Result{Value: ratio, NoData: !ok}, nil
		}),
		InitialDelay: 20 * time.Second, Interval: 20 * time.Second, Count: 3,
		Success: analysis.AtMost(0.05),
	}}}
	s := canary.New(cluster.Clients(), canary.Spec{
		StableService: "web",
		ServicePorts:  []corev1.ServicePort{{Name: "http", Port: 80, TargetPort: intstr.FromInt32(8080)}},
		Steps: []canary.Step{canary.SetWeight{Percent: 20}, canary.Analysis{Checks: []strategy.Check{errorRatio.Check()}},
			canary.SetWeight{Percent: 100}},
	}, strategy.WithClock(cluster.Clock()))

	web := types.NamespacedName{Namespace: "default", Name: "web"}
	for _, rev := range []string{"v1", "v2"} {
		res, err := s.Run(ctx, strategy.Release{App: web, Revision: rev, Workload: exampleWorkload("web:" + rev)})
		if res == nil {
			fmt.Println(err)
			return
		}
		fmt.Printf("%s: %s, stable %s\n", rev, res.Phase, res.Stable)
		if errors.Is(err, strategy.ErrAnalysisFailed) {
			fmt.Println(res.Message)
		}
	}
	// Output:
	// v1: Succeeded, stable v1
	// v2: Aborted, stable v1
	// check errors failed: analysis errors failed: metric error-ratio failed 1 of 1 times (limit 0): result 0.2 not <= 0.05
}

// exampleWorkload is ten pods of image behind the label app=web.
func exampleWorkload(image string) *appsv1.Deployment {
	labels := map[string]string{"app": "web"}
	return &appsv1.Deployment{Spec: appsv1.DeploymentSpec{
		Replicas: ptr.To[int32](10),
		Selector: &metav1.LabelSelector{MatchLabels: labels},
		Template: corev1.PodTemplateSpec{
			ObjectMeta: metav1.ObjectMeta{Labels: labels},
			Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "web", Image: image,
				Ports: []corev1.ContainerPort{{Name: "http", ContainerPort: 8080}}}}},
		},
	}}
}
