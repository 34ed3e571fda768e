package bluegreen

import (
	"context"
	"fmt"
	"time"

	"github.com/switchyard-dev/switchyard/strategy"
	"github.com/switchyard-dev/switchyard/strategy/flow"
	"github.com/switchyard-dev/switchyard/strategy/record"
)

// The steps of a release, in order (see steps). Each returns the step to
// go to, "" for the next; a step that changed nothing and waited for
// nothing is not recorded, since repeating it after a crash is free.

func (rn *run) deploy(ctx context.Context) (string, error) {
	st := rn.state()
	// The autoscaler scales the live Deployment, whose size the candidate
	// takes, and never the candidate while it is rolled.
	if serving := rn.serving(st); serving != "" {
		if err := rn.sl.PointAutoscaler(ctx, serving); err != nil {
			return "", err
		}
	}
	if err := rn.prepareServices(ctx, st.Candidate); err != nil {
		return "", err
	}
	if err := rn.sl.Deploy(ctx, st.Candidate, rn.rel, rn.previewReplicas()); err != nil {
		return "", err
	}
	return "", rn.enter(ctx, stepPreviewAvailable, nil)
}

func (rn *run) previewAvailable(ctx context.Context) (string, error) {
	st, spec := rn.state(), rn.s.spec
	if err := rn.awaitAvailable(ctx, st.Candidate, rn.previewReplicas()); err != nil {
		return "", err
	}
	// Checks test through the preview Service: it must reach the pods.
	if p := spec.PreviewService; p != "" && len(spec.PrePromotion) > 0 && !st.Instant {
		if err := rn.awaitEndpoints(ctx, p, st.Candidate, rn.previewReplicas()); err != nil {
			return "", err
		}
	}
	if err := rn.sl.LabelPods(ctx, st.Candidate, spec.PreviewMetadata.Labels, spec.PreviewMetadata.Annotations); err != nil {
		return "", err
	}
	if spec.AutoPromotionAfter == 0 || rn.previewReplicas() < rn.required() {
		// Nothing to remember: go straight on, so that the switch follows
		// the last ready pod with no write in between.
		return "", nil
	}
	return "", rn.enter(ctx, stepPrePromotion, markReady(rn.d.Now()))
}

func markReady(now time.Time) func(*state, *record.Record) {
	return func(s *state, _ *record.Record) {
		if s.Ready.IsZero() {
			s.Ready = now
		}
	}
}

func (rn *run) prePromotion(ctx context.Context) (string, error) {
	st, spec := rn.state(), rn.s.spec
	if st.Instant || len(spec.PrePromotion) == 0 {
		return "", nil
	}
	if err := rn.f.Check(ctx, "pre-promotion checks", spec.PrePromotion, rn.checkInput(st.Candidate, spec.PreviewService)); err != nil {
		return "", err
	}
	return "", rn.enter(ctx, stepPromotion, nil)
}

// promotion waits for Promote with manual promotion, or the auto-promotion
// delay.
func (rn *run) promotion(ctx context.Context) (string, error) {
	st, spec := rn.state(), rn.s.spec
	switch {
	case st.Instant || (!spec.ManualPromotion && spec.AutoPromotionAfter == 0):
		return "", nil
	case spec.ManualPromotion:
		if _, err := rn.f.Decide(ctx, "paused until Promote"); err != nil {
			return "", err
		}
	default:
		ready := st.Ready
		if ready.IsZero() {
			ready = rn.d.Now()
		}
		if _, err := rn.f.Await(ctx, flow.Await{Reason: fmt.Sprintf("promoting %s after the new slot is ready", spec.AutoPromotionAfter),
			Until: ready.Add(spec.AutoPromotionAfter), Promotable: true}); err != nil {
			return "", err
		}
	}
	return "", rn.enter(ctx, stepFullAvailable, nil)
}

