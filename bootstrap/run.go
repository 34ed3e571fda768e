package bootstrap

import (
	"context"
	"errors"
	"fmt"
	"time"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"

	"github.com/switchyard-dev/switchyard/strategy"
	"github.com/switchyard-dev/switchyard/strategy/flow"
	"github.com/switchyard-dev/switchyard/strategy/record"
)

// Apply applies the bundle in r.Objects as a dependency graph and waits
// until every object is ready, then prunes what left the bundle when
// Spec.Prune is set.
//
// r.App names the bundle: its namespace holds the release record and the
// inventory, and must exist or be a Namespace in the bundle. r.Revision is
// the caller's name for this version of the bundle; empty means a digest
// of its content. r.Workload must be nil.
//
// Apply returns a *strategy.ValidationError, having written nothing, for a
// bad release or spec, a cycle, or a kind no resource serves. A run that
// ends with an object failed, timed out or skipped, or whose ctx ended,
// returns the report and a *FailedError; the report's Result and the
// release record then say Failed, and the lease is released.
func (s *Strategy) Apply(ctx context.Context, r strategy.Release) (*Report, error) {
	b, err := s.prepare(ctx, r)
	if err != nil {
		return nil, err
	}
	wctx, cancel := context.WithCancel(ctx)
	defer cancel()
	rn := newRun(s, b, wctx)
	defer rn.release()
	if err := rn.load(ctx); err != nil {
		return nil, err
	}
	if rep, ok, err := rn.unchanged(ctx); err != nil || ok {
		return rep, err
	}
	if err := rn.prepareRecordNamespace(ctx); err != nil {
		return nil, err
	}
	d, err := flow.Begin(ctx, s.Name(), s.clients, b.rel, s.cfg)
	if err != nil {
		return nil, err
	}
	defer d.Close()
	rn.d, rn.em.d = d, d
	return rn.drive(ctx)
}

// run is one Apply of a bundle.
type run struct {
	s  *Strategy
	b  *bundle
	em *emitter
	d  *flow.Driver
	// fromJobs reports events from the jobs' goroutines, such as retries.
	fromJobs func(strategy.Event)
	hub      *hub
	caches   *caches
	store    *inventoryStore
	inv      *inventory // as read at the start
	invIdx   map[Ref]invEntry

	nodes    []*nodeState
	pos      []int // position of each object in the graph's order
	queue    intHeap
	results  chan jobResult
	running  int
	jobsCtx  context.Context
	stopJobs context.CancelCauseFunc
	// gvrs holds the resources found by jobs for kinds not served at the
	// start; only the run's goroutine writes it.
	gvrs        map[int]schema.GroupVersionResource
	resetMapper bool
	stopped     string // why the run stopped early, "" while it goes on
	timedOut    bool   // the run's timeout ran out
	cancelled   error  // why the caller's context ended, once it has
	restarted   bool   // the record holds this run's revision
	final       context.Context
	stopFinal   func()
	failures    []error
	skipped     []*SkippedError
	start       time.Time
	deadline    time.Time
	pre         []jobResult // applies made before the driver began
}

type phase int

const (
	phasePending  phase = iota // waiting for what it depends on
	phaseQueued                // free to go, waiting for a free slot
	phaseApplying              // a job is applying it
	phaseWaiting               // applied, not ready yet
	phaseReady
	phaseFailed
	phaseSkipped
)

// nodeState is what the run knows of one object.
type nodeState struct {
	phase     phase
	waitingOn int // dependencies not ready yet
	action    Action
	created   bool
	applied   time.Time
	deadline  time.Time
	uid       types.UID
	rv        string
	fields    string
	status    ObjectStatus
	announced bool
	err       error
	took      time.Duration
}

func newRun(s *Strategy, b *bundle, ctx context.Context) *run {
	h := newHub()
	rn := &run{
		s: s, b: b, hub: h,
		em:      &emitter{s: s, rel: b.rel},
		caches:  newCaches(ctx, s.clients.Dynamic, s.cfg.Clock, h),
		store:   &inventoryStore{kube: s.clients.Kube, app: b.rel.App},
		nodes:   make([]*nodeState, len(b.desired)),
		pos:     make([]int, len(b.desired)),
		results: make(chan jobResult, len(b.desired)+1),
		gvrs:    map[int]schema.GroupVersionResource{},
	}
	rn.jobsCtx, rn.stopJobs = context.WithCancelCause(ctx)
	for p, i := range b.g.order {
		rn.pos[i] = p
	}
	for i := range rn.nodes {
		rn.nodes[i] = &nodeState{waitingOn: len(b.g.deps[i])}
	}
	return rn
}

