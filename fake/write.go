package fake

import (
	"fmt"
	"reflect"
	"strconv"
	"time"

	apiequality "k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
)

// writeOpts qualify one write.
type writeOpts struct {
	dryRun      bool
	manager     string // field manager; empty for the fake's own controllers
	subresource string // "" or "status"
	internal    bool   // written by the fake itself: no admission checks
	// specChanged says, for internal writes, whether the spec changed (the
	// controllers know; comparing would cost more than the write).
	specChanged bool
}

var namespacesGVR = schema.GroupVersionResource{Version: "v1", Resource: "namespaces"}

// resource returns what is served at gvr, or NotFound.
func (s *store) resource(gvr schema.GroupVersionResource) (*resourceInfo, error) {
	ri, ok := s.kinds.forGVR(gvr)
	if !ok {
		return nil, apierrors.NewNotFound(gvr.GroupResource(), "")
	}
	return ri, nil
}

// scope returns the namespace an object of ri lives in.
func scope(ri *resourceInfo, ns string) (string, error) {
	if !ri.namespaced {
		return "", nil
	}
	if ns == "" {
		return "", apierrors.NewBadRequest(fmt.Sprintf("%s is namespaced: a namespace is required", ri.gvr.Resource))
	}
	return ns, nil
}

// target resolves the resource of a write of obj and its namespace: the
// request's, or else the object's.
func (s *store) target(gvr schema.GroupVersionResource, ns string, obj runtime.Object) (*resourceInfo, metav1.Object, string, error) {
	ri, err := s.resource(gvr)
	if err != nil {
		return nil, nil, "", err
	}
	m := mustAccessor(obj)
	if ns == "" {
		ns = m.GetNamespace()
	}
	ns, err = scope(ri, ns)
	return ri, m, ns, err
}

// create stores a new object. obj becomes owned by the store.
func (s *store) create(gvr schema.GroupVersionResource, ns string, obj runtime.Object, o writeOpts) (runtime.Object, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.createLocked(gvr, ns, obj, o)
}

func (s *store) createLocked(gvr schema.GroupVersionResource, ns string, obj runtime.Object, o writeOpts) (runtime.Object, error) {
	ri, m, ns, err := s.target(gvr, ns, obj)
	if err != nil {
		return nil, err
	}
	if m.GetNamespace() != "" && m.GetNamespace() != ns && ri.namespaced {
		return nil, apierrors.NewBadRequest(fmt.Sprintf("the namespace of the object (%s) does not match the namespace on the request (%s)", m.GetNamespace(), ns))
	}
	m.SetNamespace(ns)
	if m.GetName() == "" {
		if m.GetGenerateName() == "" {
			return nil, apierrors.NewInvalid(ri.gvk.GroupKind(), "", nil)
		}
		m.SetName(m.GetGenerateName() + s.randSuffixLocked(5))
	}
	key := objKey{gvr: gvr, ns: ns, name: m.GetName()}
	if _, ok := s.getLocked(key); ok {
		return nil, apierrors.NewAlreadyExists(gvr.GroupResource(), m.GetName())
	}
	if ri.namespaced && !o.internal {
		nsObj, ok := s.getLocked(objKey{gvr: namespacesGVR, name: ns})
		if !ok {
			return nil, apierrors.NewNotFound(namespacesGVR.GroupResource(), ns)
		}
		if mustAccessor(nsObj).GetDeletionTimestamp() != nil {
			return nil, apierrors.NewForbidden(gvr.GroupResource(), m.GetName(), fmt.Errorf("unable to create new content in namespace %s because it is being terminated", ns))
		}
	}
	obj.GetObjectKind().SetGroupVersionKind(ri.gvk)
	m.SetUID(s.nextUIDLocked())
	m.SetCreationTimestamp(metav1.NewTime(s.clock.Now()))
	m.SetDeletionTimestamp(nil)
	m.SetResourceVersion("")
	m.SetGeneration(0)
	if hasSpec(obj) {
		m.SetGeneration(1)
	}
	if o.subresource == "" && ri.hasStatus && !o.internal {
		clearStatus(obj)
	}
	if !o.internal {
		if err := s.admitLocked(ri, nil, obj); err != nil {
			return nil, err
		}
		if o.manager != "" {
			if obj, err = s.trackFields(ri, nil, obj, o.manager); err != nil {
				return nil, err
			}
		}
	}
	if o.dryRun {
		return obj, nil
	}
	s.putLocked(key, nil, obj)
	return obj, nil
}

