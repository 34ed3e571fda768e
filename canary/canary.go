package canary

import (
	"context"
	"errors"
	"fmt"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/utils/ptr"

	"github.com/switchyard-dev/switchyard/internal/slots"
	"github.com/switchyard-dev/switchyard/strategy"
	"github.com/switchyard-dev/switchyard/strategy/flow"
	"github.com/switchyard-dev/switchyard/strategy/record"
	"github.com/switchyard-dev/switchyard/strategy/traffic"
)

// Strategy runs canary releases. Build it with New.
type Strategy struct {
	clients strategy.Clients
	spec    Spec
	cfg     strategy.Config
	control *strategy.Control
}

var _ strategy.Strategy = (*Strategy)(nil)

// New returns a canary strategy that works through clients.
func New(clients strategy.Clients, spec Spec, opts ...strategy.Option) *Strategy {
	s := &Strategy{clients: clients, spec: spec, cfg: strategy.NewConfig(opts...)}
	if clients.Kube != nil {
		s.control = strategy.NewControl(clients.Kube, opts...)
	}
	return s
}

// Name returns "canary".
func (s *Strategy) Name() string { return "canary" }

// slotName is the name of app's Deployment for slot (Blue or Green).
func slotName(app, slot string) string { return slots.Name(app, slot) }

// The two slots.
const (
	Blue  = slots.Blue
	Green = slots.Green
)

// validate checks everything it can before a write: the spec, the release,
// the Services and the router's objects.
func (s *Strategy) validate(ctx context.Context, r strategy.Release) error {
	var v strategy.Validator
	r.Validate(&v)
	s.spec.validate(&v)
	s.spec.validateNamespace(&v, r.App)
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
	if r.Workload.Spec.Selector == nil {
		v.Add("release.workload.spec.selector", nil, "is required")
	}
	if err := slots.ValidateAutoscaler(ctx, s.clients.Kube, s.cfg.Retry, r.App, s.spec.Autoscaler, &v); err != nil {
		return err
	}
	if v.Err() != nil {
		return v.Err()
	}
	pods := r.Workload.Spec.Template.Labels
	ns := r.App.Namespace
	svc, err := flow.GetService(ctx, s.cfg, s.clients.Kube, ns, s.spec.StableService)
	switch {
	case apierrors.IsNotFound(err):
		if s.spec.Router != nil || len(s.spec.ServicePorts) == 0 {
			v.Add("spec.stableService", s.spec.StableService, "no such Service in %s (without a router, set spec.servicePorts to create it)", ns)
		}
	case err != nil:
		return fmt.Errorf("reading Service %s: %w", s.spec.StableService, err)
	default:
		if err := traffic.Steerable(svc, pods); err != nil {
			v.Add("spec.stableService", svc.Name, "cannot carry the app's traffic: %v", err)
		} else if slot := traffic.Slot(svc); s.spec.Router == nil && slot != "" {
			v.Add("spec.stableService", svc.Name,
				"selects only slot %q; without a router the stable Service must select both slots (remove %s from its selector)", slot, strategy.LabelSlot)
		}
	}
	if s.spec.Router == nil {
		return v.Err()
	}
	if err := s.validateRouted(ctx, r, svc, &v); err != nil {
		return err
	}
	return v.Err()
}

