package reliability

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/rest"

	"github.com/switchyard-dev/switchyard/internal/controlplane"
	"github.com/switchyard-dev/switchyard/internal/e2ekit"
	"github.com/switchyard-dev/switchyard/strategy"
)

// The knobs; see doc.go.
var (
	long     = os.Getenv("SWITCHYARD_RELIABILITY_LONG") != ""
	baseSeed = envUint("SWITCHYARD_RELIABILITY_SEED", 1)
	// slots bounds the scenarios and trials that run at once.
	slots = make(chan struct{}, envUint("SWITCHYARD_RELIABILITY_PARALLEL", 4))
)

func envUint(name string, def uint64) uint64 {
	if v, err := strconv.ParseUint(os.Getenv(name), 10, 64); err == nil && v > 0 {
		return v
	}
	return def
}

const (
	// identity is the drivers' identity: a driver that replaces a killed
	// one has the same, as a restarted deploy service has.
	identity = "reliability-driver"
	// runTimeout bounds one release; hangGrace is how long after that a
	// Run may take to return before it counts as a hang.
	runTimeout = 2 * time.Minute
	hangGrace  = 15 * time.Second
	// testTimeout bounds a scenario or a trial.
	testTimeout = 6 * time.Minute
)

// group runs subtests from goroutines, at most cap(slots) of them (across
// the package) at once, and waits for them all.
type group struct {
	t  *testing.T
	wg sync.WaitGroup
}

func (g *group) run(name string, f func(t *testing.T)) {
	g.wg.Add(1)
	go func() {
		defer g.wg.Done()
		slots <- struct{}{}
		defer func() { <-slots }()
		g.t.Run(name, f)
	}()
}

func (g *group) wait() { g.wg.Wait() }

// env is one scenario's namespace on the shared control plane, seen
// through a fault-free admin client.
type env struct {
	t       *testing.T
	ctx     context.Context
	cfg     *rest.Config     // admin, straight to the apiserver
	clients strategy.Clients // fault-free
	ns      string
}

var (
	capacityOnce sync.Once
	capacityErr  error
	nameMu       sync.Mutex
	nameUses     = map[string]int{}
)

// newEnv prepares namespace name (a second use in the same process gets a
// suffix); create says whether to create it, rather than leave it to a
// bundle. The namespace is deleted after the test.
func newEnv(t *testing.T, name string, create bool) *env {
	t.Helper()
	cfg := controlplane.Config(t)
	ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
	t.Cleanup(cancel)
	clients, err := strategy.NewClients(cfg)
	require.NoError(t, err)
	capacityOnce.Do(func() { capacityErr = controlplane.EnsureNodeCapacity(ctx, clients.Kube) })
	require.NoError(t, capacityErr, "declaring the kwok nodes' ephemeral-storage")
	nameMu.Lock()
	nameUses[name]++
	if n := nameUses[name]; n > 1 {
		name = fmt.Sprintf("%s-%d", name, n)
	}
	nameMu.Unlock()
	e := &env{t: t, ctx: ctx, cfg: cfg, clients: clients, ns: name}
	if create {
		_, err = clients.Kube.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name}},
			metav1.CreateOptions{})
		require.NoError(t, err)
	}
	t.Cleanup(func() {
		_ = clients.Kube.CoreV1().Namespaces().Delete(context.Background(), name, metav1.DeleteOptions{})
	})
	return e
}

func (e *env) app(name string) types.NamespacedName {
	return types.NamespacedName{Namespace: e.ns, Name: name}
}

// proxy starts a fault proxy in front of the control plane for this
// scenario, stopped after it.
func (e *env) proxy(o Options) *Proxy {
	e.t.Helper()
	p, err := Start(e.cfg, o)
	require.NoError(e.t, err)
	e.t.Cleanup(p.Close)
	return p
}

// clientsOf builds a strategy's clients on cfg.
func (e *env) clientsOf(cfg *rest.Config) strategy.Clients {
	e.t.Helper()
	cl, err := strategy.NewClients(cfg)
	require.NoError(e.t, err)
	return cl
}

// status reads the release record of app through the fault-free client;
// a record that does not read back (corrupt, foreign) fails the test.
func (e *env) status(app types.NamespacedName) *strategy.Status {
	e.t.Helper()
	st, err := strategy.NewControl(e.clients.Kube).Status(e.ctx, app)
	require.NoError(e.t, err, "the release record of %s reads back", app)
	return st
}

