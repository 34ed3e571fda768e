package reliability

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/types"

	"github.com/switchyard-dev/switchyard/bluegreen"
	"github.com/switchyard-dev/switchyard/bootstrap"
	"github.com/switchyard-dev/switchyard/internal/e2ekit"
	"github.com/switchyard-dev/switchyard/strategy"
)

// faultLevels are the shares of requests that get a fault.
func faultLevels() []float64 {
	if long {
		return []float64{0.1, 0.2, 0.35, 0.5, 0.65}
	}
	return []float64{0.2, 0.5}
}

// seeds are the seeds each level runs with.
func seeds() []uint64 {
	if long {
		return []uint64{baseSeed, baseSeed + 1, baseSeed + 2}
	}
	return []uint64{baseSeed}
}

// figure is the account of one release under faults.
type figure struct {
	scenario string
	release  string
	outcome  string
	faults   Stats // of this release alone
	took     time.Duration
	minReady int // fewest ready endpoints from the first release on; -1: not watched
	converge string
}

// faultRun is one scenario at one fault level: its namespace, its proxy
// and the clients under test, which talk to the proxy.
type faultRun struct {
	t       *testing.T
	e       *env
	p       *Proxy
	faulty  strategy.Clients
	name    string
	figures []figure
}

// sub returns the counts of b since a.
func sub(b, a Stats) Stats {
	out := Stats{Requests: b.Requests - a.Requests, Writes: b.Writes - a.Writes, Watches: b.Watches - a.Watches,
		Faults: map[Kind]int{}}
	for k, n := range b.Faults {
		if d := n - a.Faults[k]; d > 0 {
			out.Faults[k] = d
		}
	}
	return out
}

// release runs one release through the faulty clients and checks how it
// ended: a Result or a clean error, never a panic or a hang, and a record
// that reads back consistently. It then runs it again through the
// fault-free client, which must end Succeeded (and write nothing when the
// faulty run had succeeded already).
//
// cut, when positive, ends the faulty Run's context right after its
// cut-th write, in the middle of the release: Run must then return within
// hangGrace, and what it left must read back and converge all the same.
func (f *faultRun) release(what string, app types.NamespacedName, cut int, run func(ctx context.Context, cl strategy.Clients) (*strategy.Result, error)) {
	t := f.t
	t.Helper()
	before := f.p.Stats()
	var cutCh <-chan struct{}
	if cut > 0 {
		cutCh = f.p.AfterWrites(cut)
	}
	o := f.e.bounded(cutCh, func(ctx context.Context) (*strategy.Result, error) { return run(ctx, f.faulty) })
	fig := figure{scenario: f.name, release: what, outcome: o.describe(), faults: sub(f.p.Stats(), before), took: o.took, minReady: -1}
	if o.cut {
		fig.outcome += fmt.Sprintf(" (context ended after write %d; Run returned %s later)", cut, o.late.Round(time.Millisecond))
	}
	defer func() { f.figures = append(f.figures, fig) }()
	t.Logf("%s: %s in %s; %s", what, fig.outcome, o.took.Round(time.Millisecond), fig.faults)
	if o.hung {
		t.Errorf("%s: Run did not return %s after its context ended", what, hangGrace)
		return
	}
	if o.panicked != nil {
		t.Errorf("%s: Run panicked: %v", what, o.panicked)
	}
	f.e.checkEnded(t, app, o)

	var log e2ekit.WriteLog
	direct := f.e.clientsOf(log.Wrap(f.e.cfg))
	c := f.e.bounded(nil, func(ctx context.Context) (*strategy.Result, error) { return run(ctx, direct) })
	require.False(t, c.hung, "%s: the fault-free re-run returns", what)
	require.Nil(t, c.panicked, "%s: the fault-free re-run", what)
	require.NoError(t, c.err, "%s: the fault-free re-run converges", what)
	require.Equal(t, strategy.PhaseSucceeded, c.res.Phase)
	f.e.checkEnded(t, app, c)
	writes := log.Writes()
	if o.err == nil && o.res != nil {
		assert.Empty(t, writes, "%s: a re-run of a release that succeeded writes nothing", what)
	}
	fig.converge = fmt.Sprintf("%s in %s, %d writes", c.res.Phase, c.took.Round(time.Millisecond), len(writes))
}

// scenario is one kind of release run at each fault level.
type scenario struct {
	name string
	// create says whether the test creates the namespace (bootstrap's
	// bundle holds its own).
	create bool
	run    func(f *faultRun)
}

var scenarios = []scenario{
	{name: "bluegreen", create: true, run: func(f *faultRun) { f.twoReleases(bluegreenReplicas, newBluegreenRun) }},
	{name: "canary", create: true, run: func(f *faultRun) { f.twoReleases(canaryReplicas, newCanaryRun) }},
	{name: "bootstrap", run: func(f *faultRun) { f.bootstrap() }},
}

func newBluegreenRun(app types.NamespacedName, rev string) func(context.Context, strategy.Clients) (*strategy.Result, error) {
	return func(ctx context.Context, cl strategy.Clients) (*strategy.Result, error) {
		return newBluegreen(cl).Run(ctx, strategy.Release{App: app, Revision: rev, Workload: workload(rev, bluegreenReplicas)})
	}
}

func newCanaryRun(app types.NamespacedName, rev string) func(context.Context, strategy.Clients) (*strategy.Result, error) {
	return func(ctx context.Context, cl strategy.Clients) (*strategy.Result, error) {
		return newCanary(cl).Run(ctx, strategy.Release{App: app, Revision: rev, Workload: workload(rev, canaryReplicas)})
	}
}

