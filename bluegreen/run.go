package bluegreen

import (
	"context"
	"errors"
	"fmt"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"

	"github.com/switchyard-dev/switchyard/internal/slots"
	"github.com/switchyard-dev/switchyard/strategy"
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
	// active Service was pointed at it; Aborted when traffic went back.
	Ready    time.Time `json:"ready,omitzero"`
	Switched time.Time `json:"switched,omitzero"`
	Aborted  time.Time `json:"aborted,omitzero"`
}

// stepAbort marks a release that is scaling its candidate down after an
// abort.
const stepAbort = 100

func (rn *run) state() state {
	var st state
	_ = rn.d.Record().DecodeState(&st)
	return st
}

// save records the step and the state changed by edit in one write.
func (rn *run) save(ctx context.Context, step int, edit func(*state, *strategy.Record)) error {
	return rn.d.Save(ctx, func(r *strategy.Record) error {
		var st state
		if err := r.DecodeState(&st); err != nil {
			return err
		}
		if edit != nil {
			edit(&st, r)
		}
		r.Step = step
		if step < len(stepNames) {
			r.StepName = stepNames[step]
		}
		return r.EncodeState(st)
	})
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
	if rec.Revision != rev || rec.Phase == "" || rec.Phase.Terminal() {
		if err := rn.start(ctx); err != nil {
			return nil, err
		}
	} else {
		d.Emit(ctx, strategy.Event{Type: strategy.EventResumed, Message: fmt.Sprintf("resuming at step %d (%s)", rec.Step, rec.StepName)})
	}
	step := d.Record().Step
	if step == stepAbort {
		return rn.finishAbort(ctx)
	}
	for step < stepDone {
		sctx, end := d.StartStep(ctx, step, stepNames[step])
		res, next, err := rn.step(sctx, step)
		end(err)
		if res != nil || err != nil {
			return res, err
		}
		step = next
	}
	return d.Finish(ctx, strategy.PhaseSucceeded, "", fmt.Sprintf("%s serves from slot %s", rev, rn.state().Candidate), strategy.Revision{})
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
	return rn.d.Save(ctx, func(r *strategy.Record) error {
		// Requests made before this release were meant for an earlier one.
		r.Take(func(strategy.Request) bool { return true })
		if stable != "" {
			r.Stable = stable
		}
		return r.Restart(slots.History(rn.rel, now), stepNames[stepDeploy], st, rn.s.cfg.HistoryLimit)
	})
}

// adoptable returns the name of a plain Deployment of the app that the first
// release takes traffic from: one named after the app, not switchyard's,
// whose pods the active Service selects.
func (rn *run) adoptable(ctx context.Context) (string, error) {
	app := rn.rel.App
	dep, err := rn.s.clients.Kube.AppsV1().Deployments(app.Namespace).Get(ctx, app.Name, metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		return "", nil
	}
	if err != nil {
		return "", fmt.Errorf("reading Deployment %s: %w", app, err)
	}
	if dep.Labels[strategy.LabelManagedBy] == strategy.ManagedBy {
		return "", nil
	}
	// Only a Deployment that serves the app's traffic is taken over (and
	// later scaled down): the active Service must select its pods.
	svc, ok := rn.sl.Services.Get(app.Namespace, rn.s.spec.ActiveService)
	if !ok || len(svc.Spec.Selector) == 0 || !labels.SelectorFromSet(svc.Spec.Selector).Matches(labels.Set(dep.Spec.Template.Labels)) {
		return "", nil
	}
	return dep.Name, nil
}

