package canary

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/utils/ptr"

	"github.com/switchyard-dev/switchyard/internal/slots"
	"github.com/switchyard-dev/switchyard/strategy"
	"github.com/switchyard-dev/switchyard/strategy/flow"
	"github.com/switchyard-dev/switchyard/strategy/record"
	"github.com/switchyard-dev/switchyard/strategy/traffic"
)

// state is what a release records beyond the shared record.
type state struct {
	// Canary is the slot the release deploys to; Stable the slot that
	// served before, "" on a first release.
	Canary string `json:"canary"`
	Stable string `json:"stable,omitempty"`
	// Serving is the slot that carries the app once the release ended.
	Serving string `json:"serving,omitempty"`
	// Weight is the canary's share of traffic, as last set.
	Weight int32 `json:"weight"`
	// Scale is the canary size a SetCanaryScale step fixed; nil: it follows
	// the weight.
	Scale *SetCanaryScale `json:"scale,omitempty"`
	// Routes is set while header or mirror routes may be in place.
	Routes bool `json:"routes,omitempty"`
	// Instant skips the steps: a first release, or an Undo.
	Instant bool `json:"instant,omitempty"`
	// StepStarted is when the current step began, so that a timed pause
	// resumed after a crash ends when it would have.
	StepStarted time.Time `json:"stepStarted,omitzero"`
	// Promoted is when the stable Service moved to the canary slot;
	// Aborted when traffic went back to stable.
	Promoted time.Time `json:"promoted,omitzero"`
	Aborted  time.Time `json:"aborted,omitzero"`
}

// The steps of a release are named: "deploy", the spec's steps
// ("0-SetWeight", ...), "promote" and "scale-down".
const (
	stepDeploy    = "deploy"
	stepPromote   = flow.FullPromotionStep
	stepScaleDown = "scale-down"
)

// stepNames lists the names of a release's steps with spec, in order.
func stepNames(spec Spec) []string {
	names := []string{stepDeploy}
	for i, st := range spec.Steps {
		names = append(names, stepName(i, st))
	}
	return append(names, stepPromote, stepScaleDown)
}

// run is one Run of a release.
type run struct {
	s   *Strategy
	d   *flow.Driver
	f   *flow.Flow
	rel strategy.Release
	sl  *slots.Slots
	// routes is set once this run set a header or mirror route.
	routes bool
}

func (rn *run) state() state {
	var st state
	// Begin checked that the state decodes; the driver's own writes keep it so.
	if err := rn.d.Record().DecodeState(&st); err != nil {
		panic(fmt.Sprintf("canary: state checked at Begin no longer decodes: %v", err))
	}
	return st
}

// enter records step name and the state changed by edit in one write,
// with the edits queued by later.
func (rn *run) enter(ctx context.Context, name string, edit func(*state, *record.Record)) error {
	return rn.f.Enter(ctx, name, func(r *record.Record) error {
		var st state
		if err := r.DecodeState(&st); err != nil {
			return err
		}
		if r.StepName != name {
			// A new step: a timed pause records when it ends, for Status.
			st.StepStarted, r.PauseUntil = rn.d.Now(), time.Time{}
			if i := slices.Index(stepNames(rn.s.spec), name) - 1; i >= 0 && i < len(rn.s.spec.Steps) {
				if p, ok := rn.s.spec.Steps[i].(Pause); ok && p.Duration > 0 {
					r.PauseUntil = st.StepStarted.Add(p.Duration)
				}
			}
		}
		if edit != nil {
			edit(&st, r)
		}
		return r.EncodeState(st)
	})
}

// later has the next write of the record also make edit, to save a write
// when nothing depends on it being recorded sooner: what it records is
// found again by repeating the step after a crash.
func (rn *run) later(edit func(*state, *record.Record)) {
	rn.f.Later(func(r *record.Record) error {
		var st state
		if err := r.DecodeState(&st); err != nil {
			return err
		}
		edit(&st, r)
		return r.EncodeState(st)
	})
}

// total is the full size of a slot: the workload's replicas, or with an
// autoscaler the size it chose for the Deployment it scales.
func (rn *run) total() int32 {
	return rn.sl.ScaledReplicas(ptr.Deref(rn.rel.Workload.Spec.Replicas, 1))
}

func (rn *run) minReady() time.Duration {
	return time.Duration(rn.rel.Workload.Spec.MinReadySeconds) * time.Second
}

