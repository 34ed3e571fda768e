package controlplane

import (
	"context"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/cache"
	"k8s.io/utils/ptr"

	"github.com/stretchr/testify/require"
)

// TestDeploymentBecomesAvailable runs a Deployment on kwok nodes through the
// real controllers and scheduler: it becomes Available and its Service's
// EndpointSlices list every pod as ready.
func TestDeploymentBecomesAvailable(t *testing.T) {
	t.Parallel()
	client, err := kubernetes.NewForConfig(Config(t))
	require.NoError(t, err)
	ctx, cancel := context.WithTimeout(t.Context(), 2*time.Minute)
	defer cancel()
	ns := newNamespace(ctx, t, client)
	labels := map[string]string{"app": "web"}

	_, err = client.CoreV1().Services(ns).Create(ctx, &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Name: "web"},
		Spec: corev1.ServiceSpec{
			Selector: labels,
			Ports:    []corev1.ServicePort{{Name: "http", Port: 80, TargetPort: intstr.FromInt32(8080)}},
		},
	}, metav1.CreateOptions{})
	require.NoError(t, err)

	began := time.Now()
	_, err = client.AppsV1().Deployments(ns).Create(ctx, &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Name: "web"},
		Spec: appsv1.DeploymentSpec{
			Replicas: ptr.To[int32](3),
			Selector: &metav1.LabelSelector{MatchLabels: labels},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: labels},
				Spec: corev1.PodSpec{Containers: []corev1.Container{{
					Name:  "web",
					Image: "registry.invalid/web:v1", // kwok never pulls it
					Ports: []corev1.ContainerPort{{ContainerPort: 8080}},
				}}},
			},
		},
	}, metav1.CreateOptions{})
	require.NoError(t, err)

	untilEvent(ctx, t, cache.NewListWatchFromClient(client.AppsV1().RESTClient(), "deployments", ns, nameSelector("web")),
		&appsv1.Deployment{}, func(ev watch.Event) (bool, error) {
			d := ev.Object.(*appsv1.Deployment)
			return d.Status.ObservedGeneration == d.Generation && d.Status.AvailableReplicas == 3 &&
				deploymentCondition(d, appsv1.DeploymentAvailable), nil
		})
	t.Logf("deployment available %s after create", time.Since(began).Round(time.Millisecond))

	slices := map[string]int{}
	untilEvent(ctx, t, cache.NewFilteredListWatchFromClient(client.DiscoveryV1().RESTClient(), "endpointslices", ns,
		func(o *metav1.ListOptions) { o.LabelSelector = discoveryv1.LabelServiceName + "=web" }),
		&discoveryv1.EndpointSlice{}, func(ev watch.Event) (bool, error) {
			s := ev.Object.(*discoveryv1.EndpointSlice)
			if ev.Type == watch.Deleted {
				delete(slices, s.Name)
			} else {
				slices[s.Name] = readyEndpoints(s)
			}
			total := 0
			for _, n := range slices {
				total += n
			}
			return total == 3, nil
		})
	t.Logf("3 ready endpoints %s after create", time.Since(began).Round(time.Millisecond))
}

func deploymentCondition(d *appsv1.Deployment, typ appsv1.DeploymentConditionType) bool {
	for _, c := range d.Status.Conditions {
		if c.Type == typ {
			return c.Status == corev1.ConditionTrue
		}
	}
	return false
}

func readyEndpoints(s *discoveryv1.EndpointSlice) int {
	n := 0
	for _, e := range s.Endpoints {
		if ptr.Deref(e.Conditions.Ready, false) {
			n++
		}
	}
	return n
}
