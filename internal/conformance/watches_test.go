package conformance

import (
	"context"
	"fmt"
	"sort"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/apimachinery/pkg/watch"
	toolscache "k8s.io/client-go/tools/cache"

	"github.com/switchyard-dev/switchyard/internal/objcache"
	"github.com/switchyard-dev/switchyard/strategy/record"
)

// The cases below hold the shared watch caches of internal/objcache (client-go
// Reflectors feeding Indexers, shared through a Layer) to what a shared
// informer layer must do against either cluster: share one list and watch,
// watch again from where it was when the server ends a watch, list again
// when its version has expired, never let an older event take back a
// write its owner observed, report a forbidden watch to its waiters, and
// end every goroutine at Close.

// recorder counts the lists and watches of one cache's ListWatch and keeps
// the resourceVersion each watch starts from.
type recorder struct {
	mu      sync.Mutex
	lists   int
	watches []string
}

func (r *recorder) wrap(lw objcache.ListWatch) objcache.ListWatch {
	return objcache.ListWatch{
		List: func(ctx context.Context, o metav1.ListOptions) (runtime.Object, error) {
			r.mu.Lock()
			r.lists++
			r.mu.Unlock()
			return lw.List(ctx, o)
		},
		Watch: func(ctx context.Context, o metav1.ListOptions) (watch.Interface, error) {
			r.mu.Lock()
			r.watches = append(r.watches, o.ResourceVersion)
			r.mu.Unlock()
			return lw.Watch(ctx, o)
		},
	}
}

// counts returns the lists so far and the resourceVersions of the watches.
func (r *recorder) counts() (lists int, watches []string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.lists, append([]string(nil), r.watches...)
}

// rv parses a resourceVersion: both clusters write them as numbers.
func rv(t *testing.T, v string) uint64 {
	t.Helper()
	n, err := strconv.ParseUint(v, 10, 64)
	require.NoError(t, err, "resourceVersion %q", v)
	return n
}

// event is a core/v1 Event in ns about a ConfigMap.
func event(ns, name string, labels map[string]string) *corev1.Event {
	return &corev1.Event{
		ObjectMeta:     metav1.ObjectMeta{Name: name, Namespace: ns, Labels: labels},
		InvolvedObject: corev1.ObjectReference{APIVersion: "v1", Kind: "ConfigMap", Namespace: ns, Name: "subject"},
		Reason:         "Conformance",
		Message:        name,
		Type:           corev1.EventTypeNormal,
		Source:         corev1.EventSource{Component: "conformance"},
	}
}

func configMap(name string, labels map[string]string, v string) *corev1.ConfigMap {
	return &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: name, Labels: labels}, Data: map[string]string{"v": v}}
}

// testLayerShares: the Runs of a process that ask a Layer for the same
// namespace and kind get one cache, started by one list and one watch,
// even when they ask at once; whoever asks later makes no request.
func testLayerShares(t *testing.T, e env) {
	ctx := t.Context()
	ns, other := e.namespace(t, ctx), e.namespace(t, ctx)
	web := deployment(ns, "v1", 1, intstr.FromInt32(1), intstr.FromInt32(0))
	web.Labels = map[string]string{record.LabelApp: "web"}
	_, err := e.kube.AppsV1().Deployments(ns).Create(ctx, web, metav1.CreateOptions{})
	require.NoError(t, err)

	l := objcache.NewLayer(e.kube, e.clock)
	defer l.Close()
	requests := func(resource string) [2]int {
		return [2]int{e.wire.requests("list", resource), e.wire.requests("watch", resource)}
	}
	plus := func(a [2]int, lists, watches int) [2]int { return [2]int{a[0] + lists, a[1] + watches} }
	before := requests("deployments")

	var caches [2]*objcache.Cache[*appsv1.Deployment]
	var errs [2]error
	var wg sync.WaitGroup
	start := make(chan struct{})
	for i := range caches {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			caches[i], errs[i] = l.Deployments(ctx, ns)
		}()
	}
	close(start)
	wg.Wait()
	require.NoError(t, errs[0])
	require.NoError(t, errs[1])
	require.Same(t, caches[0], caches[1], "two users of one namespace and kind share a cache")
	assert.Equal(t, plus(before, 1, 1), requests("deployments"), "(lists, watches) of deployments: one of each for both users")

	dc := caches[0]
	until(t, ctx, e, "web in the shared cache", func() bool {
		_, ok := dc.Get(ns, "web")
		return ok && len(dc.ByIndex(objcache.IndexApp, "web")) == 1
	}, dc)

	started := requests("deployments")
	again, err := l.Deployments(ctx, ns)
	require.NoError(t, err)
	assert.Same(t, dc, again, "a later user gets the started cache")
	assert.Equal(t, started, requests("deployments"), "(lists, watches) of deployments: a later user makes none")

	elsewhere, err := l.Deployments(ctx, other)
	require.NoError(t, err)
	assert.NotSame(t, dc, elsewhere, "another namespace has a cache of its own")
	assert.Equal(t, plus(started, 1, 1), requests("deployments"))
	svcs := requests("services")
	_, err = l.Services(ctx, ns)
	require.NoError(t, err)
	assert.Equal(t, plus(svcs, 1, 1), requests("services"), "another kind has a cache of its own")
	assert.Equal(t, 3, l.Started())
}

