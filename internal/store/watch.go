package store

import (
	"context"
	"fmt"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/utils/clock"

	"github.com/switchyard-dev/switchyard/internal/objcache"
	"github.com/switchyard-dev/switchyard/internal/participant"
	"github.com/switchyard-dev/switchyard/internal/retry"
	"github.com/switchyard-dev/switchyard/strategy/record"
)

// Watch is a watch of one app's release record for a caller that waits on
// it, counted as a participant of an auto-advancing fake clock (see
// fake.Clock.Join): the cache marks it busy, counting a wake, before it
// wakes it, and Block does not block when it was woken since it last
// looked.
type Watch struct {
	Records    *objcache.Cache[*corev1.ConfigMap]
	idle       func() bool
	busy, wake func()
	done       func()
	cancelHook func()
	cancel     context.CancelFunc
}

// WatchRecord starts a watch of app's release record; Close ends it. The
// caller counts as busy until it blocks in Block.
func (s *Store) WatchRecord(ctx context.Context, app types.NamespacedName) (*Watch, error) {
	w := &Watch{cancelHook: func() {}}
	w.idle, w.busy, w.wake, w.done = participant.Join(s.Retry.Clock, "watch of the release record of "+app.String())
	var wctx context.Context
	wctx, w.cancel = context.WithCancel(ctx)
	cms := s.Kube.CoreV1().ConfigMaps(app.Namespace)
	w.Records = objcache.New[*corev1.ConfigMap](objcache.For(cms.List, cms.Watch, objcache.ByName(record.Name(app.Name))), s.Retry.Clock)
	r := s.Retry
	r.Idle = w.pause
	if err := r.Do(ctx, func(context.Context) error { return w.Records.Start(wctx) }); err != nil {
		w.Close()
		return nil, fmt.Errorf("watching release record of %s: %w", app, err)
	}
	w.cancelHook = w.Records.OnChange(w.wake)
	return w, nil
}

// pause marks the caller idle for a wait on its own timer and returns what
// marks it busy again.
func (w *Watch) pause() func() {
	for !w.idle() {
		w.busy()
	}
	return w.wake
}

// Close ends the watch.
func (w *Watch) Close() {
	w.cancelHook()
	w.cancel()
	w.done()
}

// Failed returns the watch's error when it failed for good (a 403 for a
// missing "watch" permission): waiting on it would wait for ever.
func (w *Watch) Failed() error {
	if err := w.Records.Err(); err != nil && !retry.Transient(err) {
		return err
	}
	return nil
}

// Get returns app's record as the watch last saw it, false when there is
// none.
func (w *Watch) Get(app types.NamespacedName) (*corev1.ConfigMap, bool) {
	return w.Records.Get(app.Namespace, record.Name(app.Name))
}

// Block waits until the record changes, the clock reaches until (when not
// zero) or ctx ends, marking the caller idle meanwhile. changed is the
// cache's channel, taken after the previous Block returned (or after
// WatchRecord). The timer and the cache mark the caller busy before waking
// it, and Block returns at once when the caller was woken since it last
// looked; it returns with the caller busy.
func (w *Watch) Block(ctx context.Context, clk clock.WithTickerAndDelayedExecution, changed <-chan struct{}, wait time.Duration) error {
	var fired chan struct{}
	var t clock.Timer
	if wait > 0 {
		fired = make(chan struct{})
		ch := fired
		t = clk.AfterFunc(wait, func() { w.wake(); close(ch) })
	}
	if w.idle() {
		select {
		case <-ctx.Done():
		case <-changed:
		case <-fired:
		}
	}
	if t != nil && !t.Stop() {
		<-fired // its wake must not land in a later wait
	}
	w.busy()
	return ctx.Err()
}

// WaitUnlocked waits, on a watch of the record and the clock, until no
// driver other than identity holds app's lease: its holder released it,
// let it lapse, or left it unchanged for its whole duration (whatever its
// timestamps say). A lease held under identity counts as free once no Run
// of this process holds the app. It returns the lease it saw lapse
// unchanged while its timestamps still say it is live, for a driver to
// take. A watch that fails for good is passed through watchErr.
func (s *Store) WaitUnlocked(ctx context.Context, app types.NamespacedName, identity string, watchErr func(error) error) (*record.Lease, error) {
	w, err := s.WatchRecord(ctx, app)
	if err != nil {
		return nil, err
	}
	defer w.Close()
	clk := s.Retry.Clock
	var seen record.Lease
	var seenAt time.Time
	for {
		changed := w.Records.Changed()
		if err := w.Failed(); err != nil {
			return nil, watchErr(err)
		}
		cm, ok := w.Get(app)
		if !ok {
			return nil, WaitLocal(ctx, s.Kube, app, identity, w.idle, w.busy, w.wake)
		}
		rec, err := record.Decode(app, cm)
		if err != nil {
			return nil, err
		}
		now := clk.Now()
		lease := rec.Lease
		if !lease.Live(now) || lease.Holder == identity {
			return nil, WaitLocal(ctx, s.Kube, app, identity, w.idle, w.busy, w.wake)
		}
		if !lease.Same(seen) {
			seen, seenAt = lease, now
		}
		lapse := lease.Expires()
		if bound := seenAt.Add(lease.Span()); bound.Before(lapse) {
			lapse = bound
		}
		if !now.Before(lapse) {
			return &seen, WaitLocal(ctx, s.Kube, app, identity, w.idle, w.busy, w.wake)
		}
		if err := w.Block(ctx, clk, changed, lapse.Sub(now)); err != nil {
			return nil, err
		}
	}
}
