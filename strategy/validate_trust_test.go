package strategy_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/utils/ptr"

	"github.com/switchyard-dev/switchyard/fake"
	"github.com/switchyard-dev/switchyard/internal/slots"
	"github.com/switchyard-dev/switchyard/strategy"
	"github.com/switchyard-dev/switchyard/strategy/flow"
)

var trustApp = types.NamespacedName{Namespace: "shop", Name: "web"}

// goodRelease is a release every check accepts.
func goodRelease() strategy.Release {
	return strategy.Release{
		App:      trustApp,
		Revision: "v2",
		Workload: &appsv1.Deployment{
			ObjectMeta: metav1.ObjectMeta{Labels: map[string]string{"team": "checkout"}},
			Spec: appsv1.DeploymentSpec{
				Replicas: ptr.To[int32](3),
				Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": "web"}},
				Template: corev1.PodTemplateSpec{
					ObjectMeta: metav1.ObjectMeta{Labels: map[string]string{"app": "web"}, Annotations: map[string]string{"prometheus.io/scrape": "true"}},
					Spec: corev1.PodSpec{
						InitContainers: []corev1.Container{{Name: "migrate", Image: "registry.example.com:5000/shop/migrate:v2"}},
						Containers: []corev1.Container{
							{Name: "web", Image: "registry.example.com/shop/web:v2"},
							{Name: "proxy", Image: "ghcr.io/org/proxy@sha256:" + strings.Repeat("a", 64)},
						},
					},
				},
			},
		},
		Objects: []*unstructured.Unstructured{companion("ConfigMap", "web-config"), companion("Secret", "web-config")},
	}
}

func companion(kind, name string) *unstructured.Unstructured {
	u := &unstructured.Unstructured{Object: map[string]any{"data": map[string]any{"app.yaml": "x", "LOG_LEVEL": "info"}}}
	u.SetAPIVersion("v1")
	u.SetKind(kind)
	u.SetName(name)
	return u
}

func validate(r strategy.Release) error {
	var v strategy.Validator
	r.Validate(&v)
	return v.Err()
}

// requirePaths asserts err is a *ValidationError naming exactly paths.
func requirePaths(t *testing.T, err error, paths ...string) {
	t.Helper()
	if len(paths) == 0 {
		require.NoError(t, err)
		return
	}
	var ve *strategy.ValidationError
	require.ErrorAs(t, err, &ve)
	got := map[string]bool{}
	for _, f := range ve.Fields {
		got[f.Path] = true
	}
	want := map[string]bool{}
	for _, p := range paths {
		want[p] = true
	}
	assert.Equal(t, want, got, "%v", err)
}

func TestWorkloadValidation(t *testing.T) {
	t.Parallel()
	const tmpl = "release.workload.spec.template"
	tests := map[string]struct {
		change func(d *appsv1.Deployment)
		paths  []string
	}{
		"valid":         {change: func(*appsv1.Deployment) {}},
		"zero replicas": {change: func(d *appsv1.Deployment) { d.Spec.Replicas = ptr.To[int32](0) }},
		"MaxReplicas":   {change: func(d *appsv1.Deployment) { d.Spec.Replicas = ptr.To[int32](strategy.MaxReplicas) }},
		"above MaxReplicas": {change: func(d *appsv1.Deployment) { d.Spec.Replicas = ptr.To[int32](strategy.MaxReplicas + 1) },
			paths: []string{"release.workload.spec.replicas"}},
		"max int32 replicas": {change: func(d *appsv1.Deployment) { d.Spec.Replicas = ptr.To[int32](2147483647) },
			paths: []string{"release.workload.spec.replicas"}},
		"container name not a label": {change: func(d *appsv1.Deployment) { d.Spec.Template.Spec.Containers[0].Name = "Web_1" },
			paths: []string{tmpl + ".spec.containers[0].name"}},
		"empty container name": {change: func(d *appsv1.Deployment) { d.Spec.Template.Spec.Containers[1].Name = "" },
			paths: []string{tmpl + ".spec.containers[1].name"}},
		"repeated container name": {change: func(d *appsv1.Deployment) { d.Spec.Template.Spec.Containers[1].Name = "web" },
			paths: []string{tmpl + ".spec.containers[1].name"}},
		"container named like an init container": {change: func(d *appsv1.Deployment) { d.Spec.Template.Spec.Containers[0].Name = "migrate" },
			paths: []string{tmpl + ".spec.containers[0].name"}},
		"empty image": {change: func(d *appsv1.Deployment) { d.Spec.Template.Spec.Containers[0].Image = "" },
			paths: []string{tmpl + ".spec.containers[0].image"}},
		"bad image": {change: func(d *appsv1.Deployment) { d.Spec.Template.Spec.Containers[0].Image = "bad image name!!" },
			paths: []string{tmpl + ".spec.containers[0].image"}},
		"upper-case image": {change: func(d *appsv1.Deployment) { d.Spec.Template.Spec.Containers[0].Image = "Shop/Web:v2" },
			paths: []string{tmpl + ".spec.containers[0].image"}},
		"bad digest": {change: func(d *appsv1.Deployment) { d.Spec.Template.Spec.Containers[1].Image = "ghcr.io/org/proxy@sha256:abc" },
			paths: []string{tmpl + ".spec.containers[1].image"}},
		"bad init image": {change: func(d *appsv1.Deployment) { d.Spec.Template.Spec.InitContainers[0].Image = " migrate" },
			paths: []string{tmpl + ".spec.initContainers[0].image"}},
		"bad template label key": {change: func(d *appsv1.Deployment) { d.Spec.Template.Labels["bad key!"] = "x" },
			paths: []string{tmpl + ".metadata.labels"}},
		"bad template label value": {change: func(d *appsv1.Deployment) { d.Spec.Template.Labels["tier"] = "front end" },
			paths: []string{tmpl + ".metadata.labels"}},
		"bad template annotation key": {change: func(d *appsv1.Deployment) { d.Spec.Template.Annotations["bad key!"] = "x" },
			paths: []string{tmpl + ".metadata.annotations"}},
		"bad workload label": {change: func(d *appsv1.Deployment) { d.Labels["team"] = strings.Repeat("x", 64) },
			paths: []string{"release.workload.metadata.labels"}},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			r := goodRelease()
			tc.change(r.Workload)
			requirePaths(t, validate(r), tc.paths...)
		})
	}
}

