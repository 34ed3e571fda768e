package strategy_test

import (
	"context"
	"errors"
	"fmt"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/utils/ptr"

	"github.com/switchyard-dev/switchyard/bluegreen"
	"github.com/switchyard-dev/switchyard/canary"
	"github.com/switchyard-dev/switchyard/fake"
	"github.com/switchyard-dev/switchyard/strategy"
)

// A release held for manual promotion, promoted from another goroutine when the observer sees it paused.
func ExampleControl_Promote() {
	ctx := context.Background()
	cluster := fake.NewCluster(fake.WithAutoAdvance())
	defer cluster.Stop()
	web := types.NamespacedName{Namespace: "default", Name: "web"}
	control := strategy.NewControl(cluster.Clients().Kube, strategy.WithClock(cluster.Clock()))
	promoted := make(chan error, 1)
	onPause := strategy.WithObserver(func(e strategy.Event) {
		if e.Type == strategy.EventPhaseChanged && e.Phase == strategy.PhasePaused {
			fmt.Printf("%s: paused until Promote\n", e.Revision)
			go func() { promoted <- control.Promote(ctx, web) }() // as another process would
		}
	})
	s := bluegreen.New(cluster.Clients(), bluegreen.Spec{ActiveService: "web", ServicePorts: examplePorts, ManualPromotion: true},
		strategy.WithClock(cluster.Clock()), onPause)

	res, err := s.Run(ctx, strategy.Release{App: web, Revision: "v1", Workload: exampleWorkload("web:v1")})
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Printf("%s: %s, stable %s; promote: %v\n", res.Revision, res.Phase, res.Stable, <-promoted)
	// Output:
	// v1: paused until Promote
	// v1: Succeeded, stable v1; promote: <nil>
}

// A canary held by a Pause step, aborted from another goroutine: traffic goes back to the stable revision.
func ExampleControl_Abort() {
	ctx := context.Background()
	cluster := fake.NewCluster(fake.WithAutoAdvance())
	defer cluster.Stop()
	web := types.NamespacedName{Namespace: "default", Name: "web"}
	control := strategy.NewControl(cluster.Clients().Kube, strategy.WithClock(cluster.Clock()))
	aborted := make(chan error, 1)
	onPause := strategy.WithObserver(func(e strategy.Event) {
		if e.Type == strategy.EventPhaseChanged && e.Phase == strategy.PhasePaused {
			fmt.Printf("%s: paused at %s\n", e.Revision, e.StepName)
			go func() { aborted <- control.Abort(ctx, web) }() // as another process would
		}
	})
	s := canary.New(cluster.Clients(), canary.Spec{StableService: "web", ServicePorts: examplePorts,
		Steps: []canary.Step{canary.SetWeight{Percent: 25}, canary.Pause{}, canary.SetWeight{Percent: 100}}},
		strategy.WithClock(cluster.Clock()), onPause)

	for _, rev := range []string{"v1", "v2"} { // v1, the first release, has no steps to pause at
		res, err := s.Run(ctx, strategy.Release{App: web, Revision: rev, Workload: exampleWorkload("web:" + rev)})
		if res == nil {
			fmt.Println(err)
			return
		}
		fmt.Printf("%s: %s, stable %s, aborted: %t\n", rev, res.Phase, res.Stable, errors.Is(err, strategy.ErrAborted))
	}
	fmt.Println("abort:", <-aborted)
	// Output:
	// v1: Succeeded, stable v1, aborted: false
	// v2: paused at 1-Pause
	// v2: Aborted, stable v1, aborted: true
	// abort: <nil>
}

var examplePorts = []corev1.ServicePort{{Name: "http", Port: 80, TargetPort: intstr.FromInt32(8080)}}

// exampleWorkload is four pods of image behind the label app=web.
func exampleWorkload(image string) *appsv1.Deployment {
	labels := map[string]string{"app": "web"}
	return &appsv1.Deployment{Spec: appsv1.DeploymentSpec{
		Replicas: ptr.To[int32](4),
		Selector: &metav1.LabelSelector{MatchLabels: labels},
		Template: corev1.PodTemplateSpec{
			ObjectMeta: metav1.ObjectMeta{Labels: labels},
			Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "web", Image: image,
				Ports: []corev1.ContainerPort{{Name: "http", ContainerPort: 8080}}}}},
		},
	}}
}