func (rn *run) drive(ctx context.Context) (*strategy.Result, error) {
	d := rn.d
	if d.Record().Ended(rn.rel.Revision) {
		return d.Recorded(ctx)
	}
	if err := rn.startWatches(ctx); err != nil {
		return nil, err
	}
	rec := d.Record()
	if rec.Revision != rn.rel.Revision || !rec.InFlight() {
		if err := rn.start(ctx); err != nil {
			return nil, err
		}
	} else {
		d.Emit(ctx, strategy.Event{Type: strategy.EventResumed, Message: fmt.Sprintf("resuming at step %d (%s)", rec.Step, rec.StepName)})
	}
	spec := rn.s.spec
	hooks := flow.Hooks{
		Sources:          rn.sl.Sources,
		Rollback:         rn.rollback,
		Retire:           rn.retire,
		FullPromotion:    true,
		ProgressDeadline: spec.progressDeadline(),
		Done: func() string {
			return fmt.Sprintf("%s serves from slot %s", rn.rel.Revision, rn.state().Canary)
		},
	}
	if spec.Router != nil {
		hooks.AbortDelay = spec.abortScaleDownDelay()
	}
	hooks.Gates, hooks.Input = spec.Gates, rn.checkInput
	rn.f = flow.New(d, rn.steps(), hooks)
	return rn.f.Run(ctx)
}

// steps is the release as a table: deploy, the spec's steps, promotion and
// scale-down.
func (rn *run) steps() []flow.Step {
	out := []flow.Step{{Name: stepDeploy, Run: rn.deployStep, Before: strategy.BeforeRelease}}
	for i, st := range rn.s.spec.Steps {
		s := flow.Step{Name: stepName(i, st), Kind: stepKind(st), Run: func(ctx context.Context) (string, error) {
			return rn.userStep(ctx, i)
		}}
		if _, ok := st.(SetWeight); ok {
			s.Before = strategy.BeforeStep
		}
		out = append(out, s)
	}
	return append(out,
		flow.Step{Name: stepPromote, Run: rn.promoteStep, Before: strategy.BeforePromotion, After: strategy.AfterPromotion},
		flow.Step{Name: stepScaleDown, Run: rn.scaleDownStep})
}

func (rn *run) startWatches(ctx context.Context) error {
	spec := rn.s.spec
	rn.sl = &slots.Slots{Kube: rn.s.clients.Kube, Driver: rn.d, App: rn.rel.App,
		FieldManager: rn.s.cfg.FieldManager, AntiAffinity: spec.AntiAffinity, Rollout: rn.rollout(), Autoscaler: spec.Autoscaler}
	return rn.sl.Watch(ctx)
}

// rollout is how a slot replaces its pods: maxSurge 25% and
// maxUnavailable 0 unless the spec says otherwise.
func (rn *run) rollout() *appsv1.RollingUpdateDeployment {
	surge, unavail := intstr.FromString("25%"), intstr.FromInt32(0)
	if rn.s.spec.MaxSurge != nil {
		surge = *rn.s.spec.MaxSurge
	}
	if rn.s.spec.MaxUnavailable != nil {
		unavail = *rn.s.spec.MaxUnavailable
	}
	return &appsv1.RollingUpdateDeployment{MaxSurge: &surge, MaxUnavailable: &unavail}
}

// servingSlot finds the slot that carries the app now: the one the last
// canary release left serving, the one a router's stable Service selects,
// or the one running the stable revision.
func (rn *run) servingSlot() string {
	rec := rn.d.Record()
	var prev state
	if rec.Strategy == rn.s.Name() && rec.DecodeState(&prev) == nil && prev.Serving != "" {
		if _, n := rn.sl.Revision(prev.Serving); n > 0 {
			return prev.Serving
		}
	}
	if rn.s.spec.Router != nil {
		if slot := rn.sl.Selects(rn.s.spec.StableService); slot != "" {
			if _, n := rn.sl.Revision(slot); n > 0 {
				return slot
			}
		}
	}
	best, most := "", int32(0)
	for _, slot := range []string{Blue, Green} {
		rev, n := rn.sl.Revision(slot)
		if n > most || n > 0 && n == most && rev == rec.Stable {
			best, most = slot, n
		}
	}
	return best
}

