package bootstrap

import (
	"container/heap"
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/switchyard-dev/switchyard/strategy/flow"
)

// loop applies the graph: each object as soon as everything it waits for
// is ready, at most Concurrency applies at once, and each applied object
// watched until it is Current, Failed or out of time. It returns when
// nothing is left to do, or only an error of the driver or the context.
func (rn *run) loop(ctx context.Context) error {
	for _, res := range rn.pre {
		rn.nodes[res.i].phase = phaseApplying
		rn.applied(ctx, res)
	}
	for i, n := range rn.nodes {
		if n.waitingOn == 0 {
			rn.enqueue(i)
		}
	}
	evaluateAll := true
	for {
		rn.hub.take()
		for drained := false; !drained; {
			select {
			case res := <-rn.results:
				rn.running--
				rn.applied(ctx, res)
			default:
				drained = true
			}
		}
		if rn.caches.changed() || evaluateAll {
			rn.evaluate(ctx)
		}
		evaluateAll = false
		if now := rn.s.cfg.Clock.Now(); rn.stopped == "" {
			if !now.Before(rn.deadline) {
				rn.timeUp(ctx)
			} else {
				rn.expire(ctx, now)
			}
		}
		rn.launch(ctx)
		if rn.running == 0 && (rn.stopped != "" || rn.settled()) {
			rn.settle(ctx)
			return nil
		}
		_, err := rn.d.Wait(ctx, flow.WaitFor{
			Cond: func() (bool, error) {
				next := rn.nextDeadline()
				return rn.hub.peek() || (!next.IsZero() && !rn.s.cfg.Clock.Now().Before(next)), nil
			},
			Sources: []flow.Source{watchErrs{rn.hub, rn.caches}},
			Recheck: rn.nextDeadline,
		})
		if err != nil && (ctx.Err() == nil || rn.cancelled != nil) {
			rn.stopJobs(err)
			return err
		}
		if err != nil {
			// The caller gave up: the run ends here, once its jobs have
			// returned, and its last writes get a context of their own.
			rn.interrupt(ctx, context.Cause(ctx))
			ctx = rn.writable(ctx)
		}
	}
}

// interrupt ends a run whose caller gave up: nothing more is applied,
// what was waiting to be ready fails with cause, and applies in flight
// stop retrying.
func (rn *run) interrupt(ctx context.Context, cause error) {
	rn.cancelled = cause
	if rn.stopped == "" {
		rn.stop(ctx, "the run was cancelled: "+cause.Error())
	}
	for _, i := range rn.b.g.order {
		if rn.nodes[i].phase == phaseWaiting {
			rn.fail(ctx, i, &ObjectError{Ref: rn.b.g.refs[i], Op: "wait", Status: rn.nodes[i].status, Err: cause})
		}
	}
	rn.stopJobs(cause)
}

// settle fails the objects applied after the run's timeout ran out or its
// caller gave up, which nobody waited for. Objects left waiting by a run
// that stopped at another failure are reported as they are.
func (rn *run) settle(ctx context.Context) {
	for _, i := range rn.b.g.order {
		n, ref := rn.nodes[i], rn.b.g.refs[i]
		switch {
		case n.phase != phaseWaiting:
		case rn.timedOut:
			rn.fail(ctx, i, &TimeoutError{Ref: ref, After: rn.s.spec.Timeout, Status: n.status, Overall: true, Blocking: rn.blocked(i)})
		case rn.cancelled != nil:
			rn.fail(ctx, i, &ObjectError{Ref: ref, Op: "wait", Status: n.status, Err: rn.cancelled})
		}
	}
}

// settled reports whether every object is ready, failed or skipped.
func (rn *run) settled() bool {
	for _, n := range rn.nodes {
		if n.phase < phaseReady {
			return false
		}
	}
	return true
}

func (rn *run) enqueue(i int) {
	if rn.nodes[i].phase != phasePending {
		return
	}
	rn.nodes[i].phase = phaseQueued
	heap.Push(&rn.queue, rn.pos[i])
}

