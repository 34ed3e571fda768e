package fakemetrics_test

import (
	"context"
	"fmt"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/utils/ptr"

	"github.com/switchyard-dev/switchyard/analysis"
	"github.com/switchyard-dev/switchyard/fake"
	"github.com/switchyard-dev/switchyard/fake/fakemetrics"
	"github.com/switchyard-dev/switchyard/strategy"
)

// A v2 that fails 5% of a steady load, judged by an analysis metric over
// the fake's traffic, as a canary step would judge it.
func ExampleErrorRatio() {
	c := fake.NewCluster()
	defer c.Stop()
	ctx := context.Background()
	if err := serve(ctx, c, "v2"); err != nil {
		fmt.Println(err)
		return
	}
	c.SetBehavior("v2", fake.Behavior{ErrorRate: 0.05})
	stop := c.SendLoad(fake.Entry{Kind: fake.EntryService, Namespace: "default", Name: "web"}, 100, fake.Request{})
	defer stop()
	for range 30 {
		c.Clock().Step(time.Second)
	}

	errorRatio := fakemetrics.ErrorRatio(c, 30*time.Second)
	res, _ := errorRatio.Measure(ctx, analysis.Query{Text: "v2"})
	fmt.Printf("v2: %.2f\n", res.Value)
	res, _ = errorRatio.Measure(ctx, analysis.Query{Vars: analysis.Vars{Revision: "v2"}})
	fmt.Printf("the release's revision: %.2f\n", res.Value)
	res, _ = errorRatio.Measure(ctx, analysis.Query{Text: "v3"})
	fmt.Println("v3 has no data:", res.NoData)

	a := analysis.Analysis{Name: "errors", Metrics: []analysis.Metric{{
		Name: "error-ratio", Provider: errorRatio, Query: "{{.Revision}}", Count: 1,
		Success: analysis.Expr("result <= 0.01"),
	}}}
	report, err := a.Run(ctx, strategy.CheckInput{Release: strategy.Release{Revision: "v2"}, Clock: c.Clock()})
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(report.Phase)
	// Output:
	// v2: 0.05
	// the release's revision: 0.05
	// v3 has no data: true
	// Failed
}

// serve runs one Ready pod of version behind the Service web.
func serve(ctx context.Context, c *fake.Cluster, version string) error {
	kube := c.Clients().Kube
	labels := map[string]string{"app": "web", fake.DefaultVersionLabel: version}
	_, err := kube.AppsV1().Deployments("default").Create(ctx, &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Name: "web"},
		Spec: appsv1.DeploymentSpec{
			Replicas: ptr.To[int32](1),
			Selector: &metav1.LabelSelector{MatchLabels: labels},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: labels},
				Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "web", Image: "web:" + version}}},
			},
		},
	}, metav1.CreateOptions{})
	if err != nil {
		return err
	}
	_, err = kube.CoreV1().Services("default").Create(ctx, &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Name: "web"},
		Spec: corev1.ServiceSpec{Selector: map[string]string{"app": "web"},
			Ports: []corev1.ServicePort{{Port: 80, TargetPort: intstr.FromInt32(8080)}}},
	}, metav1.CreateOptions{})
	if err != nil {
		return err
	}
	for _, d := range []time.Duration{0, time.Second} { // created, then Ready
		c.Clock().Step(d)
		if err := c.WaitIdle(ctx); err != nil {
			return err
		}
	}
	return nil
}
