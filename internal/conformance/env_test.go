package conformance

import (
	"context"
	"fmt"
	"reflect"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/utils/clock"

	"github.com/switchyard-dev/switchyard/internal/objcache"
)

// env is one cluster the suite runs against.
type env struct {
	kube  kubernetes.Interface
	clock clock.WithTicker
	// idle and busy tell an auto-advancing fake clock when the test waits.
	idle, busy func()
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
	ctx, cancel := context.WithTimeout(ctx, 60*time.Second)
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
