package fake_test

import (
	"context"
	"fmt"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/utils/ptr"

	"github.com/switchyard-dev/switchyard/fake"
)

func Example() {
	c := fake.NewCluster(fake.WithPodStartup(5 * time.Second))
	defer c.Stop()
	ctx := context.Background()
	deployments := c.Clients().Kube.AppsV1().Deployments("default")

	labels := map[string]string{"app": "web"}
	_, err := deployments.Create(ctx, &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Name: "web"},
		Spec: appsv1.DeploymentSpec{
			Replicas: ptr.To[int32](3),
			Selector: &metav1.LabelSelector{MatchLabels: labels},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: labels},
				Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "web", Image: "nginx"}}},
			},
		},
	}, metav1.CreateOptions{})
	if err != nil {
		fmt.Println(err)
		return
	}
	for _, d := range []time.Duration{0, 4 * time.Second, time.Second} {
		c.Clock().Step(d)
		if err := c.WaitIdle(ctx); err != nil {
			fmt.Println(err)
			return
		}
		web, _ := deployments.Get(ctx, "web", metav1.GetOptions{})
		fmt.Printf("%s: %d/%d ready\n", c.Clock().Now().Format(time.TimeOnly), web.Status.ReadyReplicas, *web.Spec.Replicas)
	}
	// Output:
	// 00:00:00: 0/3 ready
	// 00:00:04: 0/3 ready
	// 00:00:05: 3/3 ready
}

// A canary behind one Service: three v1 pods and one v2 pod share 100
// requests per second, and v2 fails 5% of them. A minute of fake time later
// the metrics show the split and v2's error ratio exactly.
func ExampleCluster_SendLoad() {
	c := fake.NewCluster()
	defer c.Stop()
	ctx := context.Background()
	kube := c.Clients().Kube

	for _, v := range []struct {
		version  string
		replicas int32
	}{{"v1", 3}, {"v2", 1}} {
		version, replicas := v.version, v.replicas
		labels := map[string]string{"app": "web", fake.DefaultVersionLabel: version}
		_, err := kube.AppsV1().Deployments("default").Create(ctx, &appsv1.Deployment{
			ObjectMeta: metav1.ObjectMeta{Name: "web-" + version},
			Spec: appsv1.DeploymentSpec{
				Replicas: ptr.To(replicas),
				Selector: &metav1.LabelSelector{MatchLabels: labels},
				Template: corev1.PodTemplateSpec{
					ObjectMeta: metav1.ObjectMeta{Labels: labels},
					Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "web", Image: "web:" + version}}},
				},
			},
		}, metav1.CreateOptions{})
		if err != nil {
			fmt.Println(err)
			return
		}
	}
	_, err := kube.CoreV1().Services("default").Create(ctx, &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Name: "web"},
		Spec: corev1.ServiceSpec{
			Selector: map[string]string{"app": "web"},
			Ports:    []corev1.ServicePort{{Port: 80, TargetPort: intstr.FromInt32(8080)}},
		},
	}, metav1.CreateOptions{})
	if err != nil {
		fmt.Println(err)
		return
	}
	c.SetBehavior("v2", fake.Behavior{ErrorRate: 0.05, Latency: 200 * time.Millisecond})

	// step moves the clock and lets the controllers catch up.
	step := func(d time.Duration) {
		c.Clock().Step(d)
		if err := c.WaitIdle(ctx); err != nil {
			panic(err)
		}
	}
	step(0)           // pods are created
	step(time.Second) // the pods turn Ready
	web := fake.Entry{Kind: fake.EntryService, Namespace: "default", Name: "web"}
	share, err := c.Traffic(ctx, web, fake.Request{})
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Printf("share: v1 %.2f, v2 %.2f\n", share.Serve["v1"], share.Serve["v2"])

	stop := c.SendLoad(web, 100, fake.Request{})
	defer stop()
	for range 60 {
		step(time.Second)
	}
	m := c.Metrics()
	ratio, _ := m.ErrorRatio("v2", time.Minute)
	fmt.Printf("v1: %.0f requests, %.0f errors\n", m.Requests("v1"), m.Errors("v1"))
	fmt.Printf("v2: %.0f requests, %.0f errors, error ratio %.2f, %.0f/s\n",
		m.Requests("v2"), m.Errors("v2"), ratio, m.RequestRate("v2", time.Minute))
	p50, _ := m.LatencyQuantile("v2", 0.5, time.Minute)
	fmt.Println("v2 median latency about 200ms:", p50 > 180*time.Millisecond && p50 < 220*time.Millisecond)
	// Output:
	// share: v1 0.75, v2 0.25
	// v1: 4500 requests, 0 errors
	// v2: 1500 requests, 75 errors, error ratio 0.05, 25/s
	// v2 median latency about 200ms: true
}

// A release that waits for something only the test could do, with no
// timer pending, can never be woken by the clock: after the stall timeout
// of real time the clock reports it, naming what waits.
func ExampleClock_Stall() {
	c := fake.NewCluster(fake.WithAutoAdvance(), fake.WithStallTimeout(10*time.Millisecond), fake.WithStallLog(nil))
	defer c.Stop()
	idle, _, done := c.Clock().TrackNamed("release web v2")
	defer done()
	idle()

	deadline := time.NewTimer(time.Minute)
	defer deadline.Stop()
	select {
	case <-c.Clock().Stalled():
		fmt.Println(c.Clock().Stall())
	case <-deadline.C:
		fmt.Println("no stall reported")
	}
	// Output:
	// fake: auto-advance stalled: nothing happened for 10ms at 2026-01-01T00:00:00Z: every participant is idle and no timer is pending, so nothing can wake them
	// participants (1):
	// 	"release web v2": idle
	// timers (0):
}
