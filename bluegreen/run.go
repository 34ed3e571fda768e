package bluegreen

import (
	"context"
	"fmt"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/types"

	"github.com/switchyard-dev/switchyard/internal/slots"
	"github.com/switchyard-dev/switchyard/strategy"
	"github.com/switchyard-dev/switchyard/strategy/flow"
	"github.com/switchyard-dev/switchyard/strategy/record"
	"github.com/switchyard-dev/switchyard/strategy/traffic"
)

// state is what a release records beyond the shared record. Which slot
// serves is not recorded: the active Service's selector says so.
type state struct {
	// Candidate is the slot the release deploys to.
	Candidate string `json:"candidate"`
	// Previous is the slot that served before, "" on a first release.
	Previous string `json:"previous,omitempty"`
	// Adopted names a plain Deployment whose traffic the first release takes
	// over; it is scaled down after the switch.
	Adopted string `json:"adopted,omitempty"`
	// Instant is set for a release of the revision the idle slot still runs
	// (an undo inside the rollback window): no checks, no promotion wait.
	Instant bool `json:"instant,omitempty"`
	// Ready is when the candidate became fully available; Switched when the
	// active Service was pointed at it.
	Ready    time.Time `json:"ready,omitzero"`
	Switched time.Time `json:"switched,omitzero"`
}

// checkState returns a check for Begin that the recorded state names real
// slots and only the app's own Deployment: an edited record must not send
// writes to another object.
func checkState(app types.NamespacedName) func(*record.Record) error {
	return flow.StateCheck("bluegreen", app, func(st *state) error {
		switch {
		case st.Candidate != Blue && st.Candidate != Green:
			return fmt.Errorf("candidate slot %q", st.Candidate)
		case st.Previous != "" && st.Previous != other(st.Candidate):
			return fmt.Errorf("previous slot %q", st.Previous)
		case st.Adopted != "" && st.Adopted != app.Name:
			return fmt.Errorf("adopted Deployment %q is not the app's", st.Adopted)
		}
		return nil
	})
}

func (rn *run) state() state {
	var st state
	// Begin checked that the state decodes; the driver's own writes keep it so.
	if err := rn.d.Record().DecodeState(&st); err != nil {
		panic(fmt.Sprintf("bluegreen: state checked at Begin no longer decodes: %v", err))
	}
	return st
}

// enter records step name and the state changed by edit in one write.
func (rn *run) enter(ctx context.Context, name string, edit func(*state, *record.Record)) error {
	return rn.f.Enter(ctx, name, func(r *record.Record) error { return editState(r, edit) })
}

func editState(r *record.Record, edit func(*state, *record.Record)) error {
	var st state
	if err := r.DecodeState(&st); err != nil {
		return err
	}
	if edit != nil {
		edit(&st, r)
	}
	return r.EncodeState(st)
}

func (rn *run) drive(ctx context.Context) (*strategy.Result, error) {
	d, rev := rn.d, rn.rel.Revision
	if d.Record().Ended(rev) {
		return d.Recorded(ctx)
	}
	if err := rn.startWatches(ctx); err != nil {
		return nil, err
	}
	rec := d.Record()
	// An Undo requested while nothing ran ships that revision first.
	for _, q := range rec.Requests {
		if h, ok := rec.Find(q.Revision); q.Action == strategy.ActionUndo && ok && h.Workload != nil && q.Revision != rev {
			rn.rel = strategy.Release{App: rn.rel.App, Revision: h.Revision, Workload: h.Workload}
			rev = h.Revision
			break
		}
	}
	if rec.Revision != rev || !rec.InFlight() {
		if err := rn.start(ctx); err != nil {
			return nil, err
		}
	} else {
		d.Emit(ctx, strategy.Event{Type: strategy.EventResumed, Message: fmt.Sprintf("resuming at step %d (%s)", rec.Step, rec.StepName)})
	}
	spec := rn.s.spec
	rn.f = flow.New(d, rn.steps(), flow.Hooks{
		Sources:          rn.sl.Sources,
		Rollback:         rn.rollback,
		Retire:           rn.retire,
		AbortDelay:       spec.abortScaleDownDelay(),
		ProgressDeadline: spec.progressDeadline(),
		Done: func() string {
			return fmt.Sprintf("%s serves from slot %s", rn.rel.Revision, rn.state().Candidate)
		},
		Gates: spec.Gates,
		Input: func() strategy.CheckInput {
			service := spec.PreviewService
			if rn.d.Record().Switched || service == "" {
				service = spec.ActiveService
			}
			return rn.checkInput(rn.state().Candidate, service)
		},
	})
	return rn.f.Run(ctx)
}

