package bootstrap

import (
	"context"
	"errors"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"

	"github.com/switchyard-dev/switchyard/strategy"
	"github.com/switchyard-dev/switchyard/strategy/flow"
)

// delPhase is where one object of a deletion is.
type delPhase int

const (
	delPending  delPhase = iota // waits for what must go first
	delDeleting                 // a job is deleting it
	delWaiting                  // deleted, not gone yet
	delGone
	delFailed
	delKept // left in place; the report says why
)

// delNode is one object to delete, in a prune or a rollback.
type delNode struct {
	ref   Ref
	index int // in the bundle, -1 for an object only in the inventory
	gvr   schema.GroupVersionResource
	uid   types.UID
	// after are the nodes that must be gone before this one goes: those
	// that depend on it.
	after    []int
	phase    delPhase
	forget   bool // kept, and dropped from the inventory: not the bundle's
	msg      string
	err      error
	deleted  time.Time
	deadline time.Time
}

// rollback deletes what this run created, dependents first. The namespace
// of the release record stays: the record and the inventory are in it.
func (rn *run) rollback(ctx context.Context, rep *Report) ([]*delNode, error) {
	var nodes []*delNode
	at := map[int]int{} // bundle index -> node
	for _, i := range rn.b.g.order {
		n := rn.nodes[i]
		if !n.created || n.applied.IsZero() {
			continue
		}
		ref := rn.b.g.refs[i]
		dn := &delNode{ref: ref, index: i, gvr: rn.kindOf(i), uid: n.uid}
		if ref == (Ref{Kind: "Namespace", Name: rn.b.rel.App.Namespace}) {
			dn.phase, dn.msg = delKept, "it holds the release record and the inventory"
		}
		at[i] = len(nodes)
		nodes = append(nodes, dn)
	}
	for i, k := range at {
		for _, d := range rn.b.g.dependents[i] {
			if kd, ok := at[d]; ok {
				nodes[k].after = append(nodes[k].after, kd)
			}
		}
	}
	// A rollback may start when the run's time is up: it has at least
	// ObjectTimeout.
	lim := limit{until: rn.deadline, after: rn.s.spec.Timeout, overall: true}
	if now := rn.s.cfg.Clock.Now(); now.Add(rn.s.spec.ObjectTimeout).After(lim.until) {
		lim = limit{until: now.Add(rn.s.spec.ObjectTimeout), after: rn.s.spec.ObjectTimeout}
	}
	if err := rn.deleteAll(ctx, nodes, EventDeleted, lim); err != nil {
		return nil, err
	}
	for _, dn := range nodes {
		r := dn.report(ActionDelete)
		r.Index = dn.index
		rep.Objects = append(rep.Objects, r)
	}
	return nodes, nil
}

func (n *delNode) report(a Action) ObjectReport {
	r := ObjectReport{Ref: n.ref, Index: n.index, Action: a, Ready: n.phase == delGone, Message: n.msg, Err: n.err, Applied: n.deleted}
	if n.phase == delKept {
		r.Action = ActionKeep
	}
	return r
}

type delResult struct {
	k   int
	err error
}

// limit bounds a deletion: what is not gone by until fails with a
// *TimeoutError after (of the run's timeout when overall).
type limit struct {
	until   time.Time
	after   time.Duration
	overall bool
}

