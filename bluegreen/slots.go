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

// SlotName is the name of app's Deployment for slot.
func SlotName(app, slot string) string { return slots.Name(app, slot) }

func other(slot string) string { return slots.Other(slot) }

// startWatches starts the caches of the slots and of the active and preview
// Services' endpoints.
func (rn *run) startWatches(ctx context.Context) error {
	rn.sl = &slots.Slots{Kube: rn.s.clients.Kube, Driver: rn.d, App: rn.rel.App,
		FieldManager: rn.s.cfg.FieldManager, AntiAffinity: rn.s.spec.AntiAffinity}
	services := []string{rn.s.spec.ActiveService}
	if p := rn.s.spec.PreviewService; p != "" {
		services = append(services, p)
	}
	return rn.sl.Watch(ctx, rn.s.cfg.Clock, services...)
}

// available counts slot's pods of revision that have been Ready for the
// workload's minReadySeconds.
func (rn *run) available(slot, revision string) (int32, time.Time) {
	return rn.sl.Available(slot, revision, time.Duration(rn.rel.Workload.Spec.MinReadySeconds)*time.Second)
}
