package bluegreen

import (
	"context"
	"errors"
	"fmt"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/utils/ptr"

	"github.com/switchyard-dev/switchyard/internal/slots"
	"github.com/switchyard-dev/switchyard/strategy"
	"github.com/switchyard-dev/switchyard/strategy/flow"
	"github.com/switchyard-dev/switchyard/strategy/traffic"
)

// Strategy runs blue/green releases. Build it with New.
type Strategy struct {
	clients strategy.Clients
	spec    Spec
	cfg     strategy.Config
	control *strategy.Control
}

var _ strategy.Strategy = (*Strategy)(nil)

// New returns a blue/green strategy that works through clients.
func New(clients strategy.Clients, spec Spec, opts ...strategy.Option) *Strategy {
	s := &Strategy{clients: clients, spec: spec, cfg: strategy.NewConfig(opts...)}
	if clients.Kube != nil {
		s.control = strategy.NewControl(clients.Kube, opts...)
	}
	return s
}

// Name returns "bluegreen".
func (s *Strategy) Name() string { return "bluegreen" }

// The steps of a release, by the names the record keeps.
const (
	stepDeploy           = "deploy"
	stepPreviewAvailable = "preview-available"
	stepPrePromotion     = "pre-promotion"
	stepPromotion        = "promotion"
	stepFullAvailable    = "full-available"
	stepSwitch           = "switch"
	stepVerify           = "verify-endpoints"
	stepPostPromotion    = "post-promotion"
	stepScaleDown        = "scale-down"
)

var stepNames = []string{stepDeploy, stepPreviewAvailable, stepPrePromotion, stepPromotion, stepFullAvailable,
	stepSwitch, stepVerify, stepPostPromotion, stepScaleDown}

// validate checks everything it can before a write: the spec, the release,
// and the Services it will steer.
func (s *Strategy) validate(ctx context.Context, r strategy.Release) error {
	var v strategy.Validator
	r.Validate(&v)
	s.spec.validate(&v)
	v.Merge("options", s.cfg.Validate())
	if s.clients.Kube == nil {
		v.Add("clients.kube", nil, "must be set")
		return v.Err()
	}
	if err := flow.CheckNamespaceOnce(ctx, s.cfg, s.clients.Kube, r.App.Namespace, &v); err != nil {
		return err
	}
	if r.Workload == nil {
		v.Add("release.workload", nil, "is required")
		return v.Err()
	}
	w := r.Workload
	if w.Spec.Selector == nil {
		v.Add("release.workload.spec.selector", nil, "is required")
	}
	replicas := ptr.Deref(w.Spec.Replicas, 1)
	if p := s.spec.PreviewReplicas; p != nil && *p > replicas {
		v.Add("spec.previewReplicas", *p, "must not exceed the workload's %d replicas", replicas)
	}
	if err := slots.ValidateAutoscaler(ctx, s.clients.Kube, s.cfg.Retry, r.App, s.spec.Autoscaler, &v); err != nil {
		return err
	}
	if s.spec.ActiveService == "" || v.Err() != nil {
		return v.Err()
	}
	svc, err := flow.GetService(ctx, s.cfg, s.clients.Kube, r.App.Namespace, s.spec.ActiveService)
	switch {
	case apierrors.IsNotFound(err):
		if len(s.spec.ServicePorts) == 0 {
			v.Add("spec.activeService", s.spec.ActiveService, "no such Service in %s (set spec.servicePorts to create it)", r.App.Namespace)
		}
	case err != nil:
		return fmt.Errorf("reading Service %s: %w", s.spec.ActiveService, err)
	default:
		if err := traffic.Steerable(svc, w.Spec.Template.Labels); err != nil {
			v.Add("spec.activeService", svc.Name, "cannot be steered: %v", err)
		}
	}
	if s.spec.PreviewService != "" {
		prev, err := flow.GetService(ctx, s.cfg, s.clients.Kube, r.App.Namespace, s.spec.PreviewService)
		switch {
		case apierrors.IsNotFound(err):
		case err != nil:
			return fmt.Errorf("reading Service %s: %w", s.spec.PreviewService, err)
		default:
			if err := traffic.Steerable(prev, w.Spec.Template.Labels); err != nil {
				v.Add("spec.previewService", prev.Name, "cannot be steered: %v", err)
			}
		}
	}
	return v.Err()
}