func (rn *run) fullAvailable(ctx context.Context) (string, error) {
	if rn.previewReplicas() == rn.required() {
		return "", nil // the preview was already the full size
	}
	st := rn.state()
	if err := rn.sl.Deploy(ctx, st.Candidate, rn.rel, rn.required()); err != nil {
		return "", err
	}
	if err := rn.awaitAvailable(ctx, st.Candidate, rn.required()); err != nil {
		return "", err
	}
	return "", rn.enter(ctx, stepSwitch, markReady(rn.d.Now()))
}

// switchTraffic points the active Service at the candidate in one write,
// once every new pod is ready.
func (rn *run) switchTraffic(ctx context.Context) (string, error) {
	st, spec := rn.state(), rn.s.spec
	// Availability guard: the slot must still have every pod ready, and,
	// where a preview Service selects it, the EndpointSlice controller must
	// have seen them all (it lags the pods' watch under load), so that the
	// active Service gets every new pod as a ready endpoint at once. The
	// slot must also serve the release alone: no pod of the revision it ran
	// before, which a lagging Deployment controller leaves Ready after the
	// new pods are, and no such pod among the preview Service's endpoints.
	if err := rn.fitCandidate(ctx, st.Candidate); err != nil {
		return "", err
	}
	if err := rn.awaitAvailable(ctx, st.Candidate, rn.required()); err != nil {
		return "", err
	}
	if p := spec.PreviewService; p != "" {
		if err := rn.awaitEndpoints(ctx, p, st.Candidate, rn.required()); err != nil {
			return "", err
		}
	} else if err := rn.awaitControllerSaw(ctx, st.Candidate, rn.required()); err != nil {
		return "", err
	}
	if err := rn.point(ctx, spec.ActiveService, st.Candidate); err != nil {
		return "", err
	}
	// The autoscaler follows the traffic, before the step is recorded, so
	// that a driver resumed at this step moves it too.
	if err := rn.sl.PointAutoscaler(ctx, slotName(rn.rel.App.Name, st.Candidate)); err != nil {
		return "", err
	}
	rn.d.Emit(ctx, strategy.Event{Type: strategy.EventTraffic, Message: fmt.Sprintf("Service %s now selects slot %s", spec.ActiveService, st.Candidate),
		Traffic: &strategy.Traffic{Weight: 100, CanaryPods: rn.required(), Service: spec.ActiveService, Slot: st.Candidate}})
	return "", rn.enter(ctx, stepVerify, func(s *state, r *record.Record) {
		s.Switched = rn.d.Now()
		r.Stable, r.Phase, r.Switched = r.Revision, strategy.PhasePromoting, true
	})
}

func (rn *run) verify(ctx context.Context) (string, error) {
	st, spec := rn.state(), rn.s.spec
	if err := rn.awaitEndpoints(ctx, spec.ActiveService, st.Candidate, rn.required()); err != nil {
		return "", err
	}
	if err := rn.sl.LabelPods(ctx, st.Candidate, spec.ActiveMetadata.Labels, spec.ActiveMetadata.Annotations); err != nil {
		return "", err
	}
	if st.Instant || len(spec.PostPromotion) == 0 {
		// Nothing to remember, nor to show while checks run: a driver
		// resumed here checks the endpoints again.
		return "", nil
	}
	return "", rn.enter(ctx, stepPostPromotion, nil)
}

func (rn *run) postPromotion(ctx context.Context) (string, error) {
	st, spec := rn.state(), rn.s.spec
	if st.Instant || len(spec.PostPromotion) == 0 {
		return "", nil
	}
	if err := rn.f.Check(ctx, "post-promotion checks", spec.PostPromotion, rn.checkInput(st.Candidate, spec.ActiveService)); err != nil {
		return "", err
	}
	return "", rn.enter(ctx, stepScaleDown, nil)
}