// testRelistAfterExpiry: when the server has ended a cache's watch and the
// cache's resourceVersion has expired meanwhile (410 Gone, as after an etcd
// compaction), the cache lists again, and what changed while it was not
// watching (an object created, another deleted) is in it afterwards.
//
// The case watches core/v1 Events, which the API server watches in etcd
// without a watch cache, so that compacting etcd expires the version for
// real; the fake expires it by pushing it out of its bounded history.
func testRelistAfterExpiry(t *testing.T, e env) {
	ctx := t.Context()
	ns := e.namespace(t, ctx)
	evs := e.kube.CoreV1().Events(ns)
	labels := map[string]string{"conformance": "expiry"}
	for _, name := range []string{"keep", "gone"} {
		_, err := evs.Create(ctx, event(ns, name, labels), metav1.CreateOptions{})
		require.NoError(t, err)
	}
	var rec recorder
	c := cache[*corev1.Event](t, ctx, e, rec.wrap(objcache.For(evs.List, evs.Watch, objcache.ByLabel("conformance=expiry"))))
	// An event delivered by the watch: the cache resumes from it.
	seen, err := evs.Create(ctx, event(ns, "seen", labels), metav1.CreateOptions{})
	require.NoError(t, err)
	until(t, ctx, e, "seen in the cache", func() bool { _, ok := c.Get(ns, "seen"); return ok }, c)
	lists, watches := rec.counts()

	release := e.wire.holdWatches("events")
	defer release() // should compactEvents skip the test
	e.wire.dropWatches("events")
	_, err = evs.Create(ctx, event(ns, "new", labels), metav1.CreateOptions{})
	require.NoError(t, err)
	require.NoError(t, evs.Delete(ctx, "gone", metav1.DeleteOptions{}))
	e.wire.compactEvents(t, ctx, ns)
	release()
	requireExpired(t, ctx, evs.Watch, seen.ResourceVersion)

	until(t, ctx, e, "new in and gone out of the cache", func() bool {
		_, hasKeep := c.Get(ns, "keep")
		_, hasSeen := c.Get(ns, "seen")
		_, hasNew := c.Get(ns, "new")
		_, hasGone := c.Get(ns, "gone")
		return hasKeep && hasSeen && hasNew && !hasGone
	}, c)
	relists, rewatches := rec.counts()
	require.Greater(t, len(rewatches), len(watches), "the cache watched again")
	assert.Equal(t, seen.ResourceVersion, rewatches[len(watches)], "the cache first watched again from the last version it had")
	assert.Greater(t, relists, lists, "the cache listed again once its version had expired")
	assert.Equal(t, []string{"keep", "new", "seen"}, names(c.List()))

	// The cache goes on watching from the new list.
	_, err = evs.Create(ctx, event(ns, "after", labels), metav1.CreateOptions{})
	require.NoError(t, err)
	until(t, ctx, e, "after in the cache", func() bool { _, ok := c.Get(ns, "after"); return ok && c.Err() == nil }, c)
}