// steps is the release as a table: each step's name and what it does.
func (rn *run) steps() []flow.Step {
	return []flow.Step{
		{Name: stepDeploy, Run: rn.deploy, Before: strategy.BeforeRelease},
		{Name: stepPreviewAvailable, Run: rn.previewAvailable},
		{Name: stepPrePromotion, Run: rn.prePromotion},
		{Name: stepPromotion, Run: rn.promotion, Before: strategy.BeforePromotion},
		{Name: stepFullAvailable, Run: rn.fullAvailable},
		{Name: stepSwitch, Run: rn.switchTraffic, Before: strategy.BeforeStep},
		{Name: stepVerify, Run: rn.verify, After: strategy.AfterPromotion},
		{Name: stepPostPromotion, Run: rn.postPromotion},
		{Name: stepScaleDown, Run: rn.scaleDown},
	}
}

// start records a new release: which slot it goes to, what it takes over.
func (rn *run) start(ctx context.Context) error {
	rev, now := rn.rel.Revision, rn.d.Now()
	active := rn.activeSlot()
	st := state{Candidate: Blue}
	stable := ""
	if active != "" {
		st.Candidate, st.Previous = other(active), active
		stable, _ = rn.sl.Revision(active)
	} else if adopted, err := rn.adoptable(ctx); err != nil {
		return err
	} else {
		st.Adopted = adopted
	}
	if idleRev, replicas := rn.sl.Revision(st.Candidate); active != "" && idleRev == rev && replicas >= rn.required() {
		if n, _ := rn.available(st.Candidate, rev); n >= rn.required() {
			st.Instant = true
		}
	}
	return rn.d.Save(ctx, func(r *record.Record) error {
		// Requests made before this release were meant for an earlier one.
		r.Take(func(strategy.Request) bool { return true })
		r.Stable = stable
		return r.Restart(slots.History(rn.rel, now), stepDeploy, st, rn.s.cfg.HistoryLimit)
	})
}

// adoptable returns the name of a plain Deployment of the app that the first
// release takes traffic from: one named after the app, not switchyard's,
// whose pods the active Service selects.
func (rn *run) adoptable(ctx context.Context) (string, error) {
	app := rn.rel.App
	var name string
	err := rn.d.Retry(ctx, func(ctx context.Context) error {
		dep, err := rn.s.clients.Kube.AppsV1().Deployments(app.Namespace).Get(ctx, app.Name, metav1.GetOptions{})
		if apierrors.IsNotFound(err) {
			return nil
		}
		if err != nil {
			return fmt.Errorf("reading Deployment %s: %w", app, err)
		}
		if dep.Labels[strategy.LabelManagedBy] == strategy.ManagedBy {
			return nil
		}
		// Only a Deployment that serves the app's traffic is taken over
		// (and later scaled down): the active Service must select its pods.
		svc, ok := rn.sl.Services.Get(app.Namespace, rn.s.spec.ActiveService)
		if ok && len(svc.Spec.Selector) > 0 && labels.SelectorFromSet(svc.Spec.Selector).Matches(labels.Set(dep.Spec.Template.Labels)) {
			name = dep.Name
		}
		return nil
	})
	return name, err
}

func (rn *run) checkInput(slot, service string) strategy.CheckInput {
	return strategy.CheckInput{Release: rn.rel, Stable: rn.d.Record().Stable, Slot: slotName(rn.rel.App.Name, slot),
		Service: service, Clients: rn.s.clients}
}

// prepareServices creates the active Service when it is missing and points
// the preview Service at the candidate. On a first release, an active
// Service that selects no slot and serves nothing is pointed at the empty
// slot, so that the new pods get no traffic before the switch; one that
// serves pods (an adopted Deployment's) is left alone until the switch.
func (rn *run) prepareServices(ctx context.Context, candidate string) error {
	active := rn.s.spec.ActiveService
	if err := rn.ensureService(ctx, active, other(candidate)); err != nil {
		return err
	}
	if svc, ok := rn.sl.Services.Get(rn.rel.App.Namespace, active); ok && traffic.Slot(svc) == "" {
		if on, off := rn.sl.Endpoints(active, candidate); on+off == 0 {
			if err := rn.point(ctx, active, other(candidate)); err != nil {
				return err
			}
		}
	}
	p := rn.s.spec.PreviewService
	if p == "" {
		return nil
	}
	if err := rn.ensureService(ctx, p, candidate); err != nil {
		return err
	}
	if svc, ok := rn.sl.Services.Get(rn.rel.App.Namespace, p); ok && traffic.Slot(svc) == candidate {
		return nil
	}
	return rn.point(ctx, p, candidate)
}

// point makes Service name select slot, in one write.
func (rn *run) point(ctx context.Context, name, slot string) error {
	return rn.sl.Point(ctx, name, slot)
}
