package e2e

import (
	"bytes"
	"context"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/rest"
	"k8s.io/utils/clock"

	"github.com/switchyard-dev/switchyard/bootstrap"
	"github.com/switchyard-dev/switchyard/internal/controlplane"
	"github.com/switchyard-dev/switchyard/strategy"
)

// testTimeout bounds each test; every wait inside it is on a watch.
const testTimeout = 4 * time.Minute

var seq atomic.Int64

// env is one test's copy of the platform bundle on the shared control
// plane: its namespaces, CRD group and cluster-scoped names carry a number
// of their own.
type env struct {
	t       *testing.T
	ctx     context.Context
	cfg     *rest.Config
	writes  *writeCounter
	clients strategy.Clients // counted
	n       int64
	app     types.NamespacedName
}

func newEnv(t *testing.T) *env {
	t.Helper()
	cfg := controlplane.Config(t)
	ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
	t.Cleanup(cancel)
	e := &env{t: t, ctx: ctx, cfg: cfg, writes: &writeCounter{}, n: seq.Add(1)}
	var err error
	e.clients, err = strategy.NewClients(e.writes.wrap(cfg))
	require.NoError(t, err)
	e.app = types.NamespacedName{Namespace: e.ns("platform"), Name: "platform"}
	t.Cleanup(e.cleanup)
	return e
}

func (e *env) ns(base string) string { return fmt.Sprintf("%s-%d", base, e.n) }

func (e *env) group() string { return fmt.Sprintf("e%d.example.com", e.n) }

// renames rewrites the platform bundle's names into the test's own.
func (e *env) renames() []func(string) string {
	nsLine := regexp.MustCompile(`(?m)^(\s*(?:name|namespace): )(platform|apps)\s*$`)
	return []func(string) string{
		func(s string) string { return strings.ReplaceAll(s, "example.com", e.group()) },
		func(s string) string { return nsLine.ReplaceAllString(s, fmt.Sprintf("${1}${2}-%d", e.n)) },
		func(s string) string {
			return strings.ReplaceAll(s, "/namespaces/apps/", "/namespaces/"+e.ns("apps")+"/")
		},
		func(s string) string { return strings.ReplaceAll(s, "widget-operator", e.ns("widget-operator")) },
		func(s string) string { return strings.ReplaceAll(s, "widget-validator", e.ns("widget-validator")) },
	}
}

// platform reads the platform bundle under the test's names.
func (e *env) platform() []*unstructured.Unstructured {
	e.t.Helper()
	files, err := filepath.Glob(filepath.Join("..", "testdata", "platform", "*.yaml"))
	require.NoError(e.t, err)
	sort.Strings(files)
	var out []*unstructured.Unstructured
	for _, f := range files {
		raw, err := os.ReadFile(f)
		require.NoError(e.t, err)
		text := string(raw)
		for _, r := range e.renames() {
			text = r(text)
		}
		objs, err := bootstrap.Decode(f, strings.NewReader(text))
		require.NoError(e.t, err)
		out = append(out, objs...)
	}
	return out
}

// ref is a Ref of the platform bundle under the test's names.
func (e *env) ref(group, kind, ns, name string) bootstrap.Ref {
	if ns != "" {
		ns = e.ns(ns)
	}
	switch name {
	case "widget-operator", "widget-validator":
		name = e.ns(name)
	}
	if group == "example.com" {
		group = e.group()
	}
	return bootstrap.Ref{Group: group, Kind: kind, Namespace: ns, Name: name}
}

// cleanup deletes what the test may have left, without waiting.
func (e *env) cleanup() {
	ctx := context.Background()
	dyn := e.clients.Dynamic
	bg := metav1.DeletePropagationBackground
	opts := metav1.DeleteOptions{PropagationPolicy: &bg}
	for _, ns := range []string{e.ns("apps"), e.ns("platform")} {
		_ = e.clients.Kube.CoreV1().Namespaces().Delete(ctx, ns, opts)
	}
	_ = dyn.Resource(crdResource).Delete(ctx, "widgets."+e.group(), opts)
	_ = e.clients.Kube.RbacV1().ClusterRoles().Delete(ctx, e.ns("widget-operator"), opts)
	_ = e.clients.Kube.RbacV1().ClusterRoleBindings().Delete(ctx, e.ns("widget-operator"), opts)
	_ = e.clients.Kube.AdmissionregistrationV1().ValidatingWebhookConfigurations().Delete(ctx, e.ns("widget-validator"), opts)
}

var crdResource = schema.GroupVersionResource{Group: "apiextensions.k8s.io", Version: "v1", Resource: "customresourcedefinitions"}