// requireExpired checks that a watch from version v is refused as too old,
// whether the server says so as the watch opens (the fake) or in its first
// event (the API server).
func requireExpired(t *testing.T, ctx context.Context, watchFn func(context.Context, metav1.ListOptions) (watch.Interface, error), v string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	w, err := watchFn(ctx, metav1.ListOptions{ResourceVersion: v})
	how := "as it opened"
	if err == nil {
		defer w.Stop()
		how = "in its first event"
		select {
		case ev, ok := <-w.ResultChan():
			require.True(t, ok, "the watch from %s ended at once", v)
			require.Equal(t, watch.Error, ev.Type, "a watch from %s is still served: %s %v", v, ev.Type, ev.Object)
			err = apierrors.FromObject(ev.Object)
		case <-ctx.Done():
			t.Fatalf("a watch from %s neither failed nor delivered anything", v)
		}
	}
	require.True(t, apierrors.IsResourceExpired(err) || apierrors.IsGone(err), "a watch from %s: %v", v, err)
	t.Logf("a watch from %s is refused %s: %v", v, how, err)
}

func names[T objcache.Object](objs []T) []string {
	out := make([]string, 0, len(objs))
	for _, o := range objs {
		out = append(out, o.GetName())
	}
	sort.Strings(out)
	return out
}

// testRewatchAfterDrop: when the server ends a watch whose version has not
// expired, the cache watches again from the last version it had, without a
// list, and sees the changes made since.
func testRewatchAfterDrop(t *testing.T, e env) {
	ctx := t.Context()
	ns := e.namespace(t, ctx)
	cms := e.kube.CoreV1().ConfigMaps(ns)
	labels := map[string]string{"conformance": "drop"}
	var rec recorder
	c := cache[*corev1.ConfigMap](t, ctx, e, rec.wrap(objcache.For(cms.List, cms.Watch, objcache.ByLabel("conformance=drop"))))
	before, err := cms.Create(ctx, configMap("before", labels, "0"), metav1.CreateOptions{})
	require.NoError(t, err)
	until(t, ctx, e, "before in the cache", func() bool { _, ok := c.Get(ns, "before"); return ok }, c)
	lists, watches := rec.counts()

	e.wire.dropWatches("configmaps")
	after, err := cms.Create(ctx, configMap("after", labels, "0"), metav1.CreateOptions{})
	require.NoError(t, err)
	until(t, ctx, e, "after in the cache", func() bool { _, ok := c.Get(ns, "after"); return ok }, c)

	relists, rewatches := rec.counts()
	assert.Equal(t, lists, relists, "no list: the cache watched again")
	require.Len(t, rewatches, len(watches)+1, "one watch again: %v", rewatches)
	from := rv(t, rewatches[len(watches)])
	assert.GreaterOrEqual(t, from, rv(t, before.ResourceVersion), "the cache watched again from at least the last version it had")
	assert.Less(t, from, rv(t, after.ResourceVersion), "the cache watched again from before the change it then saw")
	assert.NoError(t, c.Err())
}

// testResync: a cache started after its objects exist holds all of them as
// Start returns, in every index; after changes (updates that move objects
// between index values, deletes, creates, a watch the server ended), List
// and ByIndex agree with a direct list.
func testResync(t *testing.T, e env) {
	ctx := t.Context()
	ns := e.namespace(t, ctx)
	cms := e.kube.CoreV1().ConfigMaps(ns)
	const n = 24
	teams := []string{"a", "b", "c"}
	labels := func(i int) map[string]string {
		return map[string]string{"conformance": "resync", "team": teams[i%len(teams)]}
	}
	name := func(i int) string { return fmt.Sprintf("cm-%02d", i) }
	for i := range n {
		_, err := cms.Create(ctx, configMap(name(i), labels(i), "0"), metav1.CreateOptions{})
		require.NoError(t, err)
	}
	byTeam := toolscache.Indexers{"team": func(obj any) ([]string, error) {
		return []string{obj.(*corev1.ConfigMap).Labels["team"]}, nil
	}}
	c := objcache.NewIndexed[*corev1.ConfigMap](objcache.For(cms.List, cms.Watch, objcache.ByLabel("conformance=resync")), e.clock, byTeam)
	require.NoError(t, c.Start(ctx))
	defer c.Stop()
	assert.Len(t, c.List(), n, "every object is in the cache as Start returns")
	for _, team := range teams {
		assert.Len(t, c.ByIndex("team", team), n/len(teams), "team %s", team)
	}

	for i := 0; i < n; i += 4 {
		_, err := cms.Patch(ctx, name(i), types.MergePatchType,
			[]byte(`{"metadata":{"labels":{"team":"`+teams[(i+1)%len(teams)]+`"}},"data":{"v":"1"}}`), metav1.PatchOptions{})
		require.NoError(t, err)
	}
	e.wire.dropWatches("configmaps")
	for i := 1; i < n; i += 4 {
		require.NoError(t, cms.Delete(ctx, name(i), metav1.DeleteOptions{}))
	}
	for i := n; i < n+6; i++ {
		_, err := cms.Create(ctx, configMap(name(i), labels(i), "0"), metav1.CreateOptions{})
		require.NoError(t, err)
	}

	want, err := cms.List(ctx, metav1.ListOptions{LabelSelector: "conformance=resync"})
	require.NoError(t, err)
	wantAll, wantTeams := summary(want.Items), map[string][]string{}
	for _, cm := range want.Items {
		wantTeams[cm.Labels["team"]] = append(wantTeams[cm.Labels["team"]], cm.Name+"@"+cm.ResourceVersion)
	}
	until(t, ctx, e, "the cache agrees with a direct list", func() bool {
		return fmt.Sprint(summary(derefs(c.List()))) == fmt.Sprint(wantAll)
	}, c)
	for _, team := range teams {
		assert.Equal(t, wantTeams[team], summary(derefs(c.ByIndex("team", team))), "team %s", team)
	}
	assert.NoError(t, c.Err())
}

