package fake

import (
	"fmt"
	"reflect"
	"sort"
	"strings"
	"sync"

	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
)

// crdGVR is where CustomResourceDefinitions live. The fake treats them as
// unstructured objects.
var crdGVR = schema.GroupVersionResource{Group: "apiextensions.k8s.io", Version: "v1", Resource: "customresourcedefinitions"}

// resourceInfo describes one served resource.
type resourceInfo struct {
	gvr        schema.GroupVersionResource
	gvk        schema.GroupVersionKind
	listKind   string
	singular   string
	shortNames []string
	namespaced bool
	typed      bool // the scheme has a Go type for it
	hasStatus  bool // it has a status subresource
	crd        string
}

// kinds is the registry of served resources: built-in kinds from the
// client-go scheme, plus what CustomResourceDefinitions add at run time.
type kinds struct {
	scheme *runtime.Scheme

	mu    sync.RWMutex
	byGVR map[schema.GroupVersionResource]*resourceInfo
	byGVK map[schema.GroupVersionKind]*resourceInfo
	gen   uint64 // bumped on every change, for discovery caches
}

// clusterScoped lists the built-in kinds that are not namespaced.
var clusterScoped = map[string]bool{
	"Namespace": true, "Node": true, "PersistentVolume": true, "ComponentStatus": true,
	"ClusterRole": true, "ClusterRoleBinding": true, "StorageClass": true,
	"CSIDriver": true, "CSINode": true, "VolumeAttachment": true, "VolumeAttributesClass": true,
	"PriorityClass": true, "RuntimeClass": true, "IngressClass": true,
	"MutatingWebhookConfiguration": true, "ValidatingWebhookConfiguration": true,
	"ValidatingAdmissionPolicy": true, "ValidatingAdmissionPolicyBinding": true,
	"MutatingAdmissionPolicy": true, "MutatingAdmissionPolicyBinding": true,
	"CertificateSigningRequest": true, "ClusterTrustBundle": true,
	"FlowSchema": true, "PriorityLevelConfiguration": true, "StorageVersion": true,
	"StorageVersionMigration": true, "IPAddress": true, "ServiceCIDR": true,
	"DeviceClass": true, "ResourceSlice": true, "DeviceTaintRule": true,
	"APIService": true, "CustomResourceDefinition": true,
}

// irregular holds kinds whose resource name the plural guess gets wrong.
var irregular = map[string]string{"Endpoints": "endpoints"}

func newKinds() *kinds {
	k := &kinds{
		scheme: clientgoscheme.Scheme,
		byGVR:  map[schema.GroupVersionResource]*resourceInfo{},
		byGVK:  map[schema.GroupVersionKind]*resourceInfo{},
	}
	objectMeta := reflect.TypeOf(metav1.ObjectMeta{})
	for gvk, typ := range k.scheme.AllKnownTypes() {
		if gvk.Version == runtime.APIVersionInternal || strings.HasSuffix(gvk.Kind, "List") {
			continue
		}
		if typ.Kind() != reflect.Struct {
			continue
		}
		f, ok := typ.FieldByName("ObjectMeta")
		if !ok || f.Type != objectMeta {
			continue
		}
		if !k.scheme.Recognizes(gvk.GroupVersion().WithKind(gvk.Kind + "List")) {
			continue
		}
		_, hasStatus := typ.FieldByName("Status")
		k.add(&resourceInfo{
			gvk:        gvk,
			gvr:        gvk.GroupVersion().WithResource(resourceFor(gvk.Kind)),
			listKind:   gvk.Kind + "List",
			singular:   strings.ToLower(gvk.Kind),
			namespaced: !clusterScoped[gvk.Kind],
			typed:      true,
			hasStatus:  hasStatus,
		})
	}
	k.add(&resourceInfo{
		gvr:        crdGVR,
		gvk:        crdGVR.GroupVersion().WithKind("CustomResourceDefinition"),
		listKind:   "CustomResourceDefinitionList",
		singular:   "customresourcedefinition",
		hasStatus:  true,
		shortNames: []string{"crd", "crds"},
	})
	return k
}

func resourceFor(kind string) string {
	if r, ok := irregular[kind]; ok {
		return r
	}
	gvr, _ := meta.UnsafeGuessKindToResource(schema.GroupVersionKind{Kind: kind})
	return gvr.Resource
}

func (k *kinds) add(ri *resourceInfo) {
	k.byGVR[ri.gvr] = ri
	k.byGVK[ri.gvk] = ri
	k.gen++
}

// forGVR returns the resource served at gvr.
func (k *kinds) forGVR(gvr schema.GroupVersionResource) (*resourceInfo, bool) {
	k.mu.RLock()
	defer k.mu.RUnlock()
	ri, ok := k.byGVR[gvr]
	return ri, ok
}

// forGVK returns the resource serving gvk.
func (k *kinds) forGVK(gvk schema.GroupVersionKind) (*resourceInfo, bool) {
	k.mu.RLock()
	defer k.mu.RUnlock()
	ri, ok := k.byGVK[gvk]
	return ri, ok
}

