// Package rolling ships a release with the Deployment's own rolling update,
// driven through the shared machinery of package strategy: the release
// record and its lease, watch-based waits on the injected clock, control
// requests (Pause, Resume, Abort, Retry, Undo) and observability. It has no
// traffic steps and no second slot: it is the simplest strategy, the one to
// use where a plain rolling update is enough, and a template for custom
// strategies.
//
// Abort rolls the Deployment back to the last revision that succeeded.
package rolling

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/types"

	"github.com/switchyard-dev/switchyard/internal/objcache"
	"github.com/switchyard-dev/switchyard/internal/shared"
	"github.com/switchyard-dev/switchyard/strategy"
	"github.com/switchyard-dev/switchyard/strategy/flow"
	"github.com/switchyard-dev/switchyard/strategy/record"
)

// LabelRevision is the pod-template label that carries the release's
// revision.
const LabelRevision = strategy.LabelRevision

// Spec configures a rolling release. The zero value is ready to use.
type Spec struct {
	// ProgressDeadline is how long the rollout may go without becoming
	// available before it is rolled back; default 10 minutes.
	ProgressDeadline time.Duration
}

// DefaultProgressDeadline is the default of Spec.ProgressDeadline.
const DefaultProgressDeadline = 10 * time.Minute

// Strategy is a rolling-update strategy. Build it with New.
type Strategy struct {
	clients strategy.Clients
	spec    Spec
	cfg     strategy.Config
	control *strategy.Control
}

var _ strategy.Strategy = (*Strategy)(nil)

// New returns a rolling strategy that works through clients.
func New(clients strategy.Clients, spec Spec, opts ...strategy.Option) *Strategy {
	if spec.ProgressDeadline == 0 {
		spec.ProgressDeadline = DefaultProgressDeadline
	}
	s := &Strategy{clients: clients, spec: spec, cfg: strategy.NewConfig(opts...)}
	if clients.Kube != nil {
		s.control = strategy.NewControl(clients.Kube, opts...)
	}
	return s
}

// Name returns "rolling".
func (s *Strategy) Name() string { return "rolling" }

func (s *Strategy) validate(r strategy.Release) error {
	var v strategy.Validator
	r.Validate(&v)
	v.Check(r.Workload != nil, "release.workload", nil, "is required")
	v.Check(s.spec.ProgressDeadline > 0, "spec.progressDeadline", s.spec.ProgressDeadline, "must be positive")
	v.Merge("options", s.cfg.Validate())
	v.Check(s.clients.Kube != nil, "clients.kube", nil, "must be set")
	return v.Err()
}

// Plan reports the two steps of a rolling release.
func (s *Strategy) Plan(ctx context.Context, r strategy.Release) (*strategy.Plan, error) {
	if err := s.validate(r); err != nil {
		return nil, err
	}
	p := &strategy.Plan{Strategy: s.Name(), App: r.App, Revision: r.Revision, Steps: []strategy.PlannedStep{
		{Name: "apply", Description: fmt.Sprintf("server-side apply Deployment %s with revision %s", r.App, r.Revision)},
		{Name: "available", Description: fmt.Sprintf("wait until every replica runs the new template, at most %s", s.spec.ProgressDeadline)},
	}}
	if st, err := s.control.Status(ctx, r.App); err == nil {
		p.Current = st.Phase
	}
	return p, nil
}

// Run applies the release's Deployment and waits until it is available.
// It resumes a release in flight, returns the recorded result of one that
// has ended, and returns the Result with a non-nil error (Result.Err) when
// the release ends other than Succeeded.
func (s *Strategy) Run(ctx context.Context, r strategy.Release) (*strategy.Result, error) {
	if err := s.validate(r); err != nil {
		return nil, err
	}
	if res, ended, err := s.control.Recorded(ctx, r.App, r.Revision); err != nil || ended {
		return res, errors.Join(err, res.Err())
	}
	d, err := flow.Begin(ctx, s.Name(), s.clients, r, s.cfg, flow.StepCheck(s.Name(), r.Revision, stepNames))
	if err != nil {
		return nil, err
	}
	defer d.Close()
	// The Run's watches end with it, whatever ctx the caller passed.
	ctx, stop := context.WithCancel(ctx)
	defer stop()
	rn := &run{s: s, d: d, rel: r}
	res, err := rn.drive(ctx)
	if err == nil {
		err = res.Err()
	}
	return flow.Shipped(r.Revision, res, err)
}

// The steps of a rolling release.
const (
	stepApply     = "apply"
	stepAvailable = "available"
)

var stepNames = []string{stepApply, stepAvailable}

type run struct {
	s       *Strategy
	d       *flow.Driver
	f       *flow.Flow
	rel     strategy.Release
	deploys *objcache.Cache[*appsv1.Deployment]
}

