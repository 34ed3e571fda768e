package fake

import (
	"sync"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/watch"
)

var (
	deploymentsGVR    = appsv1.SchemeGroupVersion.WithResource("deployments")
	replicaSetsGVR    = appsv1.SchemeGroupVersion.WithResource("replicasets")
	podsGVR           = corev1.SchemeGroupVersion.WithResource("pods")
	servicesGVR       = corev1.SchemeGroupVersion.WithResource("services")
	endpointSlicesGVR = schema.GroupVersionResource{Group: "discovery.k8s.io", Version: "v1", Resource: "endpointslices"}
)

type itemKind uint8

const (
	itemDeployment itemKind = iota
	itemReplicaSet
	itemPod
	itemService
	itemCRD
	itemGC
	itemNamespace
	itemStatefulSet
	itemJob
)

// item is one unit of controller work.
type item struct {
	kind     itemKind
	ns, name string
	uid      types.UID
}

// queue is the controllers' work queue: deduplicated, FIFO, with delayed
// adds on the fake clock. The cluster is busy while it is not empty.
type queue struct {
	clock *Clock

	mu         sync.Mutex
	items      ring
	queued     map[item]struct{}
	processing bool
	delayed    map[item]time.Time
	stopped    bool
	signal     chan struct{}
}

func newQueue(c *Clock) *queue {
	return &queue{clock: c, queued: map[item]struct{}{}, delayed: map[item]time.Time{}, signal: make(chan struct{}, 1)}
}

func (q *queue) add(it item) {
	q.mu.Lock()
	if _, ok := q.queued[it]; !ok && !q.stopped {
		q.queued[it] = struct{}{}
		q.items.push(it)
	}
	q.mu.Unlock()
	select {
	case q.signal <- struct{}{}:
	default:
	}
	q.clock.adv.bump()
}

// addAfter adds it once d of fake time has passed; of several requests
// for the same item only the earliest is kept.
func (q *queue) addAfter(it item, d time.Duration) {
	if d <= 0 {
		q.add(it)
		return
	}
	at := q.clock.Now().Add(d)
	q.mu.Lock()
	if t, ok := q.delayed[it]; ok && !t.After(at) && !t.Before(q.clock.Now()) {
		q.mu.Unlock()
		return
	}
	q.delayed[it] = at
	q.mu.Unlock()
	q.clock.AfterFunc(d, func() {
		q.mu.Lock()
		if t, ok := q.delayed[it]; ok && t.Equal(at) {
			delete(q.delayed, it)
		}
		q.mu.Unlock()
		q.add(it)
	})
}

func (q *queue) busy() bool {
	q.mu.Lock()
	defer q.mu.Unlock()
	return q.items.n > 0 || q.processing
}

// next blocks for the next item; ok is false once the queue is stopped.
func (q *queue) next() (item, bool) {
	for {
		q.mu.Lock()
		if q.stopped {
			q.mu.Unlock()
			return item{}, false
		}
		if q.items.n > 0 {
			it := q.items.pop()
			delete(q.queued, it)
			q.processing = true
			q.mu.Unlock()
			return it, true
		}
		q.mu.Unlock()
		<-q.signal
	}
}

func (q *queue) done() {
	q.mu.Lock()
	q.processing = false
	empty := q.items.n == 0
	q.mu.Unlock()
	if empty {
		q.clock.adv.bumpNotify()
		return
	}
	q.clock.adv.bump()
}

// ring is a FIFO of items in a circular buffer, which a long-lived queue
// reuses instead of reallocating as a sliding slice does.
type ring struct {
	buf     []item
	head, n int
}

func (r *ring) push(it item) {
	if r.n == len(r.buf) {
		buf := make([]item, max(2*len(r.buf), 64))
		for i := 0; i < r.n; i++ {
			buf[i] = r.buf[(r.head+i)%len(r.buf)]
		}
		r.buf, r.head = buf, 0
	}
	r.buf[(r.head+r.n)%len(r.buf)] = it
	r.n++
}

func (r *ring) pop() item {
	it := r.buf[r.head]
	r.buf[r.head] = item{}
	r.head = (r.head + 1) % len(r.buf)
	r.n--
	return it
}

func (q *queue) stop() {
	q.mu.Lock()
	q.stopped = true
	q.mu.Unlock()
	select {
	case q.signal <- struct{}{}:
	default:
	}
}

// controllerState is what the simulated controllers keep between syncs.
type controllerState struct {
	mu       sync.Mutex
	nextNode int
	podIP    uint32
	hashes   map[types.UID]templateHashCache
}

// templateHashCache remembers a deployment's template hash per generation.
type templateHashCache struct {
	generation int64
	hash       string
}

// deploymentHash returns the pod-template-hash of d's current template.
func (c *Cluster) deploymentHash(d *appsv1.Deployment) string {
	c.ctl.mu.Lock()
	defer c.ctl.mu.Unlock()
	if h, ok := c.ctl.hashes[d.UID]; ok && h.generation == d.Generation {
		return h.hash
	}
	h := templateHash(&d.Spec.Template, d.Status.CollisionCount)
	if c.ctl.hashes == nil {
		c.ctl.hashes = map[types.UID]templateHashCache{}
	}
	c.ctl.hashes[d.UID] = templateHashCache{generation: d.Generation, hash: h}
	return h
}

