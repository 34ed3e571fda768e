package bootstrap

import (
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/labels"
)

// podTemplatePaths says where each workload kind keeps its pod template;
// a Pod is its own template.
var podTemplatePaths = map[string][]string{
	"Deployment.apps":       {"spec", "template"},
	"StatefulSet.apps":      {"spec", "template"},
	"DaemonSet.apps":        {"spec", "template"},
	"ReplicaSet.apps":       {"spec", "template"},
	"Job.batch":             {"spec", "template"},
	"ReplicationController": {"spec", "template"},
	"CronJob.batch":         {"spec", "jobTemplate", "spec", "template"},
	"Pod":                   {},
}

// podTemplate returns the pod template of a workload (its metadata and
// spec), or false for other kinds.
func podTemplate(u *unstructured.Unstructured) (map[string]any, bool) {
	path, ok := podTemplatePaths[u.GroupVersionKind().GroupKind().String()]
	if !ok {
		return nil, false
	}
	if len(path) == 0 {
		return u.Object, true
	}
	t, found, _ := unstructured.NestedMap(u.Object, path...)
	return t, found
}

// podRefs are the objects a pod spec names.
type podRefs struct {
	serviceAccount string
	configMaps     []string
	secrets        []string
	claims         []string
	priorityClass  string
}

func podSpecRefs(tmpl map[string]any) podRefs {
	spec, _, _ := unstructured.NestedMap(tmpl, "spec")
	var r podRefs
	r.serviceAccount = str(spec, "serviceAccountName")
	if r.serviceAccount == "" {
		r.serviceAccount = str(spec, "serviceAccount")
	}
	if r.serviceAccount == "" {
		r.serviceAccount = "default"
	}
	r.priorityClass = str(spec, "priorityClassName")
	for _, s := range maps(spec, "imagePullSecrets") {
		r.secrets = append(r.secrets, str(s, "name"))
	}
	for _, v := range maps(spec, "volumes") {
		r.configMaps = append(r.configMaps, str(v, "configMap", "name"))
		r.secrets = append(r.secrets, str(v, "secret", "secretName"))
		r.claims = append(r.claims, str(v, "persistentVolumeClaim", "claimName"))
		for _, src := range maps(v, "projected", "sources") {
			r.configMaps = append(r.configMaps, str(src, "configMap", "name"))
			r.secrets = append(r.secrets, str(src, "secret", "name"))
		}
	}
	for _, list := range []string{"initContainers", "containers", "ephemeralContainers"} {
		for _, c := range maps(spec, list) {
			for _, e := range maps(c, "env") {
				r.configMaps = append(r.configMaps, str(e, "valueFrom", "configMapKeyRef", "name"))
				r.secrets = append(r.secrets, str(e, "valueFrom", "secretKeyRef", "name"))
			}
			for _, e := range maps(c, "envFrom") {
				r.configMaps = append(r.configMaps, str(e, "configMapRef", "name"))
				r.secrets = append(r.secrets, str(e, "secretRef", "name"))
			}
		}
	}
	return r
}

// podLabels returns the labels of a pod template.
func podLabels(tmpl map[string]any) labels.Set {
	m, _, _ := unstructured.NestedStringMap(tmpl, "metadata", "labels")
	return m
}

// str reads a string at path in m; "" when absent.
func str(m map[string]any, path ...string) string {
	s, _, _ := unstructured.NestedString(m, path...)
	return s
}

// maps reads a list of objects at path in m, skipping other entries.
func maps(m map[string]any, path ...string) []map[string]any {
	raw, _, _ := unstructured.NestedFieldNoCopy(m, path...)
	list, _ := raw.([]any)
	out := make([]map[string]any, 0, len(list))
	for _, it := range list {
		if mm, ok := it.(map[string]any); ok {
			out = append(out, mm)
		}
	}
	return out
}

// serviceRef is a namespace and name of a Service that something calls.
type serviceRef struct{ namespace, name string }

// calledServices returns the Services an admission webhook configuration or
// an APIService sends requests to.
func calledServices(u *unstructured.Unstructured) []serviceRef {
	var out []serviceRef
	add := func(m map[string]any) {
		if ns, name := str(m, "namespace"), str(m, "name"); name != "" {
			out = append(out, serviceRef{ns, name})
		}
	}
	switch u.GroupVersionKind().GroupKind().String() {
	case "MutatingWebhookConfiguration.admissionregistration.k8s.io", "ValidatingWebhookConfiguration.admissionregistration.k8s.io":
		for _, w := range maps(u.Object, "webhooks") {
			if svc, ok, _ := unstructured.NestedMap(w, "clientConfig", "service"); ok {
				add(svc)
			}
		}
	case "APIService.apiregistration.k8s.io":
		if svc, ok, _ := unstructured.NestedMap(u.Object, "spec", "service"); ok {
			add(svc)
		}
	}
	return out
}