// deleteAll deletes nodes, each once the nodes in its after are gone, and
// waits until each is gone from its watch, until lim. A node whose
// dependents could not be deleted is kept. It returns an error only when
// the run cannot go on (its lease is lost); a caller that gives up fails
// what is not gone yet.
func (rn *run) deleteAll(ctx context.Context, nodes []*delNode, done strategy.EventType, lim limit) error {
	results := make(chan delResult, len(nodes))
	jobsCtx, stopJobs := context.WithCancelCause(ctx)
	defer stopJobs(nil)
	running := 0
	// ended is why nothing more starts, nil while deletions go on; at
	// lim.until it is errTimeUp.
	var ended error
	unfinished := func(n *delNode, last error) {
		if ended == errTimeUp {
			st := ObjectStatus{}
			if n.phase == delWaiting {
				st = stillThere
			}
			n.err = &TimeoutError{Ref: n.ref, After: lim.after, Overall: lim.overall, Status: st, Err: last}
		} else {
			n.err = &ObjectError{Ref: n.ref, Op: "delete", Err: &cutShortError{cause: ended, last: last}}
		}
		n.phase = delFailed
		rn.em.object(ctx, EventFailed, n.ref, "not gone when the run ended", n.err)
	}
	end := func(why error) {
		ended = why
		stopJobs(why)
		for _, n := range nodes {
			if n.phase != delPending {
				continue
			}
			free := true
			for _, a := range n.after {
				free = free && nodes[a].phase == delGone
			}
			if free {
				// It could have gone: the end failed it.
				unfinished(n, nil)
				continue
			}
			n.phase, n.msg = delKept, "the run ended before what depends on it was gone: "+why.Error()
			rn.em.object(ctx, EventKept, n.ref, n.msg, nil)
		}
	}
	for {
		rn.hub.take()
		for drained := false; !drained; {
			select {
			case r := <-results:
				running--
				n := nodes[r.k]
				last, cut := lastError(r.err)
				switch {
				case cut && ended != nil:
					unfinished(n, last)
				case r.err != nil:
					n.phase, n.err = delFailed, &ObjectError{Ref: n.ref, Op: "delete", Err: r.err}
					rn.em.object(ctx, EventFailed, n.ref, "delete failed", n.err)
				default:
					n.phase, n.deleted = delWaiting, rn.s.cfg.Clock.Now()
					n.deadline = n.deleted.Add(rn.s.spec.ObjectTimeout)
				}
			default:
				drained = true
			}
		}
		now := rn.s.cfg.Clock.Now()
		if ended == nil && !now.Before(lim.until) {
			end(errTimeUp)
		}
		// Pass over the nodes until nothing changes: a node gone late in
		// a pass frees nodes seen earlier in it.
		for changed := true; changed; {
			changed = false
			for k, n := range nodes {
				switch n.phase {
				case delWaiting:
					switch {
					case rn.gone(n):
						n.phase, changed = delGone, true
						rn.em.object(ctx, done, n.ref, "deleted", nil)
					case ended != nil:
						unfinished(n, nil)
						changed = true
					case !now.Before(n.deadline):
						n.phase, changed = delFailed, true
						n.err = &TimeoutError{Ref: n.ref, After: rn.s.spec.ObjectTimeout, Status: stillThere}
						rn.em.object(ctx, EventFailed, n.ref, "not gone in time", n.err)
					}
				case delPending:
					blocked, ready := "", true
					for _, a := range n.after {
						switch nodes[a].phase {
						case delGone:
						case delFailed, delKept:
							blocked = nodes[a].ref.String()
						default:
							ready = false
						}
					}
					if blocked != "" {
						n.phase, n.msg, changed = delKept, "kept because "+blocked+", which depends on it, was not deleted", true
						rn.em.object(ctx, EventKept, n.ref, n.msg, nil)
						continue
					}
					if ready && running < rn.s.spec.Concurrency {
						n.phase = delDeleting
						running++
						w, doneFn := track(rn.s.cfg.Clock)
						go func() {
							defer doneFn()
							results <- delResult{k: k, err: rn.deleteJob(jobsCtx, n, w)}
							rn.hub.notify()
						}()
					}
				}
			}
		}
		settled := running == 0
		for _, n := range nodes {
			settled = settled && n.phase >= delGone
		}
		if settled {
			return nil
		}
		next := time.Time{}
		if ended == nil {
			next = lim.until
		}
		for _, n := range nodes {
			if n.phase == delWaiting && (next.IsZero() || n.deadline.Before(next)) {
				next = n.deadline
			}
		}
		_, err := rn.d.Wait(ctx, flow.WaitFor{
			Cond: func() (bool, error) {
				return rn.hub.peek() || (!next.IsZero() && !rn.s.cfg.Clock.Now().Before(next)), nil
			},
			Sources: []flow.Source{rn.hub},
			Recheck: func() time.Time { return next },
		})
		if err != nil && (ctx.Err() == nil || rn.cancelled != nil) {
			return err
		}
		if err != nil {
			// The caller gave up: what is not gone fails once the jobs
			// have returned.
			rn.cancelled = context.Cause(ctx)
			end(rn.cancelled)
			ctx = rn.writable(ctx)
		}
	}
}

// errTimeUp ends a deletion whose time ran out.
var errTimeUp = errors.New("time ran out")

// until returns ctx, ended at t on the run's clock with errTimeUp as its
// cause, and what releases it.
func (rn *run) until(ctx context.Context, t time.Time) (context.Context, func()) {
	tctx, cancel := context.WithCancelCause(ctx)
	timer := rn.s.cfg.Clock.AfterFunc(t.Sub(rn.s.cfg.Clock.Now()), func() { cancel(errTimeUp) })
	return tctx, func() { timer.Stop(); cancel(nil) }
}

var stillThere = ObjectStatus{Status: StatusTerminating, Message: "still there after its deletion"}

// deleteJob deletes one object in the background (its dependents go with
// it through the garbage collector), only if it is still the object the
// bundle recorded.
func (rn *run) deleteJob(ctx context.Context, n *delNode, w waiter) error {
	bg := metav1.DeletePropagationBackground
	opts := metav1.DeleteOptions{PropagationPolicy: &bg}
	if n.uid != "" {
		opts.Preconditions = &metav1.Preconditions{UID: &n.uid}
	}
	return rn.retry(ctx, n.ref, w, nil, func(ctx context.Context) error {
		// gone needs the object's watch.
		if _, err := rn.caches.get(cacheKey{gvr: n.gvr, namespace: n.ref.Namespace}); err != nil {
			return err
		}
		res := rn.s.clients.Dynamic.Resource(n.gvr)
		var err error
		if n.ref.Namespace != "" {
			err = res.Namespace(n.ref.Namespace).Delete(ctx, n.ref.Name, opts)
		} else {
			err = res.Delete(ctx, n.ref.Name, opts)
		}
		if apierrors.IsNotFound(err) || apierrors.IsConflict(err) {
			// Gone, or replaced by another object of the same name,
			// which the watch shows as gone too.
			return nil
		}
		return err
	})
}

// gone reports whether n's object has left its watch cache, or been
// replaced by another of the same name.
func (rn *run) gone(n *delNode) bool {
	c, ok := rn.caches.peek(cacheKey{gvr: n.gvr, namespace: n.ref.Namespace})
	if !ok {
		return false
	}
	live, ok := c.Get(n.ref.Namespace, n.ref.Name)
	return !ok || (n.uid != "" && live.GetUID() != n.uid)
}