// update replaces an object. A non-empty resourceVersion in obj must match
// the stored one. obj becomes owned by the store.
func (s *store) update(gvr schema.GroupVersionResource, ns string, obj runtime.Object, o writeOpts) (runtime.Object, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.updateLocked(gvr, ns, obj, o)
}

func (s *store) updateLocked(gvr schema.GroupVersionResource, ns string, obj runtime.Object, o writeOpts) (runtime.Object, error) {
	ri, m, ns, err := s.target(gvr, ns, obj)
	if err != nil {
		return nil, err
	}
	key := objKey{gvr: gvr, ns: ns, name: m.GetName()}
	old, ok := s.getLocked(key)
	if !ok {
		return nil, apierrors.NewNotFound(gvr.GroupResource(), m.GetName())
	}
	om := mustAccessor(old)
	if rv := m.GetResourceVersion(); rv != "" && rv != om.GetResourceVersion() {
		return nil, conflict(gvr, m.GetName())
	}
	obj.GetObjectKind().SetGroupVersionKind(ri.gvk)
	switch {
	case o.subresource == "status":
		st := obj
		obj = old.DeepCopyObject()
		copyStatus(obj, st)
		m = mustAccessor(obj)
	case ri.hasStatus && !o.internal:
		copyStatus(obj, old)
	}
	// Fields the server owns.
	m.SetNamespace(ns)
	m.SetUID(om.GetUID())
	m.SetCreationTimestamp(om.GetCreationTimestamp())
	m.SetDeletionTimestamp(om.GetDeletionTimestamp())
	m.SetDeletionGracePeriodSeconds(om.GetDeletionGracePeriodSeconds())
	m.SetResourceVersion(om.GetResourceVersion())
	m.SetGeneration(om.GetGeneration())
	if om.GetGeneration() > 0 && ((o.internal && o.specChanged) || (!o.internal && !sameSpec(old, obj))) {
		m.SetGeneration(om.GetGeneration() + 1)
	}
	if !o.internal {
		if err := s.admitLocked(ri, old, obj); err != nil {
			return nil, err
		}
		if o.manager != "" {
			if obj, err = s.trackFields(ri, old, obj, o.manager); err != nil {
				return nil, err
			}
			m = mustAccessor(obj)
		}
	}
	if !o.internal && apiequality.Semantic.DeepEqual(old, obj) {
		return old, nil // a no-op write does not change the resourceVersion
	}
	if o.dryRun {
		return obj, nil
	}
	if m.GetDeletionTimestamp() != nil && len(m.GetFinalizers()) == 0 && !isPod(gvr) {
		s.putLocked(key, old, obj)
		return s.removeLocked(key, obj), nil
	}
	s.putLocked(key, old, obj)
	return obj, nil
}

// deleteObj deletes an object. Objects with finalizers, and pods running on
// a node, are only marked for deletion; the rest go at once.
func (s *store) deleteObj(gvr schema.GroupVersionResource, ns, name string, opts metav1.DeleteOptions, o writeOpts) (runtime.Object, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.deleteLocked(gvr, ns, name, opts, o)
}

func (s *store) deleteLocked(gvr schema.GroupVersionResource, ns, name string, opts metav1.DeleteOptions, o writeOpts) (runtime.Object, error) {
	ri, err := s.resource(gvr)
	if err != nil {
		return nil, err
	}
	if ns, err = scope(ri, ns); err != nil {
		return nil, err
	}
	key := objKey{gvr: gvr, ns: ns, name: name}
	old, ok := s.getLocked(key)
	if !ok {
		return nil, apierrors.NewNotFound(gvr.GroupResource(), name)
	}
	om := mustAccessor(old)
	if p := opts.Preconditions; p != nil {
		if p.UID != nil && *p.UID != om.GetUID() {
			return nil, conflict(gvr, name)
		}
		if p.ResourceVersion != nil && *p.ResourceVersion != om.GetResourceVersion() {
			return nil, conflict(gvr, name)
		}
	}
	if opts.PropagationPolicy != nil && *opts.PropagationPolicy == metav1.DeletePropagationOrphan && !o.dryRun {
		s.orphanLocked(om.GetUID())
	}
	if o.dryRun {
		return old, nil
	}
	if om.GetDeletionTimestamp() != nil {
		if isPod(gvr) && opts.GracePeriodSeconds != nil && *opts.GracePeriodSeconds == 0 && len(om.GetFinalizers()) == 0 {
			return s.removeLocked(key, old), nil
		}
		return old, nil
	}
	if gvr == namespacesGVR {
		return s.markNamespaceLocked(key, old), nil
	}
	grace := int64(0)
	if isPod(gvr) {
		grace = podGrace(old, opts)
	}
	if len(om.GetFinalizers()) > 0 || grace > 0 {
		obj := shallowCopy(old)
		m := mustAccessor(obj)
		now := s.clock.Now()
		if grace > 0 {
			now = now.Add(secondsDuration(grace))
		}
		ts := metav1.NewTime(now)
		m.SetDeletionTimestamp(&ts)
		m.SetDeletionGracePeriodSeconds(&grace)
		if m.GetGeneration() > 0 {
			m.SetGeneration(m.GetGeneration() + 1)
		}
		s.putLocked(key, old, obj)
		return obj, nil
	}
	return s.removeLocked(key, old), nil
}