// all returns every served resource, sorted by group, version and resource.
func (k *kinds) all() []*resourceInfo {
	k.mu.RLock()
	out := make([]*resourceInfo, 0, len(k.byGVR))
	for _, ri := range k.byGVR {
		out = append(out, ri)
	}
	k.mu.RUnlock()
	sort.Slice(out, func(i, j int) bool {
		a, b := out[i].gvr, out[j].gvr
		if a.Group != b.Group {
			return a.Group < b.Group
		}
		if a.Version != b.Version {
			return a.Version < b.Version
		}
		return a.Resource < b.Resource
	})
	return out
}

// preferredVersion returns the preferred version of a group.
func (k *kinds) preferredVersion(group string, versions []string) string {
	for _, gv := range k.scheme.PrioritizedVersionsForGroup(group) {
		for _, v := range versions {
			if gv.Version == v {
				return v
			}
		}
	}
	return versions[0]
}

// crdSpec is what the fake reads from a CustomResourceDefinition.
type crdSpec struct {
	name       string
	group      string
	kind       string
	listKind   string
	plural     string
	singular   string
	shortNames []string
	namespaced bool
	versions   []crdVersion
}

type crdVersion struct {
	name      string
	served    bool
	storage   bool
	hasStatus bool
}

// parseCRD reads the parts of a CustomResourceDefinition the fake needs.
func parseCRD(u *unstructured.Unstructured) (crdSpec, error) {
	s := crdSpec{name: u.GetName()}
	s.group, _, _ = unstructured.NestedString(u.Object, "spec", "group")
	s.kind, _, _ = unstructured.NestedString(u.Object, "spec", "names", "kind")
	s.listKind, _, _ = unstructured.NestedString(u.Object, "spec", "names", "listKind")
	s.plural, _, _ = unstructured.NestedString(u.Object, "spec", "names", "plural")
	s.singular, _, _ = unstructured.NestedString(u.Object, "spec", "names", "singular")
	s.shortNames, _, _ = unstructured.NestedStringSlice(u.Object, "spec", "names", "shortNames")
	scope, _, _ := unstructured.NestedString(u.Object, "spec", "scope")
	s.namespaced = scope != "Cluster"
	if s.group == "" || s.kind == "" || s.plural == "" {
		return s, fmt.Errorf("customresourcedefinition %q: spec.group, spec.names.kind and spec.names.plural are required", s.name)
	}
	if s.name != s.plural+"."+s.group {
		return s, fmt.Errorf("customresourcedefinition %q: name must be %q", s.name, s.plural+"."+s.group)
	}
	if s.listKind == "" {
		s.listKind = s.kind + "List"
	}
	if s.singular == "" {
		s.singular = strings.ToLower(s.kind)
	}
	versions, _, _ := unstructured.NestedSlice(u.Object, "spec", "versions")
	for _, v := range versions {
		m, ok := v.(map[string]any)
		if !ok {
			continue
		}
		var cv crdVersion
		cv.name, _, _ = unstructured.NestedString(m, "name")
		cv.served, _, _ = unstructured.NestedBool(m, "served")
		cv.storage, _, _ = unstructured.NestedBool(m, "storage")
		_, cv.hasStatus, _ = unstructured.NestedMap(m, "subresources", "status")
		if cv.name != "" {
			s.versions = append(s.versions, cv)
		}
	}
	if len(s.versions) == 0 {
		return s, fmt.Errorf("customresourcedefinition %q: spec.versions is empty", s.name)
	}
	return s, nil
}

// learn makes the served versions of a CRD usable. It returns the GVRs added.
func (k *kinds) learn(s crdSpec) []schema.GroupVersionResource {
	k.mu.Lock()
	defer k.mu.Unlock()
	k.forgetLocked(s.name)
	var out []schema.GroupVersionResource
	for _, v := range s.versions {
		if !v.served {
			continue
		}
		gv := schema.GroupVersion{Group: s.group, Version: v.name}
		ri := &resourceInfo{
			gvr:        gv.WithResource(s.plural),
			gvk:        gv.WithKind(s.kind),
			listKind:   s.listKind,
			singular:   s.singular,
			shortNames: s.shortNames,
			namespaced: s.namespaced,
			hasStatus:  v.hasStatus,
			crd:        s.name,
		}
		k.add(ri)
		out = append(out, ri.gvr)
	}
	return out
}

// forget removes what a CRD added; it returns the GVRs removed.
func (k *kinds) forget(crdName string) []schema.GroupVersionResource {
	k.mu.Lock()
	defer k.mu.Unlock()
	return k.forgetLocked(crdName)
}

func (k *kinds) forgetLocked(crdName string) []schema.GroupVersionResource {
	var out []schema.GroupVersionResource
	for gvr, ri := range k.byGVR {
		if ri.crd == crdName {
			delete(k.byGVR, gvr)
			delete(k.byGVK, ri.gvk)
			out = append(out, gvr)
		}
	}
	if len(out) > 0 {
		k.gen++
	}
	return out
}
