package fake

import (
	"fmt"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
)

// syncCRD establishes a CustomResourceDefinition: its resources become
// served and its conditions NamesAccepted and Established turn True. A
// deleted CRD takes its resources and custom resources with it.
func (c *Cluster) syncCRD(name string) {
	s := c.store
	obj, ok := s.get(objKey{gvr: crdGVR, name: name})
	if !ok {
		gone := c.kinds.forget(name)
		s.mu.Lock()
		for _, gvr := range gone {
			for _, o := range s.listLocked(gvr, "") {
				m := mustAccessor(o)
				s.removeLocked(objKey{gvr: gvr, ns: m.GetNamespace(), name: m.GetName()}, o)
			}
		}
		s.mu.Unlock()
		return
	}
	u := obj.(*unstructured.Unstructured)
	if u.GetDeletionTimestamp() != nil {
		return
	}
	spec, err := parseCRD(u)
	if err != nil {
		return
	}
	c.kinds.learn(spec)
	n := u.DeepCopy()
	now := metav1.NewTime(c.clock.Now()).UTC().Format("2006-01-02T15:04:05Z")
	names, _, _ := unstructured.NestedMap(u.Object, "spec", "names")
	if names["listKind"] == nil {
		names["listKind"] = spec.listKind
	}
	if names["singular"] == nil {
		names["singular"] = spec.singular
	}
	var stored []any
	for _, v := range spec.versions {
		if v.storage {
			stored = append(stored, v.name)
		}
	}
	cond := func(t, reason, msg string) map[string]any {
		old := findCondition(u, t)
		ts := now
		if old != nil && old["status"] == "True" {
			if v, ok := old["lastTransitionTime"].(string); ok {
				ts = v
			}
		}
		return map[string]any{"type": t, "status": "True", "reason": reason, "message": msg, "lastTransitionTime": ts}
	}
	status := map[string]any{
		"acceptedNames":  names,
		"storedVersions": stored,
		"conditions": []any{
			cond("NamesAccepted", "NoConflicts", "no conflicts found for the names"),
			cond("Established", "InitialNamesAccepted", "the initial names have been accepted"),
		},
	}
	_ = unstructured.SetNestedField(n.Object, status, "status")
	if equalJSON(u.Object["status"], n.Object["status"]) {
		return
	}
	if _, err := s.update(crdGVR, "", n, writeOpts{internal: true}); err != nil {
		c.queue.add(item{kind: itemCRD, name: name})
	}
}

// establish establishes a CRD at once; used while seeding.
func (c *Cluster) establish(name string) { c.syncCRD(name) }

func findCondition(u *unstructured.Unstructured, t string) map[string]any {
	conds, _, _ := unstructured.NestedSlice(u.Object, "status", "conditions")
	for _, cd := range conds {
		if m, ok := cd.(map[string]any); ok && m["type"] == t {
			return m
		}
	}
	return nil
}

func equalJSON(a, b any) bool {
	return fmt.Sprintf("%v", a) == fmt.Sprintf("%v", b)
}

// collect is the garbage collector for the dependents of a deleted owner:
// a dependent goes (background cascade) once none of its owners exist.
func (c *Cluster) collect(uid types.UID) {
	s := c.store
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, k := range s.dependentsLocked(uid) {
		o, ok := s.getLocked(k)
		if !ok {
			continue
		}
		m := mustAccessor(o)
		if m.GetDeletionTimestamp() != nil {
			continue
		}
		alive := false
		for _, ref := range m.GetOwnerReferences() {
			if ref.UID != uid && c.ownerExistsLocked(ref, m.GetNamespace()) {
				alive = true
			}
		}
		if !alive {
			_, _ = s.deleteLocked(k.gvr, k.ns, k.name, metav1.DeleteOptions{}, writeOpts{internal: true})
		}
	}
}

func (c *Cluster) ownerExistsLocked(ref metav1.OwnerReference, ns string) bool {
	gv, err := schema.ParseGroupVersion(ref.APIVersion)
	if err != nil {
		return false
	}
	ri, ok := c.kinds.forGVK(gv.WithKind(ref.Kind))
	if !ok {
		return false
	}
	o, ok := c.store.getLocked(objKey{gvr: ri.gvr, ns: nsFor(ri, ns), name: ref.Name})
	return ok && mustAccessor(o).GetUID() == ref.UID
}

// markNamespaceLocked starts deleting a namespace: it turns Terminating and
// the namespace controller empties it.
func (s *store) markNamespaceLocked(key objKey, old runtime.Object) runtime.Object {
	n := old.DeepCopyObject().(*corev1.Namespace)
	ts := metav1.NewTime(s.clock.Now())
	n.DeletionTimestamp = &ts
	n.Status.Phase = corev1.NamespaceTerminating
	s.putLocked(key, old, n)
	return n
}

// syncNamespace deletes everything in a terminating namespace, then the
// namespace itself.
func (c *Cluster) syncNamespace(name string) {
	s := c.store
	s.mu.Lock()
	defer s.mu.Unlock()
	key := objKey{gvr: namespacesGVR, name: name}
	nsObj, ok := s.getLocked(key)
	if !ok || mustAccessor(nsObj).GetDeletionTimestamp() == nil {
		return
	}
	left := 0
	for gvr, byNS := range s.objs {
		for _, o := range byNS[name] {
			left++
			m := mustAccessor(o)
			if m.GetDeletionTimestamp() == nil {
				_, _ = s.deleteLocked(gvr, name, m.GetName(), metav1.DeleteOptions{}, writeOpts{internal: true})
			}
		}
	}
	if left == 0 {
		s.removeLocked(key, nsObj)
	}
}
