package bluegreen_test

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/utils/ptr"

	"github.com/switchyard-dev/switchyard/bluegreen"
	"github.com/switchyard-dev/switchyard/fake"
	"github.com/switchyard-dev/switchyard/strategy"
)

// Bad input of every kind is reported at once, by field, and nothing is
// written: no slot, no companion, no Service, no release record.
func TestBadInputIsReportedBeforeTheFirstWrite(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	c := fake.NewCluster(fake.WithAutoAdvance(), fake.WithObjects(
		&corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "shop"}},
		&corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "other"}}))
	t.Cleanup(c.Stop)
	cl := c.Clients()
	c.ResetRequests()

	cm := &unstructured.Unstructured{}
	cm.SetAPIVersion("v1")
	cm.SetKind("ConfigMap")
	cm.SetName("web-config")
	cm.SetNamespace("other")
	dep := &unstructured.Unstructured{}
	dep.SetAPIVersion("apps/v1")
	dep.SetKind("Deployment")
	dep.SetName("sidecar")
	rel := strategy.Release{
		App: types.NamespacedName{Namespace: "shop", Name: "web"}, Revision: "v2",
		Workload: &appsv1.Deployment{Spec: appsv1.DeploymentSpec{
			Replicas: ptr.To[int32](2147483647),
			Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": "web"}},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: map[string]string{"app": "web", "bad key!": "x"}},
				Spec: corev1.PodSpec{Containers: []corev1.Container{
					{Name: "web", Image: "bad image name!!"}, {Name: "web", Image: ""}}},
			},
		}},
		Objects: []*unstructured.Unstructured{cm, dep},
	}
	spec := bluegreen.Spec{ActiveService: "Web_Svc!", PreviewService: "Bad..Name",
		ServicePorts:   []corev1.ServicePort{{Name: "http", Port: 0}},
		ActiveMetadata: bluegreen.PodMetadata{Labels: map[string]string{"bad key!": "x"}}}
	_, err := bluegreen.New(cl, spec, strategy.WithClock(c.Clock())).Run(ctx, rel)
	var ve *strategy.ValidationError
	require.ErrorAs(t, err, &ve)
	for _, p := range []string{
		"release.workload.spec.replicas",
		"release.workload.spec.template.metadata.labels",
		"release.workload.spec.template.spec.containers[0].image",
		"release.workload.spec.template.spec.containers[1].name",
		"release.workload.spec.template.spec.containers[1].image",
		"release.objects[0].metadata.namespace",
		"release.objects[1].kind",
		"spec.activeService", "spec.previewService", "spec.servicePorts[0].port", "spec.activeMetadata.labels",
	} {
		assert.True(t, ve.Has(p), "missing %s in %v", p, err)
	}
	got := c.Requests()
	for _, verb := range []string{"create", "update", "patch", "delete", "deletecollection"} {
		assert.Zero(t, got.Count(verb, "*"), "%s before validating:\n%s", verb, got)
	}
	for _, ns := range []string{"shop", "other"} {
		cms, err := cl.Kube.CoreV1().ConfigMaps(ns).List(ctx, metav1.ListOptions{})
		require.NoError(t, err)
		assert.Empty(t, cms.Items, ns)
	}
}

// A release into a namespace that does not exist fails validation, by
// field, before any write.
func TestMissingNamespaceIsReportedBeforeTheFirstWrite(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	c := fake.NewCluster(fake.WithAutoAdvance())
	t.Cleanup(c.Stop)
	c.ResetRequests()
	rel := strategy.Release{App: types.NamespacedName{Namespace: "ghost", Name: "web"}, Revision: "v1",
		Workload: &appsv1.Deployment{Spec: appsv1.DeploymentSpec{
			Replicas: ptr.To[int32](2),
			Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": "web"}},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: map[string]string{"app": "web"}},
				Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "web", Image: "web:v1"}}},
			},
		}}}
	spec := bluegreen.Spec{ActiveService: "web", ServicePorts: []corev1.ServicePort{{Name: "http", Port: 80}}}
	_, err := bluegreen.New(c.Clients(), spec, strategy.WithClock(c.Clock())).Run(ctx, rel)
	var ve *strategy.ValidationError
	require.ErrorAs(t, err, &ve)
	assert.True(t, ve.Has("release.app.namespace"), "%v", err)
	got := c.Requests()
	for _, verb := range []string{"create", "update", "patch", "delete"} {
		assert.Zero(t, got.Count(verb, "*"), "%s before validating:\n%s", verb, got)
	}
}
