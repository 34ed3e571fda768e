// Package job is an analysis.Provider that runs a Kubernetes Job against
// the candidate and judges it by how it ends: Complete is Successful,
// Failed is Failed.
//
// Each measurement creates a Job from the template given to New, in the
// release's namespace unless the template or WithNamespace says otherwise,
// named after the template (or "<app>-<metric>-") with a random suffix.
// The Job and its pods carry the candidate's labels (switchyard.dev/app,
// switchyard.dev/revision) plus switchyard.dev/analysis and
// switchyard.dev/metric; every container gets the environment variables
// SWITCHYARD_APP, SWITCHYARD_NAMESPACE, SWITCHYARD_REVISION,
// SWITCHYARD_STABLE, SWITCHYARD_SLOT and SWITCHYARD_SERVICE, and its
// command, args and env values are templates rendered with the run's
// analysis.Vars. The metric's Query is not used.
//
// In a run, the provider is an analysis.Starter: the Job's status is read
// every poll interval (default 5s) on the run's clock, so a fake clock
// moves while the Job runs, until it ends or WithTimeout passes (the
// template's activeDeadlineSeconds is the usual bound). Measure, for use
// outside a run, waits on a watch instead. Either way the Job is then
// deleted with background propagation, so its pods go too.
package job

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"regexp"
	"strings"
	"time"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/watch"
	batchclient "k8s.io/client-go/kubernetes/typed/batch/v1"
	"k8s.io/utils/clock"
	"k8s.io/utils/ptr"

	"github.com/switchyard-dev/switchyard/analysis"
	"github.com/switchyard-dev/switchyard/strategy"
)

// Labels the provider adds to each Job and its pods, besides
// strategy.LabelApp, strategy.LabelRevision and strategy.LabelManagedBy.
const (
	LabelAnalysis = "switchyard.dev/analysis"
	LabelMetric   = "switchyard.dev/metric"
)

// Provider runs Jobs from a template. It is safe for concurrent use.
type Provider struct {
	tmpl *batchv1.Job
	cfg  config
}

var (
	_ analysis.Provider   = (*Provider)(nil)
	_ analysis.Starter    = (*Provider)(nil)
	_ analysis.Validating = (*Provider)(nil)
)

type config struct {
	namespace string
	timeout   time.Duration
	poll      time.Duration
}

// DefaultPollInterval is how often a run reads a running Job's status.
const DefaultPollInterval = 5 * time.Second

// Option configures a Provider.
type Option interface{ apply(*config) }

type optionFunc func(*config)

func (f optionFunc) apply(c *config) { f(c) }

// WithNamespace runs the Jobs in ns instead of the release's namespace.
func WithNamespace(ns string) Option { return optionFunc(func(c *config) { c.namespace = ns }) }

// WithTimeout fails a measurement whose Job has not ended after d on the
// run's clock; the Job is deleted. Zero (the default) waits as long as the
// context allows.
func WithTimeout(d time.Duration) Option { return optionFunc(func(c *config) { c.timeout = d }) }

// WithPollInterval sets how often a run reads a running Job's status
// (default DefaultPollInterval).
func WithPollInterval(d time.Duration) Option { return optionFunc(func(c *config) { c.poll = d }) }

// New returns a provider that runs Jobs like template; the template is
// copied.
func New(template *batchv1.Job, opts ...Option) *Provider {
	p := &Provider{cfg: config{poll: DefaultPollInterval}}
	if template != nil {
		p.tmpl = template.DeepCopy()
	}
	for _, o := range opts {
		o.apply(&p.cfg)
	}
	return p
}

// Validate checks that the template has containers and a restart policy a
// Job accepts.
func (p *Provider) Validate(v *strategy.Validator, path, _ string) {
	pp := path + ".provider.job"
	if p.tmpl == nil {
		v.Add(pp+".template", nil, "must be set")
		return
	}
	spec := p.tmpl.Spec.Template.Spec
	v.Check(len(spec.Containers) > 0, pp+".template.spec.template.spec.containers", nil, "must not be empty")
	rp := spec.RestartPolicy
	v.Check(rp == corev1.RestartPolicyNever || rp == corev1.RestartPolicyOnFailure, pp+".template.spec.template.spec.restartPolicy",
		string(rp), "must be Never or OnFailure")
	v.Check(p.cfg.timeout >= 0, pp+".timeout", p.cfg.timeout, "must not be negative")
	v.Check(p.cfg.poll > 0, pp+".pollInterval", p.cfg.poll, "must be positive")
}

// Measure runs one Job to its end, waiting on a watch. Run uses Start
// instead, so that the clock can move while the Job runs.
func (p *Provider) Measure(ctx context.Context, q analysis.Query) (analysis.Result, error) {
	wctx, cancel := analysis.WithTimeout(ctx, clockOf(q), p.cfg.timeout)
	defer cancel()
	r, err := p.start(wctx, q)
	if err != nil {
		return analysis.Result{}, err
	}
	defer r.Stop(ctx)
	final, err := wait(wctx, r.jobs, r.job)
	if err != nil {
		return analysis.Result{}, fmt.Errorf("job %s/%s: %w", r.job.Namespace, r.job.Name, err)
	}
	return r.result(final), nil
}

