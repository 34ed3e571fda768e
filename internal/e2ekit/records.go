package e2ekit

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"

	"github.com/switchyard-dev/switchyard/strategy"
	"github.com/switchyard-dev/switchyard/strategy/record"
)

// RecordVersion is one version of a release record, as a watch delivered
// it.
type RecordVersion struct {
	At              time.Time
	Event           watch.EventType // "list" for the first
	ResourceVersion string
	Record          record.Record
}

func (v RecordVersion) String() string {
	r := v.Record
	return fmt.Sprintf("%s %-8s rv=%s %s %s phase=%s step=%q holder=%q pending=%d", v.At.Format("15:04:05.000"), v.Event,
		v.ResourceVersion, r.Strategy, r.Revision, r.Phase, r.StepName, r.Lease.Holder, len(r.Requests))
}

// RecordWatcher follows one app's release record with its own list and
// watch, independent of the strategy's, and keeps every version of it.
type RecordWatcher struct {
	kube kubernetes.Interface
	app  types.NamespacedName

	mu       sync.Mutex
	versions []RecordVersion
	changed  chan struct{}
	err      error // a gap: a watch error, or a version that did not decode
}

// WatchRecord starts following app's release record until ctx ends.
func WatchRecord(tb testing.TB, ctx context.Context, kube kubernetes.Interface, app types.NamespacedName) *RecordWatcher {
	tb.Helper()
	w := &RecordWatcher{kube: kube, app: app, changed: make(chan struct{})}
	cms := kube.CoreV1().ConfigMaps(app.Namespace)
	sel := fields.OneTermEqualSelector("metadata.name", strategy.RecordName(app.Name)).String()
	list, err := cms.List(ctx, metav1.ListOptions{FieldSelector: sel})
	if err != nil {
		tb.Fatalf("listing the release record of %s: %v", app, err)
	}
	for i := range list.Items {
		w.add("list", &list.Items[i])
	}
	go w.run(ctx, sel, list.ResourceVersion)
	return w
}

func (w *RecordWatcher) run(ctx context.Context, sel, rv string) {
	cms := w.kube.CoreV1().ConfigMaps(w.app.Namespace)
	for ctx.Err() == nil {
		wi, err := cms.Watch(ctx, metav1.ListOptions{FieldSelector: sel, ResourceVersion: rv, AllowWatchBookmarks: true})
		if err != nil {
			if ctx.Err() == nil {
				w.fail(fmt.Errorf("watching the release record: %w", err))
			}
			return
		}
		rv = w.follow(ctx, wi, rv)
		wi.Stop()
		if rv == "" {
			return // a gap, recorded by follow
		}
	}
}

func (w *RecordWatcher) follow(ctx context.Context, wi watch.Interface, rv string) string {
	for {
		select {
		case <-ctx.Done():
			return rv
		case ev, ok := <-wi.ResultChan():
			if !ok {
				return rv
			}
			switch ev.Type {
			case watch.Error:
				w.fail(apierrors.FromObject(ev.Object))
				return ""
			case watch.Bookmark:
				if cm, ok := ev.Object.(*corev1.ConfigMap); ok {
					rv = cm.ResourceVersion
				}
				continue
			}
			if cm, ok := ev.Object.(*corev1.ConfigMap); ok {
				rv = cm.ResourceVersion
				w.add(ev.Type, cm)
			}
		}
	}
}

