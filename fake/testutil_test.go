package fake

import (
	"context"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/utils/ptr"
)

// newTestCluster starts a cluster that is stopped when the test ends.
func newTestCluster(t testing.TB, opts ...Option) *Cluster {
	t.Helper()
	c := NewCluster(opts...)
	t.Cleanup(c.Stop)
	return c
}

func testCtx(t testing.TB) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	t.Cleanup(cancel)
	return ctx
}

// idle waits for the controllers.
func idle(t testing.TB, c *Cluster) {
	t.Helper()
	if err := c.WaitIdle(testCtx(t)); err != nil {
		t.Fatal(err)
	}
}

// step moves the clock and waits for the controllers.
func step(t testing.TB, c *Cluster, d time.Duration) {
	t.Helper()
	idle(t, c)
	c.Clock().Step(d)
	idle(t, c)
}

func testDeployment(name string, replicas int32, version string) *appsv1.Deployment {
	labels := map[string]string{"app": name}
	return &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "default"},
		Spec: appsv1.DeploymentSpec{
			Replicas: ptr.To(replicas),
			Selector: &metav1.LabelSelector{MatchLabels: labels},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: map[string]string{"app": name, DefaultVersionLabel: version}},
				Spec: corev1.PodSpec{Containers: []corev1.Container{{
					Name: "app", Image: "example.com/app:" + version,
					Ports: []corev1.ContainerPort{{Name: "http", ContainerPort: 8080}},
				}}},
			},
		},
	}
}

func withStrategy(d *appsv1.Deployment, surge, unavailable intstr.IntOrString) *appsv1.Deployment {
	d.Spec.Strategy = appsv1.DeploymentStrategy{
		Type:          appsv1.RollingUpdateDeploymentStrategyType,
		RollingUpdate: &appsv1.RollingUpdateDeployment{MaxSurge: &surge, MaxUnavailable: &unavailable},
	}
	return d
}

func getDeployment(t testing.TB, c *Cluster, name string) *appsv1.Deployment {
	t.Helper()
	d, err := c.Clients().Kube.AppsV1().Deployments("default").Get(context.Background(), name, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return d
}

// pauseAsParticipant waits d on the clock as a Run does: idle while it
// blocks, busy again once the timer fires.
func pauseAsParticipant(t testing.TB, clk *Clock, idleFn, busy func(), d time.Duration) {
	t.Helper()
	fired := make(chan struct{})
	// The callback marks the participant busy before it wakes it, so the
	// clock cannot move on before the participant looks.
	clk.AfterFunc(d, func() { busy(); close(fired) })
	idleFn()
	defer busy()
	select {
	case <-fired:
	case <-testCtx(t).Done():
		t.Fatalf("a pause of %s never ended", d)
	}
}
