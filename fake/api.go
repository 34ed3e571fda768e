package fake

import (
	"fmt"
	"strings"

	appsv1 "k8s.io/api/apps/v1"
	autoscalingv1 "k8s.io/api/autoscaling/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/watch"
)

// request is one API call, from the typed clientset or the dynamic client.
type request struct {
	verb     string
	gvr      schema.GroupVersionResource
	sub      string
	ns, name string

	obj        runtime.Object
	pt         types.PatchType
	data       []byte
	listOpts   metav1.ListOptions
	createOpts metav1.CreateOptions
	updateOpts metav1.UpdateOptions
	patchOpts  metav1.PatchOptions
	deleteOpts metav1.DeleteOptions

	unstructured bool // the caller wants unstructured objects back
	// internal marks the cluster's own reads (the traffic model): they are
	// not counted, see no faults and do not count as API activity.
	internal bool
}

// resource is the resource name faults and counts use: "pods" or
// "pods/status".
func (r *request) resource() string {
	if r.sub == "" {
		return r.gvr.Resource
	}
	return r.gvr.Resource + "/" + r.sub
}

// begin marks an API call in flight; the returned func ends it.
// trimEvery is how many requests the clientset's action log holds at most,
// roughly (see trimActions).
const trimEvery = 256

func (c *Cluster) begin(r *request) func() {
	c.inflight.Add(1)
	c.clock.adv.bump()
	c.counts.add(r.verb, r.resource())
	if c.served.Add(1)%trimEvery == 0 {
		select {
		case c.trim <- struct{}{}:
		default:
		}
	}
	return func() {
		c.inflight.Add(-1)
		c.clock.adv.bump()
	}
}

// serve runs one non-watch request through faults and the store.
func (c *Cluster) serve(r *request) (runtime.Object, error) {
	if !r.internal {
		end := c.begin(r)
		defer end()
		if err := c.faults.check(c, r); err != nil {
			return nil, err
		}
	}
	ri, err := c.store.resource(r.gvr)
	if err != nil {
		return nil, err
	}
	obj, err := c.dispatch(ri, r)
	if err != nil || obj == nil {
		return nil, err
	}
	return c.output(ri, r, obj)
}

func (c *Cluster) dispatch(ri *resourceInfo, r *request) (runtime.Object, error) {
	s := c.store
	switch r.verb {
	case "get":
		obj, ok := s.get(objKey{gvr: r.gvr, ns: nsFor(ri, r.ns), name: r.name})
		if !ok {
			return nil, apierrors.NewNotFound(r.gvr.GroupResource(), r.name)
		}
		if r.sub == "scale" {
			return scaleOf(obj)
		}
		return obj, nil
	case "list":
		return c.list(ri, r)
	case "create":
		if r.sub == "eviction" && isPod(r.gvr) {
			_, err := s.deleteObj(r.gvr, r.ns, r.name, metav1.DeleteOptions{}, writeOpts{})
			if err != nil {
				return nil, err
			}
			return &metav1.Status{Status: metav1.StatusSuccess}, nil
		}
		if r.sub != "" {
			return nil, apierrors.NewMethodNotSupported(r.gvr.GroupResource(), "create "+r.sub)
		}
		obj, err := c.input(ri, r.obj)
		if err != nil {
			return nil, err
		}
		return s.create(r.gvr, r.ns, obj, writeOpts{
			dryRun: len(r.createOpts.DryRun) > 0, manager: managerOr(r.createOpts.FieldManager),
		})
	case "update":
		if r.sub == "scale" {
			return c.updateScale(ri, r)
		}
		obj, err := c.input(ri, r.obj)
		if err != nil {
			return nil, err
		}
		return s.update(r.gvr, r.ns, obj, writeOpts{
			dryRun: len(r.updateOpts.DryRun) > 0, manager: managerOr(r.updateOpts.FieldManager), subresource: r.sub,
		})
	case "patch":
		manager := r.patchOpts.FieldManager
		if r.pt != types.ApplyPatchType {
			manager = managerOr(manager)
		}
		return s.patch(r.gvr, r.ns, r.name, r.pt, r.data, r.patchOpts, writeOpts{manager: manager, subresource: r.sub})
	case "delete":
		obj, err := s.deleteObj(r.gvr, r.ns, r.name, r.deleteOpts, writeOpts{dryRun: len(r.deleteOpts.DryRun) > 0})
		if err != nil {
			return nil, err
		}
		return obj, nil
	case "deletecollection":
		f, err := newFilter(nsFor(ri, r.ns), r.listOpts)
		if err != nil {
			return nil, err
		}
		for _, o := range s.list(r.gvr, nsFor(ri, r.ns)) {
			if !f.matches(o) {
				continue
			}
			m := mustAccessor(o)
			if _, err := s.deleteObj(r.gvr, m.GetNamespace(), m.GetName(), r.deleteOpts, writeOpts{dryRun: len(r.deleteOpts.DryRun) > 0}); err != nil && !apierrors.IsNotFound(err) {
				return nil, err
			}
		}
		return nil, nil
	}
	return nil, apierrors.NewMethodNotSupported(r.gvr.GroupResource(), r.verb)
}