// scaleDown keeps the old pods for the scale-down delay, during which an
// Abort still sends traffic back to them, then commits the release and
// scales them down; the rollback window keeps them instead.
func (rn *run) scaleDown(ctx context.Context) (string, error) {
	st, spec := rn.state(), rn.s.spec
	if st.Adopted == "" && (st.Previous == "" || spec.rollbackWindow() > 0) {
		return "", nil
	}
	if _, err := rn.f.Await(ctx, flow.Await{Until: st.Switched.Add(spec.scaleDownDelay()),
		Reason: fmt.Sprintf("old pods keep running %s after the switch", spec.scaleDownDelay())}); err != nil {
		return "", err
	}
	if err := rn.f.Save(ctx, func(r *record.Record) error { r.Committed = true; return nil }); err != nil {
		return "", err
	}
	old := st.Adopted
	if old == "" {
		old = slotName(rn.rel.App.Name, st.Previous)
		if rn.activeSlot() == st.Previous {
			// Never the slot the app's traffic goes to.
			return "", fmt.Errorf("not scaling %s down: Service %s still selects it", old, spec.ActiveService)
		}
	}
	return "", rn.sl.Scale(ctx, old, 0)
}

// rollback sends traffic back to the slot that served before, at once.
func (rn *run) rollback(ctx context.Context, _ strategy.Reason) (func(*record.Record) error, error) {
	st := rn.state()
	back := st.Previous
	// The record says whether the switch happened; the cache may not show
	// the driver's own write yet, but after a restart it is fresh.
	switched := !st.Switched.IsZero() || rn.activeSlot() == st.Candidate
	stable := ""
	if switched && back != "" {
		if err := rn.awaitSettled(ctx); err != nil {
			return nil, err
		}
		// The old slot is not rolled by the release, but traffic goes back
		// only to its own revision all the same.
		if rev, _ := rn.sl.Revision(back); rev != "" {
			if err := rn.waitBack(ctx, fmt.Sprintf("waiting for slot %s to run no pod of a revision other than %s before traffic goes back", back, rev),
				func() (bool, error) { foreign, _ := rn.sl.Foreign("", back, rev); return foreign == 0, nil }); err != nil {
				return nil, err
			}
		}
		if err := rn.point(ctx, rn.s.spec.ActiveService, back); err != nil {
			return nil, err
		}
		if err := rn.sl.PointAutoscaler(ctx, slotName(rn.rel.App.Name, back)); err != nil {
			return nil, err
		}
		// Traffic is back once the Service routes to the old slot's pods
		// alone, which the EndpointSlices show some time after the write.
		if err := rn.awaitBack(ctx, back); err != nil {
			return nil, err
		}
		rn.d.Emit(ctx, strategy.Event{Type: strategy.EventTraffic, Message: fmt.Sprintf("Service %s back on slot %s", rn.s.spec.ActiveService, back)})
	}
	if back != "" {
		stable, _ = rn.sl.Revision(back)
	}
	now := rn.d.Now()
	return func(r *record.Record) error {
		return editState(r, func(s *state, r *record.Record) {
			if switched && back != "" {
				s.Switched = time.Time{} // traffic is back on the old slot
			} else if switched {
				s.Switched = now // a first release: the candidate keeps serving
			}
			if stable != "" {
				r.Stable = stable
			}
		})
	}, nil
}

// awaitSettled waits until the active Service routes to the slot it
// selects alone (see slots.Settled), so that the switch back is not taken
// for the state from before the switch.
func (rn *run) awaitSettled(ctx context.Context) error {
	service := rn.s.spec.ActiveService
	return rn.waitBack(ctx, fmt.Sprintf("waiting for Service %s to route to the slot it selects before it switches back", service),
		func() (bool, error) { return rn.sl.Settled(ctx, service) })
}

// awaitBack waits until the active Service routes to all of slot's pods
// and nothing else. What the cache shows is read again from the API
// server, since the cache can still hold the endpoints from before the
// switch.
func (rn *run) awaitBack(ctx context.Context, slot string) error {
	service := rn.s.spec.ActiveService
	back := func(on, off int32) bool { return on >= rn.sl.Size(slot) && off == 0 }
	return rn.waitBack(ctx, fmt.Sprintf("waiting for Service %s to route only to slot %s", service, slot), func() (bool, error) {
		if !back(rn.sl.Endpoints(service, slot)) {
			return false, nil
		}
		on, off, err := rn.sl.EndpointsNow(ctx, service, slot)
		return err == nil && back(on, off), err
	})
}

