package e2ekit

import (
	"context"
	"reflect"
	"testing"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes"
	"k8s.io/utils/clock"

	"github.com/switchyard-dev/switchyard/internal/objcache"
	"github.com/switchyard-dev/switchyard/strategy"
	"github.com/switchyard-dev/switchyard/strategy/flow"
)

// Outcome is how a release run in the background ended.
type Outcome struct {
	Res *strategy.Result
	Err error
}

// Start runs release r of s in the background.
func Start(ctx context.Context, s strategy.Strategy, r strategy.Release) <-chan Outcome {
	ch := make(chan Outcome, 1)
	go func() {
		res, err := s.Run(ctx, r)
		ch <- Outcome{res, err}
	}()
	return ch
}

// Await returns the outcome of a release started with Start, failing tb
// when ctx ends first.
func Await(tb testing.TB, ctx context.Context, ch <-chan Outcome) Outcome {
	tb.Helper()
	select {
	case o := <-ch:
		return o
	case <-ctx.Done():
		tb.Fatalf("release never returned: %v", ctx.Err())
		return Outcome{}
	}
}

// Until waits until cond holds, checking it again on every change of the
// sources (watch caches and the like), failing tb when ctx ends first.
func Until(tb testing.TB, ctx context.Context, what string, cond func() bool, sources ...flow.Source) {
	tb.Helper()
	for {
		cases := []reflect.SelectCase{{Dir: reflect.SelectRecv, Chan: reflect.ValueOf(ctx.Done())}}
		for _, s := range sources {
			cases = append(cases, reflect.SelectCase{Dir: reflect.SelectRecv, Chan: reflect.ValueOf(s.Changed())})
		}
		if cond() {
			return
		}
		if chosen, _, _ := reflect.Select(cases); chosen == 0 {
			tb.Fatalf("waiting for %s: %v", what, ctx.Err())
		}
	}
}

// WaitStatus waits, on a watch of app's release record, until the record's
// status satisfies cond, and returns that status; it fails tb when ctx ends
// first.
func WaitStatus(tb testing.TB, ctx context.Context, kube kubernetes.Interface, app types.NamespacedName, what string,
	cond func(*strategy.Status) bool) *strategy.Status {
	tb.Helper()
	cms := kube.CoreV1().ConfigMaps(app.Namespace)
	records := objcache.New[*corev1.ConfigMap](objcache.For(cms.List, cms.Watch, objcache.ByName(strategy.RecordName(app.Name))), clock.RealClock{})
	wctx, cancel := context.WithCancel(ctx)
	defer cancel()
	if err := records.Start(wctx); err != nil {
		tb.Fatalf("watching the release record of %s: %v", app, err)
	}
	control := strategy.NewControl(kube)
	var got *strategy.Status
	Until(tb, ctx, what, func() bool {
		st, err := control.Status(ctx, app)
		if err != nil || !cond(st) {
			return false
		}
		got = st
		return true
	}, records)
	return got
}
