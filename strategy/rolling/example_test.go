package rolling_test

import (
	"context"
	"errors"
	"fmt"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/utils/ptr"

	"github.com/switchyard-dev/switchyard/fake"
	"github.com/switchyard-dev/switchyard/strategy"
	"github.com/switchyard-dev/switchyard/strategy/rolling"
)

// A rolling update that never becomes available is rolled back to the last
// good revision once its progress deadline has passed (simulated time: the
// five minutes take milliseconds).
func Example() {
	ctx := context.Background()
	cluster := fake.NewCluster(fake.WithAutoAdvance())
	defer cluster.Stop()
	cluster.SetBehavior("v2", fake.Behavior{NeverReady: true})
	s := rolling.New(cluster.Clients(), rolling.Spec{ProgressDeadline: 5 * time.Minute}, strategy.WithClock(cluster.Clock()))

	web := types.NamespacedName{Namespace: "default", Name: "web"}
	start := cluster.Clock().Now()
	for _, rev := range []string{"v1", "v2"} {
		res, err := s.Run(ctx, strategy.Release{App: web, Revision: rev, Workload: exampleWorkload(rev)})
		switch {
		case errors.Is(err, strategy.ErrProgressDeadline):
			fmt.Printf("%s: %s after %s (%s), %s serves\n", rev, res.Phase, res.Finished.Sub(start).Round(time.Minute), res.Reason, res.Stable)
		case err != nil:
			fmt.Println(err)
			return
		default:
			fmt.Printf("%s: %s\n", rev, res.Phase)
		}
		start = cluster.Clock().Now()
	}
	// Output:
	// v1: Succeeded
	// v2: Failed after 5m0s (ProgressDeadline), v1 serves
}

func exampleWorkload(rev string) *appsv1.Deployment {
	labels := map[string]string{"app": "web"}
	return &appsv1.Deployment{Spec: appsv1.DeploymentSpec{
		Replicas: ptr.To[int32](3),
		Selector: &metav1.LabelSelector{MatchLabels: labels},
		Template: corev1.PodTemplateSpec{
			ObjectMeta: metav1.ObjectMeta{Labels: labels},
			Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "web", Image: "web:" + rev}}},
		},
	}}
}
