package conformance

import (
	"context"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/watch"
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
	name := fmt.Sprintf("conf-%d-%d", time.Now().UnixNano()%1e6, nsSeq.Add(1))
	_, err := e.kube.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name}}, metav1.CreateOptions{})
	require.NoError(t, err)
	t.Cleanup(func() {
		_ = e.kube.CoreV1().Namespaces().Delete(context.Background(), name, metav1.DeleteOptions{})
	})
	return name
}

// cache starts a watch cache of one kind in the test's context.
func cache[T objcache.Object](t *testing.T, ctx context.Context, e env,
	list func(context.Context, metav1.ListOptions) (runtime.Object, error),
	watchFn func(context.Context, metav1.ListOptions) (watch.Interface, error)) *objcache.Cache[T] {
	t.Helper()
	c := objcache.New[T](objcache.ListWatch{List: list, Watch: watchFn}, e.clock)
	require.NoError(t, c.Start(ctx))
	return c
}

// until waits, with a deadline, until cond holds, re-checking on every
// change of the sources; observe is called with each state seen.
func until(t *testing.T, ctx context.Context, e env, what string, cond func() bool, sources ...interface{ Changed() <-chan struct{} }) {
	t.Helper()
	ctx, cancel := context.WithTimeout(ctx, 60*time.Second)
	defer cancel()
	for {
		chans := make([]<-chan struct{}, len(sources))
		for i, s := range sources {
			chans[i] = s.Changed()
		}
		if cond() {
			return
		}
		e.idle()
		err := waitAny(ctx, chans)
		e.busy()
		require.NoError(t, err, "waiting for %s", what)
	}
}

func waitAny(ctx context.Context, chans []<-chan struct{}) error {
	switch len(chans) {
	case 1:
		select {
		case <-chans[0]:
		case <-ctx.Done():
			return ctx.Err()
		}
	case 2:
		select {
		case <-chans[0]:
		case <-chans[1]:
		case <-ctx.Done():
			return ctx.Err()
		}
	default:
		panic("until takes one or two sources")
	}
	return nil
}
