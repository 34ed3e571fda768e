package bluegreen_test

import (
	"context"
	"fmt"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/utils/ptr"

	"github.com/switchyard-dev/switchyard/bluegreen"
	"github.com/switchyard-dev/switchyard/fake"
	"github.com/switchyard-dev/switchyard/strategy"
)

// Two releases: the first goes to blue, the second to green, and the active Service follows.
func Example() {
	ctx := context.Background()
	cluster := fake.NewCluster(fake.WithAutoAdvance())
	defer cluster.Stop()
	s := bluegreen.New(cluster.Clients(), bluegreen.Spec{
		ActiveService: "web", PreviewService: "web-preview",
		ServicePorts: []corev1.ServicePort{{Name: "http", Port: 80, TargetPort: intstr.FromInt32(8080)}},
	}, strategy.WithClock(cluster.Clock()))

	web := types.NamespacedName{Namespace: "default", Name: "web"}
	for _, rev := range []string{"v1", "v2"} {
		res, err := s.Run(ctx, strategy.Release{App: web, Revision: rev, Workload: exampleWorkload("web:" + rev)})
		if err != nil {
			fmt.Println(err)
			return
		}
		svc, err := cluster.Clients().Kube.CoreV1().Services("default").Get(ctx, "web", metav1.GetOptions{})
		if err != nil {
			fmt.Println(err)
			return
		}
		fmt.Printf("%s: %s, stable %s, Service web selects %s\n", rev, res.Phase, res.Stable, svc.Spec.Selector[strategy.LabelSlot])
	}
	// Output:
	// v1: Succeeded, stable v1, Service web selects blue
	// v2: Succeeded, stable v2, Service web selects green
}

// An Undo while the old slot still runs is one switch of the Service back to it.
func ExampleStrategy_Undo() {
	ctx := context.Background()
	cluster := fake.NewCluster(fake.WithAutoAdvance())
	defer cluster.Stop()
	s := bluegreen.New(cluster.Clients(), bluegreen.Spec{
		ActiveService: "web",
		ServicePorts:  []corev1.ServicePort{{Name: "http", Port: 80, TargetPort: intstr.FromInt32(8080)}},
	}, strategy.WithClock(cluster.Clock()))

	web := types.NamespacedName{Namespace: "default", Name: "web"}
	for _, rev := range []string{"v1", "v2"} {
		if _, err := s.Run(ctx, strategy.Release{App: web, Revision: rev, Workload: exampleWorkload("web:" + rev)}); err != nil {
			fmt.Println(err)
			return
		}
	}
	res, err := s.Undo(ctx, web, "v1")
	if err != nil {
		fmt.Println(err)
		return
	}
	svc, err := cluster.Clients().Kube.CoreV1().Services("default").Get(ctx, "web", metav1.GetOptions{})
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Printf("undo: %s, stable %s, Service web selects %s\n", res.Phase, res.Stable, svc.Spec.Selector[strategy.LabelSlot])
	// Output:
	// undo: Succeeded, stable v1, Service web selects blue
}

// exampleWorkload is three pods of image behind the label app=web.
func exampleWorkload(image string) *appsv1.Deployment {
	labels := map[string]string{"app": "web"}
	return &appsv1.Deployment{Spec: appsv1.DeploymentSpec{
		Replicas: ptr.To[int32](3),
		Selector: &metav1.LabelSelector{MatchLabels: labels},
		Template: corev1.PodTemplateSpec{
			ObjectMeta: metav1.ObjectMeta{Labels: labels},
			Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "web", Image: image,
				Ports: []corev1.ContainerPort{{Name: "http", ContainerPort: 8080}}}}},
		},
	}}
}