// orphanLocked removes the owner reference to uid from its dependents.
func (s *store) orphanLocked(uid types.UID) {
	for _, k := range s.dependentsLocked(uid) {
		cur, ok := s.getLocked(k)
		if !ok {
			continue
		}
		obj := cur.DeepCopyObject()
		m := mustAccessor(obj)
		var refs []metav1.OwnerReference
		for _, r := range m.GetOwnerReferences() {
			if r.UID != uid {
				refs = append(refs, r)
			}
		}
		m.SetOwnerReferences(refs)
		s.putLocked(k, cur, obj)
	}
}

func conflict(gvr schema.GroupVersionResource, name string) error {
	return apierrors.NewConflict(gvr.GroupResource(), name,
		fmt.Errorf("the object has been modified; please apply your changes to the latest version and try again"))
}

// hasSpec reports whether obj has a spec, which gives it a generation.
func hasSpec(obj runtime.Object) bool {
	if u, ok := obj.(*unstructured.Unstructured); ok {
		for k := range u.Object {
			if k != "apiVersion" && k != "kind" && k != "metadata" && k != "status" {
				return true
			}
		}
		return false
	}
	v := reflect.ValueOf(obj)
	if v.Kind() != reflect.Pointer || v.Elem().Kind() != reflect.Struct {
		return false
	}
	return v.Elem().FieldByName("Spec").IsValid()
}

// sameSpec reports whether a and b agree on everything but metadata and
// status, which is what a generation counts.
func sameSpec(a, b runtime.Object) bool {
	ua, okA := a.(*unstructured.Unstructured)
	ub, okB := b.(*unstructured.Unstructured)
	if okA && okB {
		strip := func(m map[string]any) map[string]any {
			out := make(map[string]any, len(m))
			for k, v := range m {
				if k != "metadata" && k != "status" && k != "apiVersion" && k != "kind" {
					out[k] = v
				}
			}
			return out
		}
		return reflect.DeepEqual(strip(ua.Object), strip(ub.Object))
	}
	va, vb := reflect.ValueOf(a).Elem(), reflect.ValueOf(b).Elem()
	sa, sb := va.FieldByName("Spec"), vb.FieldByName("Spec")
	if !sa.IsValid() || !sb.IsValid() {
		return true
	}
	return apiequality.Semantic.DeepEqual(sa.Interface(), sb.Interface())
}

// copyStatus sets dst's status to src's.
func copyStatus(dst, src runtime.Object) {
	ud, okD := dst.(*unstructured.Unstructured)
	us, okS := src.(*unstructured.Unstructured)
	if okD && okS {
		if st, ok := us.Object["status"]; ok {
			ud.Object["status"] = runtime.DeepCopyJSONValue(st)
		} else {
			delete(ud.Object, "status")
		}
		return
	}
	fd := reflect.ValueOf(dst).Elem().FieldByName("Status")
	fs := reflect.ValueOf(src).Elem().FieldByName("Status")
	if fd.IsValid() && fs.IsValid() && fd.CanSet() {
		fd.Set(reflect.ValueOf(runtime.Object(src.DeepCopyObject())).Elem().FieldByName("Status"))
	}
}

// clearStatus empties a typed object's status, as create does.
func clearStatus(obj runtime.Object) {
	if u, ok := obj.(*unstructured.Unstructured); ok {
		delete(u.Object, "status")
		return
	}
	f := reflect.ValueOf(obj).Elem().FieldByName("Status")
	if f.IsValid() && f.CanSet() {
		f.Set(reflect.Zero(f.Type()))
	}
}

func isPod(gvr schema.GroupVersionResource) bool {
	return gvr.Group == "" && gvr.Resource == "pods"
}

func secondsDuration(s int64) time.Duration { return time.Duration(s) * time.Second }

func formatRV(rv int64) string { return strconv.FormatInt(rv, 10) }
