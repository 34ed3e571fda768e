package e2e

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/rest"

	"github.com/switchyard-dev/switchyard/internal/controlplane"
	"github.com/switchyard-dev/switchyard/internal/e2ekit"
	"github.com/switchyard-dev/switchyard/internal/routertest"
	"github.com/switchyard-dev/switchyard/strategy"
	"github.com/switchyard-dev/switchyard/strategy/traffic"
)

const (
	stable = "web-stable"
	canary = "web-canary"
	// testTimeout bounds each test; every wait inside it is on a watch.
	testTimeout = 2 * time.Minute
)

// crdFiles are the routers' CRDs, all installed before any test uses the
// API.
var crdFiles = []string{routertest.GatewayCRD, routertest.IstioCRD, routertest.SMICRD}

// weights are the weights every router must write and read back exactly.
var weights = []int32{0, 2, 25, 75, 100}

var nsSeq atomic.Int64

// env is one test's namespace on the shared control plane, with clients
// whose requests are counted and whose API warnings are recorded.
type env struct {
	t        *testing.T
	ctx      context.Context
	ns       string
	clients  strategy.Clients
	requests *requestCounter
	warnings *warningRecorder
}

// newEnv installs the CRDs (once per control plane), creates a namespace
// with the Services web-stable and web-canary, and returns clients for the
// routers.
func newEnv(t *testing.T) *env {
	t.Helper()
	cfg := controlplane.Config(t)
	ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
	t.Cleanup(cancel)

	e := &env{t: t, ctx: ctx, requests: &requestCounter{}, warnings: &warningRecorder{}}
	cfg.WarningHandler = e.warnings
	cfg.Wrap(e.requests.wrap)
	installCRDs(t, ctx, cfg)
	clients, err := strategy.NewClients(cfg)
	require.NoError(t, err)
	clients.Mapper.Reset() // the CRDs were just installed
	e.clients = clients

	e.ns = fmt.Sprintf("traffic-e2e-%d", nsSeq.Add(1))
	kube := clients.Kube
	_, err = kube.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: e.ns}}, metav1.CreateOptions{})
	require.NoError(t, err)
	t.Cleanup(func() { _ = kube.CoreV1().Namespaces().Delete(context.Background(), e.ns, metav1.DeleteOptions{}) })
	t.Logf("namespace %s", e.ns)
	e.service(stable, "blue")
	e.service(canary, "green")
	return e
}

// service creates a Service selecting the app's pods in slot.
func (e *env) service(name, slot string) {
	e.t.Helper()
	selector := map[string]string{"app": "web"}
	if slot != "" {
		selector[strategy.LabelSlot] = slot
	}
	_, err := e.clients.Kube.CoreV1().Services(e.ns).Create(e.ctx, &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Name: name},
		Spec: corev1.ServiceSpec{Selector: selector,
			Ports: []corev1.ServicePort{{Name: "http", Port: 80, TargetPort: intstr.FromInt32(8080)}}},
	}, metav1.CreateOptions{})
	require.NoError(e.t, err)
}

func (e *env) key(name string) types.NamespacedName {
	return types.NamespacedName{Namespace: e.ns, Name: name}
}

// create creates a custom resource from YAML in the test's namespace.
func (e *env) create(gvr schema.GroupVersionResource, doc string) *unstructured.Unstructured {
	e.t.Helper()
	u, err := e.tryCreate(gvr, doc)
	require.NoError(e.t, err)
	e.noWarnings("creating " + u.GetName())
	return u
}

func (e *env) tryCreate(gvr schema.GroupVersionResource, doc string) (*unstructured.Unstructured, error) {
	e.t.Helper()
	u := routertest.Parse(e.t, doc)
	return e.clients.Dynamic.Resource(gvr).Namespace(e.ns).Create(e.ctx, u, metav1.CreateOptions{})
}

// get reads a custom resource.
func (e *env) get(gvr schema.GroupVersionResource, name string) *unstructured.Unstructured {
	e.t.Helper()
	u, err := e.clients.Dynamic.Resource(gvr).Namespace(e.ns).Get(e.ctx, name, metav1.GetOptions{})
	require.NoError(e.t, err)
	return u
}