// load reads the inventory and starts the watches of every kind served
// already, a few at a time, retrying transient errors.
func (rn *run) load(ctx context.Context) error {
	var inv *inventory
	err := rn.call(ctx, Ref{}, func(ctx context.Context) error {
		var err error
		inv, err = rn.store.read(ctx)
		return err
	})
	if err != nil {
		return err
	}
	rn.inv, rn.invIdx = inv, inv.index()
	keys := map[cacheKey]bool{}
	for i, u := range rn.b.desired {
		if gvr := rn.b.kinds[i].gvr; !gvr.Empty() {
			keys[cacheKey{gvr: gvr, namespace: u.GetNamespace()}] = true
		}
	}
	errs := make(chan error, len(keys))
	sem := make(chan struct{}, rn.s.spec.Concurrency)
	for k := range keys {
		sem <- struct{}{}
		go func() {
			defer func() { <-sem }()
			w, done := track(rn.s.cfg.Clock)
			defer done()
			errs <- rn.retry(ctx, Ref{}, w, nil, func(context.Context) error {
				_, err := rn.caches.get(k)
				return err
			})
		}()
	}
	var all []error
	for range keys {
		if err := <-errs; err != nil {
			all = append(all, err)
		}
	}
	return errors.Join(all...)
}

// kindOf returns where object i is served, empty while unknown.
func (rn *run) kindOf(i int) schema.GroupVersionResource {
	if gvr := rn.b.kinds[i].gvr; !gvr.Empty() {
		return gvr
	}
	return rn.gvrs[i]
}

// live returns object i from its watch cache.
func (rn *run) live(i int) (*unstructured.Unstructured, bool) {
	gvr := rn.kindOf(i)
	if gvr.Empty() {
		return nil, false
	}
	u := rn.b.desired[i]
	c, ok := rn.caches.peek(cacheKey{gvr: gvr, namespace: u.GetNamespace()})
	if !ok {
		return nil, false
	}
	return c.Get(u.GetNamespace(), u.GetName())
}

// unchanged is the path of a run that has nothing to write: the last run
// of this revision succeeded, every object is as the inventory recorded
// and Current, and nothing is left to prune. It reports every object as
// unchanged and ready, and writes nothing, not even the release record.
func (rn *run) unchanged(ctx context.Context) (*Report, bool, error) {
	st, err := strategy.NewControl(rn.s.clients.Kube, strategy.WithClock(rn.s.cfg.Clock)).Status(ctx, rn.b.rel.App)
	if errors.Is(err, strategy.ErrNoRecord) {
		return nil, false, nil
	}
	if err != nil {
		return nil, false, err
	}
	now := rn.s.cfg.Clock.Now()
	if st.Phase != strategy.PhaseSucceeded || st.Revision != rn.b.rel.Revision || st.Lease.Live(now) || len(st.Pending) > 0 {
		return nil, false, nil
	}
	statuses := make([]ObjectStatus, len(rn.nodes))
	for i := range rn.nodes {
		live, ok := rn.live(i)
		if !ok || !rn.isUnchanged(i, live) {
			return nil, false, nil
		}
		statuses[i] = rn.s.ready.status(live, rn.b.kinds[i].needsStatus, now)
		if statuses[i].Status != StatusCurrent {
			return nil, false, nil
		}
	}
	// What left the bundle must stay as it is and where it is: prune off,
	// or a namespace that still holds other objects.
	var kept []ObjectReport
	for _, e := range rn.leaving() {
		msg := "prune is off"
		if rn.s.spec.Prune {
			rn.em.silent = true
			n, _ := rn.pruneCandidate(ctx, e)
			rn.em.silent = false
			if n.phase != delKept || n.forget {
				return nil, false, nil
			}
			msg = n.msg
		}
		kept = append(kept, ObjectReport{Ref: e.ref(), Index: -1, Action: ActionKeep, Message: msg})
	}
	rep := &Report{}
	for _, i := range rn.b.g.order {
		ref := rn.b.g.refs[i]
		rn.em.object(ctx, EventUnchanged, ref, "unchanged", nil)
		rn.em.object(ctx, EventReady, ref, statuses[i].Message, nil)
		rep.Objects = append(rep.Objects, ObjectReport{Ref: ref, Index: i, Action: ActionUnchanged, Ready: true, Status: statuses[i]})
	}
	for _, k := range kept {
		rn.em.object(ctx, EventKept, k.Ref, "left the bundle; kept: "+k.Message, nil)
		rep.Objects = append(rep.Objects, k)
	}
	msg := fmt.Sprintf("%d objects unchanged and current; nothing written", len(rn.nodes))
	rep.Result = &strategy.Result{Strategy: rn.s.Name(), App: rn.b.rel.App, Revision: rn.b.rel.Revision,
		Phase: strategy.PhaseSucceeded, Stable: rn.b.rel.Revision, Message: msg, Started: now, Finished: now}
	rn.em.emit(ctx, strategy.Event{Type: strategy.EventRunFinished, Phase: strategy.PhaseSucceeded, Message: msg})
	return rep, true, nil
}