// start records a new release: which slot it goes to and whether it runs
// its steps.
func (rn *run) start(ctx context.Context) error {
	rev, now := rn.rel.Revision, rn.d.Now()
	rec := rn.d.Record()
	st := state{Canary: Blue}
	stableRev := rec.Stable
	if serving := rn.servingSlot(); serving != "" {
		st.Canary, st.Stable = slots.Other(serving), serving
		stableRev, _ = rn.sl.Revision(serving)
	} else {
		st.Instant = true // nothing to compare with: the first release goes straight to full size
	}
	var undo bool
	for _, q := range rec.Requests {
		undo = undo || q.Action == strategy.ActionUndo && q.Revision == rev
	}
	st.Instant = st.Instant || undo
	return rn.d.Save(ctx, func(r *record.Record) error {
		// Requests made before this release were meant for an earlier one.
		r.Take(func(strategy.Request) bool { return true })
		if stableRev != "" {
			r.Stable = stableRev
		}
		return r.Restart(slots.History(rn.rel, now), stepDeploy, st, rn.s.cfg.HistoryLimit)
	})
}

// sizes returns the pods each slot needs at weight, given the canary
// scale a SetCanaryScale fixed.
func (rn *run) sizes(weight int32, scale *SetCanaryScale) (canary, stable int32) {
	spec, total := rn.s.spec, rn.total()
	if spec.Router == nil {
		canary, stable = ReplicaSplit(total, weight, spec.MinPodsPerSlot, spec.DynamicStableScale)
	} else {
		canary, stable = total, total
		if weight < 100 {
			canary = int32((int64(total)*int64(weight) + 99) / 100)
			if weight > 0 {
				canary = max(canary, spec.minPods())
			}
			if spec.DynamicStableScale {
				stable = max(total-int32(int64(total)*int64(weight)/100), spec.minPods())
			}
		} else if spec.DynamicStableScale {
			stable = 0
		}
	}
	if scale != nil && !scale.MatchTrafficWeight {
		switch {
		case scale.Replicas != nil:
			canary = *scale.Replicas
		case scale.Percent != nil:
			canary = int32((int64(total)*int64(*scale.Percent) + 99) / 100)
		}
	}
	return canary, stable
}

func (rn *run) checkInput() strategy.CheckInput {
	return strategy.CheckInput{Release: rn.rel, Stable: rn.d.Record().Stable, Slot: slotName(rn.rel.App.Name, rn.state().Canary),
		Service: rn.canaryService(), Clients: rn.s.clients}
}

// canaryService is the Service that reaches the canary's pods: the canary
// Service with a router, the stable one (shared by both slots) without.
func (rn *run) canaryService() string {
	if rn.s.spec.Router != nil {
		return rn.s.spec.CanaryService
	}
	return rn.s.spec.StableService
}

// next is the name of the step after the current one.
func (rn *run) next() string {
	names := stepNames(rn.s.spec)
	return names[slices.Index(names, rn.d.Record().StepName)+1]
}

func (rn *run) deployStep(ctx context.Context) (string, error) {
	st := rn.state()
	if err := rn.deploy(ctx, st); err != nil {
		return "", err
	}
	if st.Instant {
		return stepPromote, rn.enter(ctx, stepPromote, nil)
	}
	return "", rn.enter(ctx, rn.next(), nil)
}

func (rn *run) promoteStep(ctx context.Context) (string, error) {
	if err := rn.f.StopBackground(ctx); err != nil {
		return "", err
	}
	if err := rn.promote(ctx, rn.state()); err != nil {
		return "", err
	}
	return "", rn.enter(ctx, stepScaleDown, nil)
}

// scaleDownStep keeps the old stable pods for the scale-down delay, during
// which an Abort still sends traffic back to them, then commits the
// release and scales them down.
func (rn *run) scaleDownStep(ctx context.Context) (string, error) {
	st := rn.state()
	if st.Stable == "" {
		return "", nil
	}
	if rn.s.spec.Router != nil {
		if _, err := rn.f.Await(ctx, flow.Await{Until: st.Promoted.Add(rn.s.spec.scaleDownDelay()),
			Reason: fmt.Sprintf("old pods keep running %s after the slots swapped", rn.s.spec.scaleDownDelay())}); err != nil {
			return "", err
		}
	}
	if err := rn.f.Save(ctx, func(r *record.Record) error { r.Committed = true; return nil }); err != nil {
		return "", err
	}
	return "", rn.sl.Scale(ctx, slotName(rn.rel.App.Name, st.Stable), 0)
}

