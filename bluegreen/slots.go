package bluegreen

import (
	"context"
	"time"

	"github.com/switchyard-dev/switchyard/internal/slots"
)

// The two slots.
const (
	Blue  = slots.Blue
	Green = slots.Green
)

// slotName is the name of app's Deployment for slot (see the package doc).
func slotName(app, slot string) string { return slots.Name(app, slot) }

func other(slot string) string { return slots.Other(slot) }

// startWatches takes the caches of the slots and of the Services'
// endpoints from the driver's watches.
func (rn *run) startWatches(ctx context.Context) error {
	rn.sl = &slots.Slots{Kube: rn.s.clients.Kube, Driver: rn.d, App: rn.rel.App,
		FieldManager: rn.s.cfg.FieldManager, AntiAffinity: rn.s.spec.AntiAffinity, Autoscaler: rn.s.spec.Autoscaler}
	return rn.sl.Watch(ctx)
}

// serving is the Deployment that carries the app's traffic, which the
// autoscaler must scale: the candidate once switched, else the slot that
// served before or the adopted Deployment; "" on a first release with
// nothing to adopt.
func (rn *run) serving(st state) string {
	switch {
	case !st.Switched.IsZero():
		return slotName(rn.rel.App.Name, st.Candidate)
	case st.Previous != "":
		return slotName(rn.rel.App.Name, st.Previous)
	}
	return st.Adopted
}

// fitCandidate sizes the candidate to what the autoscaler chose for the
// live slot when that changed since the candidate was deployed.
func (rn *run) fitCandidate(ctx context.Context, candidate string) error {
	if rn.s.spec.Autoscaler == "" || rn.sl.Size(candidate) == rn.required() {
		return nil
	}
	return rn.sl.Scale(ctx, slotName(rn.rel.App.Name, candidate), rn.required())
}

// available counts slot's pods of revision that have been Ready for the
// workload's minReadySeconds.
func (rn *run) available(slot, revision string) (int32, time.Time) {
	return rn.sl.Available(slot, revision, time.Duration(rn.rel.Workload.Spec.MinReadySeconds)*time.Second)
}