// leaving returns the inventory's objects that are not in the bundle.
func (rn *run) leaving() []invEntry {
	var out []invEntry
	for _, e := range rn.inv.Objects {
		if _, ok := rn.b.g.lookup(e.ref()); !ok {
			out = append(out, e)
		}
	}
	return out
}

// prepareRecordNamespace applies the bundle's Namespace of the release
// record, when it does not exist yet, so that the driver can write the
// record there.
func (rn *run) prepareRecordNamespace(ctx context.Context) error {
	ns := rn.b.rel.App.Namespace
	i, ok := rn.b.g.lookup(Ref{Kind: "Namespace", Name: ns})
	if !ok {
		return nil
	}
	if live, ok := rn.live(i); ok && live.GetDeletionTimestamp() == nil {
		return nil
	}
	w, done := track(rn.s.cfg.Clock)
	defer done()
	res := rn.applyJob(ctx, i, rn.kindOf(i), w)
	if res.err != nil {
		return fmt.Errorf("creating the namespace of the release record: %w", res.err)
	}
	rn.pre = append(rn.pre, res)
	return nil
}

// drive runs the bundle with the driver held: record the start, write the
// inventory's intent, apply and wait, prune or roll back, record the end.
// Every way out records how the run ended and releases the lease, unless
// the lease was lost.
func (rn *run) drive(ctx context.Context) (*Report, error) {
	d := rn.d
	rn.start = d.Now()
	rn.deadline = rn.start.Add(rn.s.spec.Timeout)
	err := d.Save(ctx, func(r *record.Record) error {
		if r.Phase == strategy.PhaseSucceeded {
			r.Stable = r.Revision
		}
		return r.Restart(strategy.Revision{Revision: rn.b.rel.Revision, Started: rn.start}, "apply", nil, rn.s.cfg.HistoryLimit)
	})
	if err != nil {
		return nil, rn.abort(ctx, err)
	}
	rn.restarted = true
	rn.fromJobs = d.Emitter(0, "apply")
	d.Emit(ctx, strategy.Event{Type: strategy.EventRunStarted, Message: fmt.Sprintf("applying %d objects", len(rn.nodes))})
	if err := rn.writeIntent(ctx); err != nil {
		return nil, rn.abort(ctx, err)
	}
	if err := rn.loop(ctx); err != nil {
		return nil, rn.abort(ctx, err)
	}
	rep := rn.report()
	var pruned, rolledBack []*delNode
	switch {
	case len(rn.failures) == 0 && rn.s.spec.Prune:
		if pruned, err = rn.prune(ctx, rep); err != nil {
			return nil, rn.abort(ctx, err)
		}
	case len(rn.failures) > 0 && rn.s.spec.Rollback && rn.cancelled == nil:
		// A run its caller gave up on stops: no rollback.
		if rolledBack, err = rn.rollback(ctx, rep); err != nil {
			return nil, rn.abort(ctx, err)
		}
	}
	for _, n := range append(append([]*delNode(nil), pruned...), rolledBack...) {
		if n.phase == delFailed {
			rn.failures = append(rn.failures, n.err)
		}
	}
	if len(rn.failures) == 0 && !rn.s.spec.Prune {
		for _, e := range rn.leaving() {
			rep.Objects = append(rep.Objects, ObjectReport{Ref: e.ref(), Index: -1, Action: ActionKeep, Message: "prune is off"})
			rn.em.object(ctx, EventKept, e.ref(), "left the bundle; prune is off", nil)
		}
	}
	ctx = rn.writable(ctx)
	if err := rn.writeFinal(ctx, pruned, rolledBack); err != nil {
		return nil, rn.abort(ctx, err)
	}
	return rn.finish(ctx, rep, rolledBack)
}