// work runs the controllers until Stop.
func (c *Cluster) work() {
	defer c.wg.Done()
	for {
		it, ok := c.queue.next()
		if !ok {
			return
		}
		c.sync(it)
		c.queue.done()
	}
}

func (c *Cluster) sync(it item) {
	switch it.kind {
	case itemDeployment:
		c.syncDeployment(it.ns, it.name)
	case itemReplicaSet:
		c.syncReplicaSet(it.ns, it.name)
	case itemPod:
		c.syncPod(it.ns, it.name)
	case itemService:
		c.syncService(it.ns, it.name)
	case itemCRD:
		c.syncCRD(it.name)
	case itemGC:
		c.collect(it.uid)
	case itemNamespace:
		c.syncNamespace(it.name)
	case itemStatefulSet:
		c.syncStatefulSet(it.ns, it.name)
	case itemJob:
		c.syncJob(it.ns, it.name)
	}
}

// route turns store events into controller work; it runs with the store
// locked.
func (c *Cluster) route(ev event) {
	m := mustAccessor(ev.obj)
	ns, name := m.GetNamespace(), m.GetName()
	if ev.typ == watch.Deleted && len(c.store.owners[m.GetUID()]) > 0 {
		c.queue.add(item{kind: itemGC, uid: m.GetUID()})
	}
	if ev.typ == watch.Deleted && ns != "" {
		if n, ok := c.store.getLocked(objKey{gvr: namespacesGVR, name: ns}); ok && mustAccessor(n).GetDeletionTimestamp() != nil {
			c.queue.add(item{kind: itemNamespace, name: ns})
		}
	}
	switch ev.key.gvr {
	case deploymentsGVR:
		c.queue.add(item{kind: itemDeployment, ns: ns, name: name})
	case replicaSetsGVR:
		c.queue.add(item{kind: itemReplicaSet, ns: ns, name: name})
		if ref := metav1.GetControllerOfNoCopy(m); ref != nil && ref.Kind == "Deployment" {
			c.queue.add(item{kind: itemDeployment, ns: ns, name: ref.Name})
		}
	case podsGVR:
		if ev.typ != watch.Deleted {
			c.queue.add(item{kind: itemPod, ns: ns, name: name})
		}
		if ref := metav1.GetControllerOfNoCopy(m); ref != nil && ref.Kind == "ReplicaSet" {
			c.queue.add(item{kind: itemReplicaSet, ns: ns, name: ref.Name})
			if ev.typ == watch.Deleted {
				if rs, ok := c.store.getLocked(objKey{gvr: replicaSetsGVR, ns: ns, name: ref.Name}); ok {
					if dref := metav1.GetControllerOfNoCopy(mustAccessor(rs)); dref != nil {
						c.queue.add(item{kind: itemDeployment, ns: ns, name: dref.Name})
					}
				}
			}
		}
		if ref := metav1.GetControllerOfNoCopy(m); ref != nil {
			switch ref.Kind {
			case "StatefulSet":
				c.queue.add(item{kind: itemStatefulSet, ns: ns, name: ref.Name})
			case "Job":
				c.queue.add(item{kind: itemJob, ns: ns, name: ref.Name})
			}
		}
		c.routePodToServices(ev)
	case statefulSetsGVR:
		c.queue.add(item{kind: itemStatefulSet, ns: ns, name: name})
	case jobsGVR:
		c.queue.add(item{kind: itemJob, ns: ns, name: name})
	case servicesGVR:
		c.queue.add(item{kind: itemService, ns: ns, name: name})
	case endpointSlicesGVR:
		if svc := m.GetLabels()[serviceNameLabel]; svc != "" && m.GetLabels()[managedByLabel] == managedByValue {
			c.queue.add(item{kind: itemService, ns: ns, name: svc})
		}
	case crdGVR:
		c.queue.add(item{kind: itemCRD, name: name})
	case namespacesGVR:
		if m.GetDeletionTimestamp() != nil && ev.typ != watch.Deleted {
			c.queue.add(item{kind: itemNamespace, name: name})
		}
	}
}

// routePodToServices queues the services whose selector matches the pod
// before or after the change.
func (c *Cluster) routePodToServices(ev event) {
	if len(c.store.objs[servicesGVR][ev.key.ns]) == 0 {
		return
	}
	var sets []labels.Set
	for _, o := range []runtime.Object{ev.old, ev.obj} {
		if o != nil {
			sets = append(sets, labels.Set(mustAccessor(o).GetLabels()))
		}
	}
	ns := ev.key.ns
	for _, o := range c.store.listLocked(servicesGVR, ns) {
		svc := o.(*corev1.Service)
		if len(svc.Spec.Selector) == 0 {
			continue
		}
		sel := labels.SelectorFromValidatedSet(svc.Spec.Selector)
		for _, set := range sets {
			if sel.Matches(set) {
				c.queue.add(item{kind: itemService, ns: ns, name: svc.Name})
				break
			}
		}
	}
}

// resyncVersion re-evaluates the pods of one version after its behaviour
// changed.
func (c *Cluster) resyncVersion(version string) {
	for _, o := range c.store.list(podsGVR, "") {
		p := o.(*corev1.Pod)
		if p.Labels[c.cfg.versionLabel] == version {
			c.queue.add(item{kind: itemPod, ns: p.Namespace, name: p.Name})
		}
	}
}
