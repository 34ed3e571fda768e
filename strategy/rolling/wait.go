package rolling

import (
	"context"
	"fmt"

	appsv1 "k8s.io/api/apps/v1"

	"github.com/switchyard-dev/switchyard/strategy"
)

// available waits until the Deployment has rolled out, handling Pause,
// Resume, Abort and Undo requests and the progress deadline on the way.
func (rn *run) available(ctx context.Context) (*strategy.Result, error) {
	d := rn.d
	control := func(q strategy.Request) bool {
		switch q.Action {
		case strategy.ActionAbort, strategy.ActionPause, strategy.ActionResume, strategy.ActionUndo,
			strategy.ActionPromote, strategy.ActionPromoteFull:
			return true
		}
		return false
	}
	for {
		rec := d.Record()
		w := strategy.WaitFor{Sources: []strategy.Source{rn.deploys}, Requests: control}
		if rec.Paused {
			w.Reason = "paused until Resume"
		} else {
			w.Cond = rn.rolledOut
			w.Until = rec.Progressed.Add(rn.s.spec.ProgressDeadline)
			w.Reason = "waiting for every replica of the new template to be available"
		}
		wake, err := d.Wait(ctx, w)
		if err != nil {
			return nil, err
		}
		switch wake {
		case strategy.WokeCondition:
			return d.Finish(ctx, strategy.PhaseSucceeded, "", "all replicas available", strategy.Revision{})
		case strategy.WokeDeadline:
			return rn.rollback(ctx, strategy.PhaseFailed, strategy.ReasonProgressDeadline,
				fmt.Sprintf("not available within the progress deadline of %s", rn.s.spec.ProgressDeadline))
		case strategy.WokeRequest:
			if res, err := rn.handle(ctx); res != nil || err != nil {
				return res, err
			}
		}
	}
}

// handle takes the pending control requests. It returns a Result when one of
// them ends the release.
func (rn *run) handle(ctx context.Context) (*strategy.Result, error) {
	d := rn.d
	var taken []strategy.Request
	err := d.Save(ctx, func(r *strategy.Record) error {
		taken = r.Take(func(q strategy.Request) bool { return q.Action != strategy.ActionRetry })
		for _, q := range taken {
			switch q.Action {
			case strategy.ActionPause:
				r.Paused, r.Phase = true, strategy.PhasePaused
			case strategy.ActionResume, strategy.ActionPromote, strategy.ActionPromoteFull:
				if r.Paused {
					r.Paused, r.Phase, r.Progressed = false, strategy.PhaseProgressing, d.Now()
				}
			}
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	for _, q := range taken {
		d.Emit(ctx, strategy.Event{Type: strategy.EventRequestHandled, Message: fmt.Sprintf("%s from %s", q.Action, q.By)})
		switch q.Action {
		case strategy.ActionAbort:
			return rn.rollback(ctx, strategy.PhaseAborted, strategy.ReasonRequested, "aborted by "+q.By)
		case strategy.ActionUndo:
			// Put the request back for the next Run, which ships that revision.
			if err := d.Save(ctx, func(r *strategy.Record) error { r.Requests = append(r.Requests, q); return nil }); err != nil {
				return nil, err
			}
			return rn.rollback(ctx, strategy.PhaseAborted, strategy.ReasonSuperseded, "undo to "+q.Revision+" requested")
		}
	}
	return nil, rn.apply(ctx, rn.rel.Workload, rn.rel.Revision, d.Record().Paused)
}

// rollback puts the last successful revision's workload back and ends the
// release in phase with reason.
func (rn *run) rollback(ctx context.Context, phase strategy.Phase, reason strategy.Reason, msg string) (*strategy.Result, error) {
	rec := rn.d.Record()
	if h, ok := rec.Find(rec.Stable); ok && h.Workload != nil && rec.Stable != rec.Revision {
		if err := rn.apply(ctx, h.Workload, h.Revision, false); err != nil {
			return nil, err
		}
		msg += "; rolled back to " + h.Revision
	}
	return rn.d.Finish(ctx, phase, reason, msg, strategy.Revision{})
}

// rolledOut reports whether the Deployment's controller has rolled out the
// current generation to every replica.
func (rn *run) rolledOut() (bool, error) {
	dep, ok := rn.deploys.Get(rn.rel.App.Namespace, rn.rel.App.Name)
	if !ok {
		return false, nil
	}
	return complete(dep, rn.rel.Revision), nil
}

// complete reports whether dep runs revision on every replica. The revision
// check keeps a cached copy from before the apply from counting.
func complete(dep *appsv1.Deployment, revision string) bool {
	if dep.Spec.Template.Labels[LabelRevision] != revision {
		return false
	}
	want := int32(1)
	if dep.Spec.Replicas != nil {
		want = *dep.Spec.Replicas
	}
	st := dep.Status
	return st.ObservedGeneration >= dep.Generation &&
		st.UpdatedReplicas == want && st.Replicas == want && st.AvailableReplicas == want
}