func (rn *run) drive(ctx context.Context) (*strategy.Result, error) {
	d, rec := rn.d, rn.d.Record()
	undo := func(q strategy.Request) bool { return q.Action == strategy.ActionUndo }
	if rec.Ended(rn.rel.Revision) {
		return d.Recorded(ctx)
	}
	restart := rec.Revision == rn.rel.Revision && !rec.InFlight() && rec.Phase != "" // a Retry or Undo is pending
	if pending := firstRequest(rec, undo); pending != nil {
		h, _ := rec.Find(pending.Revision)
		if h.Workload != nil {
			rn.rel = strategy.Release{App: rn.rel.App, Revision: h.Revision, Workload: h.Workload}
			restart = true
		}
	}
	if restart || rec.Revision != rn.rel.Revision || rec.Phase == "" {
		if err := rn.start(ctx); err != nil {
			return nil, err
		}
	} else {
		d.Emit(ctx, strategy.Event{Type: strategy.EventResumed, Message: fmt.Sprintf("resuming at step %d (%s)", rec.Step, rec.StepName)})
	}
	if err := rn.watch(ctx); err != nil {
		return nil, err
	}
	rn.f = flow.New(d, []flow.Step{
		{Name: stepApply, Run: func(ctx context.Context) (string, error) {
			if err := rn.apply(ctx, rn.rel.Workload, rn.rel.Revision, d.Record().Paused); err != nil {
				return "", err
			}
			return "", rn.f.Enter(ctx, stepAvailable, nil)
		}},
		{Name: stepAvailable, Run: rn.available},
	}, flow.Hooks{
		Sources:          func() []flow.Source { return []flow.Source{rn.deploys} },
		Rollback:         rn.rollback,
		ProgressDeadline: rn.s.spec.ProgressDeadline,
		DeadlineFails:    true,
		Paused: func(ctx context.Context, paused bool) error {
			return rn.apply(ctx, rn.rel.Workload, rn.rel.Revision, paused)
		},
		Done: func() string { return "all replicas available" },
	})
	return rn.f.Run(ctx)
}

func firstRequest(rec *record.Record, match func(strategy.Request) bool) *strategy.Request {
	for i := range rec.Requests {
		if match(rec.Requests[i]) {
			return &rec.Requests[i]
		}
	}
	return nil
}

// start records a new release of rn.rel, taking Retry and Undo requests.
func (rn *run) start(ctx context.Context) error {
	now := rn.d.Now()
	w := stripped(rn.rel.Workload)
	return rn.d.Save(ctx, func(r *record.Record) error {
		if r.Phase == strategy.PhaseSucceeded {
			r.Stable = r.Revision
		}
		r.Take(func(q strategy.Request) bool {
			return q.Action == strategy.ActionRetry || q.Action == strategy.ActionUndo
		})
		return r.Restart(strategy.Revision{Revision: rn.rel.Revision, Started: now, Workload: w}, stepApply, nil, rn.s.cfg.HistoryLimit)
	})
}

func (rn *run) watch(ctx context.Context) error {
	return rn.d.Retry(ctx, func(ctx context.Context) error {
		var err error
		rn.deploys, err = shared.Of(rn.d.Watches()).Caches.Deployments(ctx, rn.rel.App.Namespace)
		return err
	})
}

// stripped is w without status and server-set metadata, as kept in history.
func stripped(w *appsv1.Deployment) *appsv1.Deployment {
	if w == nil {
		return nil
	}
	out := &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Name: w.Name, Labels: w.Labels, Annotations: w.Annotations},
		Spec:       *w.Spec.DeepCopy(),
	}
	return out
}

// apply server-side applies the Deployment for workload, named after the
// app, with the revision on its pod template.
func (rn *run) apply(ctx context.Context, workload *appsv1.Deployment, revision string, paused bool) error {
	app := rn.rel.App
	dep := stripped(workload)
	dep.TypeMeta = metav1.TypeMeta{APIVersion: "apps/v1", Kind: "Deployment"}
	dep.Name, dep.Namespace = app.Name, app.Namespace
	dep.Labels = labels.Merge(dep.Labels, map[string]string{strategy.LabelApp: app.Name, strategy.LabelManagedBy: strategy.ManagedBy})
	dep.Spec.Template.Labels = labels.Merge(dep.Spec.Template.Labels, map[string]string{LabelRevision: revision})
	if dep.Spec.Selector == nil {
		dep.Spec.Selector = &metav1.LabelSelector{MatchLabels: map[string]string{strategy.LabelApp: app.Name}}
		dep.Spec.Template.Labels[strategy.LabelApp] = app.Name
	}
	dep.Spec.Paused = paused
	body, err := json.Marshal(dep)
	if err != nil {
		return fmt.Errorf("encoding Deployment: %w", err)
	}
	force := true
	return rn.d.Retry(ctx, func(ctx context.Context) error {
		_, err := rn.s.clients.Kube.AppsV1().Deployments(app.Namespace).Patch(ctx, app.Name, types.ApplyPatchType, body,
			metav1.PatchOptions{FieldManager: rn.s.cfg.FieldManager, Force: &force})
		if err != nil {
			return fmt.Errorf("applying Deployment %s: %w", app, err)
		}
		return nil
	})
}