// runOutcome is how one Run ended.
type runOutcome struct {
	res      *strategy.Result
	err      error
	took     time.Duration
	hung     bool // not returned hangGrace after its context ended
	panicked any
	// cut is set when the caller ended the context early; late is how
	// long Run took to return after that.
	cut  bool
	late time.Duration
}

// bounded runs f under runTimeout, and ends its context early when cut
// is closed (nil: never). It waits for f to return at most hangGrace
// after the context ended. A panic in f's goroutine is caught and
// reported (one in another goroutine ends the test binary, which fails
// the run too).
func (e *env) bounded(cut <-chan struct{}, f func(ctx context.Context) (*strategy.Result, error)) runOutcome {
	ctx, cancel := context.WithTimeout(e.ctx, runTimeout)
	defer cancel()
	ch := make(chan runOutcome, 1)
	start := time.Now()
	go func() {
		defer func() {
			if p := recover(); p != nil {
				ch <- runOutcome{panicked: p, took: time.Since(start)}
			}
		}()
		res, err := f(ctx)
		ch <- runOutcome{res: res, err: err, took: time.Since(start)}
	}()
	deadline := time.NewTimer(runTimeout)
	defer deadline.Stop()
	var grace <-chan time.Time
	var cutAt time.Time
	for {
		select {
		case o := <-ch:
			if !cutAt.IsZero() {
				o.cut, o.late = true, time.Since(cutAt)
			}
			return o
		case <-cut:
			cut, cutAt = nil, time.Now()
			cancel()
			grace = time.NewTimer(hangGrace).C
		case <-deadline.C:
			grace = time.NewTimer(hangGrace).C
		case <-grace:
			return runOutcome{hung: true, took: time.Since(start)}
		}
	}
}

// checkEnded checks what the record says after a Run returned o: it reads
// back; a Run that returned a Result left it in the Result's terminal
// phase, with no lease held and no request pending; a Run that returned
// only an error left the lease free or with the driver's own identity,
// for the next Run to continue.
func (e *env) checkEnded(t *testing.T, app types.NamespacedName, o runOutcome) *strategy.Status {
	t.Helper()
	st, err := strategy.NewControl(e.clients.Kube).Status(e.ctx, app)
	if o.res == nil && o.err != nil && errors.Is(err, strategy.ErrNoRecord) {
		t.Logf("no release record: the Run failed before its first write")
		return nil
	}
	require.NoError(t, err, "the release record of %s reads back", app)
	if o.err == nil && assert.NotNil(t, o.res, "a Run without an error returns a Result") {
		assert.Equal(t, strategy.PhaseSucceeded, o.res.Phase, "a Run without an error succeeded")
	}
	if o.res != nil {
		assert.Equal(t, o.res.Phase, st.Phase, "the record says how the Run ended")
		assert.True(t, st.Phase.Terminal(), "phase %s is terminal", st.Phase)
		assert.Empty(t, st.Lease.Holder, "no lease is held after Run returned (%+v)", st.Lease)
		assert.Empty(t, st.Pending, "no request pending")
		return st
	}
	if st.Lease.Holder != "" {
		assert.Equal(t, identity, st.Lease.Holder, "only the driver itself may still hold the lease")
	}
	return st
}

// describe is a one-line account of how a Run ended.
func (o runOutcome) describe() string {
	return strings.ReplaceAll(o.describeLines(), "\n", " / ")
}

func (o runOutcome) describeLines() string {
	switch {
	case o.hung:
		return "HUNG"
	case o.panicked != nil:
		return fmt.Sprintf("PANICKED: %v", o.panicked)
	case o.err == nil && o.res != nil:
		return string(o.res.Phase)
	case o.res != nil:
		return fmt.Sprintf("failed cleanly, %s: %v", o.res.Phase, o.err)
	default:
		return fmt.Sprintf("failed cleanly: %v", o.err)
	}
}

// firstRecordWrite returns when log's client first wrote app's record;
// zero when it did not.
func firstRecordWrite(log *e2ekit.WriteLog, app string) time.Time {
	for _, w := range log.Writes() {
		if w.IsRecord(app) {
			return w.At
		}
	}
	return time.Time{}
}

func typesName(ns, name string) types.NamespacedName {
	return types.NamespacedName{Namespace: ns, Name: name}
}

// controlplaneOrSkip starts the shared control plane, or skips the test
// under -short.
func controlplaneOrSkip(t *testing.T) {
	t.Helper()
	controlplane.SharedControlPlane(t)
}
