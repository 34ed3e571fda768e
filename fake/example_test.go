package fake_test

import (
	"context"
	"fmt"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
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