// launch starts jobs for queued objects, in graph order, while slots are
// free. An object whose watch has started and that the inventory shows
// unchanged needs no job.
func (rn *run) launch(ctx context.Context) {
	if rn.resetMapper {
		rn.s.clients.Mapper.Reset()
		rn.resetMapper = false
	}
	for rn.stopped == "" && rn.queue.Len() > 0 {
		i := rn.b.g.order[rn.queue[0]]
		if live, ok := rn.live(i); ok && rn.isUnchanged(i, live) {
			heap.Pop(&rn.queue)
			rn.nodes[i].phase = phaseApplying
			rn.applied(ctx, jobResult{i: i, action: ActionUnchanged, obj: live, gvr: rn.kindOf(i)})
			continue
		}
		if rn.running >= rn.s.spec.Concurrency {
			return
		}
		heap.Pop(&rn.queue)
		rn.nodes[i].phase = phaseApplying
		rn.running++
		w, done := track(rn.s.cfg.Clock)
		known := rn.kindOf(i)
		go func() {
			defer done()
			res := rn.applyJob(rn.jobsCtx, i, known, w)
			rn.results <- res
			rn.hub.notify()
		}()
	}
}

// applied takes the outcome of an apply.
func (rn *run) applied(ctx context.Context, res jobResult) {
	i, n, ref := res.i, rn.nodes[res.i], rn.b.g.refs[res.i]
	if n.phase != phaseApplying {
		return
	}
	if !res.gvr.Empty() && rn.b.kinds[i].gvr.Empty() {
		rn.gvrs[i] = res.gvr
	}
	n.action, n.created = res.action, res.created
	if last, cut := lastError(res.err); cut && rn.timedOut {
		// Still trying when the run's timeout ran out.
		rn.fail(ctx, i, &TimeoutError{Ref: ref, After: rn.s.spec.Timeout, Overall: true, Blocking: rn.blocked(i), Err: last})
		return
	}
	if res.err != nil {
		rn.fail(ctx, i, &ObjectError{Ref: ref, Op: "apply", Err: res.err})
		return
	}
	now := rn.s.cfg.Clock.Now()
	n.phase, n.applied, n.deadline = phaseWaiting, now, now.Add(rn.s.spec.ObjectTimeout)
	if res.obj != nil {
		n.uid, n.rv = res.obj.GetUID(), res.obj.GetResourceVersion()
		n.fields = fieldsDigest(res.obj, rn.s.cfg.FieldManager)
	}
	if res.action == ActionUnchanged {
		rn.em.object(ctx, EventUnchanged, ref, "unchanged", nil)
	} else {
		rn.em.object(ctx, EventApplied, ref, string(res.action)+"d", nil)
	}
	rn.check(ctx, i, now)
}

// evaluate looks at every object that waits to be ready.
func (rn *run) evaluate(ctx context.Context) {
	now := rn.s.cfg.Clock.Now()
	for _, i := range rn.b.g.order {
		if rn.nodes[i].phase == phaseWaiting {
			rn.check(ctx, i, now)
		}
	}
}

// check computes the status of a waiting object from its watch cache.
func (rn *run) check(ctx context.Context, i int, now time.Time) {
	n := rn.nodes[i]
	live, ok := rn.live(i)
	switch {
	case !ok:
		n.status = ObjectStatus{Status: StatusNotFound, Reason: "NotSeen", Message: "not in the watch cache yet"}
		return
	case n.uid != "" && live.GetUID() != n.uid, olderThan(live.GetResourceVersion(), n.rv):
		return // the watch has not caught up with the apply
	}
	n.status = rn.s.ready.status(live, rn.b.kinds[i].needsStatus, now)
	switch n.status.Status {
	case StatusCurrent:
		rn.ready(ctx, i, now)
	case StatusFailed:
		rn.fail(ctx, i, &ObjectError{Ref: rn.b.g.refs[i], Op: "wait", Status: n.status})
	default:
		if !n.announced {
			n.announced = true
			rn.em.object(ctx, EventWaiting, rn.b.g.refs[i], n.status.String(), nil)
		}
	}
}