// Plan reports the steps a Run would take.
func (s *Strategy) Plan(ctx context.Context, r strategy.Release) (*strategy.Plan, error) {
	if err := s.validate(ctx, r); err != nil {
		return nil, err
	}
	p := &strategy.Plan{Strategy: s.Name(), App: r.App, Revision: r.Revision}
	if st, err := s.control.Status(ctx, r.App); err == nil {
		p.Current = st.Phase
	}
	desc := map[string]string{
		stepDeploy:           "apply the new revision to the idle slot",
		stepPreviewAvailable: "wait until the idle slot's pods are ready",
		stepPrePromotion:     fmt.Sprintf("run %d pre-promotion checks", len(s.spec.PrePromotion)),
		stepPromotion:        "wait for promotion",
		stepFullAvailable:    "scale the new slot to full size and wait until it is ready",
		stepSwitch:           fmt.Sprintf("point Service %s at the new slot in one write", s.spec.ActiveService),
		stepVerify:           "wait until the Service's endpoints are the new pods",
		stepPostPromotion:    fmt.Sprintf("run %d post-promotion checks", len(s.spec.PostPromotion)),
		stepScaleDown:        fmt.Sprintf("after %s, scale the old slot down unless the rollback window keeps it", s.spec.scaleDownDelay()),
	}
	if s.spec.ManualPromotion {
		desc[stepPromotion] = "pause until Promote"
	} else if s.spec.AutoPromotionAfter > 0 {
		desc[stepPromotion] = fmt.Sprintf("wait %s after the new slot is ready", s.spec.AutoPromotionAfter)
	}
	for _, name := range stepNames {
		p.Steps = append(p.Steps, strategy.PlannedStep{Name: name, Description: desc[name]})
	}
	return p, nil
}

// Run releases r: a new revision goes to the idle slot, is tested through
// the preview Service, and takes the app's traffic in one selector write.
// Run resumes a release in flight and returns the recorded result of one
// that has ended. A release still in flight under another driver is
// replaced: Run asks that driver to stop (the live slot is never touched),
// waits for its lease and ships r to the same idle slot.
func (s *Strategy) Run(ctx context.Context, r strategy.Release) (*strategy.Result, error) {
	if err := s.validate(ctx, r); err != nil {
		return nil, err
	}
	if res, ended, err := s.control.Recorded(ctx, r.App, r.Revision); err != nil || ended {
		return res, errors.Join(err, res.Err())
	}
	d, err := flow.BeginReplacing(ctx, s.Name(), s.clients, r, s.cfg, s.control,
		flow.StepCheck(s.Name(), r.Revision, stepNames), checkState(r.App))
	if err != nil {
		return nil, err
	}
	defer d.Close()
	// The Run's watches end with it, whatever ctx the caller passed.
	ctx, stop := context.WithCancel(ctx)
	defer stop()
	res, err := (&run{s: s, d: d, rel: r}).drive(ctx)
	if err == nil {
		err = res.Err()
	}
	return flow.Shipped(r.Revision, res, err)
}

// Undo switches the app back to revision: at once when the idle slot still
// runs it, otherwise by a normal blue/green release of the revision's
// recorded workload.
func (s *Strategy) Undo(ctx context.Context, app types.NamespacedName, revision string) (*strategy.Result, error) {
	st, err := s.control.Status(ctx, app)
	if err != nil {
		return nil, err
	}
	h, ok := findRevision(st.History, revision)
	if !ok || h.Workload == nil {
		return nil, fmt.Errorf("undo %s to %q: %w", app, revision, strategy.ErrUnknownRevision)
	}
	return s.Run(ctx, strategy.Release{App: app, Revision: revision, Workload: h.Workload})
}

func findRevision(h []strategy.Revision, rev string) (strategy.Revision, bool) {
	for i := len(h) - 1; i >= 0; i-- {
		if h[i].Revision == rev {
			return h[i], true
		}
	}
	return strategy.Revision{}, false
}

// run is one Run of a release.
type run struct {
	s   *Strategy
	d   *flow.Driver
	f   *flow.Flow
	rel strategy.Release
	sl  *slots.Slots
}

// required is how many ready pods the new slot needs before it takes
// traffic: the workload's full size, or with an autoscaler the size it
// chose for the Deployment it scales.
func (rn *run) required() int32 {
	return rn.sl.ScaledReplicas(ptr.Deref(rn.rel.Workload.Spec.Replicas, 1))
}

func (rn *run) previewReplicas() int32 {
	if p := rn.s.spec.PreviewReplicas; p != nil {
		return min(*p, rn.required())
	}
	return rn.required()
}

// ensureService creates name when missing, selecting the workload's pods in
// slot, with the spec's ports or those of the active Service.
func (rn *run) ensureService(ctx context.Context, name, slot string) error {
	sel := labels.Merge(slots.ServiceLabels(rn.rel.Workload), map[string]string{strategy.LabelSlot: slot})
	return rn.sl.EnsureService(ctx, name, sel, rn.s.spec.ServicePorts, rn.s.spec.ActiveService)
}

// activeSlot is the slot the active Service selects, "" when none.
func (rn *run) activeSlot() string { return rn.sl.Selects(rn.s.spec.ActiveService) }