// finalBudget bounds, on the run's clock, the writes that record the end
// of a run whose caller's context has ended.
const finalBudget = time.Minute

// writable returns ctx while it lasts and, once it has ended, a context
// for the run's last writes (the inventory and the record), which ends
// finalBudget later.
func (rn *run) writable(ctx context.Context) context.Context {
	if ctx.Err() == nil {
		return ctx
	}
	if rn.final == nil {
		fctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
		t := rn.s.cfg.Clock.AfterFunc(finalBudget, cancel)
		rn.final, rn.stopFinal = fctx, func() { t.Stop(); cancel() }
	}
	return rn.final
}

// release stops what the run started for its last writes.
func (rn *run) release() {
	if rn.stopFinal != nil {
		rn.stopFinal()
	}
}

// abort ends a run that cannot go on because of err: the record says it
// failed, with err, and the lease is released. A run that lost its lease
// writes nothing.
func (rn *run) abort(ctx context.Context, err error) error {
	rn.stopJobs(err)
	if errors.Is(err, strategy.ErrLeaseLost) {
		return err
	}
	ctx = rn.writable(ctx)
	var ferr error
	if rn.restarted {
		_, ferr = rn.d.Finish(ctx, strategy.PhaseFailed, "", "bootstrap stopped: "+err.Error(), strategy.Revision{})
	} else {
		// The record still holds the last run's outcome: keep it.
		_, ferr = rn.d.Recorded(ctx)
	}
	if ferr != nil {
		return errors.Join(err, fmt.Errorf("recording the end of the run: %w", ferr))
	}
	return err
}

// finish records how the run ended. Only a run that made every object of
// the bundle Current, and pruned or kept what left it without a failure,
// succeeds.
func (rn *run) finish(ctx context.Context, rep *Report, rolledBack []*delNode) (*Report, error) {
	unexplained := len(rn.failures) == 0 && len(rn.skipped) == 0
	for _, i := range rn.b.g.order {
		if n := rn.nodes[i]; n.phase != phaseReady && unexplained {
			// Never expected: a run that stopped says why.
			rn.failures = append(rn.failures, &ObjectError{Ref: rn.b.g.refs[i], Op: "wait", Status: n.status,
				Err: errors.New("not ready when the run ended")})
		}
	}
	var runErr error
	phase, reason := strategy.PhaseSucceeded, strategy.Reason("")
	msg := fmt.Sprintf("%d objects current: %d created, %d configured, %d unchanged", len(rn.nodes),
		rep.Count(ActionCreate), rep.Count(ActionConfigure), rep.Count(ActionUnchanged))
	if n := rep.Count(ActionPrune); n > 0 {
		msg += fmt.Sprintf("; %d pruned", n)
	}
	if len(rn.failures) > 0 || len(rn.skipped) > 0 {
		fe := &FailedError{Failed: rn.failures, Skipped: rn.skipped}
		for _, n := range rolledBack {
			if n.phase == delGone {
				fe.RolledBack++
			}
		}
		phase, msg, runErr = strategy.PhaseFailed, fe.Error(), fe
		if errors.Is(fe, strategy.ErrProgressDeadline) {
			reason = strategy.ReasonProgressDeadline
		}
	}
	res, err := rn.d.Finish(ctx, phase, reason, msg, strategy.Revision{})
	if err != nil {
		return nil, errors.Join(runErr, err)
	}
	rep.Result = res
	return rep, runErr
}

// report builds the per-object report of the apply phase, in graph order.
func (rn *run) report() *Report {
	rep := &Report{}
	for _, i := range rn.b.g.order {
		n := rn.nodes[i]
		o := ObjectReport{Ref: rn.b.g.refs[i], Index: i, Action: n.action, Ready: n.phase == phaseReady,
			Status: n.status, Err: n.err, Applied: n.applied, Duration: n.took}
		if n.phase == phaseSkipped {
			o.Action = ActionSkip
		}
		rep.Objects = append(rep.Objects, o)
	}
	return rep
}