// managerOr names the field manager of a non-apply write, as the apiserver
// derives it from the user agent when the client gives none.
func managerOr(m string) string {
	if m == "" {
		return "fake-client"
	}
	return m
}

func nsFor(ri *resourceInfo, ns string) string {
	if !ri.namespaced {
		return ""
	}
	return ns
}

// input copies a caller's object into the stored form.
func (c *Cluster) input(ri *resourceInfo, obj runtime.Object) (runtime.Object, error) {
	if obj == nil {
		return nil, apierrors.NewBadRequest("no object in request")
	}
	if u, ok := obj.(*unstructured.Unstructured); ok {
		if gvk := u.GroupVersionKind(); gvk.Kind != "" && gvk != ri.gvk {
			return nil, apierrors.NewBadRequest(fmt.Sprintf("%s does not match the resource %s (expected %s)", gvk, ri.gvr.Resource, ri.gvk))
		}
		return c.store.fromUnstructured(u, ri)
	}
	if !ri.typed {
		return nil, apierrors.NewBadRequest(fmt.Sprintf("%s is a custom resource: use the dynamic client", ri.gvr.Resource))
	}
	return obj.DeepCopyObject(), nil
}

// output copies a stored object into the form the caller wants.
func (c *Cluster) output(ri *resourceInfo, r *request, obj runtime.Object) (runtime.Object, error) {
	if _, ok := obj.(*metav1.Status); ok {
		return obj, nil
	}
	if r.unstructured {
		if l, ok := obj.(*unstructured.UnstructuredList); ok {
			return l, nil
		}
		gvk := ri.gvk
		if _, ok := obj.(*autoscalingv1.Scale); ok {
			gvk = autoscalingv1.SchemeGroupVersion.WithKind("Scale")
		}
		return c.store.toUnstructured(obj, gvk)
	}
	return obj.DeepCopyObject(), nil
}

// list answers a list request; the list carries the store's current
// resourceVersion, from which a watch sees only later changes.
func (c *Cluster) list(ri *resourceInfo, r *request) (runtime.Object, error) {
	ns := nsFor(ri, r.ns)
	f, err := newFilter(ns, r.listOpts)
	if err != nil {
		return nil, err
	}
	s := c.store
	s.mu.Lock()
	rv := s.rv
	var items []runtime.Object
	for _, o := range s.listLocked(r.gvr, ns) {
		if f.matches(o) {
			items = append(items, o)
		}
	}
	s.mu.Unlock()
	if r.unstructured || !ri.typed {
		l := &unstructured.UnstructuredList{Object: map[string]any{}}
		l.SetGroupVersionKind(ri.gvr.GroupVersion().WithKind(ri.listKind))
		l.SetResourceVersion(formatRV(rv))
		l.Items = make([]unstructured.Unstructured, 0, len(items))
		for _, o := range items {
			u, err := s.toUnstructured(o, ri.gvk)
			if err != nil {
				return nil, err
			}
			l.Items = append(l.Items, *u)
		}
		return l, nil
	}
	list, err := s.kinds.scheme.New(ri.gvk.GroupVersion().WithKind(ri.listKind))
	if err != nil {
		return nil, fmt.Errorf("creating %s: %w", ri.listKind, err)
	}
	copies := make([]runtime.Object, len(items))
	for i, o := range items {
		copies[i] = o.DeepCopyObject()
	}
	if err := meta.SetList(list, copies); err != nil {
		return nil, fmt.Errorf("filling %s: %w", ri.listKind, err)
	}
	if lm, err := meta.ListAccessor(list); err == nil {
		lm.SetResourceVersion(formatRV(rv))
	}
	return list, nil
}

