package bootstrap_test

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/utils/clock"

	"github.com/switchyard-dev/switchyard/bootstrap"
	"github.com/switchyard-dev/switchyard/fake"
	"github.com/switchyard-dev/switchyard/strategy"
)

var (
	platformApp = types.NamespacedName{Namespace: "platform", Name: "platform"}
	widgets     = schema.GroupVersionResource{Group: "example.com", Version: "v1", Resource: "widgets"}
)

func testCtx(t testing.TB) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	t.Cleanup(cancel)
	return ctx
}

func newCluster(t testing.TB, opts ...fake.Option) *fake.Cluster {
	c := fake.NewCluster(append([]fake.Option{fake.WithAutoAdvance()}, opts...)...)
	t.Cleanup(c.Stop)
	return c
}

func platform(t testing.TB) []*unstructured.Unstructured {
	t.Helper()
	objs, err := bootstrap.ReadFiles("testdata/platform")
	require.NoError(t, err)
	return objs
}

// recorder keeps the events of a run, in order.
type recorder struct {
	mu     sync.Mutex
	events []strategy.Event
}

func (r *recorder) observe(e strategy.Event) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.events = append(r.events, e)
}

func (r *recorder) all() []strategy.Event {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.events)
}

// of returns the events of type typ, by object.
func (r *recorder) of(typ strategy.EventType) map[string]strategy.Event {
	out := map[string]strategy.Event{}
	for _, e := range r.all() {
		if e.Type == typ {
			out[e.Object] = e
		}
	}
	return out
}

// position returns the index of the first event of type typ for object.
func (r *recorder) position(typ strategy.EventType, object string) int {
	for i, e := range r.all() {
		if e.Type == typ && e.Object == object {
			return i
		}
	}
	return -1
}

// statusWriter returns an observer that, delay after a Widget is applied,
// marks it Ready with its generation observed. The write runs in a clock
// callback, during which an auto-advancing fake clock stands still.
func statusWriter(t testing.TB, clients strategy.Clients, clk clock.WithTickerAndDelayedExecution, delay time.Duration, written *sync.Map) strategy.Observer {
	return func(e strategy.Event) {
		if e.Type != bootstrap.EventApplied || !isWidget(e.Object) {
			return
		}
		var ns, name string
		_, err := fmt.Sscanf(e.Object, "Widget.example.com %s", &ns)
		require.NoError(t, err)
		ns, name = splitName(ns)
		clk.AfterFunc(delay, func() {
			ctx := context.Background()
			w, err := clients.Dynamic.Resource(widgets).Namespace(ns).Get(ctx, name, metav1.GetOptions{})
			if err != nil {
				t.Errorf("widget controller: %v", err)
				return
			}
			_ = unstructured.SetNestedField(w.Object, map[string]any{
				"observedGeneration": w.GetGeneration(),
				"conditions": []any{map[string]any{"type": "Ready", "status": "True", "reason": "Reconciled",
					"message": "widget is ready"}},
			}, "status")
			if _, err := clients.Dynamic.Resource(widgets).Namespace(ns).UpdateStatus(ctx, w, metav1.UpdateOptions{}); err != nil {
				t.Errorf("widget controller: %v", err)
				return
			}
			written.Store(ns+"/"+name, clk.Now())
		})
	}
}

func isWidget(object string) bool { return len(object) > 19 && object[:19] == "Widget.example.com " }

func splitName(nsName string) (string, string) {
	for i := range nsName {
		if nsName[i] == '/' {
			return nsName[:i], nsName[i+1:]
		}
	}
	return "", nsName
}

// writes counts the requests that change something.
func writes(c *fake.Cluster) int {
	rc := c.Requests()
	n := 0
	for _, verb := range []string{"create", "update", "patch", "delete", "deletecollection"} {
		n += rc.Count(verb, "*")
	}
	return n
}
