package fake

import (
	"context"
	"fmt"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/tools/cache"
)

func next(t *testing.T, ctx context.Context, w watch.Interface) watch.Event {
	t.Helper()
	select {
	case ev, ok := <-w.ResultChan():
		require.True(t, ok, "watch closed")
		return ev
	case <-ctx.Done():
		t.Fatal("no watch event")
	}
	return watch.Event{}
}

func TestWatchManyQueuedEventsDoesNotPanic(t *testing.T) {
	c := newTestCluster(t)
	ctx := testCtx(t)
	cms := c.Clients().Kube.CoreV1().ConfigMaps("default")
	w, err := cms.Watch(ctx, metav1.ListOptions{})
	require.NoError(t, err)
	defer w.Stop()
	const n = 1500
	for i := 0; i < n; i++ {
		_, err := cms.Create(ctx, &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: fmt.Sprintf("cm-%d", i)}}, metav1.CreateOptions{})
		require.NoError(t, err)
	}
	for i := 0; i < n; i++ {
		ev := next(t, ctx, w)
		require.Equal(t, watch.Added, ev.Type)
		assert.Equal(t, fmt.Sprintf("cm-%d", i), ev.Object.(*corev1.ConfigMap).Name)
	}
}

func TestWatchSelectorsAndResourceVersion(t *testing.T) {
	c := newTestCluster(t)
	ctx := testCtx(t)
	cms := c.Clients().Kube.CoreV1().ConfigMaps("default")
	_, err := cms.Create(ctx, &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "before", Labels: map[string]string{"team": "a"}}}, metav1.CreateOptions{})
	require.NoError(t, err)
	list, err := cms.List(ctx, metav1.ListOptions{})
	require.NoError(t, err)

	w, err := cms.Watch(ctx, metav1.ListOptions{ResourceVersion: list.ResourceVersion, LabelSelector: "team=a"})
	require.NoError(t, err)
	defer w.Stop()
	byName, err := cms.Watch(ctx, metav1.ListOptions{ResourceVersion: list.ResourceVersion, FieldSelector: "metadata.name=target"})
	require.NoError(t, err)
	defer byName.Stop()

	_, err = cms.Create(ctx, &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "other", Labels: map[string]string{"team": "b"}}}, metav1.CreateOptions{})
	require.NoError(t, err)
	target, err := cms.Create(ctx, &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "target", Labels: map[string]string{"team": "a"}}}, metav1.CreateOptions{})
	require.NoError(t, err)
	ev := next(t, ctx, w)
	assert.Equal(t, watch.Added, ev.Type)
	assert.Equal(t, "target", ev.Object.(*corev1.ConfigMap).Name, "events before the list's resourceVersion and of other labels are skipped")
	assert.Equal(t, "target", next(t, ctx, byName).Object.(*corev1.ConfigMap).Name)

	target.Labels["team"] = "b"
	_, err = cms.Update(ctx, target, metav1.UpdateOptions{})
	require.NoError(t, err)
	assert.Equal(t, watch.Deleted, next(t, ctx, w).Type, "leaving the selector looks like a delete")

	_, err = cms.Watch(ctx, metav1.ListOptions{ResourceVersion: "0"})
	require.NoError(t, err)
}

func TestWatchTooOldIsGone(t *testing.T) {
	c := newTestCluster(t)
	ctx := testCtx(t)
	cms := c.Clients().Kube.CoreV1().ConfigMaps("default")
	for i := 0; i < historySize+10; i++ {
		_, err := cms.Create(ctx, &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: fmt.Sprintf("cm-%d", i)}}, metav1.CreateOptions{})
		require.NoError(t, err)
	}
	_, err := cms.Watch(ctx, metav1.ListOptions{ResourceVersion: "1"})
	assert.True(t, apierrors.IsResourceExpired(err) || apierrors.IsGone(err), "got %v", err)
}

func TestDropWatches(t *testing.T) {
	c := newTestCluster(t)
	ctx := testCtx(t)
	pods, err := c.Clients().Kube.CoreV1().Pods("default").Watch(ctx, metav1.ListOptions{})
	require.NoError(t, err)
	cms, err := c.Clients().Kube.CoreV1().ConfigMaps("default").Watch(ctx, metav1.ListOptions{})
	require.NoError(t, err)
	defer cms.Stop()
	c.DropWatches("pods")
	select {
	case _, ok := <-pods.ResultChan():
		assert.False(t, ok, "the pod watch is closed")
	case <-ctx.Done():
		t.Fatal("pod watch not closed")
	}
	_, err = c.Clients().Kube.CoreV1().ConfigMaps("default").Create(ctx, &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "x"}}, metav1.CreateOptions{})
	require.NoError(t, err)
	assert.Equal(t, watch.Added, next(t, ctx, cms).Type, "other watches stay open")
}

func TestInformerSurvivesDroppedWatches(t *testing.T) {
	c := newTestCluster(t)
	ctx := testCtx(t)
	factory := informers.NewSharedInformerFactory(c.Clients().Kube, 0)
	inf := factory.Core().V1().ConfigMaps().Informer()
	seen := make(chan string, 10)
	_, err := inf.AddEventHandler(cache.ResourceEventHandlerFuncs{AddFunc: func(o any) { seen <- o.(*corev1.ConfigMap).Name }})
	require.NoError(t, err)
	stop := make(chan struct{})
	factory.Start(stop)
	defer factory.Shutdown()
	defer close(stop)
	require.True(t, cache.WaitForCacheSync(ctx.Done(), inf.HasSynced))
	cms := c.Clients().Kube.CoreV1().ConfigMaps("default")
	_, err = cms.Create(ctx, &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "one"}}, metav1.CreateOptions{})
	require.NoError(t, err)
	assert.Equal(t, "one", <-seen)
	c.DropWatches("configmaps")
	_, err = cms.Create(ctx, &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "two"}}, metav1.CreateOptions{})
	require.NoError(t, err)
	select {
	case name := <-seen:
		assert.Equal(t, "two", name, "the informer re-watched from its last resourceVersion")
	case <-ctx.Done():
		t.Fatal("informer did not recover")
	}
}