func derefs(cms []*corev1.ConfigMap) []corev1.ConfigMap {
	out := make([]corev1.ConfigMap, len(cms))
	for i, cm := range cms {
		out[i] = *cm
	}
	return out
}

// summary is name@resourceVersion of each object, ordered by name.
func summary(cms []corev1.ConfigMap) []string {
	out := make([]string, 0, len(cms))
	for _, cm := range cms {
		out = append(out, cm.Name+"@"+cm.ResourceVersion)
	}
	sort.Strings(out)
	return out
}

// observed follows one object of a cache from the moment its owner first
// observes a write of it, and keeps every change of the cache that showed
// an older state of it, or none.
type observed struct {
	c      *objcache.Cache[*corev1.ConfigMap]
	ns     string
	name   string
	mu     sync.Mutex
	newest string // resourceVersion of the newest observed write
	bad    []string
}

func watchObserved(c *objcache.Cache[*corev1.ConfigMap], ns, name string) (*observed, func()) {
	o := &observed{c: c, ns: ns, name: name}
	// OnChange runs in the cache's goroutine at every change, before the
	// waiters are woken: it sees every state the cache goes through.
	return o, c.OnChange(o.check)
}

func (o *observed) check() {
	got, ok := o.c.Get(o.ns, o.name)
	o.mu.Lock()
	defer o.mu.Unlock()
	switch {
	case o.newest == "":
	case !ok:
		o.bad = append(o.bad, fmt.Sprintf("%s gone after its write %s was observed", o.name, o.newest))
	case olderRV(got.ResourceVersion, o.newest):
		o.bad = append(o.bad, fmt.Sprintf("%s back at %s (v=%s) after its write %s was observed", o.name, got.ResourceVersion, got.Data["v"], o.newest))
	}
}

// observe hands the owner's write to the cache.
func (o *observed) observe(cm *corev1.ConfigMap) {
	o.mu.Lock()
	o.newest = cm.ResourceVersion
	o.mu.Unlock()
	o.c.Observe(cm)
}

func (o *observed) takenBack() []string {
	o.mu.Lock()
	defer o.mu.Unlock()
	return append([]string(nil), o.bad...)
}

func olderRV(a, b string) bool {
	x, errA := strconv.ParseUint(a, 10, 64)
	y, errB := strconv.ParseUint(b, 10, 64)
	return errA == nil && errB == nil && x < y
}

// observeSetup starts a cache of the ConfigMaps labelled
// conformance=observe in a new namespace, with "cm" delivered to it by its
// watch (so that it resumes its watch from there rather than listing), and
// a follower of "cm".
func observeSetup(t *testing.T, ctx context.Context, e env) (ns string, c *objcache.Cache[*corev1.ConfigMap], rec *recorder, first *corev1.ConfigMap, o *observed) {
	t.Helper()
	ns = e.namespace(t, ctx)
	cms := e.kube.CoreV1().ConfigMaps(ns)
	rec = &recorder{}
	c = cache[*corev1.ConfigMap](t, ctx, e, rec.wrap(objcache.For(cms.List, cms.Watch, objcache.ByLabel("conformance=observe"))))
	first, err := cms.Create(ctx, configMap("cm", observeLabels, "0"), metav1.CreateOptions{})
	require.NoError(t, err)
	until(t, ctx, e, "cm in the cache", func() bool { _, ok := c.Get(ns, "cm"); return ok }, c)
	o, stop := watchObserved(c, ns, "cm")
	t.Cleanup(stop)
	return ns, c, rec, first, o
}