func (rn *run) ready(ctx context.Context, i int, now time.Time) {
	n := rn.nodes[i]
	if n.phase != phaseWaiting {
		return
	}
	n.phase, n.took = phaseReady, now.Sub(n.applied)
	rn.em.object(ctx, EventReady, rn.b.g.refs[i], n.status.Message, nil)
	if rn.b.g.refs[i].GroupKind() == crdKind {
		rn.resetMapper = true
	}
	for _, d := range rn.b.g.dependents[i] {
		if rn.nodes[d].waitingOn--; rn.nodes[d].waitingOn == 0 {
			rn.enqueue(d)
		}
	}
}

// fail marks object i failed, skips everything that waits for it and,
// unless Spec.KeepGoing, stops the run.
func (rn *run) fail(ctx context.Context, i int, err error) {
	n, ref := rn.nodes[i], rn.b.g.refs[i]
	n.phase, n.err = phaseFailed, err
	rn.failures = append(rn.failures, err)
	msg := "apply failed"
	if n.status.Status != "" {
		msg = n.status.String()
	}
	rn.em.object(ctx, EventFailed, ref, msg, err)
	// Skip the dependents, nearest first, each naming the path to i.
	via := map[int]string{}
	for _, d := range rn.b.g.dependents[i] {
		why, _ := rn.b.g.waitsFor(d, i)
		via[d] = fmt.Sprintf("it waits for %s, which failed (%s)", ref, why)
	}
	for frontier := rn.b.g.dependents[i]; len(frontier) > 0; {
		var next []int
		for _, d := range frontier {
			if rn.nodes[d].phase > phaseQueued {
				continue
			}
			rn.skip(ctx, d, ref, via[d])
			for _, dd := range rn.b.g.dependents[d] {
				if _, seen := via[dd]; !seen {
					via[dd] = fmt.Sprintf("it waits for %s, which was skipped because %s failed", rn.b.g.refs[d], ref)
					next = append(next, dd)
				}
			}
		}
		frontier = next
	}
	if !rn.s.spec.KeepGoing && rn.stopped == "" {
		rn.stop(ctx, fmt.Sprintf("the run stopped when %s failed", ref))
	}
}

// stop ends the run early: nothing more is applied, and objects not
// applied yet are skipped with reason.
func (rn *run) stop(ctx context.Context, reason string) {
	rn.stopped = reason
	for _, i := range rn.b.g.order {
		if rn.nodes[i].phase <= phaseQueued {
			rn.skip(ctx, i, Ref{}, reason)
		}
	}
	rn.queue = rn.queue[:0]
}

func (rn *run) skip(ctx context.Context, i int, dep Ref, reason string) {
	n := rn.nodes[i]
	if n.phase > phaseQueued {
		return
	}
	n.phase = phaseSkipped
	se := &SkippedError{Ref: rn.b.g.refs[i], Dependency: dep, Reason: reason}
	n.err = se
	rn.skipped = append(rn.skipped, se)
	rn.em.object(ctx, EventSkipped, se.Ref, reason, se)
}

// expire fails the objects that have waited longer than ObjectTimeout.
func (rn *run) expire(ctx context.Context, now time.Time) {
	for _, i := range rn.b.g.order {
		n := rn.nodes[i]
		if n.phase != phaseWaiting || now.Before(n.deadline) {
			continue
		}
		rn.fail(ctx, i, &TimeoutError{Ref: rn.b.g.refs[i], After: rn.s.spec.ObjectTimeout, Status: n.status, Blocking: rn.blocked(i)})
	}
}

// timeUp ends a run whose Timeout ran out: whatever is still waiting fails,
// and the rest is skipped.
func (rn *run) timeUp(ctx context.Context) {
	for _, i := range rn.b.g.order {
		n := rn.nodes[i]
		if n.phase != phaseWaiting {
			continue
		}
		err := &TimeoutError{Ref: rn.b.g.refs[i], After: rn.s.spec.Timeout, Status: n.status, Overall: true, Blocking: rn.blocked(i)}
		n.phase, n.err = phaseFailed, err
		rn.failures = append(rn.failures, err)
		rn.em.object(ctx, EventFailed, err.Ref, n.status.String(), err)
	}
	reason := fmt.Sprintf("the run's timeout of %s ran out", rn.s.spec.Timeout)
	if rn.stopped == "" {
		rn.stop(ctx, reason)
	}
	// Applies in flight give up their retries, and fail when they return.
	rn.timedOut = true
	rn.stopJobs(errors.New(reason))
}

