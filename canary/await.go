package canary

import (
	"context"
	"fmt"
	"time"

	"github.com/switchyard-dev/switchyard/strategy"
	"github.com/switchyard-dev/switchyard/strategy/flow"
	"github.com/switchyard-dev/switchyard/strategy/record"
)

// awaitAvailable waits until slot has n available pods of revision and
// no pod of another revision (see slots.Foreign): a slot rolled from an
// older revision keeps that revision's pods, Ready, until the Deployment
// controller has scaled its old ReplicaSet down, which can come after the
// new pods are Ready, and the Services select the slot's pods whatever
// their revision. n = 0 waits for nothing: the slot takes no traffic.
func (rn *run) awaitAvailable(ctx context.Context, slot, revision string, n int32) error {
	if n == 0 {
		return nil
	}
	_, err := rn.f.Await(ctx, flow.Await{
		Reason: fmt.Sprintf("waiting for %d available pods of %s in slot %s, and no pod of another revision", n, revision, slot),
		Cond: func() (bool, time.Time) {
			got, next := rn.sl.Available(slot, revision, rn.minReady())
			foreign, _ := rn.sl.Foreign("", slot, revision)
			return got >= n && foreign == 0, next
		},
		Deadline: rn.d.Now().Add(rn.s.spec.progressDeadline()),
	})
	return err
}

// awaitEndpoints waits until service's ready endpoints include n of the
// slot's pods, none of the slot's of a revision other than revision, and,
// if only, nothing else.
func (rn *run) awaitEndpoints(ctx context.Context, service, slot, revision string, n int32, only bool) error {
	reason := fmt.Sprintf("waiting for Service %s to route to %d pods of %s in slot %s", service, n, revision, slot)
	if only {
		reason = fmt.Sprintf("waiting for Service %s to route only to pods of %s in slot %s", service, revision, slot)
	}
	_, err := rn.f.Await(ctx, flow.Await{
		Reason: reason,
		Cond: func() (bool, time.Time) {
			on, off := rn.sl.Endpoints(service, slot)
			_, foreign := rn.sl.Foreign(service, slot, revision)
			return on >= n && (off == 0 || !only) && foreign == 0, time.Time{}
		},
		Deadline: rn.d.Now().Add(rn.s.spec.progressDeadline()),
	})
	return err
}

// awaitOnly waits until the canary slot runs no pod of a revision other
// than the release's, and the canary Service routes to none, before a
// route sends it requests whatever the weight.
func (rn *run) awaitOnly(ctx context.Context, slot string) error {
	service, rev := rn.canaryService(), rn.rel.Revision
	_, err := rn.f.Await(ctx, flow.Await{
		Reason: fmt.Sprintf("waiting for slot %s and Service %s to have no pod of a revision other than %s", slot, service, rev),
		Cond: func() (bool, time.Time) {
			pods, endpoints := rn.sl.Foreign(service, slot, rev)
			return pods == 0 && endpoints == 0, time.Time{}
		},
		Deadline: rn.d.Now().Add(rn.s.spec.progressDeadline()),
	})
	return err
}

// awaitShrunk waits until the stable Service's ready endpoints in the two
// slots are at most the slots' sizes, so that the served shares are those
// of the split. The slot the autoscaler scales may grow beyond its share.
func (rn *run) awaitShrunk(ctx context.Context, st state, canary, stable int32) error {
	svc, app := rn.s.spec.StableService, rn.rel.App.Name
	_, err := rn.f.Await(ctx, flow.Await{
		Reason: fmt.Sprintf("waiting for Service %s to route to %d canary and %d stable pods", svc, canary, stable),
		Cond: func() (bool, time.Time) {
			c, _ := rn.sl.Endpoints(svc, st.Canary)
			s, _ := rn.sl.Endpoints(svc, st.Stable)
			scaled := rn.sl.Scaled()
			return (c <= canary || scaled == slotName(app, st.Canary)) && (s <= stable || scaled == slotName(app, st.Stable)), time.Time{}
		},
		Deadline: rn.d.Now().Add(rn.s.spec.progressDeadline()),
	})
	return err
}

