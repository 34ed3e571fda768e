package fake

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/discovery/cached/memory"
	k8sfake "k8s.io/client-go/kubernetes/fake"
	"k8s.io/client-go/restmapper"

	"github.com/switchyard-dev/switchyard/strategy"
)

// Cluster is an in-memory Kubernetes cluster for tests: one object store
// behind a typed clientset, a dynamic client, discovery and a REST mapper,
// simulated controllers, and a fake clock. Make one with NewCluster and
// call Stop when done.
type Cluster struct {
	cfg    config
	clock  *Clock
	kinds  *kinds
	store  *store
	cs     *k8sfake.Clientset
	kube   *kube
	disc   *discoveryClient
	mapper meta.ResettableRESTMapper

	faults   faults
	counts   counter
	inflight atomic.Int64
	// served counts requests; every trimEvery the action log of the
	// clientset, which client-go's Fake keeps forever, is cleared (trim).
	served atomic.Int64
	trim   chan struct{}

	queue    *queue
	stopCh   chan struct{}
	stopOnce sync.Once
	wg       sync.WaitGroup

	behMu     sync.RWMutex
	behaviors map[string]Behavior

	ctl controllerState

	traffic trafficState
}

// Behavior is how the pods of one version behave. The zero value is a
// healthy pod that turns Ready after the cluster's start-up time.
// ErrorRate and Latency are not used by the pod simulation; they are how
// the version answers the load of SendLoad, as Metrics reports it.
type Behavior struct {
	NeverReady bool          // containers run but the pod never turns Ready
	CrashLoop  bool          // containers keep crashing: restarts grow, never Ready
	Startup    time.Duration // time from creation to Ready; 0 = cluster default
	ErrorRate  float64       // fraction of requests that fail, 0..1
	Latency    time.Duration // typical request latency
}

// NewCluster returns a running fake cluster with the namespaces default,
// kube-system, kube-public and kube-node-lease and three Ready nodes.
func NewCluster(opts ...Option) *Cluster {
	cfg := defaultConfig()
	for _, o := range opts {
		o.apply(&cfg)
	}
	c := &Cluster{
		cfg:       cfg,
		clock:     NewClock(cfg.start),
		kinds:     newKinds(),
		stopCh:    make(chan struct{}),
		behaviors: map[string]Behavior{},
	}
	c.clock.adv.setQuiet(cfg.quiet)
	c.clock.adv.setStall(cfg.stallTimeout, cfg.stallLog)
	c.store = newStore(c.kinds, c.clock, c.clock.adv.bump)
	c.store.shutdown = cfg.podShutdown
	c.queue = newQueue(c.clock)
	c.store.listeners = append(c.store.listeners, c.route)
	c.initTraffic()

	c.disc = newDiscovery(c.kinds)
	c.cs = k8sfake.NewClientset()
	_, lists := c.disc.snapshot()
	c.cs.Resources = lists
	c.cs.PrependReactor("*", "*", c.react)
	c.cs.PrependWatchReactor("*", c.reactWatch)
	c.kube = &kube{Clientset: c.cs, disc: c.disc}
	c.mapper = restmapper.NewDeferredDiscoveryRESTMapper(memory.NewMemCacheClient(c.disc))

	c.seed()
	c.addGates()
	c.trim = make(chan struct{}, 1)
	c.wg.Add(2)
	go c.work()
	go c.trimActions()
	if cfg.autoAdvance {
		c.clock.SetAutoAdvance(true)
	}
	return c
}

// trimActions clears the clientset's action log when begin asks: client-go's
// Fake keeps a deep copy of every request, which would grow without bound in
// a long-running program (and cost a copy of each object). It runs apart
// because the log's lock is held while requests are served.
func (c *Cluster) trimActions() {
	defer c.wg.Done()
	for {
		select {
		case <-c.trim:
			c.cs.ClearActions()
		case <-c.stopCh:
			return
		}
	}
}

// addGates makes the controllers' work, API calls in flight and watch
// events not yet received (or handled) hold auto-advance back.
func (c *Cluster) addGates() {
	a := c.clock.adv
	a.addGate(gate{pending: c.queue.busy, describe: func() []string {
		return []string{"the fake's controllers have work queued or running"}
	}})
	a.addGate(gate{pending: func() bool { return c.inflight.Load() > 0 }, describe: func() []string {
		return []string{fmt.Sprintf("%d API calls in flight", c.inflight.Load())}
	}})
	a.addGate(gate{pending: func() bool { return c.store.pending.Load() > 0 }, describe: c.store.pendingWatches})
}