func TestImageReferences(t *testing.T) {
	t.Parallel()
	for _, ok := range []string{"nginx", "nginx:1.27", "library/nginx:latest", "localhost:5000/app:dev", "web:v1", "registry.example/web:0123abc"} {
		assert.NoError(t, strategy.ValidateImage(ok), ok)
	}
	for _, bad := range []string{"", "bad image name!!", "nginx:", "NGINX", "nginx:tag with space", "-nginx", "nginx@sha256:12"} {
		assert.Error(t, strategy.ValidateImage(bad), bad)
	}
}

func TestCompanionValidation(t *testing.T) {
	t.Parallel()
	longest := strings.Repeat("c", validation.DNS1123SubdomainMaxLength-len(slots.CompanionName("", "v2")))
	tests := map[string]struct {
		objects []*unstructured.Unstructured
		paths   []string
	}{
		"valid": {objects: []*unstructured.Unstructured{companion("ConfigMap", "a"), companion("Secret", "a")}},
		"in the app's namespace": {objects: []*unstructured.Unstructured{func() *unstructured.Unstructured {
			u := companion("ConfigMap", "a")
			u.SetNamespace(trustApp.Namespace)
			return u
		}()}},
		"a Deployment": {objects: []*unstructured.Unstructured{func() *unstructured.Unstructured {
			u := companion("Deployment", "a")
			u.SetAPIVersion("apps/v1")
			return u
		}()}, paths: []string{"release.objects[0].kind"}},
		"a ConfigMap of another group": {objects: []*unstructured.Unstructured{func() *unstructured.Unstructured {
			u := companion("ConfigMap", "a")
			u.SetAPIVersion("example.com/v1")
			return u
		}()}, paths: []string{"release.objects[0].kind"}},
		"another namespace": {objects: []*unstructured.Unstructured{func() *unstructured.Unstructured {
			u := companion("Secret", "a")
			u.SetNamespace("kube-system")
			return u
		}()}, paths: []string{"release.objects[0].metadata.namespace"}},
		"bad name":                 {objects: []*unstructured.Unstructured{companion("ConfigMap", "Bad_Name")}, paths: []string{"release.objects[0].metadata.name"}},
		"longest name":             {objects: []*unstructured.Unstructured{companion("ConfigMap", longest)}},
		"too long with the suffix": {objects: []*unstructured.Unstructured{companion("ConfigMap", longest+"c")}, paths: []string{"release.objects[0].metadata.name"}},
		"generateName only": {objects: []*unstructured.Unstructured{func() *unstructured.Unstructured {
			u := companion("ConfigMap", "")
			u.SetGenerateName("cfg-")
			return u
		}()}, paths: []string{"release.objects[0].metadata.name"}},
		"twice": {objects: []*unstructured.Unstructured{companion("Secret", "a"), companion("Secret", "a")}, paths: []string{"release.objects[1].metadata.name"}},
		"bad label": {objects: []*unstructured.Unstructured{func() *unstructured.Unstructured {
			u := companion("ConfigMap", "a")
			u.SetLabels(map[string]string{"bad key!": "x"})
			return u
		}()}, paths: []string{"release.objects[0].metadata.labels"}},
		"bad data key": {objects: []*unstructured.Unstructured{func() *unstructured.Unstructured {
			u := companion("ConfigMap", "a")
			u.Object["data"] = map[string]any{"../etc/passwd": "x"}
			return u
		}()}, paths: []string{"release.objects[0].data"}},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			r := goodRelease()
			r.Objects = tc.objects
			requirePaths(t, validate(r), tc.paths...)
		})
	}
	// The bound is the one slots.CompanionName needs.
	assert.Empty(t, validation.IsDNS1123Subdomain(slots.CompanionName(longest, "v2")))
	assert.NotEmpty(t, validation.IsDNS1123Subdomain(slots.CompanionName(longest+"c", "v2")))
}