// deploy prepares the Services and applies the new revision to the canary
// slot, at the size of weight 0 (or full size for an instant release).
func (rn *run) deploy(ctx context.Context, st state) error {
	spec := rn.s.spec
	// The autoscaler scales the stable slot, whose size the steps start
	// from, and never the canary while it is rolled.
	if st.Stable != "" {
		if err := rn.sl.PointAutoscaler(ctx, slotName(rn.rel.App.Name, st.Stable)); err != nil {
			return err
		}
	}
	if spec.Router == nil {
		if err := rn.sl.EnsureService(ctx, spec.StableService, slots.ServiceLabels(rn.rel.Workload), spec.ServicePorts, ""); err != nil {
			return err
		}
	} else {
		// The canary Service moves to the canary slot; the router must send
		// it nothing first (a release replaced mid-flight may have left a
		// weight).
		if err := rn.setWeight(ctx, 0); err != nil {
			return err
		}
		if rn.sl.Selects(spec.CanaryService) != st.Canary {
			if err := rn.sl.Point(ctx, spec.CanaryService, st.Canary); err != nil {
				return err
			}
		}
		if st.Stable == "" && rn.sl.Selects(spec.StableService) != st.Canary {
			// A first release: the stable Service has nothing to serve yet.
			if err := rn.sl.Point(ctx, spec.StableService, st.Canary); err != nil {
				return err
			}
		}
	}
	replicas, _ := rn.sizes(0, nil)
	if st.Instant {
		replicas = rn.total()
	}
	return rn.sl.Deploy(ctx, st.Canary, rn.rel, replicas)
}

// setWeight points the router's weight at percent; without a router the
// weight lives in the slot sizes.
func (rn *run) setWeight(ctx context.Context, percent int32) error {
	r := rn.s.spec.Router
	if r == nil {
		return nil
	}
	return rn.d.Retry(ctx, func(ctx context.Context) error { return r.SetWeight(ctx, percent) })
}

// userStep runs the spec's step i and records the next; a PromoteFull
// taken on the way jumps to promotion.
func (rn *run) userStep(ctx context.Context, i int) (string, error) {
	if err := rn.runStep(ctx, i, rn.state()); err != nil {
		return "", err
	}
	if rn.f.PromotedFull() {
		return stepPromote, rn.enter(ctx, stepPromote, nil)
	}
	return "", rn.enter(ctx, rn.next(), nil)
}

func (rn *run) runStep(ctx context.Context, i int, st state) error {
	if b := rn.s.spec.Background; b != nil && i >= b.StartingStep {
		rn.f.StartBackground(ctx, "background analysis", b.Checks, rn.checkInput())
	}
	switch s := rn.s.spec.Steps[i].(type) {
	case SetWeight:
		return rn.shift(ctx, st, s.Percent, st.Scale)
	case SetCanaryScale:
		scale := &s
		if s.MatchTrafficWeight {
			scale = nil
		}
		return rn.shift(ctx, st, st.Weight, scale)
	case Pause:
		return rn.pause(ctx, st, s)
	case Analysis:
		return rn.f.Check(ctx, "analysis", s.Checks, rn.checkInput())
	case SetHeaderRoute:
		if len(s.Match) > 0 {
			if err := rn.awaitOnly(ctx, st.Canary); err != nil {
				return err
			}
		}
		hr := rn.s.spec.Router.(traffic.HeaderRouter)
		err := rn.d.Retry(ctx, func(ctx context.Context) error {
			if len(s.Match) == 0 {
				return hr.RemoveHeaderRoutes(ctx)
			}
			return hr.SetHeaderRoute(ctx, s.Name, s.Match)
		})
		if err == nil {
			rn.d.Emit(ctx, strategy.Event{Type: strategy.EventTraffic, Message: s.describe()})
			rn.markRoutes()
		}
		return err
	case SetMirrorRoute:
		if s.Percent > 0 {
			if err := rn.awaitOnly(ctx, st.Canary); err != nil {
				return err
			}
		}
		mr := rn.s.spec.Router.(traffic.MirrorRouter)
		err := rn.d.Retry(ctx, func(ctx context.Context) error {
			if s.Percent == 0 {
				return mr.RemoveMirrors(ctx)
			}
			return mr.SetMirror(ctx, s.Name, s.Percent)
		})
		if err == nil {
			rn.d.Emit(ctx, strategy.Event{Type: strategy.EventTraffic, Message: s.describe()})
			rn.markRoutes()
		}
		return err
	case Custom:
		err := rn.f.Check(ctx, s.Name, []strategy.Check{{Name: s.Name, Func: s.Run}}, rn.checkInput())
		if errors.Is(err, strategy.ErrInconclusive) {
			return rn.f.Abort(ctx, strategy.ReasonAnalysisFailed, err.Error())
		}
		return err
	}
	return fmt.Errorf("step %d: unknown step type %T", i, rn.s.spec.Steps[i])
}