// noWarnings checks that the API server dropped no field written since the
// last check: with the default field validation (Warn) it warns about each
// field it drops because the schema does not know it, and about duplicate
// fields. Other warnings, e.g. deprecations, are logged.
func (e *env) noWarnings(after string) {
	e.t.Helper()
	for _, w := range e.warnings.take() {
		if strings.Contains(w, "unknown field") || strings.Contains(w, "duplicate field") {
			e.t.Errorf("after %s the API server warned: %s", after, w)
		} else {
			e.t.Logf("after %s the API server warned: %s", after, w)
		}
	}
}

// checkWeights sets each of weights, checks what Weight and read reports,
// then sets the same weight again and checks that nothing was written. It
// also checks that the API server warned about nothing.
func (e *env) checkWeights(r traffic.Router, read func(percent int32)) {
	e.t.Helper()
	for _, w := range weights {
		require.NoError(e.t, r.SetWeight(e.ctx, w), "SetWeight(%d)", w)
		got, err := r.Weight(e.ctx)
		require.NoError(e.t, err, "Weight after SetWeight(%d)", w)
		assert.Equal(e.t, w, got, "Weight after SetWeight(%d)", w)
		if read != nil {
			read(w)
		}
		e.noWarnings(fmt.Sprintf("SetWeight(%d)", w))
		e.requests.reset()
		require.NoError(e.t, r.SetWeight(e.ctx, w), "SetWeight(%d) again", w)
		writes, all := e.requests.writes()
		assert.Empty(e.t, writes, "SetWeight(%d) a second time must not write (requests: %v)", w, all)
		got, err = r.Weight(e.ctx)
		require.NoError(e.t, err)
		assert.Equal(e.t, w, got, "Weight after SetWeight(%d) again", w)
	}
}

// requireInvalid checks that err is a *strategy.ValidationError naming path.
func requireInvalid(t *testing.T, err error, path string) {
	t.Helper()
	var ve *strategy.ValidationError
	require.True(t, errors.As(err, &ve), "want a ValidationError, got %v", err)
	assert.True(t, ve.Has(path), "want field %s in %v", path, err)
	assert.ErrorIs(t, err, strategy.ErrInvalid)
}

// crdInstall guards installing the CRDs: tests that run in parallel wait
// for one install.
var crdInstall sync.Mutex

// installCRDs creates the routers' CRDs that do not exist yet and
// waits, on a watch, until each is Established.
func installCRDs(t *testing.T, ctx context.Context, cfg *rest.Config) {
	t.Helper()
	crdInstall.Lock()
	defer crdInstall.Unlock()
	dyn, err := dynamic.NewForConfig(cfg)
	require.NoError(t, err)
	for _, f := range crdFiles {
		require.NoError(t, e2ekit.InstallCRD(ctx, dyn, routertest.CRD(t, f)))
	}
}

// requestCounter records the requests of a rest.Config it wraps.
type requestCounter struct {
	mu   sync.Mutex
	seen []string // "METHOD path"
}

type roundTripperFunc func(*http.Request) (*http.Response, error)

func (f roundTripperFunc) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

// wrap is a rest.Config's WrapperFunc.
func (c *requestCounter) wrap(rt http.RoundTripper) http.RoundTripper {
	return roundTripperFunc(func(r *http.Request) (*http.Response, error) {
		c.mu.Lock()
		c.seen = append(c.seen, r.Method+" "+r.URL.Path)
		c.mu.Unlock()
		return rt.RoundTrip(r)
	})
}

func (c *requestCounter) reset() {
	c.mu.Lock()
	c.seen = nil
	c.mu.Unlock()
}

// writes returns the requests since the last reset that change something,
// and all of them.
func (c *requestCounter) writes() (writes, all []string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, s := range c.seen {
		switch method, _, _ := strings.Cut(s, " "); method {
		case http.MethodGet, http.MethodHead, http.MethodOptions:
		default:
			writes = append(writes, s)
		}
	}
	return writes, append([]string(nil), c.seen...)
}

// warningRecorder is a rest.WarningHandler that keeps the warnings.
type warningRecorder struct {
	mu   sync.Mutex
	msgs []string
}

func (w *warningRecorder) HandleWarningHeader(code int, agent, text string) {
	if code != 299 || text == "" {
		return
	}
	w.mu.Lock()
	w.msgs = append(w.msgs, text)
	w.mu.Unlock()
}

// take returns the warnings so far and forgets them.
func (w *warningRecorder) take() []string {
	w.mu.Lock()
	defer w.mu.Unlock()
	out := w.msgs
	w.msgs = nil
	return out
}