// widgetController stands in for the widget operator: a while after a
// Widget is applied, it marks it Ready through the status subresource.
// It returns the observer that triggers it and a function reporting when
// each status was written.
func (e *env) widgetController(delay time.Duration) (strategy.Observer, func(name string) (time.Time, bool)) {
	var written sync.Map
	gvr := schema.GroupVersionResource{Group: e.group(), Version: "v1", Resource: "widgets"}
	prefix := "Widget." + e.group() + " "
	obs := func(ev strategy.Event) {
		if ev.Type != bootstrap.EventApplied || !strings.HasPrefix(ev.Object, prefix) {
			return
		}
		ns, name, _ := strings.Cut(strings.TrimPrefix(ev.Object, prefix), "/")
		clock.RealClock{}.AfterFunc(delay, func() {
			w, err := e.clients.Dynamic.Resource(gvr).Namespace(ns).Get(e.ctx, name, metav1.GetOptions{})
			if err != nil {
				e.t.Errorf("widget controller: %v", err)
				return
			}
			_ = unstructured.SetNestedField(w.Object, map[string]any{
				"observedGeneration": w.GetGeneration(),
				"conditions":         []any{map[string]any{"type": "Ready", "status": "True", "reason": "Reconciled", "message": "widget is ready"}},
			}, "status")
			at := time.Now()
			if _, err := e.clients.Dynamic.Resource(gvr).Namespace(ns).UpdateStatus(e.ctx, w, metav1.UpdateOptions{}); err != nil {
				e.t.Errorf("widget controller: %v", err)
				return
			}
			written.Store(name, at)
		})
	}
	return obs, func(name string) (time.Time, bool) {
		v, ok := written.Load(name)
		if !ok {
			return time.Time{}, false
		}
		return v.(time.Time), true
	}
}

// recorder keeps a run's events in order.
type recorder struct {
	mu     sync.Mutex
	events []strategy.Event
}

func (r *recorder) observe(e strategy.Event) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.events = append(r.events, e)
}

func (r *recorder) position(typ strategy.EventType, object string) int {
	r.mu.Lock()
	defer r.mu.Unlock()
	for i, e := range r.events {
		if e.Type == typ && e.Object == object {
			return i
		}
	}
	return -1
}

func (r *recorder) of(typ strategy.EventType) map[string]strategy.Event {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := map[string]strategy.Event{}
	for _, e := range r.events {
		if e.Type == typ {
			out[e.Object] = e
		}
	}
	return out
}

// writeCounter counts the write requests (POST, PUT, PATCH, DELETE) of the
// clients built from a rest.Config it wraps, with what they were.
type writeCounter struct {
	mu    sync.Mutex
	seen  []string
	total int
}

type roundTripperFunc func(*http.Request) (*http.Response, error)

func (f roundTripperFunc) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

func (c *writeCounter) wrap(cfg *rest.Config) *rest.Config {
	cfg = rest.CopyConfig(cfg)
	cfg.Wrap(func(rt http.RoundTripper) http.RoundTripper {
		return roundTripperFunc(func(r *http.Request) (*http.Response, error) {
			switch r.Method {
			case http.MethodPost, http.MethodPut, http.MethodPatch, http.MethodDelete:
				c.mu.Lock()
				c.total++
				c.seen = append(c.seen, r.Method+" "+r.URL.Path)
				c.mu.Unlock()
			}
			return rt.RoundTrip(r)
		})
	})
	return cfg
}

// reset returns the writes so far and starts again from zero.
func (c *writeCounter) reset() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := c.seen
	c.seen, c.total = nil, 0
	return out
}

func (c *writeCounter) count() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.total
}

// live reads the objects of a bundle and computes their status.
func (e *env) live(objs []*unstructured.Unstructured) map[string]bootstrap.ObjectStatus {
	e.t.Helper()
	out := map[string]bootstrap.ObjectStatus{}
	e.clients.Mapper.Reset()
	for _, o := range objs {
		gvk := o.GroupVersionKind()
		m, err := e.clients.Mapper.RESTMapping(gvk.GroupKind(), gvk.Version)
		require.NoError(e.t, err)
		u, err := e.clients.Dynamic.Resource(m.Resource).Namespace(o.GetNamespace()).Get(e.ctx, o.GetName(), metav1.GetOptions{})
		require.NoError(e.t, err, "%s", bootstrap.RefOf(o))
		out[bootstrap.RefOf(u).String()] = bootstrap.Compute(u, time.Now())
	}
	return out
}

// exists reports whether o is in the cluster.
func (e *env) exists(o *unstructured.Unstructured) bool {
	e.t.Helper()
	e.clients.Mapper.Reset()
	gvk := o.GroupVersionKind()
	m, err := e.clients.Mapper.RESTMapping(gvk.GroupKind(), gvk.Version)
	if err != nil {
		return false
	}
	_, err = e.clients.Dynamic.Resource(m.Resource).Namespace(o.GetNamespace()).Get(e.ctx, o.GetName(), metav1.GetOptions{})
	return err == nil
}

// yamlOf joins documents into one multi-document YAML text.
func yamlOf(docs []string) *bytes.Buffer {
	var b bytes.Buffer
	for _, d := range docs {
		b.WriteString("---\n")
		b.WriteString(d)
		if !strings.HasSuffix(d, "\n") {
			b.WriteByte('\n')
		}
	}
	return &b
}