// step runs one step and returns the next. It returns a Result when the
// release ended early. A step that changed nothing in the cluster and
// waited for nothing is not recorded: repeating it after a crash is free.
func (rn *run) step(ctx context.Context, step int) (*strategy.Result, int, error) {
	st := rn.state()
	spec := rn.s.spec
	next := func(edit func(*state, *strategy.Record)) (*strategy.Result, int, error) {
		return nil, step + 1, rn.save(ctx, step+1, edit)
	}
	skip := func() (*strategy.Result, int, error) { return nil, step + 1, nil }
	end := func(res *strategy.Result, err error) (*strategy.Result, int, error) { return res, step, err }
	switch step {
	case stepDeploy:
		if err := rn.prepareServices(ctx, st.Candidate); err != nil {
			return end(nil, err)
		}
		if err := rn.sl.Deploy(ctx, st.Candidate, rn.rel, rn.previewReplicas()); err != nil {
			return end(nil, err)
		}
		return next(nil)

	case stepPreviewAvailable:
		if res, err := rn.awaitAvailable(ctx, st.Candidate, rn.previewReplicas()); res != nil || err != nil {
			return end(res, err)
		}
		// Checks test through the preview Service: it must reach the pods.
		if p := spec.PreviewService; p != "" && len(spec.PrePromotion) > 0 && !st.Instant {
			if res, err := rn.awaitEndpoints(ctx, p, st.Candidate, rn.previewReplicas()); res != nil || err != nil {
				return end(res, err)
			}
		}
		if err := rn.sl.LabelPods(ctx, st.Candidate, spec.PreviewMetadata.Labels, spec.PreviewMetadata.Annotations); err != nil {
			return end(nil, err)
		}
		if spec.AutoPromotionAfter == 0 || rn.previewReplicas() < rn.required() {
			// Nothing to remember: go straight on, so that the switch
			// follows the last ready pod with no write in between.
			return skip()
		}
		return next(func(s *state, _ *strategy.Record) {
			if s.Ready.IsZero() {
				s.Ready = rn.d.Now()
			}
		})

	case stepPrePromotion:
		if st.Instant || len(spec.PrePromotion) == 0 {
			return skip()
		}
		{
			if err := rn.d.RunChecks(ctx, spec.PrePromotion, rn.checkInput(st.Candidate, spec.PreviewService)); err != nil {
				if res, err := rn.judged(ctx, err); res != nil || err != nil {
					return end(res, err)
				}
			}
		}
		return next(nil)

	case stepPromotion:
		if st.Instant || (!spec.ManualPromotion && spec.AutoPromotionAfter == 0) {
			return skip()
		}
		{
			if res, err := rn.awaitPromotion(ctx, st); res != nil || err != nil {
				return end(res, err)
			}
		}
		return next(nil)

	case stepFullAvailable:
		if rn.previewReplicas() == rn.required() {
			return skip() // the preview was already the full size
		}
		{
			if err := rn.sl.Deploy(ctx, st.Candidate, rn.rel, rn.required()); err != nil {
				return end(nil, err)
			}
		}
		if res, err := rn.awaitAvailable(ctx, st.Candidate, rn.required()); res != nil || err != nil {
			return end(res, err)
		}
		return next(func(s *state, _ *strategy.Record) {
			if s.Ready.IsZero() {
				s.Ready = rn.d.Now()
			}
		})

	case stepSwitch:
		// Availability guard: the slot must still have every pod ready.
		if res, err := rn.awaitAvailable(ctx, st.Candidate, rn.required()); res != nil || err != nil {
			return end(res, err)
		}
		if err := rn.point(ctx, rn.s.spec.ActiveService, st.Candidate); err != nil {
			return end(nil, err)
		}
		rn.d.Emit(ctx, strategy.Event{Type: strategy.EventTraffic, Message: fmt.Sprintf("Service %s now selects slot %s", spec.ActiveService, st.Candidate)})
		return next(func(s *state, r *strategy.Record) {
			s.Switched = rn.d.Now()
			r.Stable, r.Phase = r.Revision, strategy.PhasePromoting
		})

	case stepVerify:
		if res, err := rn.awaitEndpoints(ctx, spec.ActiveService, st.Candidate, rn.required()); res != nil || err != nil {
			return end(res, err)
		}
		if err := rn.sl.LabelPods(ctx, st.Candidate, spec.ActiveMetadata.Labels, spec.ActiveMetadata.Annotations); err != nil {
			return end(nil, err)
		}
		return next(nil)

	case stepPostPromotion:
		if st.Instant || len(spec.PostPromotion) == 0 {
			return skip()
		}
		{
			if err := rn.d.RunChecks(ctx, spec.PostPromotion, rn.checkInput(st.Candidate, spec.ActiveService)); err != nil {
				if res, err := rn.judged(ctx, err); res != nil || err != nil {
					return end(res, err)
				}
			}
		}
		return next(nil)

	case stepScaleDown:
		if st.Adopted == "" && (st.Previous == "" || spec.rollbackWindow() > 0) {
			return skip() // the rollback window keeps the old slot
		}
		{
			if _, err := rn.d.Wait(ctx, strategy.WaitFor{Until: st.Switched.Add(spec.scaleDownDelay()),
				Reason: fmt.Sprintf("old pods keep running %s after the switch", spec.scaleDownDelay())}); err != nil {
				return end(nil, err)
			}
			old := st.Adopted
			if old == "" {
				old = SlotName(rn.rel.App.Name, st.Previous)
			}
			if err := rn.sl.Scale(ctx, old, 0); err != nil {
				return end(nil, err)
			}
		}
		return next(nil)
	}
	return end(nil, fmt.Errorf("unknown step %d", step))
}

// judged acts on a failed check: a check that could not decide
// (strategy.ErrInconclusive) pauses the release until a person promotes it
// (go on) or aborts it; any other failure aborts it.
func (rn *run) judged(ctx context.Context, err error) (*strategy.Result, error) {
	if !errors.Is(err, strategy.ErrInconclusive) {
		return rn.abort(ctx, strategy.ReasonAnalysisFailed, err.Error())
	}
	if err := rn.d.Save(ctx, func(r *strategy.Record) error {
		r.Phase, r.Message = strategy.PhasePaused, err.Error()
		return nil
	}); err != nil {
		return nil, err
	}
	_, res, err := rn.await(ctx, awaitSpec{reason: err.Error(), promotable: true, decision: true,
		switched: rn.d.Record().Step > stepSwitch})
	if res != nil || err != nil {
		return res, err
	}
	return nil, rn.d.Save(ctx, func(r *strategy.Record) error {
		r.Phase, r.Message, r.Paused = strategy.PhaseProgressing, "", false
		if r.Step > stepSwitch {
			r.Phase = strategy.PhasePromoting
		}
		return nil
	})
}

func (rn *run) checkInput(slot, service string) strategy.CheckInput {
	return strategy.CheckInput{Release: rn.rel, Stable: rn.d.Record().Stable, Slot: SlotName(rn.rel.App.Name, slot),
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
