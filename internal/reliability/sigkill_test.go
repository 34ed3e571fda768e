package reliability

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"k8s.io/apimachinery/pkg/types"

	"github.com/switchyard-dev/switchyard/bootstrap"
	"github.com/switchyard-dev/switchyard/internal/e2ekit"
	"github.com/switchyard-dev/switchyard/strategy"
)

// killTarget is a release that the kill trials run in a driver process.
type killTarget struct {
	name string
	role string
	// replicas is the stable size an independent watcher of the app
	// Service holds the release to; 0: nothing serves yet (Day 1).
	replicas int
	// prepare readies a trial's namespace: for a canary, v1 installed and
	// serving.
	prepare func(t *testing.T, e *env) types.NamespacedName
	// resume runs the release in the test's process through cl.
	resume func(ctx context.Context, e *env, cl strategy.Clients) (*strategy.Result, error)
	// end waits until the release's objects settle and returns its end
	// state, free of namespace names.
	end func(t *testing.T, e *env) any
	// args are the driver process's.
	args func(e *env) driverArgs
}

var canaryTarget = killTarget{
	name: "canary", role: canaryRole, replicas: canaryReplicas,
	prepare: func(t *testing.T, e *env) types.NamespacedName {
		e.service()
		app := e.app(appName)
		res, err := newCanaryRun(app, "v1")(e.ctx, e.clients)
		require.NoError(t, err, "v1")
		require.Equal(t, strategy.PhaseSucceeded, res.Phase)
		return app
	},
	resume: func(ctx context.Context, e *env, cl strategy.Clients) (*strategy.Result, error) {
		return newCanaryRun(e.app(appName), "v2")(ctx, cl)
	},
	end:  func(t *testing.T, e *env) any { return e.settled(t) },
	args: func(e *env) driverArgs { return driverArgs{Namespace: e.ns, Revision: "v2"} },
}

var bootstrapTarget = killTarget{
	name: "bootstrap", role: bootstrapRole,
	prepare: func(t *testing.T, e *env) types.NamespacedName { return e.app(bundleApp) },
	resume: func(ctx context.Context, e *env, cl strategy.Clients) (*strategy.Result, error) {
		return newBootstrap(cl).Run(ctx, bundleRelease(e.t, e.ns))
	},
	end:  func(t *testing.T, e *env) any { return e.bundleEnd(t) },
	args: func(e *env) driverArgs { return driverArgs{Namespace: e.ns} },
}

// bundleState is the end state of the bundle: what the record says, the
// inventory and the status of each object, with the namespace's name
// replaced by NS.
type bundleState struct {
	Phase     strategy.Phase
	Revision  string
	History   []string
	Pending   int
	Holder    string
	Inventory []string
	Objects   map[string]bootstrap.Status
}

func (e *env) bundleEnd(t *testing.T) bundleState {
	t.Helper()
	app := e.app(bundleApp)
	st := e.status(app)
	norm := strings.NewReplacer(e.ns, "NS")
	s := bundleState{Phase: st.Phase, Revision: st.Revision, Pending: len(st.Pending), Holder: st.Lease.Holder,
		Objects: map[string]bootstrap.Status{}}
	for _, h := range st.History {
		s.History = append(s.History, fmt.Sprintf("%s %s", h.Revision, h.Phase))
	}
	refs, err := newBootstrap(e.clients).Inventory(e.ctx, app)
	require.NoError(t, err)
	for _, r := range refs {
		s.Inventory = append(s.Inventory, norm.Replace(r.String()))
	}
	slices.Sort(s.Inventory)
	for ref, os := range e.live(bundle(t, e.ns)) {
		s.Objects[norm.Replace(ref)] = os.Status
	}
	return s
}

// killed is what a trial knows of the driver it killed.
type killed struct {
	writes []e2ekit.Write // the writes that reached the server, the k-th last
	status *strategy.Status
}

// driver runs the target's release in a driver process whose clients go
// through a proxy of the trial's. With stopAfter > 0 the proxy stops it
// right after its stopAfter-th write and the test kills it with SIGKILL;
// ok is false when it ended before making that many writes. Without, it
// runs to the end.
func (k killTarget) driver(t *testing.T, e *env, app types.NamespacedName, stopAfter int) (dead killed, writes int, ok bool) {
	t.Helper()
	p := e.proxy(Options{})
	stopped := make(chan []e2ekit.Write, 1)
	if stopAfter > 0 {
		p.StopAfterWrites(stopAfter, func(w []e2ekit.Write) { stopped <- w })
	}
	proc := e2ekit.StartProcess(t, helperTest, e2ekit.WriteKubeconfig(t, p.Config()), k.role, k.args(e))
	exited := make(chan error, 1)
	go func() { exited <- proc.Wait(e.ctx) }()
	select {
	case dead.writes = <-stopped:
	case err := <-exited:
		var res driverResult
		require.NoError(t, proc.Result(e.ctx, &res), "driver process: %v", err)
		require.Empty(t, res.Err, "the driver process's release")
		require.Equal(t, strategy.PhaseSucceeded, res.Phase)
		return killed{}, len(p.Writes()), false
	case <-e.ctx.Done():
		t.Fatalf("the driver process neither made %d writes nor ended: %v", stopAfter, e.ctx.Err())
	}
	require.NoError(t, proc.Kill())
	<-exited
	require.True(t, proc.Killed(), "the driver ended by SIGKILL: %v", proc.ExitErr())
	st, err := strategy.NewControl(e.clients.Kube).Status(e.ctx, app)
	switch {
	case errors.Is(err, strategy.ErrNoRecord):
		st = &strategy.Status{StepName: "(no record yet)"}
	default:
		require.NoError(t, err, "the release record reads back after the kill")
	}
	dead.status = st
	return dead, len(p.Writes()), true
}