// seed adds the built-in objects and those given by WithObjects.
func (c *Cluster) seed() {
	for _, ns := range []string{"default", "kube-system", "kube-public", "kube-node-lease"} {
		c.mustSeed(&corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}})
	}
	for i := 0; i < c.cfg.nodes; i++ {
		c.mustSeed(newNode(fmt.Sprintf("fake-node-%d", i), i))
	}
	var rest []runtime.Object
	for _, o := range c.cfg.objects {
		if u, ok := o.(*unstructured.Unstructured); ok && u.GroupVersionKind().GroupKind() == crdGVR.GroupVersion().WithKind("CustomResourceDefinition").GroupKind() {
			c.mustSeed(u)
			c.establish(u.GetName())
			continue
		}
		rest = append(rest, o)
	}
	for _, o := range rest {
		if ns := mustAccessor(o).GetNamespace(); ns != "" {
			if _, ok := c.store.get(objKey{gvr: namespacesGVR, name: ns}); !ok {
				c.mustSeed(&corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}})
			}
		}
		c.mustSeed(o)
	}
}

func (c *Cluster) mustSeed(o runtime.Object) {
	ri, err := c.resourceOf(o)
	if err != nil {
		panic(fmt.Sprintf("fake: seeding %T: %v", o, err))
	}
	obj, err := c.input(ri, o)
	if err != nil {
		panic(fmt.Sprintf("fake: seeding %s: %v", ri.gvk.Kind, err))
	}
	s := c.store
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.admitLocked(ri, nil, obj); err != nil {
		panic(fmt.Sprintf("fake: seeding %s %s: %v", ri.gvk.Kind, nameOf(obj), err))
	}
	if _, err := s.createLocked(ri.gvr, mustAccessor(obj).GetNamespace(), obj, writeOpts{internal: true}); err != nil {
		panic(fmt.Sprintf("fake: seeding %s %s: %v", ri.gvk.Kind, nameOf(obj), err))
	}
}

// resourceOf finds where an object is served.
func (c *Cluster) resourceOf(o runtime.Object) (*resourceInfo, error) {
	var gvk schema.GroupVersionKind
	if u, ok := o.(*unstructured.Unstructured); ok {
		gvk = u.GroupVersionKind()
	} else {
		gvks, _, err := c.kinds.scheme.ObjectKinds(o)
		if err != nil || len(gvks) == 0 {
			return nil, fmt.Errorf("unknown kind %T: %w", o, err)
		}
		gvk = gvks[0]
	}
	ri, ok := c.kinds.forGVK(gvk)
	if !ok {
		return nil, fmt.Errorf("no resource serves %s", gvk)
	}
	return ri, nil
}

// Clients returns the typed, dynamic, discovery and mapper clients, all over
// the cluster's one object store. The mapper learns resources of new
// CustomResourceDefinitions after Reset.
func (c *Cluster) Clients() strategy.Clients {
	return strategy.Clients{Kube: c.kube, Dynamic: dynamicClient{c: c}, Discovery: c.disc, Mapper: c.mapper}
}

// Clientset returns the underlying fake clientset (k8s.io/client-go/
// kubernetes/fake, made by NewClientset). Its reactors are served by the
// cluster's store, so PrependReactor works as usual; but its Tracker is
// not the store and stays empty, its Discovery knows only built-in kinds,
// and Actions holds only the last few hundred requests (client-go's Fake
// would keep a copy of every one for ever): count requests with Requests.
// Prefer Clients().
func (c *Cluster) Clientset() *k8sfake.Clientset { return c.cs }

// Clock returns the cluster's fake clock; every simulated controller runs
// on it.
func (c *Cluster) Clock() *Clock { return c.clock }

// WaitIdle returns once the simulated controllers have no pending work and
// no timer callback is running: everything due at the current fake time has
// happened. Work scheduled for a later fake time does not count.
func (c *Cluster) WaitIdle(ctx context.Context) error {
	for {
		ch := c.clock.adv.subscribe()
		if !c.queue.busy() && c.clock.running.Load() == 0 {
			return nil
		}
		select {
		case <-ch:
		case <-ctx.Done():
			return fmt.Errorf("waiting for the fake cluster to be idle: %w", ctx.Err())
		}
	}
}

// Stop stops the controllers, the auto-advance goroutine and every open
// watch. It is idempotent.
func (c *Cluster) Stop() {
	c.stopOnce.Do(func() {
		close(c.stopCh)
		c.queue.stop()
		c.wg.Wait()
		c.clock.SetAutoAdvance(false)
		c.store.dropWatches("*")
	})
}

// SetBehavior sets how pods of version behave; the version is the value of
// the version label (WithVersionLabel). New pods follow it from creation.
// Existing pods follow it from now on: NeverReady makes Ready pods fail
// readiness, clearing it lets them turn Ready; CrashLoop makes running pods
// start crashing; a new Startup applies to pods not Ready yet. ErrorRate
// and Latency apply to the load SendLoad books from now on, that is from the
// current fake time.
func (c *Cluster) SetBehavior(version string, b Behavior) {
	c.behMu.Lock()
	c.behaviors[version] = b
	c.behMu.Unlock()
	c.resyncVersion(version)
}

// Behavior returns the behaviour of version (the zero Behavior if unset).
func (c *Cluster) Behavior(version string) Behavior {
	c.behMu.RLock()
	defer c.behMu.RUnlock()
	return c.behaviors[version]
}