// waitBack waits, within the progress deadline, for cond while traffic
// goes back; requests wait until the release has ended.
func (rn *run) waitBack(ctx context.Context, reason string, cond func() (bool, error)) error {
	deadline := rn.s.spec.progressDeadline()
	wake, err := rn.d.Wait(ctx, flow.WaitFor{Sources: rn.sl.Sources(), Until: rn.d.Now().Add(deadline), Reason: reason, Cond: cond})
	if err == nil && wake == flow.WokeDeadline {
		err = fmt.Errorf("%s: not done within the progress deadline of %s", reason, deadline)
	}
	return err
}

// retire scales an aborted candidate that serves nothing down.
func (rn *run) retire(ctx context.Context) error {
	st := rn.state()
	if !st.Switched.IsZero() {
		return nil
	}
	return rn.sl.Scale(ctx, slotName(rn.rel.App.Name, st.Candidate), 0)
}

// awaitAvailable waits until slot has n available pods of the release and
// no pod of another revision (see slots.Foreign): a slot rolled from an
// older revision keeps its pods, Ready, until the Deployment controller
// has scaled the old ReplicaSet down, which can come after the new pods
// are Ready, and the Services select the slot's pods whatever their
// revision.
func (rn *run) awaitAvailable(ctx context.Context, slot string, n int32) error {
	rev := rn.rel.Revision
	_, err := rn.f.Await(ctx, flow.Await{
		Reason: fmt.Sprintf("waiting for %d available pods of %s in slot %s, and no pod of another revision", n, rev, slot),
		Cond: func() (bool, time.Time) {
			got, next := rn.available(slot, rev)
			foreign, _ := rn.sl.Foreign("", slot, rev)
			return got >= n && foreign == 0, next
		},
		Deadline: rn.d.Now().Add(rn.s.spec.progressDeadline()),
	})
	return err
}

// awaitControllerSaw waits until slot's Deployment status counts n ready
// pods of its current template: the controller-manager's informers, which
// its EndpointSlice controller reads too, have then seen them Ready. With no
// preview Service to show the EndpointSlices, this keeps the active Service
// from getting fewer endpoints than pods at the switch.
func (rn *run) awaitControllerSaw(ctx context.Context, slot string, n int32) error {
	name := slotName(rn.rel.App.Name, slot)
	_, err := rn.f.Await(ctx, flow.Await{
		Reason: fmt.Sprintf("waiting for the Deployment controller to count %d ready pods in slot %s", n, slot),
		Cond: func() (bool, time.Time) {
			d, ok := rn.sl.Deploys.Get(rn.rel.App.Namespace, name)
			if !ok {
				return false, time.Time{}
			}
			st := d.Status
			return st.ObservedGeneration >= d.Generation && st.UpdatedReplicas >= n && st.ReadyReplicas >= n, time.Time{}
		},
		Deadline: rn.d.Now().Add(rn.s.spec.progressDeadline()),
	})
	return err
}

// awaitEndpoints waits until service's ready endpoints are n of the slot's
// pods and nothing else, all of them pods of the release.
func (rn *run) awaitEndpoints(ctx context.Context, service, slot string, n int32) error {
	rev := rn.rel.Revision
	_, err := rn.f.Await(ctx, flow.Await{
		Reason: fmt.Sprintf("waiting for Service %s to route only to pods of %s in slot %s", service, rev, slot),
		Cond: func() (bool, time.Time) {
			on, off := rn.sl.Endpoints(service, slot)
			_, foreign := rn.sl.Foreign(service, slot, rev)
			return on >= n && off == 0 && foreign == 0, time.Time{}
		},
		Deadline: rn.d.Now().Add(rn.s.spec.progressDeadline()),
	})
	return err
}
