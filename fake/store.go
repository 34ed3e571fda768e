package fake

import (
	"fmt"
	"math/rand/v2"
	"reflect"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/managedfields"
	"k8s.io/apimachinery/pkg/watch"
)

// objKey names one stored object.
type objKey struct {
	gvr      schema.GroupVersionResource
	ns, name string
}

func (k objKey) String() string {
	if k.ns == "" {
		return k.gvr.Resource + "/" + k.name
	}
	return k.gvr.Resource + "/" + k.ns + "/" + k.name
}

// compare orders keys as their Strings do, without building them when the
// keys share resource and namespace (the usual case).
func (k objKey) compare(o objKey) int {
	if k.gvr.Resource == o.gvr.Resource && k.ns == o.ns {
		return strings.Compare(k.name, o.name)
	}
	return strings.Compare(k.String(), o.String())
}

// event is one change to the store, as listeners and watchers see it.
type event struct {
	typ watch.EventType
	key objKey
	old runtime.Object // nil for Added
	obj runtime.Object // the new object; for Deleted the last state
	rv  int64
}

// store is the single object store behind every client of a Cluster.
// Objects of kinds the scheme knows are kept typed; custom resources and
// CustomResourceDefinitions are kept as *unstructured.Unstructured. Stored
// objects are never mutated in place: each write stores a fresh object, so
// readers holding the lock may share them and copy before handing them out.
type store struct {
	kinds *kinds
	clock *Clock

	mu     sync.Mutex
	rv     int64
	objs   map[schema.GroupVersionResource]map[string]map[string]runtime.Object
	owners map[types.UID]map[objKey]struct{}
	uidSeq uint64
	ipSeq  uint32
	rand   *rand.Rand
	// watchers are the open watches by resource and namespace ("" for
	// those of every namespace), so that an event is offered only to the
	// watches that may want it.
	watchers map[watchScope]map[*watcher]struct{}
	history  map[schema.GroupVersionResource]*history
	managers map[schema.GroupVersionKind]*managedfields.FieldManager

	// pending counts watch events that are pending work for auto-advance
	// (see watcher).
	pending atomic.Int64

	listeners []func(event) // called with mu held; must not call back
	admit     map[string]admitFunc
	activity  func()
	shutdown  time.Duration // how long a deleted pod takes to stop
}

func newStore(k *kinds, c *Clock, activity func()) *store {
	return &store{
		kinds:    k,
		clock:    c,
		objs:     map[schema.GroupVersionResource]map[string]map[string]runtime.Object{},
		owners:   map[types.UID]map[objKey]struct{}{},
		rand:     rand.New(rand.NewPCG(1, 2)),
		watchers: map[watchScope]map[*watcher]struct{}{},
		history:  map[schema.GroupVersionResource]*history{},
		managers: map[schema.GroupVersionKind]*managedfields.FieldManager{},
		admit:    admitters(),
		activity: activity,
	}
}

// getLocked returns the stored object (shared: copy before changing it).
func (s *store) getLocked(key objKey) (runtime.Object, bool) {
	o, ok := s.objs[key.gvr][key.ns][key.name]
	return o, ok
}

// get returns the stored object; callers must not change it.
func (s *store) get(key objKey) (runtime.Object, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.getLocked(key)
}

// listLocked returns the stored objects of gvr in ns ("" = all namespaces),
// sorted by namespace and name. Callers must not change them.
func (s *store) listLocked(gvr schema.GroupVersionResource, ns string) []runtime.Object {
	byNS := s.objs[gvr]
	var out []runtime.Object
	add := func(m map[string]runtime.Object) {
		start := len(out)
		for _, o := range m {
			out = append(out, o)
		}
		part := out[start:]
		sort.Slice(part, func(i, j int) bool { return nameOf(part[i]) < nameOf(part[j]) })
	}
	if ns != "" {
		add(byNS[ns])
		return out
	}
	names := make([]string, 0, len(byNS))
	for n := range byNS {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		add(byNS[n])
	}
	return out
}

// list is listLocked with the lock taken.
func (s *store) list(gvr schema.GroupVersionResource, ns string) []runtime.Object {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.listLocked(gvr, ns)
}

// controlledBy returns the objects of gvr whose controller is owner and
// that are not being deleted, as stored: callers copy before changing them.
func controlledBy[T metav1.Object](s *store, owner types.UID, gvr schema.GroupVersionResource) []T {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []T
	for k := range s.owners[owner] {
		if k.gvr != gvr {
			continue
		}
		o, ok := s.getLocked(k)
		if !ok {
			continue
		}
		t, ok := o.(T)
		if !ok || t.GetDeletionTimestamp() != nil {
			continue
		}
		if ref := metav1.GetControllerOfNoCopy(t); ref != nil && ref.UID == owner {
			out = append(out, t)
		}
	}
	// In the order of their keys, as dependentsLocked lists them.
	slices.SortFunc(out, func(a, b T) int {
		return objKey{gvr: gvr, ns: a.GetNamespace(), name: a.GetName()}.compare(objKey{gvr: gvr, ns: b.GetNamespace(), name: b.GetName()})
	})
	return out
}