// serveWatch opens a watch.
func (c *Cluster) serveWatch(r *request) (watch.Interface, error) {
	end := c.begin(r)
	defer end()
	if err := c.faults.check(c, r); err != nil {
		return nil, err
	}
	ri, err := c.store.resource(r.gvr)
	if err != nil {
		return nil, err
	}
	f, err := newFilter(nsFor(ri, r.ns), r.listOpts)
	if err != nil {
		return nil, err
	}
	s := c.store
	convert := func(o runtime.Object) runtime.Object { return o.DeepCopyObject() }
	if r.unstructured {
		convert = func(o runtime.Object) runtime.Object {
			u, err := s.toUnstructured(o, ri.gvk)
			if err != nil {
				return &metav1.Status{Status: metav1.StatusFailure, Message: err.Error()}
			}
			return u
		}
	}
	return s.watch(r.gvr, f, r.listOpts.ResourceVersion, convert)
}

// scaleOf returns the scale subresource of a Deployment or ReplicaSet.
func scaleOf(obj runtime.Object) (runtime.Object, error) {
	var (
		m        metav1.Object
		spec     int32
		status   int32
		selector *metav1.LabelSelector
	)
	switch o := obj.(type) {
	case *appsv1.Deployment:
		m, spec, status, selector = o, deref(o.Spec.Replicas, 1), o.Status.Replicas, o.Spec.Selector
	case *appsv1.ReplicaSet:
		m, spec, status, selector = o, deref(o.Spec.Replicas, 1), o.Status.Replicas, o.Spec.Selector
	case *appsv1.StatefulSet:
		m, spec, status, selector = o, deref(o.Spec.Replicas, 1), o.Status.Replicas, o.Spec.Selector
	default:
		return nil, apierrors.NewNotFound(schema.GroupResource{Resource: "scale"}, "")
	}
	sel, _ := metav1.LabelSelectorAsSelector(selector)
	return &autoscalingv1.Scale{
		TypeMeta: metav1.TypeMeta{APIVersion: "autoscaling/v1", Kind: "Scale"},
		ObjectMeta: metav1.ObjectMeta{Name: m.GetName(), Namespace: m.GetNamespace(), UID: m.GetUID(),
			ResourceVersion: m.GetResourceVersion(), CreationTimestamp: m.GetCreationTimestamp()},
		Spec:   autoscalingv1.ScaleSpec{Replicas: spec},
		Status: autoscalingv1.ScaleStatus{Replicas: status, Selector: sel.String()},
	}, nil
}

// updateScale sets spec.replicas through the scale subresource.
func (c *Cluster) updateScale(ri *resourceInfo, r *request) (runtime.Object, error) {
	var sc autoscalingv1.Scale
	switch o := r.obj.(type) {
	case *autoscalingv1.Scale:
		sc = *o
	case *unstructured.Unstructured:
		if err := runtime.DefaultUnstructuredConverter.FromUnstructured(o.Object, &sc); err != nil {
			return nil, apierrors.NewBadRequest("decoding scale: " + err.Error())
		}
	default:
		return nil, apierrors.NewBadRequest(fmt.Sprintf("expected a Scale, got %T", r.obj))
	}
	s := c.store
	s.mu.Lock()
	defer s.mu.Unlock()
	key := objKey{gvr: r.gvr, ns: r.ns, name: sc.Name}
	cur, ok := s.getLocked(key)
	if !ok {
		return nil, apierrors.NewNotFound(r.gvr.GroupResource(), sc.Name)
	}
	if sc.ResourceVersion != "" && sc.ResourceVersion != mustAccessor(cur).GetResourceVersion() {
		return nil, conflict(r.gvr, sc.Name)
	}
	obj := cur.DeepCopyObject()
	switch o := obj.(type) {
	case *appsv1.Deployment:
		o.Spec.Replicas = &sc.Spec.Replicas
	case *appsv1.ReplicaSet:
		o.Spec.Replicas = &sc.Spec.Replicas
	case *appsv1.StatefulSet:
		o.Spec.Replicas = &sc.Spec.Replicas
	default:
		return nil, apierrors.NewNotFound(schema.GroupResource{Resource: "scale"}, sc.Name)
	}
	out, err := s.updateLocked(r.gvr, r.ns, obj, writeOpts{manager: managerOr(r.updateOpts.FieldManager)})
	if err != nil {
		return nil, err
	}
	return scaleOf(out)
}

func deref[T any](p *T, def T) T {
	if p == nil {
		return def
	}
	return *p
}

// splitResource splits "pods/status" into resource and subresource.
func splitResource(s string) (string, string) {
	res, sub, _ := strings.Cut(s, "/")
	return res, sub
}