// twoReleases runs v1, then v2 of a blue/green or canary app under faults.
// From the moment v1 serves, an independent watcher of the app Service's
// EndpointSlices must never see fewer than replicas ready endpoints; in
// the end v2 serves alone at full size.
func (f *faultRun) twoReleases(replicas int, newRun func(types.NamespacedName, string) func(context.Context, strategy.Clients) (*strategy.Result, error)) {
	t, e := f.t, f.e
	e.service()
	w := e.watchEndpoints()
	app := e.app(appName)
	f.release("v1", app, 0, newRun(app, "v1"))
	servedBy(t, e, w, replicas)
	period := w.Begin()
	f.release("v2", app, 0, newRun(app, "v2"))
	f.release("v3 cut short", app, 4, newRun(app, "v3"))
	slot := servedBy(t, e, w, replicas)
	end := e.settled(t)
	served := map[string]slotState{bluegreen.Blue: end.Blue, bluegreen.Green: end.Green}[slot]
	assert.Equal(t, "v3", served.Revision, "v3 serves: %+v", end)
	assert.Equal(t, strategy.PhaseSucceeded, end.Phase)
	assert.Equal(t, "v3", end.Stable)
	assert.Equal(t, []string{"v1 Succeeded", "v2 Succeeded", "v3 Succeeded"}, end.History)
	low := period.Check(t, f.name, replicas)
	for i := len(f.figures) - 2; i < len(f.figures); i++ {
		f.figures[i].minReady = low
	}
}

// bootstrap installs the small bundle under faults; in the end every
// object of it is Current.
func (f *faultRun) bootstrap() {
	t, e := f.t, f.e
	app := e.app(bundleApp)
	f.release("bundle", app, 0, func(ctx context.Context, cl strategy.Clients) (*strategy.Result, error) {
		return newBootstrap(cl).Run(ctx, bundleRelease(t, e.ns))
	})
	for ref, st := range e.live(bundle(t, e.ns)) {
		assert.Equal(t, bootstrap.StatusCurrent, st.Status, "%s: %s", ref, st)
	}
	// A second revision of the bundle (the app scaled up, its config
	// changed), its context cut short.
	v2 := bundleV2(t, e.ns)
	f.release("bundle v2 cut short", app, 2, func(ctx context.Context, cl strategy.Clients) (*strategy.Result, error) {
		return newBootstrap(cl).Run(ctx, strategy.Release{App: app, Revision: "v2", Objects: v2})
	})
	for ref, st := range e.live(v2) {
		assert.Equal(t, bootstrap.StatusCurrent, st.Status, "%s: %s", ref, st)
	}
	assert.Equal(t, strategy.PhaseSucceeded, e.status(app).Phase)
}

// live reads the objects of a bundle through the fault-free client and
// computes their status.
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

// TestReleasesUnderAPIFaults runs, through the fault proxy at 20 % and 50 %
// faults (more levels and seeds, and watches cut mid-stream, with
// SWITCHYARD_RELIABILITY_LONG), a blue/green app (v1, v2, then v3 whose
// context ends right after its 4th write), a ReplicaRatio canary (the
// same, four steps with a pause) and a small bootstrap bundle (v1, then
// v2, which scales the app and changes its config, whose context ends
// right after its 2nd write). Every scenario has a namespace and a proxy
// of its own; several run at once.
//
// Each release must end Succeeded or fail cleanly: an error, never a panic,
// never a Run that outlives its context by hangGrace. Then, through a
// fault-free client: the release record reads back (never corrupt), and a
// Run that returned a Result left it in that terminal phase with no lease
// held and no request pending (one that returned only an error left the
// lease free or to its own identity); a re-run converges to Succeeded, and
// writes nothing when the faulty run had succeeded. For blue/green and
// canary an independent watcher of the app Service's EndpointSlices never
// saw fewer ready endpoints than the stable size once v1 served, and the
// last revision serves alone in the end. For the bundle every object is
// Current. The test logs one line per release: outcome, wall time, fewest
// ready endpoints, requests and faults by kind, and the re-run.
func TestReleasesUnderAPIFaults(t *testing.T) {
	controlplaneOrSkip(t)
	t.Parallel()
	began := time.Now()
	var mu sync.Mutex
	var figures []figure
	g := group{t: t}
	for _, level := range faultLevels() {
		for _, seed := range seeds() {
			for _, sc := range scenarios {
				name := fmt.Sprintf("%s at %d%% seed %d", sc.name, int(level*100+0.5), seed)
				g.run(name, func(t *testing.T) {
					e := newEnv(t, fmt.Sprintf("rel-%s-%d-s%d", sc.name, int(level*100+0.5), seed), sc.create)
					o := Options{Rate: level, Seed: seed}
					if long {
						o.WatchCut = 0.25
					}
					p := e.proxy(o)
					f := &faultRun{t: t, e: e, p: p, faulty: e.clientsOf(p.Config()), name: name}
					sc.run(f)
					mu.Lock()
					figures = append(figures, f.figures...)
					mu.Unlock()
				})
			}
		}
	}
	g.wait()
	slices.SortFunc(figures, func(a, b figure) int { return strings.Compare(a.scenario+a.release, b.scenario+b.release) })
	var b strings.Builder
	for _, f := range figures {
		ready := "-"
		if f.minReady >= 0 {
			ready = fmt.Sprint(f.minReady)
		}
		fmt.Fprintf(&b, "\n  %-26s %-6s %-9s %8s  min ready %-2s  %s;  fault-free re-run: %s", f.scenario, f.release,
			f.outcome, f.took.Round(time.Millisecond), ready, f.faults, f.converge)
	}
	t.Logf("%d releases under API faults in %s:%s", len(figures), time.Since(began).Round(time.Millisecond), b.String())
}