// dependentsLocked returns the keys of objects that name uid as an owner,
// sorted.
func (s *store) dependentsLocked(uid types.UID) []objKey {
	m := s.owners[uid]
	out := make([]objKey, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	slices.SortFunc(out, objKey.compare)
	return out
}

// putLocked stores obj under key with the next resourceVersion, updates the
// indexes and tells listeners and watchers. obj must be owned by the store
// from now on.
func (s *store) putLocked(key objKey, old, obj runtime.Object) {
	s.rv++
	m := mustAccessor(obj)
	m.SetResourceVersion(strconv.FormatInt(s.rv, 10))
	byNS := s.objs[key.gvr]
	if byNS == nil {
		byNS = map[string]map[string]runtime.Object{}
		s.objs[key.gvr] = byNS
	}
	if byNS[key.ns] == nil {
		byNS[key.ns] = map[string]runtime.Object{}
	}
	byNS[key.ns][key.name] = obj
	if old != nil {
		s.unindexLocked(key, old)
	}
	s.indexLocked(key, obj)
	typ := watch.Added
	if old != nil {
		typ = watch.Modified
	}
	s.emitLocked(event{typ: typ, key: key, old: old, obj: obj, rv: s.rv})
}

// removeLocked deletes the object at key; the Deleted event carries a copy
// of it with a new resourceVersion.
func (s *store) removeLocked(key objKey, old runtime.Object) runtime.Object {
	delete(s.objs[key.gvr][key.ns], key.name)
	if len(s.objs[key.gvr][key.ns]) == 0 {
		delete(s.objs[key.gvr], key.ns)
	}
	s.unindexLocked(key, old)
	s.rv++
	last := shallowCopy(old)
	mustAccessor(last).SetResourceVersion(strconv.FormatInt(s.rv, 10))
	s.emitLocked(event{typ: watch.Deleted, key: key, old: old, obj: last, rv: s.rv})
	return last
}

func (s *store) indexLocked(key objKey, obj runtime.Object) {
	for _, ref := range mustAccessor(obj).GetOwnerReferences() {
		m := s.owners[ref.UID]
		if m == nil {
			m = map[objKey]struct{}{}
			s.owners[ref.UID] = m
		}
		m[key] = struct{}{}
	}
}

func (s *store) unindexLocked(key objKey, obj runtime.Object) {
	for _, ref := range mustAccessor(obj).GetOwnerReferences() {
		if m := s.owners[ref.UID]; m != nil {
			delete(m, key)
			if len(m) == 0 {
				delete(s.owners, ref.UID)
			}
		}
	}
}

func (s *store) emitLocked(ev event) {
	s.historyFor(ev.key.gvr).add(ev)
	for _, l := range s.listeners {
		l(ev)
	}
	for w := range s.watchers[watchScope{ev.key.gvr, ev.key.ns}] {
		w.offer(ev)
	}
	if ev.key.ns != "" {
		for w := range s.watchers[watchScope{ev.key.gvr, ""}] {
			w.offer(ev)
		}
	}
	if s.activity != nil {
		s.activity()
	}
}

// nextUIDLocked returns a new, deterministic UID.
func (s *store) nextUIDLocked() types.UID {
	s.uidSeq++
	return types.UID(fmt.Sprintf("00000000-0000-4000-8000-%012d", s.uidSeq))
}

// randSuffixLocked returns n characters for generated names.
func (s *store) randSuffixLocked(n int) string {
	const alphabet = "bcdfghjklmnpqrstvwxz2456789"
	b := make([]byte, n)
	for i := range b {
		b[i] = alphabet[s.rand.IntN(len(alphabet))]
	}
	return string(b)
}

// shallowCopy returns a copy of a stored object whose metadata fields may
// be set (resourceVersion, deletionTimestamp, ownerReferences, ...) without
// changing obj. A typed object's maps, slices and pointers stay shared with
// obj: the copy must not be changed below that level. Unstructured objects,
// whose metadata is a map, are copied deeply.
func shallowCopy(obj runtime.Object) runtime.Object {
	v := reflect.ValueOf(obj)
	if _, ok := obj.(*unstructured.Unstructured); ok || v.Kind() != reflect.Pointer || v.Elem().Kind() != reflect.Struct {
		return obj.DeepCopyObject()
	}
	c := reflect.New(v.Elem().Type())
	c.Elem().Set(v.Elem())
	return c.Interface().(runtime.Object)
}

func mustAccessor(obj runtime.Object) metav1.Object {
	m, err := meta.Accessor(obj)
	if err != nil {
		panic(fmt.Sprintf("fake: object %T has no metadata: %v", obj, err))
	}
	return m
}

func nameOf(obj runtime.Object) string { return mustAccessor(obj).GetName() }

// toUnstructured converts a stored object for the dynamic client.
func (s *store) toUnstructured(obj runtime.Object, gvk schema.GroupVersionKind) (*unstructured.Unstructured, error) {
	if u, ok := obj.(*unstructured.Unstructured); ok {
		return u.DeepCopy(), nil
	}
	m, err := runtime.DefaultUnstructuredConverter.ToUnstructured(obj)
	if err != nil {
		return nil, fmt.Errorf("converting %s to unstructured: %w", gvk.Kind, err)
	}
	u := &unstructured.Unstructured{Object: m}
	u.SetGroupVersionKind(gvk)
	return u, nil
}

// fromUnstructured converts an unstructured object to the stored form of ri.
func (s *store) fromUnstructured(u *unstructured.Unstructured, ri *resourceInfo) (runtime.Object, error) {
	if !ri.typed {
		c := u.DeepCopy()
		c.SetGroupVersionKind(ri.gvk)
		return c, nil
	}
	obj, err := s.kinds.scheme.New(ri.gvk)
	if err != nil {
		return nil, fmt.Errorf("creating %s: %w", ri.gvk, err)
	}
	if err := runtime.DefaultUnstructuredConverter.FromUnstructured(u.Object, obj); err != nil {
		return nil, apierrors.NewBadRequest(fmt.Sprintf("decoding %s: %v", ri.gvk.Kind, err))
	}
	obj.GetObjectKind().SetGroupVersionKind(ri.gvk)
	return obj, nil
}
