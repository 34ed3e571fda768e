// Command rollout ships two releases of an app with the rolling strategy and
// prints each step as it happens. By default it runs on switchyard's
// in-memory fake cluster with a clock that moves by itself, so minutes of
// rollout take milliseconds; -kubeconfig runs it against a real cluster.
//
// The first release (v1) and a good update (v2) succeed; a bad update (v3,
// whose pods never turn Ready on the fake) misses its progress deadline and
// is rolled back to v2.
package main

import (
	"context"
	"fmt"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/utils/ptr"

	"github.com/switchyard-dev/switchyard/examples/internal/target"
	"github.com/switchyard-dev/switchyard/fake"
	"github.com/switchyard-dev/switchyard/strategy"
	"github.com/switchyard-dev/switchyard/strategy/rolling"
)

func main() {
	target.Main("rollout", 30*time.Minute, []fake.Option{fake.WithPodStartup(3 * time.Second)}, run)
}

func run(ctx context.Context, t *target.Target, namespace string) error {

	if t.Fake != nil {
		// v3 is the bad release: its pods start but never pass readiness.
		t.Fake.SetBehavior("v3", fake.Behavior{NeverReady: true})
	}
	clients := t.Clients
	s := rolling.New(clients, rolling.Spec{ProgressDeadline: 2 * time.Minute},
		strategy.WithClock(t.Clock), strategy.WithIdentity("examples-rollout"), strategy.WithObserver(t.Printer()))

	app := types.NamespacedName{Namespace: namespace, Name: "web"}
	for _, rev := range []string{"v1", "v2", "v3"} {
		fmt.Printf("\n== release %s\n", rev)
		res, err := s.Run(ctx, strategy.Release{App: app, Revision: rev, Workload: workload(rev)})
		if res == nil {
			return err
		}
		fmt.Printf("== %s ended %s after %s; serving: %s\n", rev, res.Phase, res.Finished.Sub(res.Started), serving(ctx, clients, app))
	}
	st, err := strategy.NewControl(clients.Kube).Status(ctx, app)
	if err != nil {
		return err
	}
	fmt.Printf("\nrelease history of %s:\n", app)
	for _, h := range st.History {
		fmt.Printf("  %-4s %-10s %s\n", h.Revision, h.Phase, h.Message)
	}
	if t.Fake != nil {
		fmt.Printf("\nAPI requests made: %d\n", t.Fake.Requests().Total())
	}
	return nil
}

func workload(rev string) *appsv1.Deployment {
	return &appsv1.Deployment{Spec: appsv1.DeploymentSpec{
		Replicas: ptr.To[int32](4),
		Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": "web"}},
		Template: corev1.PodTemplateSpec{
			ObjectMeta: metav1.ObjectMeta{Labels: map[string]string{"app": "web"}},
			Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "web", Image: "registry.example/web:" + rev}}},
		},
	}}
}

// serving says which revision the app's Deployment template runs, and how
// many replicas are available.
func serving(ctx context.Context, clients strategy.Clients, app types.NamespacedName) string {
	d, err := clients.Kube.AppsV1().Deployments(app.Namespace).Get(ctx, app.Name, metav1.GetOptions{})
	if err != nil {
		return err.Error()
	}
	return fmt.Sprintf("%s (%d/%d available)", d.Spec.Template.Labels[rolling.LabelRevision], d.Status.AvailableReplicas, ptr.Deref(d.Spec.Replicas, 0))
}
