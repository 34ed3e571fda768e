package bluegreen

import (
	"context"
	"fmt"
	"time"

	"github.com/switchyard-dev/switchyard/strategy"
)

// outcome says how await ended when the release goes on.
type outcome int

const (
	met      outcome = iota + 1 // the condition holds
	elapsed                     // the time to wait for has come
	promoted                    // a Promote request arrived
)

// awaitSpec is one wait of a release.
type awaitSpec struct {
	reason string
	// cond reports whether the wait is over, and when to check again if the
	// answer may change with time alone (zero: only on changes).
	cond func() (bool, time.Time)
	// until ends the wait with elapsed; deadline ends it by aborting the
	// release for missing its progress deadline. Zero: none.
	until, deadline time.Time
	// promotable lets Promote end the wait.
	promotable bool
	// switched is set once traffic moved: from then on Replace waits for the
	// release to end instead of stopping it.
	switched bool
	// decision is set while the release waits for a person to decide on an
	// inconclusive check: Resume does not end it, Promote does.
	decision bool
}

// await waits as a spec says, handling control requests on the way. It
// returns a Result when the release ended (aborted or replaced).
func (rn *run) await(ctx context.Context, a awaitSpec) (outcome, *strategy.Result, error) {
	for {
		held, err := rn.d.Hold(ctx, strategy.Hold{Reason: a.reason, Cond: a.cond, Until: a.until, Deadline: a.deadline,
			Sources: rn.sl.Sources(), Takes: func(q strategy.Request) bool { return rn.takes(q, a) }})
		if err != nil {
			return 0, nil, err
		}
		switch held {
		case strategy.HeldMet:
			return met, nil, nil
		case strategy.HeldUntil:
			return elapsed, nil, nil
		case strategy.HeldPastDeadline:
			res, err := rn.abort(ctx, strategy.ReasonProgressDeadline,
				fmt.Sprintf("%s: not done within the progress deadline of %s", a.reason, rn.s.spec.progressDeadline()))
			return 0, res, err
		case strategy.HeldForRequest:
			out, res, err := rn.handleRequests(ctx, a)
			if res != nil || err != nil || out != 0 {
				return out, res, err
			}
		}
	}
}

// takes says whether a wait handles request q now. Retry stays for the
// next Run; Replace and Undo of another revision stop the release until
// traffic moved; an early Promote waits in the record for the promotion.
func (rn *run) takes(q strategy.Request, a awaitSpec) bool {
	switch q.Action {
	case strategy.ActionRetry:
		return false
	case strategy.ActionReplace, strategy.ActionUndo:
		return !a.switched && q.Revision != rn.rel.Revision
	case strategy.ActionPromote, strategy.ActionPromoteFull:
		return a.promotable
	}
	return true
}

// handleRequests takes the pending requests and acts on them.
func (rn *run) handleRequests(ctx context.Context, a awaitSpec) (outcome, *strategy.Result, error) {
	d := rn.d
	var taken []strategy.Request
	err := d.Save(ctx, func(r *strategy.Record) error {
		// Retry and Undo stay in the record for the next Run; an Undo also
		// stops this one.
		taken = r.Take(func(q strategy.Request) bool {
			switch q.Action {
			case strategy.ActionRetry, strategy.ActionUndo:
				return false
			case strategy.ActionReplace:
				return !a.switched && q.Revision != rn.rel.Revision
			case strategy.ActionPromote, strategy.ActionPromoteFull:
				return a.promotable
			}
			return true
		})
		for _, q := range r.Requests {
			if q.Action == strategy.ActionUndo && !a.switched {
				taken = append(taken, q)
			}
		}
		for _, q := range taken {
			r.PauseOrResume(q, a.promotable && (rn.s.spec.ManualPromotion || a.decision))
		}
		return nil
	})
	if err != nil {
		return 0, nil, err
	}
	var out outcome
	for _, q := range taken {
		d.Emit(ctx, strategy.Event{Type: strategy.EventRequestHandled, Message: fmt.Sprintf("%s from %s", q.Action, q.By)})
		switch q.Action {
		case strategy.ActionAbort:
			res, err := rn.abort(ctx, strategy.ReasonRequested, "aborted by "+q.By)
			return 0, res, err
		case strategy.ActionReplace, strategy.ActionUndo:
			if q.Revision == rn.rel.Revision {
				continue
			}
			res, err := rn.abort(ctx, strategy.ReasonSuperseded, fmt.Sprintf("replaced by %s (%s from %s)", q.Revision, q.Action, q.By))
			return 0, res, err
		case strategy.ActionPromote, strategy.ActionPromoteFull:
			if a.promotable {
				out = promoted
			}
		}
	}
	return out, nil, nil
}