// markRoutes records that routes may be in place, so that promotion and
// abort remove them. The record must say so before the step ends.
func (rn *run) markRoutes() {
	rn.routes = true
	rn.later(func(s *state, _ *record.Record) { s.Routes = true })
}

// shift moves the canary to weight with the canary scale given: the slot
// that gains traffic grows first and is waited for, then the weight moves,
// then the slot that lost traffic shrinks.
func (rn *run) shift(ctx context.Context, st state, weight int32, scale *SetCanaryScale) error {
	app, rev := rn.rel.App.Name, rn.rel.Revision
	canary, stable := rn.sizes(weight, scale)
	haveStable := rn.sl.Size(st.Stable)
	// Grow what needs to grow and wait until it is ready.
	if have := rn.sl.Size(st.Canary); canary > have {
		if err := rn.sl.Scale(ctx, slotName(app, st.Canary), canary); err != nil {
			return err
		}
	}
	if stable > haveStable {
		if err := rn.sl.Scale(ctx, slotName(app, st.Stable), stable); err != nil {
			return err
		}
	}
	if err := rn.awaitAvailable(ctx, st.Canary, rev, canary); err != nil {
		return err
	}
	if stable > haveStable {
		if err := rn.awaitAvailable(ctx, st.Stable, rn.d.Record().Stable, stable); err != nil {
			return err
		}
	}
	// Traffic moves only once the Services reach the pods that take it,
	// and those pods alone: none of a slot's pods of another revision.
	if canary > 0 {
		if err := rn.awaitEndpoints(ctx, rn.canaryService(), st.Canary, rev, canary, rn.s.spec.Router != nil); err != nil {
			return err
		}
	}
	if stable > haveStable && rn.s.spec.Router != nil {
		if err := rn.awaitEndpoints(ctx, rn.s.spec.StableService, st.Stable, rn.d.Record().Stable, stable, true); err != nil {
			return err
		}
	}
	if err := rn.sl.LabelPods(ctx, st.Canary, rn.s.spec.CanaryMetadata.Labels, rn.s.spec.CanaryMetadata.Annotations); err != nil {
		return err
	}
	if err := rn.setWeight(ctx, weight); err != nil {
		return err
	}
	if err := rn.followTraffic(ctx, st, weight); err != nil {
		return err
	}
	// Shrink what lost traffic.
	if have := rn.sl.Size(st.Canary); canary < have {
		if err := rn.sl.Scale(ctx, slotName(app, st.Canary), canary); err != nil {
			return err
		}
	}
	if stable < haveStable {
		if err := rn.sl.Scale(ctx, slotName(app, st.Stable), stable); err != nil {
			return err
		}
	}
	if rn.s.spec.Router == nil {
		// Without a router the shares are the endpoints: the step is done
		// when the shrunk slot's pods have left the Service.
		if err := rn.awaitShrunk(ctx, st, canary, stable); err != nil {
			return err
		}
	}
	if weight != st.Weight {
		rn.d.Emit(ctx, strategy.Event{Type: strategy.EventTraffic,
			Message: fmt.Sprintf("canary weight %d%% (pods: canary %d, stable %d)", weight, canary, stable),
			Traffic: &strategy.Traffic{Weight: weight, CanaryPods: canary, StablePods: stable}})
	}
	if weight == st.Weight && equalScale(scale, st.Scale) {
		return nil
	}
	rn.later(func(s *state, _ *record.Record) { s.Weight, s.Scale = weight, scale })
	return nil
}

// followTraffic points the autoscaler at the slot that carries the app's
// traffic once weight is set, before either slot shrinks. Without a router
// that is the canary from weight 100 on, since the stable slot's pods then
// leave the Service; with one the canary takes the autoscaler at promotion.
func (rn *run) followTraffic(ctx context.Context, st state, weight int32) error {
	if rn.s.spec.Router != nil || st.Stable == "" {
		return nil
	}
	slot := st.Stable
	if weight >= 100 {
		slot = st.Canary
	}
	return rn.sl.PointAutoscaler(ctx, slotName(rn.rel.App.Name, slot))
}