// killFigure is the account of one kill trial.
type killFigure struct {
	k        int
	write    string // the k-th write
	step     string // the record's phase and step at the kill
	takeover time.Duration
	took     time.Duration
	minReady int
}

// trials picks the writes to kill after among n: every one, unless there
// are more than 30 outside the long run, then an even spread of 30.
func trials(n int) []int {
	step := 1
	if !long && n > 30 {
		step = (n + 29) / 30
	}
	var out []int
	for k := 1; k <= n; k += step {
		out = append(out, k)
	}
	if out[len(out)-1] != n {
		out = append(out, n)
	}
	return out
}

// runKillTrials runs the target's release once in a driver process that
// is never killed, for the end state and the number of writes n, then, for
// each k of trials(n), in a namespace of its own: a driver process
// stopped right after its k-th write and killed with SIGKILL, and a second
// driver with the same identity, in the test's process, that finishes the
// release. The second must take the lease over at once and end Succeeded
// in the end state of the release that never crashed, with no request
// pending and the lease free; an independent watcher of the app Service's
// EndpointSlices must never see fewer ready endpoints than the stable size.
func runKillTrials(t *testing.T, k killTarget) {
	controlplaneOrSkip(t)
	t.Parallel()
	began := time.Now()
	e := newEnv(t, "rel-kill-"+k.name+"-ref", k.replicas > 0)
	app := k.prepare(t, e)
	_, n, _ := k.driver(t, e, app, 0)
	want := k.end(t, e)
	require.Positive(t, n)
	t.Logf("a release that never crashed makes %d writes; end state %+v", n, want)

	var mu sync.Mutex
	var figures []killFigure
	g := group{t: t}
	for _, kth := range trials(n) {
		g.run(fmt.Sprintf("killed after write %d", kth), func(t *testing.T) {
			e := newEnv(t, fmt.Sprintf("rel-kill-%s-%02d", k.name, kth), k.replicas > 0)
			app := k.prepare(t, e)
			var period e2ekit.Period
			if k.replicas > 0 {
				w := e.watchEndpoints()
				servedBy(t, e, w, k.replicas)
				period = w.Begin()
			}
			dead, _, ok := k.driver(t, e, app, kth)
			if !ok {
				t.Skipf("this time the driver finished in fewer than %d writes", kth)
			}
			last := dead.writes[len(dead.writes)-1]
			fig := killFigure{k: kth, write: fmt.Sprintf("%s %s/%s", last.Verb, last.Resource, last.Name),
				step: fmt.Sprintf("%s %q", dead.status.Phase, dead.status.StepName), minReady: -1}
			t.Logf("killed after write %d (%s) at %s, lease %q", kth, fig.write, fig.step, dead.status.Lease.Holder)

			var log e2ekit.WriteLog
			cl := e.clientsOf(log.Wrap(e.cfg))
			start := time.Now()
			o := e.bounded(nil, func(ctx context.Context) (*strategy.Result, error) { return k.resume(ctx, e, cl) })
			require.False(t, o.hung, "the second driver returns")
			require.Nil(t, o.panicked)
			require.NoError(t, o.err, "the second driver finishes the release")
			require.Equal(t, strategy.PhaseSucceeded, o.res.Phase)
			e.checkEnded(t, app, o)
			// The takeover is the second driver's first write of the record
			// (a release that had ended is only read: then all of Run).
			fig.took, fig.takeover = o.took, o.took
			if first := firstRecordWrite(&log, app.Name); !first.IsZero() {
				fig.takeover = first.Sub(start)
			}
			assert.Less(t, fig.takeover, 2*time.Second, "the same identity takes the lease over at once")
			assert.Equal(t, want, k.end(t, e), "the end state of a release that never crashed")
			if k.replicas > 0 {
				fig.minReady = period.Check(t, fmt.Sprintf("killed after write %d, resumed", kth), k.replicas)
			}
			mu.Lock()
			figures = append(figures, fig)
			mu.Unlock()
		})
	}
	g.wait()
	slices.SortFunc(figures, func(a, b killFigure) int { return a.k - b.k })
	var b strings.Builder
	var worst time.Duration
	for _, f := range figures {
		ready := "-"
		if f.minReady >= 0 {
			ready = fmt.Sprint(f.minReady)
		}
		worst = max(worst, f.takeover)
		fmt.Fprintf(&b, "\n  after write %2d %-40s at %-32s takeover %8s, Run %8s, min ready %s", f.k, f.write, f.step,
			f.takeover.Round(100*time.Microsecond), f.took.Round(time.Millisecond), ready)
	}
	t.Logf("%s: %d kill trials of a %d-write release in %s; the second driver took over within %s at worst:%s",
		k.name, len(figures), n, time.Since(began).Round(time.Millisecond), worst.Round(100*time.Microsecond), b.String())
}

// TestKilledCanaryDriver kills the driver of a ReplicaRatio canary (v1
// serving, v2 released in four steps) with SIGKILL right after each of its
// writes in turn; see runKillTrials.
func TestKilledCanaryDriver(t *testing.T) { runKillTrials(t, canaryTarget) }

// TestKilledBootstrapDriver kills the driver of the small bundle's Day 1
// install with SIGKILL right after each of its writes in turn; see
// runKillTrials. Nothing serves before a Day 1 install, so no watcher.
func TestKilledBootstrapDriver(t *testing.T) { runKillTrials(t, bootstrapTarget) }