// rollback sends all traffic back to the stable slot at once: the stable
// slot grows back to full size first and the stable Service routes to all
// its pods, then the router (or, without one, the canary's pods leaving
// the Service) moves the traffic. A release replaced by a newer revision
// keeps its canary slot for the next release, which redeploys it.
func (rn *run) rollback(ctx context.Context, reason strategy.Reason) (func(*record.Record) error, error) {
	st, spec, app := rn.state(), rn.s.spec, rn.rel.App.Name
	if st.Stable == "" {
		// A first release has nothing to go back to: the canary keeps
		// serving.
		return nil, nil
	}
	stableRev, total := rn.d.Record().Stable, rn.total()
	if !st.Promoted.IsZero() {
		stableRev, _ = rn.sl.Revision(st.Stable)
	}
	// The stable slot takes all traffic: it must have its full size first.
	if have := rn.sl.Size(st.Stable); have < total {
		// Pods that a scale-down of the slot deletes can still look Ready
		// in the pods cache after they left the Service (the caches watch
		// separately): the cache must see them go before the slot grows,
		// or they would count as the pods it grew.
		if err := rn.waitFor(ctx, fmt.Sprintf("waiting for stable slot %s to be down to %d pods before it grows back", st.Stable, have),
			func() (bool, time.Time, error) {
				return int32(len(rn.sl.PodsOf(st.Stable))) <= rn.sl.Size(st.Stable), time.Time{}, nil
			}); err != nil {
			return nil, err
		}
		if err := rn.sl.Scale(ctx, slotName(app, st.Stable), total); err != nil {
			return nil, err
		}
	}
	// The stable Service must route to the stable slot's pods (with a
	// router, to them alone) before traffic goes there; with a router, a
	// promoted release's stable Service selects the canary until it is
	// pointed back below.
	moves := spec.Router != nil && !st.Promoted.IsZero()
	// The stable slot is not rolled by the release, but traffic goes back
	// only to its own revision all the same (see slots.Foreign).
	ready := func(served bool) func() (bool, time.Time, error) {
		return func() (bool, time.Time, error) {
			n, next := rn.sl.Available(st.Stable, stableRev, rn.minReady())
			service := ""
			if served {
				service = spec.StableService
			}
			pods, endpoints := rn.sl.Foreign(service, st.Stable, stableRev)
			if n < total || pods > 0 || endpoints > 0 || !served {
				return n >= total && pods == 0 && endpoints == 0, next, nil
			}
			return rn.routed(ctx, spec.StableService, st.Stable, func(on, off int32) bool {
				return on >= total && (off == 0 || spec.Router == nil)
			})
		}
	}
	if err := rn.waitFor(ctx, fmt.Sprintf("waiting for %d available pods of stable slot %s before it takes all traffic", total, st.Stable),
		ready(!moves)); err != nil {
		return nil, err
	}
	// The autoscaler goes back with the traffic, before the canary shrinks.
	if err := rn.sl.PointAutoscaler(ctx, slotName(app, st.Stable)); err != nil {
		return nil, err
	}
	if spec.Router != nil {
		if moves {
			if err := rn.waitFor(ctx, fmt.Sprintf("waiting for Service %s to route to the slot it selects before it moves back", spec.StableService),
				func() (bool, time.Time, error) {
					ok, err := rn.sl.Settled(ctx, spec.StableService)
					return ok, time.Time{}, err
				}); err != nil {
				return nil, err
			}
			if err := rn.sl.Point(ctx, spec.StableService, st.Stable); err != nil {
				return nil, err
			}
			if err := rn.waitFor(ctx, fmt.Sprintf("waiting for Service %s to route only to slot %s", spec.StableService, st.Stable),
				ready(true)); err != nil {
				return nil, err
			}
		}
		if err := rn.setWeight(ctx, 0); err != nil {
			return nil, err
		}
		if err := rn.removeRoutes(ctx, st); err != nil {
			return nil, err
		}
	} else if reason != strategy.ReasonSuperseded || !st.Promoted.IsZero() {
		// Without a router the canary's pods are its traffic: it ends when
		// they have left the Service's endpoints.
		if err := rn.sl.Scale(ctx, slotName(app, st.Canary), 0); err != nil {
			return nil, err
		}
		if err := rn.waitFor(ctx, fmt.Sprintf("waiting for the canary's pods to leave Service %s", spec.StableService),
			func() (bool, time.Time, error) {
				return rn.routed(ctx, spec.StableService, st.Canary, func(on, _ int32) bool { return on == 0 })
			}); err != nil {
			return nil, err
		}
	}
	rn.d.Emit(ctx, strategy.Event{Type: strategy.EventTraffic, Message: fmt.Sprintf("all traffic back on stable slot %s", st.Stable)})
	now := rn.d.Now()
	return func(r *record.Record) error {
		var s state
		if err := r.DecodeState(&s); err != nil {
			return err
		}
		s.Aborted, s.Weight, s.Routes, s.Serving, s.Promoted = now, 0, false, s.Stable, time.Time{}
		r.Stable = stableRev
		return r.EncodeState(s)
	}, nil
}

// routed reports whether the ready endpoints of service on slot's pods
// and elsewhere are as ok wants them: in the cache, then, to be sure, as
// the API server has them now, since the cache can still show endpoints
// from before the Service moved or pods left it.
func (rn *run) routed(ctx context.Context, service, slot string, ok func(on, off int32) bool) (bool, time.Time, error) {
	if !ok(rn.sl.Endpoints(service, slot)) {
		return false, time.Time{}, nil
	}
	on, off, err := rn.sl.EndpointsNow(ctx, service, slot)
	return err == nil && ok(on, off), time.Time{}, err
}

// waitFor waits, within the progress deadline, for cond while traffic goes
// back; requests wait until the release has ended. cond also says when to
// check again with no change in the caches (zero: only on changes).
func (rn *run) waitFor(ctx context.Context, reason string, cond func() (bool, time.Time, error)) error {
	var recheck time.Time
	wake, err := rn.d.Wait(ctx, flow.WaitFor{Sources: rn.sl.Sources(), Until: rn.d.Now().Add(rn.s.spec.progressDeadline()),
		Reason: reason, Recheck: func() time.Time { return recheck },
		Cond: func() (ok bool, err error) {
			ok, recheck, err = cond()
			return ok, err
		}})
	if err == nil && wake == flow.WokeDeadline {
		err = fmt.Errorf("%s: not done within the progress deadline of %s", reason, rn.s.spec.progressDeadline())
	}
	return err
}

// retire scales the aborted canary down.
func (rn *run) retire(ctx context.Context) error {
	st := rn.state()
	if st.Stable == "" {
		return nil // a first release: the canary is the app
	}
	return rn.sl.Scale(ctx, slotName(rn.rel.App.Name, st.Canary), 0)
}