// Start creates the Job of one measurement.
func (p *Provider) Start(ctx context.Context, q analysis.Query) (analysis.Pending, error) {
	return p.start(ctx, q)
}

func (p *Provider) start(ctx context.Context, q analysis.Query) (*running, error) {
	kube := q.Input.Clients.Kube
	if kube == nil {
		return nil, errors.New("job: no Kubernetes client in the check input")
	}
	clk := clockOf(q)
	j, err := p.build(q)
	if err != nil {
		return nil, err
	}
	jobs := kube.BatchV1().Jobs(j.Namespace)
	created, err := jobs.Create(ctx, j, metav1.CreateOptions{})
	if err != nil {
		return nil, fmt.Errorf("creating job: %w", err)
	}
	return &running{p: p, jobs: jobs, job: created, clock: clk, start: clk.Now()}, nil
}

func clockOf(q analysis.Query) clock.WithDelayedExecution {
	if q.Input.Clock != nil {
		return q.Input.Clock
	}
	return clock.RealClock{}
}

// running is a Job being measured.
type running struct {
	p     *Provider
	jobs  batchclient.JobInterface
	job   *batchv1.Job
	clock clock.WithDelayedExecution
	start time.Time
}

var _ analysis.Pending = (*running)(nil)

// Poll reads the Job; it fails the measurement once the timeout passed.
func (r *running) Poll(ctx context.Context) (analysis.Result, bool, error) {
	j, err := r.jobs.Get(ctx, r.job.Name, metav1.GetOptions{})
	switch {
	case err != nil:
		return analysis.Result{}, false, fmt.Errorf("job %s/%s: %w", r.job.Namespace, r.job.Name, err)
	case ended(j):
		return r.result(j), true, nil
	case r.p.cfg.timeout > 0 && r.clock.Since(r.start) >= r.p.cfg.timeout:
		return analysis.Result{Raw: describe(j)}, false, fmt.Errorf("job %s/%s: %w", j.Namespace, j.Name,
			&analysis.TimeoutError{After: r.p.cfg.timeout})
	}
	return analysis.Result{}, false, nil
}

// PollInterval is the provider's poll interval.
func (r *running) PollInterval() time.Duration { return r.p.cfg.poll }

// Stop deletes the Job with background propagation, so its pods go too;
// it runs even when ctx has ended.
func (r *running) Stop(ctx context.Context) {
	bg := metav1.DeletePropagationBackground
	_ = r.jobs.Delete(context.WithoutCancel(ctx), r.job.Name, metav1.DeleteOptions{PropagationPolicy: &bg})
}

func (r *running) result(j *batchv1.Job) analysis.Result {
	res := analysis.Result{Time: r.clock.Now(), Raw: describe(j)}
	if c := condition(j, batchv1.JobFailed); c != nil {
		res.Verdict, res.Value = analysis.PhaseFailed, 0
		res.Reason = fmt.Sprintf("job %s failed: %s", j.Name, strings.TrimSuffix(c.Reason+": "+c.Message, ": "))
		return res
	}
	res.Verdict, res.Value = analysis.PhaseSuccessful, 1
	res.Reason = fmt.Sprintf("job %s complete", j.Name)
	return res
}

// wait watches the Job until it is Complete or Failed. When the watch
// closes, it reads the Job again and watches from there.
func wait(ctx context.Context, jobs batchclient.JobInterface, j *batchv1.Job) (*batchv1.Job, error) {
	for !ended(j) {
		w, err := jobs.Watch(ctx, metav1.ListOptions{
			FieldSelector:   fields.OneTermEqualSelector("metadata.name", j.Name).String(),
			ResourceVersion: j.ResourceVersion,
		})
		if err != nil {
			if ctx.Err() != nil {
				return nil, context.Cause(ctx)
			}
			return nil, fmt.Errorf("watching: %w", err)
		}
		last, err := next(ctx, w)
		w.Stop()
		switch {
		case err != nil:
			return nil, err
		case last != nil && ended(last):
			return last, nil
		}
		if j, err = jobs.Get(ctx, j.Name, metav1.GetOptions{}); err != nil {
			return nil, err
		}
	}
	return j, nil
}

// next reads events until the Job ends (returning it), the watch closes
// or expires (returning nil), or ctx ends.
func next(ctx context.Context, w watch.Interface) (*batchv1.Job, error) {
	for {
		select {
		case <-ctx.Done():
			return nil, context.Cause(ctx)
		case ev, ok := <-w.ResultChan():
			if !ok {
				return nil, nil
			}
			switch ev.Type {
			case watch.Deleted:
				return nil, errors.New("deleted before it ended")
			case watch.Error:
				if s, ok := ev.Object.(*metav1.Status); ok && s.Code == http.StatusGone {
					return nil, nil
				}
				return nil, apierrors.FromObject(ev.Object)
			}
			if j, ok := ev.Object.(*batchv1.Job); ok && ended(j) {
				return j, nil
			}
		}
	}
}