// blocked lists the objects that wait for i and have not started.
func (rn *run) blocked(i int) []Ref {
	var out []Ref
	for _, d := range rn.b.g.dependents[i] {
		if rn.nodes[d].phase <= phaseQueued {
			out = append(out, rn.b.g.refs[d])
		}
	}
	return out
}

// nextDeadline is the earliest per-object deadline, or the run's; zero
// once the run has stopped and waits only for its jobs.
func (rn *run) nextDeadline() time.Time {
	if rn.stopped != "" {
		return time.Time{}
	}
	next := rn.deadline
	for _, n := range rn.nodes {
		if n.phase == phaseWaiting && n.deadline.Before(next) {
			next = n.deadline
		}
	}
	return next
}

// writeIntent adds to the inventory, before anything is applied, every
// object of the bundle it does not hold yet, so that a run that stops
// half-way leaves no object the bundle created unrecorded.
func (rn *run) writeIntent(ctx context.Context) error {
	next := &inventory{Schema: inventorySchema, Bundle: rn.inv.Bundle, Revision: rn.inv.Revision,
		Objects: append([]invEntry(nil), rn.inv.Objects...)}
	added := false
	for i, ref := range rn.b.g.refs {
		if _, ok := rn.invIdx[ref]; ok {
			continue
		}
		live, _ := rn.live(i)
		created := live == nil
		for _, p := range rn.pre {
			if p.i == i {
				created = p.created
			}
		}
		next.Objects = append(next.Objects, rn.entry(i, invEntry{Created: created}))
		added = true
	}
	if !added {
		return nil
	}
	if err := rn.call(ctx, Ref{}, func(ctx context.Context) error { return rn.store.write(ctx, next) }); err != nil {
		return err
	}
	rn.inv = next
	return nil
}

// entry returns e filled with object i's reference.
func (rn *run) entry(i int, e invEntry) invEntry {
	gvk := rn.b.desired[i].GroupVersionKind()
	e.Group, e.Version, e.Kind = gvk.Group, gvk.Version, gvk.Kind
	e.Namespace, e.Name = rn.b.desired[i].GetNamespace(), rn.b.desired[i].GetName()
	return e
}

// writeFinal records what the run leaves: the bundle's objects with what
// was applied, objects that left the bundle and are still there, without
// those pruned or rolled back. It writes only when something changed.
func (rn *run) writeFinal(ctx context.Context, pruned, rolledBack []*delNode) error {
	gone := map[Ref]bool{}
	forget := map[Ref]bool{}
	for _, n := range append(append([]*delNode(nil), pruned...), rolledBack...) {
		switch {
		case n.phase == delGone:
			gone[n.ref] = true
		case n.forget:
			forget[n.ref] = true
		}
	}
	idx := rn.inv.index()
	next := &inventory{Schema: inventorySchema, Bundle: rn.b.id, Revision: rn.b.rel.Revision}
	for i, ref := range rn.b.g.refs {
		if gone[ref] {
			continue
		}
		n := rn.nodes[i]
		old, had := idx[ref]
		e := rn.entry(i, old)
		e.Created = old.Created || n.created
		if n.phase == phaseWaiting || n.phase == phaseReady || (n.phase == phaseFailed && !n.applied.IsZero()) {
			e.UID, e.Hash, e.Fields = n.uid, rn.b.hashes[i], n.fields
		} else if !had {
			continue
		}
		next.Objects = append(next.Objects, e)
	}
	for _, e := range rn.inv.Objects {
		if _, inBundle := rn.b.g.lookup(e.ref()); inBundle || gone[e.ref()] || forget[e.ref()] {
			continue
		}
		next.Objects = append(next.Objects, e)
	}
	next.sortObjects()
	cur := &inventory{Schema: rn.inv.Schema, Bundle: rn.inv.Bundle, Revision: rn.inv.Revision, Objects: append([]invEntry(nil), rn.inv.Objects...)}
	cur.sortObjects()
	if next.equal(cur) {
		return nil
	}
	return rn.call(ctx, Ref{}, func(ctx context.Context) error { return rn.store.write(ctx, next) })
}