var observeLabels = map[string]string{"conformance": "observe"}

// replay releases the cache's held watch and waits until it has caught up
// with a marker written last: by then it has applied every older event.
func replay(t *testing.T, ctx context.Context, e env, ns string, c *objcache.Cache[*corev1.ConfigMap], release func()) {
	t.Helper()
	_, err := e.kube.CoreV1().ConfigMaps(ns).Create(ctx, configMap("marker", observeLabels, "0"), metav1.CreateOptions{})
	require.NoError(t, err)
	release()
	until(t, ctx, e, "marker in the cache", func() bool { _, ok := c.Get(ns, "marker"); return ok }, c)
}

// testObserveUpdates: an owner's write put in the cache with Observe is
// read at once and never taken back by the older events the watch delivers
// afterwards. The watch is held while the owner writes twice and observes
// its second write; it then resumes and replays both updates.
func testObserveUpdates(t *testing.T, e env) {
	ctx := t.Context()
	ns, c, rec, first, o := observeSetup(t, ctx, e)
	cms := e.kube.CoreV1().ConfigMaps(ns)
	lists, _ := rec.counts()

	release := e.wire.holdWatches("configmaps")
	e.wire.dropWatches("configmaps")
	w1 := first.DeepCopy()
	w1.Data["v"] = "1"
	w1, err := cms.Update(ctx, w1, metav1.UpdateOptions{})
	require.NoError(t, err)
	w2 := w1.DeepCopy()
	w2.Data["v"] = "2"
	w2, err = cms.Update(ctx, w2, metav1.UpdateOptions{})
	require.NoError(t, err)
	o.observe(w2)
	got, ok := c.Get(ns, "cm")
	require.True(t, ok)
	assert.Equal(t, "2", got.Data["v"], "the observed write is read at once")
	o.observe(w1) // an older write changes nothing
	got, _ = c.Get(ns, "cm")
	assert.Equal(t, "2", got.Data["v"], "observing an older write changes nothing")
	o.observe(w2)

	replay(t, ctx, e, ns, c, release)
	relists, _ := rec.counts()
	require.Equal(t, lists, relists, "the cache resumed its watch, which replayed the older updates, rather than listing")
	got, _ = c.Get(ns, "cm")
	assert.Equal(t, w2.ResourceVersion, got.ResourceVersion)
	assert.Empty(t, o.takenBack(), "older events took the observed write back")
}

// testObserveRecreate: the same with a delete: someone else deletes the
// object, its owner creates it again and observes the new object; the
// watch then replays the delete, an event older than the observed write,
// which must not take the object out of the cache.
func testObserveRecreate(t *testing.T, e env) {
	ctx := t.Context()
	ns, c, rec, _, o := observeSetup(t, ctx, e)
	cms := e.kube.CoreV1().ConfigMaps(ns)
	lists, _ := rec.counts()

	release := e.wire.holdWatches("configmaps")
	e.wire.dropWatches("configmaps")
	require.NoError(t, cms.Delete(ctx, "cm", metav1.DeleteOptions{}))
	again, err := cms.Create(ctx, configMap("cm", observeLabels, "again"), metav1.CreateOptions{})
	require.NoError(t, err)
	o.observe(again)
	got, ok := c.Get(ns, "cm")
	require.True(t, ok)
	assert.Equal(t, "again", got.Data["v"], "the observed write is read at once")

	replay(t, ctx, e, ns, c, release)
	relists, _ := rec.counts()
	require.Equal(t, lists, relists, "the cache resumed its watch, which replayed the delete, rather than listing")
	got, ok = c.Get(ns, "cm")
	require.True(t, ok, "cm is in the cache")
	assert.Equal(t, again.ResourceVersion, got.ResourceVersion)
	assert.Empty(t, o.takenBack(), "an older delete took the observed write back")
}