func ended(j *batchv1.Job) bool {
	return condition(j, batchv1.JobComplete) != nil || condition(j, batchv1.JobFailed) != nil
}

func condition(j *batchv1.Job, t batchv1.JobConditionType) *batchv1.JobCondition {
	for i, c := range j.Status.Conditions {
		if c.Type == t && c.Status == corev1.ConditionTrue {
			return &j.Status.Conditions[i]
		}
	}
	return nil
}

func describe(j *batchv1.Job) string {
	var parts []string
	for _, c := range j.Status.Conditions {
		parts = append(parts, fmt.Sprintf("%s=%s %s %s", c.Type, c.Status, c.Reason, c.Message))
	}
	return fmt.Sprintf("job %s/%s: succeeded %d, failed %d; %s", j.Namespace, j.Name,
		j.Status.Succeeded, j.Status.Failed, strings.Join(parts, "; "))
}

// build makes the Job of one measurement from the template.
func (p *Provider) build(q analysis.Query) (*batchv1.Job, error) {
	if p.tmpl == nil {
		return nil, errors.New("job: no template")
	}
	j := &batchv1.Job{
		ObjectMeta: *p.tmpl.ObjectMeta.DeepCopy(),
		Spec:       *p.tmpl.Spec.DeepCopy(),
	}
	v := q.Vars
	prefix := j.Name
	if prefix == "" {
		prefix = dnsLabel(v.App + "-" + q.Metric)
	}
	j.Name, j.GenerateName = "", truncate(prefix, 57)+"-"
	j.ResourceVersion, j.UID = "", ""
	switch {
	case j.Namespace != "":
	case p.cfg.namespace != "":
		j.Namespace = p.cfg.namespace
	default:
		j.Namespace = v.Namespace
	}
	labels := map[string]string{
		strategy.LabelManagedBy: strategy.ManagedBy,
		strategy.LabelApp:       v.App,
		strategy.LabelRevision:  v.Revision,
		LabelAnalysis:           labelValue(v.Analysis),
		LabelMetric:             labelValue(q.Metric),
	}
	for k, val := range labels {
		if val == "" {
			continue
		}
		j.Labels = setLabel(j.Labels, k, val)
		j.Spec.Template.Labels = setLabel(j.Spec.Template.Labels, k, val)
	}
	env := []corev1.EnvVar{
		{Name: "SWITCHYARD_APP", Value: v.App},
		{Name: "SWITCHYARD_NAMESPACE", Value: v.Namespace},
		{Name: "SWITCHYARD_REVISION", Value: v.Revision},
		{Name: "SWITCHYARD_STABLE", Value: v.Stable},
		{Name: "SWITCHYARD_SLOT", Value: v.Slot},
		{Name: "SWITCHYARD_SERVICE", Value: v.Service},
	}
	pod := &j.Spec.Template.Spec
	for _, cs := range [][]corev1.Container{pod.InitContainers, pod.Containers} {
		for i := range cs {
			c := &cs[i]
			if err := renderAll(v, c.Command); err != nil {
				return nil, fmt.Errorf("job container %s command: %w", c.Name, err)
			}
			if err := renderAll(v, c.Args); err != nil {
				return nil, fmt.Errorf("job container %s args: %w", c.Name, err)
			}
			for k := range c.Env {
				val, err := v.Render(c.Env[k].Value)
				if err != nil {
					return nil, fmt.Errorf("job container %s env %s: %w", c.Name, c.Env[k].Name, err)
				}
				c.Env[k].Value = val
			}
			c.Env = append(c.Env, env...)
		}
	}
	if j.Spec.BackoffLimit == nil {
		j.Spec.BackoffLimit = ptr.To[int32](0) // an analysis Job judges once
	}
	return j, nil
}

func renderAll(v analysis.Vars, ss []string) error {
	for i, s := range ss {
		r, err := v.Render(s)
		if err != nil {
			return err
		}
		ss[i] = r
	}
	return nil
}

func setLabel(m map[string]string, k, v string) map[string]string {
	if m == nil {
		m = map[string]string{}
	}
	m[k] = v
	return m
}

var notDNS = regexp.MustCompile(`[^a-z0-9-]+`)

// dnsLabel makes s usable in an object name.
func dnsLabel(s string) string {
	s = strings.Trim(notDNS.ReplaceAllString(strings.ToLower(s), "-"), "-")
	if s == "" {
		return "analysis"
	}
	return s
}

var notLabel = regexp.MustCompile(`[^A-Za-z0-9._-]+`)

// labelValue makes s a valid label value.
func labelValue(s string) string {
	return strings.Trim(truncate(notLabel.ReplaceAllString(s, "-"), 63), "-._")
}

func truncate(s string, n int) string {
	if len(s) > n {
		return strings.TrimRight(s[:n], "-")
	}
	return s
}