// awaitAvailable waits until slot has n available pods of the release.
func (rn *run) awaitAvailable(ctx context.Context, slot string, n int32) (*strategy.Result, error) {
	_, res, err := rn.await(ctx, awaitSpec{
		reason:   fmt.Sprintf("waiting for %d available pods of %s in slot %s", n, rn.rel.Revision, slot),
		cond:     func() (bool, time.Time) { got, next := rn.available(slot, rn.rel.Revision); return got >= n, next },
		deadline: rn.d.Now().Add(rn.s.spec.progressDeadline()),
		switched: rn.d.Record().Step > stepSwitch,
	})
	return res, err
}

// awaitEndpoints waits until service's ready endpoints are n of the slot's
// pods and nothing else.
func (rn *run) awaitEndpoints(ctx context.Context, service, slot string, n int32) (*strategy.Result, error) {
	_, res, err := rn.await(ctx, awaitSpec{
		reason: fmt.Sprintf("waiting for Service %s to route only to slot %s", service, slot),
		cond: func() (bool, time.Time) {
			on, off := rn.sl.Endpoints(service, slot)
			return on >= n && off == 0, time.Time{}
		},
		deadline: rn.d.Now().Add(rn.s.spec.progressDeadline()),
		switched: rn.d.Record().Step > stepSwitch,
	})
	return res, err
}

// awaitPromotion waits for Promote with manual promotion, or the
// auto-promotion delay.
func (rn *run) awaitPromotion(ctx context.Context, st state) (*strategy.Result, error) {
	spec := rn.s.spec
	switch {
	case spec.ManualPromotion:
		if err := rn.d.Save(ctx, func(r *strategy.Record) error { r.Phase = strategy.PhasePaused; return nil }); err != nil {
			return nil, err
		}
		_, res, err := rn.await(ctx, awaitSpec{reason: "paused until Promote", promotable: true})
		if res != nil || err != nil {
			return res, err
		}
		return nil, rn.d.Save(ctx, func(r *strategy.Record) error { r.Phase = strategy.PhaseProgressing; return nil })
	case spec.AutoPromotionAfter > 0:
		ready := st.Ready
		if ready.IsZero() {
			ready = rn.d.Now()
		}
		_, res, err := rn.await(ctx, awaitSpec{reason: fmt.Sprintf("promoting %s after the new slot is ready", spec.AutoPromotionAfter),
			until: ready.Add(spec.AutoPromotionAfter), promotable: true})
		return res, err
	}
	return nil, nil
}

// abort sends traffic back to the slot that served before, at once, and
// records the release as Aborted; the candidate is scaled down after
// AbortScaleDownDelay by finishAbort.
func (rn *run) abort(ctx context.Context, reason strategy.Reason, msg string) (*strategy.Result, error) {
	st := rn.state()
	back := st.Previous
	// The record says whether the switch happened; the cache may not show
	// the driver's own write yet, but after a restart it is fresh.
	switched := !st.Switched.IsZero() || rn.activeSlot() == st.Candidate
	if switched && back != "" {
		if err := rn.point(ctx, rn.s.spec.ActiveService, back); err != nil {
			return nil, err
		}
		rn.d.Emit(ctx, strategy.Event{Type: strategy.EventTraffic, Message: fmt.Sprintf("Service %s back on slot %s", rn.s.spec.ActiveService, back)})
	}
	if reason == strategy.ReasonSuperseded {
		// The next release takes the candidate slot over as it is.
		return rn.d.Finish(ctx, strategy.PhaseAborted, reason, msg, strategy.Revision{})
	}
	err := rn.save(ctx, stepAbort, func(s *state, r *strategy.Record) {
		s.Aborted = rn.d.Now()
		if switched && back != "" {
			s.Switched = time.Time{} // traffic is back on the old slot
		} else if switched {
			s.Switched = rn.d.Now() // a first release: the candidate keeps serving
		}
		r.StepName = "abort-scale-down"
		r.Phase, r.Reason, r.Message = strategy.PhaseAborted, reason, msg
		if back != "" {
			r.Stable, _ = rn.sl.Revision(back)
		}
	})
	if err != nil {
		return nil, err
	}
	return rn.finishAbort(ctx)
}

// finishAbort scales the aborted candidate down once AbortScaleDownDelay
// has passed, and ends the release.
func (rn *run) finishAbort(ctx context.Context) (*strategy.Result, error) {
	st, rec := rn.state(), rn.d.Record()
	delay := rn.s.spec.abortScaleDownDelay()
	if _, err := rn.d.Wait(ctx, strategy.WaitFor{Until: st.Aborted.Add(delay),
		Reason: fmt.Sprintf("aborted revision keeps running %s", delay)}); err != nil {
		return nil, err
	}
	if st.Switched.IsZero() { // the candidate serves nothing
		if err := rn.sl.Scale(ctx, SlotName(rn.rel.App.Name, st.Candidate), 0); err != nil {
			return nil, err
		}
	}
	return rn.d.Finish(ctx, strategy.PhaseAborted, rec.Reason, rec.Message, strategy.Revision{})
}