func (w *RecordWatcher) add(ev watch.EventType, cm *corev1.ConfigMap) {
	v := RecordVersion{At: time.Now(), Event: ev, ResourceVersion: cm.ResourceVersion}
	if err := json.Unmarshal([]byte(cm.Data[strategy.RecordKey]), &v.Record); err != nil {
		w.fail(fmt.Errorf("decoding release record version %s: %w", cm.ResourceVersion, err))
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	w.versions = append(w.versions, v)
	close(w.changed)
	w.changed = make(chan struct{})
}

func (w *RecordWatcher) fail(err error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.err == nil {
		w.err = err
	}
	close(w.changed)
	w.changed = make(chan struct{})
}

// Err returns the first gap in the watcher's history, nil when none.
func (w *RecordWatcher) Err() error {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.err
}

// Mark returns the number of versions seen so far: Since(Mark()) returns
// the versions seen after this call.
func (w *RecordWatcher) Mark() int {
	w.mu.Lock()
	defer w.mu.Unlock()
	return len(w.versions)
}

// Since returns the versions from index from on.
func (w *RecordWatcher) Since(from int) []RecordVersion {
	w.mu.Lock()
	defer w.mu.Unlock()
	return append([]RecordVersion(nil), w.versions[min(from, len(w.versions)):]...)
}

// WaitFor waits, on the watch, until a version from index from on
// satisfies cond, and returns the first that does.
func (w *RecordWatcher) WaitFor(ctx context.Context, from int, what string, cond func(RecordVersion) bool) (RecordVersion, error) {
	for {
		w.mu.Lock()
		vs, changed, err := w.versions[min(from, len(w.versions)):], w.changed, w.err
		w.mu.Unlock()
		for _, v := range vs {
			if cond(v) {
				return v, nil
			}
		}
		if err != nil {
			return RecordVersion{}, fmt.Errorf("waiting for the release record: %s: %w", what, err)
		}
		select {
		case <-changed:
		case <-ctx.Done():
			last := "none"
			if n := w.Mark(); n > 0 {
				last = w.Since(n - 1)[0].String()
			}
			return RecordVersion{}, fmt.Errorf("waiting for the release record: %s: %w (last: %s)", what, ctx.Err(), last)
		}
	}
}

// Write is one write request a client made, and its answer.
type Write struct {
	At       time.Time // when the answer arrived
	Verb     string
	Resource string
	Name     string
	Status   int
}

func (w Write) String() string {
	return fmt.Sprintf("%s %s %s/%s (%d)", w.At.Format("15:04:05.000"), w.Verb, w.Resource, w.Name, w.Status)
}

// IsRecord reports whether w wrote app's release record.
func (w Write) IsRecord(app string) bool {
	return w.Resource == "configmaps" && w.Name == strategy.RecordName(app)
}

// WriteLog keeps the successful write requests (create, update, patch,
// apply, delete) of the clients built from a rest.Config it wraps, except
// corev1 Events, which are reports rather than state. It can stop a client
// after its n-th write: see StopAfter.
type WriteLog struct {
	mu      sync.Mutex
	writes  []Write
	stopAt  func(w Write, n int) bool
	onStop  func([]Write)
	stopped chan struct{}
}

// Wrap returns cfg with every write logged.
func (l *WriteLog) Wrap(cfg *rest.Config) *rest.Config {
	cfg = rest.CopyConfig(cfg)
	cfg.Wrap(func(rt http.RoundTripper) http.RoundTripper {
		return roundTripperFunc(func(r *http.Request) (*http.Response, error) {
			verb, res := Classify(r)
			write := r.Method != http.MethodGet && r.Method != http.MethodHead && res != "events"
			if write && l.isStopped() {
				<-r.Context().Done() // a stopped client writes nothing more
				return nil, r.Context().Err()
			}
			resp, err := rt.RoundTrip(r)
			if !write || err != nil || resp.StatusCode >= 300 {
				return resp, err
			}
			w := Write{At: time.Now(), Verb: verb, Resource: res, Name: ObjectName(r), Status: resp.StatusCode}
			if l.add(w) {
				<-r.Context().Done() // the last write: its answer never arrives
				_ = resp.Body.Close()
				return nil, r.Context().Err()
			}
			return resp, nil
		})
	})
	return cfg
}

// add logs w and reports whether it is the write to stop after.
func (l *WriteLog) add(w Write) bool {
	l.mu.Lock()
	l.writes = append(l.writes, w)
	stop := l.stopAt != nil && !l.isStoppedLocked() && l.stopAt(w, len(l.writes))
	var onStop func([]Write)
	if stop {
		close(l.stopped)
		onStop = l.onStop
	}
	writes := append([]Write(nil), l.writes...)
	l.mu.Unlock()
	if onStop != nil {
		onStop(writes)
	}
	return stop
}

func (l *WriteLog) isStopped() bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.isStoppedLocked()
}

func (l *WriteLog) isStoppedLocked() bool {
	if l.stopped == nil {
		return false
	}
	select {
	case <-l.stopped:
		return true
	default:
		return false
	}
}

// StopAfter makes the client's n-th write its last: once it is answered,
// onStop is called with the writes so far, and the caller of that write
// and of every later one waits until its request's context ends. A process
// that is then killed stopped right after its n-th write.
func (l *WriteLog) StopAfter(n int, onStop func([]Write)) {
	l.StopWhen(func(_ Write, i int) bool { return i == n }, onStop)
}

// StopWhen is StopAfter the first write w for which last(w, n) is true,
// where w is the n-th write.
func (l *WriteLog) StopWhen(last func(w Write, n int) bool, onStop func([]Write)) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.stopAt, l.onStop, l.stopped = last, onStop, make(chan struct{})
}

// WriteMatch selects the Nth write (from 1) of one object.
type WriteMatch struct {
	Resource, Name string
	Nth            int
}

// Func returns a StopWhen function that is true at the write m selects.
func (m WriteMatch) Func() func(Write, int) bool {
	seen := 0
	return func(w Write, _ int) bool {
		if w.Resource != m.Resource || w.Name != m.Name {
			return false
		}
		seen++
		return seen == m.Nth
	}
}

// Writes returns the writes so far.
func (l *WriteLog) Writes() []Write {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]Write(nil), l.writes...)
}

// ObjectName is the name of the object a request's path names, "" for a
// request to a collection (a create).
func ObjectName(r *http.Request) string {
	parts := strings.Split(strings.Trim(r.URL.Path, "/"), "/")
	var rest []string
	switch {
	case len(parts) >= 2 && parts[0] == "api":
		rest = parts[2:]
	case len(parts) >= 3 && parts[0] == "apis":
		rest = parts[3:]
	}
	if len(rest) >= 3 && rest[0] == "namespaces" {
		rest = rest[2:]
	}
	if len(rest) >= 2 {
		return rest[1]
	}
	return ""
}