// validateRouted checks what a release through a router needs: a stable
// Service that selects one slot once a slot runs, the canary Service, and
// the router's own objects.
func (s *Strategy) validateRouted(ctx context.Context, r strategy.Release, svc *corev1.Service, v *strategy.Validator) error {
	ns, pods := r.App.Namespace, r.Workload.Spec.Template.Labels
	if svc != nil && svc.Name != "" && traffic.Slot(svc) == "" {
		// Before the first release the stable Service is pointed at the
		// first slot; once a slot runs, one that selects both would send
		// stable traffic to the canary.
		for _, slot := range []string{Blue, Green} {
			var dep *appsv1.Deployment
			err := s.cfg.Retry(ctx, func(ctx context.Context) error {
				var err error
				dep, err = s.clients.Kube.AppsV1().Deployments(ns).Get(ctx, slotName(r.App.Name, slot), metav1.GetOptions{})
				return err
			})
			if err == nil && ptr.Deref(dep.Spec.Replicas, 1) > 0 {
				v.Add("spec.stableService", svc.Name, "selects the pods of both slots; with a router it must select the stable slot (%s=%s)", strategy.LabelSlot, slot)
				break
			}
			if err != nil && !apierrors.IsNotFound(err) {
				return fmt.Errorf("reading Deployment %s: %w", slotName(r.App.Name, slot), err)
			}
		}
	}
	canary, err := flow.GetService(ctx, s.cfg, s.clients.Kube, ns, s.spec.CanaryService)
	switch {
	case apierrors.IsNotFound(err):
		v.Add("spec.canaryService", s.spec.CanaryService, "no such Service in %s", ns)
	case err != nil:
		return fmt.Errorf("reading Service %s: %w", s.spec.CanaryService, err)
	default:
		if err := traffic.Steerable(canary, pods); err != nil {
			v.Add("spec.canaryService", canary.Name, "cannot be steered to the canary: %v", err)
		}
	}
	if err := s.spec.Router.Validate(ctx); err != nil {
		var ve *strategy.ValidationError
		if !errors.As(err, &ve) {
			return fmt.Errorf("validating %s: %w", s.spec.Router.Name(), err)
		}
		for _, f := range ve.Fields {
			v.Add("spec.router."+f.Path, f.Value, "%s", f.Message)
		}
	}
	return nil
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
	p.Steps = append(p.Steps, strategy.PlannedStep{Name: "deploy", Description: "apply the new revision to the canary slot"})
	for i, st := range s.spec.Steps {
		p.Steps = append(p.Steps, strategy.PlannedStep{Name: stepName(i, st), Description: st.describe()})
	}
	scaleDown := "scale the old stable slot down"
	if s.spec.Router != nil {
		scaleDown = fmt.Sprintf("after %s, scale the old stable slot down", s.spec.scaleDownDelay())
	}
	p.Steps = append(p.Steps,
		strategy.PlannedStep{Name: "promote", Description: "scale the canary to full size, send it all traffic and make it the stable slot"},
		strategy.PlannedStep{Name: "scale-down", Description: scaleDown})
	return p, nil
}

// Run releases r: the new revision goes to the canary slot and takes the
// traffic in the spec's steps, judged on the way; at the end the slots swap
// roles. A failed check or an Abort sends all traffic back to stable at
// once. Run resumes a release in flight and returns the recorded result of
// one that has ended. A release in flight under another driver is replaced:
// its traffic goes back to stable and r restarts the steps on the canary
// slot; the stable slot is not touched.
func (s *Strategy) Run(ctx context.Context, r strategy.Release) (*strategy.Result, error) {
	if err := s.validate(ctx, r); err != nil {
		return nil, err
	}
	if res, ended, err := s.control.Recorded(ctx, r.App, r.Revision); err != nil || ended {
		return res, errors.Join(err, res.Err())
	}
	d, err := flow.BeginReplacing(ctx, s.Name(), s.clients, r, s.cfg, s.control,
		flow.StepCheck(s.Name(), r.Revision, stepNames(s.spec)), checkState(r.App))
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

// checkState returns a check for Begin that the recorded state names real
// slots, so that an edited record cannot send writes elsewhere.
func checkState(app types.NamespacedName) func(*record.Record) error {
	slot := func(s string) bool { return s == Blue || s == Green }
	return flow.StateCheck("canary", app, func(st *state) error {
		switch {
		case !slot(st.Canary):
			return fmt.Errorf("canary slot %q", st.Canary)
		case st.Stable != "" && st.Stable != slots.Other(st.Canary):
			return fmt.Errorf("stable slot %q", st.Stable)
		case st.Serving != "" && !slot(st.Serving):
			return fmt.Errorf("serving slot %q", st.Serving)
		case st.Weight < 0 || st.Weight > 100:
			return fmt.Errorf("weight %d", st.Weight)
		}
		return nil
	})
}

// Undo releases revision again from the history, skipping the steps: the
// fast way back to a version known to be good.
func (s *Strategy) Undo(ctx context.Context, app types.NamespacedName, revision string) (*strategy.Result, error) {
	st, err := s.control.Status(ctx, app)
	if err != nil {
		return nil, err
	}
	for i := len(st.History) - 1; i >= 0; i-- {
		if h := st.History[i]; h.Revision == revision && h.Workload != nil {
			if err := s.control.Undo(ctx, app, revision); err != nil && !errors.Is(err, strategy.ErrNotApplicable) {
				return nil, err
			}
			return s.Run(ctx, strategy.Release{App: app, Revision: revision, Workload: h.Workload})
		}
	}
	return nil, fmt.Errorf("undo %s to %q: %w", app, revision, strategy.ErrUnknownRevision)
}

// stepName is the name of the spec's step i in the record and in events:
// "<i>-<kind>", such as "0-SetWeight".
func stepName(i int, s Step) string { return fmt.Sprintf("%d-%s", i, stepKind(s)) }

// stepKind is the type of step s without its package: "SetWeight".
func stepKind(s Step) string {
	kind := fmt.Sprintf("%T", s)
	if j := len("canary."); len(kind) > j {
		kind = kind[j:]
	}
	return kind
}