func equalScale(a, b *SetCanaryScale) bool {
	if a == nil || b == nil {
		return a == b
	}
	return ptr.Equal(a.Replicas, b.Replicas) && ptr.Equal(a.Percent, b.Percent) && a.MatchTrafficWeight == b.MatchTrafficWeight
}

// pause holds the release for the step's duration, or until Promote.
func (rn *run) pause(ctx context.Context, st state, p Pause) error {
	if p.Duration == 0 {
		_, err := rn.f.Decide(ctx, "paused until Promote")
		return err
	}
	_, err := rn.f.Await(ctx, flow.Await{Reason: fmt.Sprintf("pausing %s", p.Duration),
		Until: st.StepStarted.Add(p.Duration), Promotable: true})
	return err
}

// promote makes the canary the stable slot: full size, all traffic, the
// stable Service moved to it, the router back to 0 and its routes removed.
func (rn *run) promote(ctx context.Context, st state) error {
	spec, app, rev, total := rn.s.spec, rn.rel.App.Name, rn.rel.Revision, rn.total()
	if have := rn.sl.Size(st.Canary); have != total {
		if err := rn.sl.Scale(ctx, slotName(app, st.Canary), total); err != nil {
			return err
		}
	}
	if err := rn.awaitAvailable(ctx, st.Canary, rev, total); err != nil {
		return err
	}
	if spec.Router != nil {
		// The router sends the canary Service all the traffic: it must
		// route to no pod of another revision.
		if err := rn.awaitEndpoints(ctx, spec.CanaryService, st.Canary, rev, 0, false); err != nil {
			return err
		}
	}
	// The autoscaler moves to the canary as it takes all the traffic,
	// before the step is recorded, so that a resumed driver moves it too.
	if err := rn.sl.PointAutoscaler(ctx, slotName(app, st.Canary)); err != nil {
		return err
	}
	if spec.Router != nil {
		if !st.Instant || st.Stable != "" {
			if err := rn.setWeight(ctx, 100); err != nil {
				return err
			}
		}
		if rn.sl.Selects(spec.StableService) != st.Canary {
			if err := rn.sl.Point(ctx, spec.StableService, st.Canary); err != nil {
				return err
			}
		}
		if err := rn.enter(ctx, stepPromote, func(s *state, r *record.Record) {
			s.Promoted, s.Weight = rn.d.Now(), 100
			r.Stable, r.Phase, r.Switched = rev, strategy.PhasePromoting, true
		}); err != nil {
			return err
		}
		if err := rn.awaitEndpoints(ctx, spec.StableService, st.Canary, rev, total, true); err != nil {
			return err
		}
		if err := rn.setWeight(ctx, 0); err != nil {
			return err
		}
		if err := rn.removeRoutes(ctx, st); err != nil {
			return err
		}
	}
	rn.d.Emit(ctx, strategy.Event{Type: strategy.EventTraffic, Message: fmt.Sprintf("slot %s is stable and takes all traffic", st.Canary),
		Traffic: &strategy.Traffic{Weight: 100, CanaryPods: total, Service: spec.StableService, Slot: st.Canary}})
	if err := rn.sl.LabelPods(ctx, st.Canary, spec.StableMetadata.Labels, spec.StableMetadata.Annotations); err != nil {
		return err
	}
	rn.later(func(s *state, r *record.Record) {
		if s.Promoted.IsZero() {
			s.Promoted = rn.d.Now()
		}
		s.Weight, s.Serving, s.Routes = 100, s.Canary, false
		r.Stable, r.Phase, r.Switched = rev, strategy.PhasePromoting, true
	})
	return nil
}

// removeRoutes removes the header routes and mirror a release set.
func (rn *run) removeRoutes(ctx context.Context, st state) error {
	if !st.Routes && !rn.routes {
		return nil
	}
	return rn.d.Retry(ctx, func(ctx context.Context) error {
		if hr, ok := rn.s.spec.Router.(traffic.HeaderRouter); ok {
			if err := hr.RemoveHeaderRoutes(ctx); err != nil {
				return err
			}
		}
		if mr, ok := rn.s.spec.Router.(traffic.MirrorRouter); ok {
			return mr.RemoveMirrors(ctx)
		}
		return nil
	})
}