func TestServiceAndPodMetadataHelpers(t *testing.T) {
	t.Parallel()
	var v strategy.Validator
	flow.ValidateServiceName(&v, "a", "web-svc")
	flow.ValidateServiceName(&v, "b", "Web_Svc!")
	flow.ValidateServiceName(&v, "c", "Bad..Name")
	flow.ValidateServiceName(&v, "d", "1web")
	flow.ValidatePodMetadata(&v, "e", map[string]string{"role": "active", "example.com/tier": "web"}, map[string]string{"example.com/note": "any text at all"})
	flow.ValidatePodMetadata(&v, "f", map[string]string{"bad key!": "x"}, nil)
	flow.ValidatePodMetadata(&v, "g", map[string]string{"role": "not a value"}, nil)
	flow.ValidatePodMetadata(&v, "h", nil, map[string]string{"bad key!": "x"})
	flow.ValidatePodMetadata(&v, "i", map[string]string{strategy.LabelSlot: "blue"}, nil)
	flow.ValidateServicePorts(&v, "j", []corev1.ServicePort{{Port: 80, TargetPort: intstr.FromInt32(8080)}})
	flow.ValidateServicePorts(&v, "k", []corev1.ServicePort{{Name: "http", Port: 80, TargetPort: intstr.FromString("http")}, {Name: "grpc", Port: 9090, Protocol: corev1.ProtocolUDP}})
	flow.ValidateServicePorts(&v, "l", []corev1.ServicePort{{Port: 0}})
	flow.ValidateServicePorts(&v, "m", []corev1.ServicePort{{Port: 70000}})
	flow.ValidateServicePorts(&v, "n", []corev1.ServicePort{{Name: "Bad_Name", Port: 80}})
	flow.ValidateServicePorts(&v, "o", []corev1.ServicePort{{Name: "a", Port: 80}, {Port: 81}})
	flow.ValidateServicePorts(&v, "p", []corev1.ServicePort{{Name: "a", Port: 80}, {Name: "a", Port: 81}})
	flow.ValidateServicePorts(&v, "q", []corev1.ServicePort{{Name: "a", Port: 80}, {Name: "b", Port: 80}})
	flow.ValidateServicePorts(&v, "r", []corev1.ServicePort{{Port: 80, Protocol: "HTTP"}})
	flow.ValidateServicePorts(&v, "s", []corev1.ServicePort{{Port: 80, TargetPort: intstr.FromInt32(-1)}})
	flow.ValidateServicePorts(&v, "t", []corev1.ServicePort{{Port: 80, TargetPort: intstr.FromString("no_such name")}})
	var ve *strategy.ValidationError
	require.ErrorAs(t, v.Err(), &ve)
	got := map[string]bool{}
	for _, f := range ve.Fields {
		got[f.Path] = true
	}
	assert.Equal(t, map[string]bool{
		"b": true, "c": true, "d": true,
		"f.labels": true, "g.labels": true, "h.annotations": true, "i.labels": true,
		"l[0].port": true, "m[0].port": true, "n[0].name": true, "o[1].name": true, "p[1].name": true,
		"q[1].port": true, "r[0].protocol": true, "s[0].targetPort": true, "t[0].targetPort": true,
	}, got, "%v", v.Err())
}

func TestCheckNamespace(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	c := fake.NewCluster(fake.WithObjects(&corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "shop"}}))
	t.Cleanup(c.Stop)
	kube := c.Clients().Kube

	var v strategy.Validator
	require.NoError(t, flow.CheckNamespace(ctx, kube, "shop", &v))
	require.NoError(t, v.Err(), "an existing namespace")

	require.NoError(t, flow.CheckNamespace(ctx, kube, "nope", &v))
	requirePaths(t, v.Err(), "release.app.namespace")

	nsGR := schema.GroupResource{Resource: "namespaces"}
	c.FailRequests("get", "namespaces", apierrors.NewForbidden(nsGR, "nope", errors.New("cannot get namespaces at the cluster scope")), 1)
	var forbidden strategy.Validator
	require.NoError(t, flow.CheckNamespace(ctx, kube, "nope", &forbidden), "a least-privilege identity may not read namespaces")
	require.NoError(t, forbidden.Err())

	c.FailRequests("get", "namespaces", apierrors.NewServiceUnavailable("etcd is down"), 1)
	var broken strategy.Validator
	err := flow.CheckNamespace(ctx, kube, "shop", &broken)
	require.Error(t, err)
	assert.True(t, apierrors.IsServiceUnavailable(err), "%v", err)
	require.NoError(t, broken.Err())

	_, err = kube.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "leaving", Finalizers: []string{"example.com/hold"}}}, metav1.CreateOptions{})
	require.NoError(t, err)
	require.NoError(t, kube.CoreV1().Namespaces().Delete(ctx, "leaving", metav1.DeleteOptions{}))
	var leaving strategy.Validator
	require.NoError(t, flow.CheckNamespace(ctx, kube, "leaving", &leaving))
	requirePaths(t, leaving.Err(), "release.app.namespace")
}