// testForbiddenWatch: when watching becomes forbidden, Err reports the 403,
// an error no retry cures, within seconds, and the failed watch wakes the
// waiters on Changed. A list that works clears Err again (the reflector
// lists after its back-off, then fails to watch once more), so that the
// error comes and goes: what is checked is that a waiter woken by the
// change sees it, and that the waiters were woken by the failed watch
// itself, before the next list.
func testForbiddenWatch(t *testing.T, e env) {
	ctx := t.Context()
	ns := e.namespace(t, ctx)
	kube, forbid := e.wire.watcher(t, ctx, ns)
	cms := kube.CoreV1().ConfigMaps(ns)

	var (
		mu      sync.Mutex
		changed <-chan struct{} // taken before the watch is forbidden
		woken   []bool          // at each list since, whether changed was closed
	)
	// Labelled, to leave out the namespace's kube-root-ca.crt, which a
	// real controller writes when it likes.
	lw := objcache.For(cms.List, cms.Watch, objcache.ByLabel("conformance=forbidden"))
	list := lw.List
	lw.List = func(ctx context.Context, o metav1.ListOptions) (runtime.Object, error) {
		mu.Lock()
		if changed != nil {
			select {
			case <-changed:
				woken = append(woken, true)
			default:
				woken = append(woken, false)
			}
		}
		mu.Unlock()
		return list(ctx, o)
	}
	c := cache[*corev1.ConfigMap](t, ctx, e, lw)
	_, err := e.kube.CoreV1().ConfigMaps(ns).Create(ctx, configMap("cm", map[string]string{"conformance": "forbidden"}, "0"), metav1.CreateOptions{})
	require.NoError(t, err)
	// Delivered by the watch: when the watch ends, the cache watches again
	// at once, without a list first.
	until(t, ctx, e, "cm in the cache", func() bool { _, ok := c.Get(ns, "cm"); return ok }, c)
	require.NoError(t, c.Err())

	mu.Lock()
	changed = c.Changed()
	mu.Unlock()
	forbid()
	began := time.Now()
	untilWithin(t, ctx, e, 10*time.Second, "Err reports 403 Forbidden", func() bool { return apierrors.IsForbidden(c.Err()) }, c)
	t.Logf("Err after %s: %v", time.Since(began).Round(time.Millisecond), c.Err())

	until(t, ctx, e, "a list after the back-off", func() bool {
		mu.Lock()
		defer mu.Unlock()
		return len(woken) > 0
	}, c)
	mu.Lock()
	defer mu.Unlock()
	assert.True(t, woken[0], "the failed watch woke the waiters before the cache listed again")
}

// testLayerClose: Close ends the goroutine of every cache of a Layer
// before it returns, and the Layer hands out no cache afterwards.
func testLayerClose(t *testing.T, e env) {
	var before goleak.Option
	if e.name == "fake" {
		// The real env's HTTP connections outlive the test: leaks are
		// counted on the fake only.
		before = goleak.IgnoreCurrent()
	}
	ctx := t.Context()
	ns := e.namespace(t, ctx)
	l := objcache.NewLayer(e.kube, e.clock)
	dc, err := l.Deployments(ctx, ns)
	require.NoError(t, err)
	pc, err := l.Pods(ctx, ns)
	require.NoError(t, err)
	sc, err := l.Services(ctx, ns)
	require.NoError(t, err)
	ec, err := l.EndpointSlices(ctx, ns)
	require.NoError(t, err)
	rc, err := l.Records(ctx, ns)
	require.NoError(t, err)
	require.Equal(t, 5, l.Started())

	l.Close()
	for name, done := range map[string]<-chan struct{}{
		"deployments": dc.Done(), "pods": pc.Done(), "services": sc.Done(), "endpointslices": ec.Done(), "records": rc.Done(),
	} {
		select {
		case <-done:
		default:
			t.Errorf("the %s cache still runs after Close", name)
		}
	}
	l.Close() // again: nothing happens
	assert.Zero(t, l.Started())

	_, err = l.Deployments(ctx, ns)
	assert.ErrorIs(t, err, objcache.ErrClosed)
	_, err = l.Pods(ctx, "elsewhere")
	assert.ErrorIs(t, err, objcache.ErrClosed)
	_, err = l.Records(ctx, ns)
	assert.ErrorIs(t, err, objcache.ErrClosed)
	cms := e.kube.CoreV1().ConfigMaps(ns)
	_, err = objcache.Shared[*corev1.ConfigMap](ctx, l, "anything", objcache.For(cms.List, cms.Watch), nil)
	assert.ErrorIs(t, err, objcache.ErrClosed)

	if before != nil {
		goleak.VerifyNone(t, before)
	}
}
