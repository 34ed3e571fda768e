package bootstrap

import (
	"context"

	"github.com/switchyard-dev/switchyard/strategy"
	"github.com/switchyard-dev/switchyard/strategy/flow"
)

// The event types of a bootstrap, one per thing that happens to an object.
// In each, Object is the object's Ref (Ref.String()) and Message says
// more: the action, the status message, the reason.
const (
	// EventApplied: the object was created or configured (Message says
	// which).
	EventApplied strategy.EventType = "ObjectApplied"
	// EventUnchanged: the object already matched its manifest; nothing was
	// written.
	EventUnchanged strategy.EventType = "ObjectUnchanged"
	// EventWaiting: the object is applied and not yet ready; Message is
	// its status.
	EventWaiting strategy.EventType = "ObjectWaiting"
	// EventReady: the object is Current.
	EventReady strategy.EventType = "ObjectReady"
	// EventFailed: the object failed; Err says why.
	EventFailed strategy.EventType = "ObjectFailed"
	// EventSkipped: the object was not applied; Err is a *SkippedError.
	EventSkipped strategy.EventType = "ObjectSkipped"
	// EventPruned: the object left the bundle and was deleted.
	EventPruned strategy.EventType = "ObjectPruned"
	// EventKept: the object left the bundle and was left in place.
	EventKept strategy.EventType = "ObjectKept"
	// EventDeleted: a rollback deleted the object, which this run created.
	EventDeleted strategy.EventType = "ObjectDeleted"
)

// emitter reports events through the driver once there is one, and
// straight to the observer before (or when a run writes nothing).
type emitter struct {
	s      *Strategy
	rel    strategy.Release
	d      *flow.Driver
	silent bool // a dry run reports nothing
}

func (em *emitter) emit(ctx context.Context, e strategy.Event) {
	if em.silent {
		return
	}
	if em.d != nil {
		em.d.Emit(ctx, e)
		return
	}
	if e.Time.IsZero() {
		e.Time = em.s.cfg.Clock.Now()
	}
	e.Strategy, e.App, e.Revision = em.s.Name(), em.rel.App, em.rel.Revision
	if em.s.cfg.Observer != nil {
		em.s.cfg.Observer(e)
	}
	em.s.cfg.Logger.Info(e.Message, "event", string(e.Type), "app", em.rel.App.String(), "object", e.Object)
}

func (em *emitter) object(ctx context.Context, typ strategy.EventType, ref Ref, msg string, err error) {
	em.emit(ctx, strategy.Event{Type: typ, Object: ref.String(), Message: msg, Err: err})
}
