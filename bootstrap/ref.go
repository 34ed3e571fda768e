package bootstrap

import (
	"fmt"
	"strings"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
)

// AnnotationDependsOn lists objects an object waits for, comma-separated,
// in the format kpt and Config Sync use: group/namespaces/namespace/Kind/name
// for namespaced objects and group/Kind/name for cluster-scoped ones, with
// an empty group for the core API ("/namespaces/db/Service/postgres").
const AnnotationDependsOn = "config.kubernetes.io/depends-on"

// Ref names an object independently of its API version.
type Ref struct {
	Group     string
	Kind      string
	Namespace string // empty for cluster-scoped objects
	Name      string
}

// RefOf returns the Ref of u.
func RefOf(u *unstructured.Unstructured) Ref {
	gvk := u.GroupVersionKind()
	return Ref{Group: gvk.Group, Kind: gvk.Kind, Namespace: u.GetNamespace(), Name: u.GetName()}
}

// GroupKind returns the group and kind of r.
func (r Ref) GroupKind() schema.GroupKind { return schema.GroupKind{Group: r.Group, Kind: r.Kind} }

// String names r as "Kind.group namespace/name", or "Kind.group name" when
// cluster-scoped; core kinds have no group ("Service web/api").
func (r Ref) String() string {
	gk := r.GroupKind().String()
	if r.Namespace == "" {
		return gk + " " + r.Name
	}
	return gk + " " + r.Namespace + "/" + r.Name
}

// DependsOnValue formats r as one entry of AnnotationDependsOn.
func (r Ref) DependsOnValue() string {
	if r.Namespace == "" {
		return r.Group + "/" + r.Kind + "/" + r.Name
	}
	return r.Group + "/namespaces/" + r.Namespace + "/" + r.Kind + "/" + r.Name
}

// ParseDependsOn parses the value of AnnotationDependsOn.
func ParseDependsOn(value string) ([]Ref, error) {
	var out []Ref
	for _, entry := range strings.Split(value, ",") {
		entry = strings.TrimSpace(entry)
		if entry == "" {
			continue
		}
		parts := strings.Split(entry, "/")
		var r Ref
		switch {
		case len(parts) == 5 && parts[1] == "namespaces":
			r = Ref{Group: parts[0], Namespace: parts[2], Kind: parts[3], Name: parts[4]}
		case len(parts) == 3:
			r = Ref{Group: parts[0], Kind: parts[1], Name: parts[2]}
		default:
			return nil, fmt.Errorf("%q is not group/namespaces/namespace/Kind/name or group/Kind/name", entry)
		}
		if r.Kind == "" || r.Name == "" || (len(parts) == 5 && r.Namespace == "") {
			return nil, fmt.Errorf("%q has an empty kind, name or namespace", entry)
		}
		out = append(out, r)
	}
	return out, nil
}

// Dependency says that Object is applied only once DependsOn is ready. It
// is the Go form of AnnotationDependsOn; both objects must be in the bundle.
type Dependency struct {
	Object    Ref
	DependsOn Ref
}
