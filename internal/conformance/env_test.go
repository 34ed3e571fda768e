package conformance

import (
	"context"
	"fmt"
	"reflect"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/kubernetes"
	"k8s.io/utils/clock"
	"k8s.io/utils/ptr"

	"github.com/switchyard-dev/switchyard/internal/objcache"
)

// env is one cluster the suite runs against.
type env struct {
	kube  kubernetes.Interface
	clock clock.WithTickerAndDelayedExecution
	// idle and busy tell an auto-advancing fake clock when the test waits.
	idle, busy func()
	// name is "fake" or "real", for the few checks only one env can make.
	name string
	// wire counts and disturbs the requests of kube (see wire).
	wire wire
}

// wire reaches under an env's API: it counts the requests kube makes and
// disturbs its watches the way servers and networks do, for the cases on
// watch caches. Each env (each test) has its own.
type wire interface {
	// requests returns how many requests with verb ("list", "watch") of
	// resource ("configmaps") kube has made so far.
	requests(verb, resource string) int
	// dropWatches ends every open watch of resource made through kube,
	// cleanly, as a server does when a watch times out or it shuts down:
	// the client must watch again, from where it was.
	dropWatches(resource string)
	// holdWatches keeps new watches of resource from opening until the
	// returned function is called. The fake refuses them with 429 Too Many
	// Requests, which a reflector retries from its resourceVersion after a
	// back-off on the fake clock; on the real control plane they wait in
	// kube's transport before they reach the server.
	holdWatches(resource string) (release func())
	// compactEvents makes the history of core/v1 Events up to now too old
	// to watch from (410 Gone), as an etcd compaction does. The fake pushes
	// it out of its bounded watch history by writing an unlabelled Event in
	// ns over and over; the real control plane compacts etcd, which the API
	// server watches Events in directly, without a watch cache (a cached
	// resource keeps at least 75s of history whatever etcd does). It skips
	// the test when it cannot.
	compactEvents(t *testing.T, ctx context.Context, ns string)
	// watcher returns a client that may get, list and watch ConfigMaps in
	// ns, and forbid, which takes the right to watch them away and ends the
	// client's open watches: its watches are then answered 403 Forbidden.
	// The fake has no RBAC and injects the 403; the real control plane
	// impersonates a user whose Role loses the watch verb.
	watcher(t *testing.T, ctx context.Context, ns string) (kube kubernetes.Interface, forbid func())
}

var nsSeq atomic.Int64

// namespace creates a fresh namespace for one test.
func (e env) namespace(t *testing.T, ctx context.Context) string {
	t.Helper()
	name := fmt.Sprintf("conformance-%d", nsSeq.Add(1))
	_, err := e.kube.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name}}, metav1.CreateOptions{})
	require.NoError(t, err)
	t.Cleanup(func() {
		_ = e.kube.CoreV1().Namespaces().Delete(context.Background(), name, metav1.DeleteOptions{})
	})
	return name
}

// cache starts a watch cache of one kind for the test.
func cache[T objcache.Object](t *testing.T, ctx context.Context, e env, lw objcache.ListWatch) *objcache.Cache[T] {
	t.Helper()
	c := objcache.New[T](lw, e.clock)
	require.NoError(t, c.Start(ctx))
	return c
}

// source is anything that says when it changed, like a watch cache.
type source interface{ Changed() <-chan struct{} }

// until waits, with a deadline, until cond holds, checking it again on every
// change of the sources.
func until(t *testing.T, ctx context.Context, e env, what string, cond func() bool, sources ...source) {
	t.Helper()
	untilWithin(t, ctx, e, 60*time.Second, what, cond, sources...)
}

// untilWithin is until with a deadline of d.
func untilWithin(t *testing.T, ctx context.Context, e env, d time.Duration, what string, cond func() bool, sources ...source) {
	t.Helper()
	ctx, cancel := context.WithTimeout(ctx, d)
	defer cancel()
	for {
		cases := []reflect.SelectCase{{Dir: reflect.SelectRecv, Chan: reflect.ValueOf(ctx.Done())}}
		for _, s := range sources {
			cases = append(cases, reflect.SelectCase{Dir: reflect.SelectRecv, Chan: reflect.ValueOf(s.Changed())})
		}
		if cond() {
			return
		}
		e.idle()
		chosen, _, _ := reflect.Select(cases)
		e.busy()
		require.NotZero(t, chosen, "waiting for %s: %v", what, ctx.Err())
	}
}

// replicaSetLog follows every ReplicaSet event of a namespace in order and
// keeps, after each one, the (new, old) desired replicas of the rollout to
// version "v2": the deployment controller's scaling decisions, one per
// write, which a cache would coalesce.
type replicaSetLog struct {
	mu        sync.Mutex
	sets      map[string]*appsv1.ReplicaSet
	decisions [][2]int32
	changed   chan struct{}
}

func followReplicaSets(t *testing.T, ctx context.Context, e env, ns string) *replicaSetLog {
	t.Helper()
	rss := e.kube.AppsV1().ReplicaSets(ns)
	list, err := rss.List(ctx, metav1.ListOptions{})
	require.NoError(t, err)
	w, err := rss.Watch(ctx, metav1.ListOptions{ResourceVersion: list.ResourceVersion})
	require.NoError(t, err)
	l := &replicaSetLog{sets: map[string]*appsv1.ReplicaSet{}, changed: make(chan struct{})}
	for i := range list.Items {
		l.apply(watch.Added, &list.Items[i])
	}
	go func() {
		defer w.Stop()
		for ev := range w.ResultChan() {
			if rs, ok := ev.Object.(*appsv1.ReplicaSet); ok {
				l.apply(ev.Type, rs)
			}
		}
	}()
	return l
}

func (l *replicaSetLog) apply(typ watch.EventType, rs *appsv1.ReplicaSet) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if typ == watch.Deleted {
		delete(l.sets, rs.Name)
	} else {
		l.sets[rs.Name] = rs
	}
	var d [2]int32
	for _, s := range l.sets {
		if s.Spec.Template.Labels["version"] == "v2" {
			d[0] += ptr.Deref(s.Spec.Replicas, 0)
		} else {
			d[1] += ptr.Deref(s.Spec.Replicas, 0)
		}
	}
	if n := len(l.decisions); n == 0 || l.decisions[n-1] != d {
		l.decisions = append(l.decisions, d)
	}
	close(l.changed)
	l.changed = make(chan struct{})
}

// Changed returns a channel closed at the next event.
func (l *replicaSetLog) Changed() <-chan struct{} {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.changed
}

// Decisions returns the (new, old) desired replicas seen so far.
func (l *replicaSetLog) Decisions() [][2]int32 {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([][2]int32(nil), l.decisions...)
}
