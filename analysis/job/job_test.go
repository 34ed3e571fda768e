package job_test

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/watch"
	k8stesting "k8s.io/client-go/testing"
	"k8s.io/client-go/util/retry"
	"k8s.io/utils/ptr"

	"github.com/switchyard-dev/switchyard/analysis"
	"github.com/switchyard-dev/switchyard/analysis/job"
	"github.com/switchyard-dev/switchyard/fake"
	"github.com/switchyard-dev/switchyard/strategy"
)

var t0 = time.Date(2026, time.March, 1, 12, 0, 0, 0, time.UTC)

func template() *batchv1.Job {
	return &batchv1.Job{
		ObjectMeta: metav1.ObjectMeta{Labels: map[string]string{"team": "qa"}},
		Spec: batchv1.JobSpec{Template: corev1.PodTemplateSpec{Spec: corev1.PodSpec{
			RestartPolicy: corev1.RestartPolicyNever,
			Containers: []corev1.Container{{
				Name:  "smoke",
				Image: "curlimages/curl",
				Args:  []string{"-f", "http://{{.Service}}.{{.Namespace}}/health?v={{.Revision}}"},
				Env:   []corev1.EnvVar{{Name: "TARGET", Value: "{{.Slot}}"}},
			}},
		}}},
	}
}

func vars() analysis.Vars {
	return analysis.Vars{App: "cart", Namespace: "default", Revision: "v2", Stable: "v1",
		Slot: "cart-green", Service: "cart-preview", Analysis: "pre-promotion"}
}

// watchJobs returns the Jobs created from now on in the default namespace.
func watchJobs(t *testing.T, c *fake.Cluster) <-chan *batchv1.Job {
	w, err := c.Clients().Kube.BatchV1().Jobs("default").Watch(context.Background(), metav1.ListOptions{})
	require.NoError(t, err)
	t.Cleanup(w.Stop)
	out := make(chan *batchv1.Job, 8)
	go func() {
		for ev := range w.ResultChan() {
			if ev.Type == watch.Added {
				out <- ev.Object.(*batchv1.Job)
			}
		}
	}()
	return out
}

func created(t *testing.T, jobs <-chan *batchv1.Job) *batchv1.Job {
	t.Helper()
	select {
	case j := <-jobs:
		return j
	case <-time.After(10 * time.Second):
		t.Fatal("no Job was created")
	}
	return nil
}

// finish ends a Job as a Job controller would.
func finish(t *testing.T, c *fake.Cluster, j *batchv1.Job, cond batchv1.JobConditionType, reason, message string) {
	t.Helper()
	require.NoError(t, setCondition(c, j, cond, reason, message))
}

func setCondition(c *fake.Cluster, j *batchv1.Job, cond batchv1.JobConditionType, reason, message string) error {
	jobs := c.Clients().Kube.BatchV1().Jobs(j.Namespace)
	return retry.RetryOnConflict(retry.DefaultRetry, func() error {
		cur, err := jobs.Get(context.Background(), j.Name, metav1.GetOptions{})
		if err != nil {
			return err
		}
		cur.Status.Conditions = append(cur.Status.Conditions, batchv1.JobCondition{Type: cond, Status: corev1.ConditionTrue, Reason: reason, Message: message})
		_, err = jobs.UpdateStatus(context.Background(), cur, metav1.UpdateOptions{})
		return err
	})
}

// cluster is a fake cluster whose Job pods, should it run them, never
// finish: the tests decide how each Job ends.
func cluster(t *testing.T, opts ...fake.Option) *fake.Cluster {
	c := fake.NewCluster(append([]fake.Option{fake.WithStartTime(t0)}, opts...)...)
	t.Cleanup(c.Stop)
	c.SetBehavior("v2", fake.Behavior{NeverReady: true})
	// The Jobs' deletes, for assertDeleted: the clientset keeps only the
	// last few hundred actions.
	var mu sync.Mutex
	deletes := map[string]k8stesting.DeleteActionImpl{}
	c.Clientset().PrependReactor("delete", "jobs", func(a k8stesting.Action) (bool, runtime.Object, error) {
		if d, ok := a.(k8stesting.DeleteActionImpl); ok {
			mu.Lock()
			deletes[d.Name] = d
			mu.Unlock()
		}
		return false, nil, nil
	})
	deletedJobs.Store(c, func(name string) (k8stesting.DeleteActionImpl, bool) {
		mu.Lock()
		defer mu.Unlock()
		d, ok := deletes[name]
		return d, ok
	})
	return c
}

// deletedJobs maps each cluster to a function returning its delete of the
// named Job, if any.
var deletedJobs sync.Map

type outcome struct {
	res analysis.Result
	err error
}

func measure(p *job.Provider, c *fake.Cluster) <-chan outcome {
	out := make(chan outcome, 1)
	go func() {
		q := analysis.Query{Metric: "smoke test", Vars: vars(), Input: strategy.CheckInput{Clients: c.Clients(), Clock: c.Clock()}}
		res, err := p.Measure(context.Background(), q)
		out <- outcome{res, err}
	}()
	return out
}

func wait(t *testing.T, ch <-chan outcome) outcome {
	t.Helper()
	select {
	case o := <-ch:
		return o
	case <-time.After(10 * time.Second):
		t.Fatal("the measurement did not end")
	}
	return outcome{}
}

// assertDeleted checks that the Job is gone and was deleted with
// background propagation.
func assertDeleted(t *testing.T, c *fake.Cluster, name string) {
	t.Helper()
	_, err := c.Clients().Kube.BatchV1().Jobs("default").Get(context.Background(), name, metav1.GetOptions{})
	assert.True(t, apierrors.IsNotFound(err), "job %s still exists: %v", name, err)
	f, _ := deletedJobs.Load(c)
	d, found := f.(func(string) (k8stesting.DeleteActionImpl, bool))(name)
	require.True(t, found, "no delete of job %s", name)
	require.NotNil(t, d.DeleteOptions.PropagationPolicy)
	assert.Equal(t, metav1.DeletePropagationBackground, *d.DeleteOptions.PropagationPolicy)
}

func TestCompleteIsSuccessful(t *testing.T) {
	t.Parallel()
	c := cluster(t)
	jobs := watchJobs(t, c)
	res := measure(job.New(template()), c)

	j := created(t, jobs)
	assert.Regexp(t, `^cart-smoke-test-[a-z0-9]+$`, j.Name)
	wantLabels := map[string]string{
		"team":                  "qa",
		strategy.LabelManagedBy: strategy.ManagedBy,
		strategy.LabelApp:       "cart",
		strategy.LabelRevision:  "v2",
		job.LabelAnalysis:       "pre-promotion",
		job.LabelMetric:         "smoke-test",
	}
	assert.Equal(t, wantLabels, j.Labels)
	for k, v := range wantLabels {
		if k != "team" {
			assert.Equal(t, v, j.Spec.Template.Labels[k], "pod label %s", k)
		}
	}
	ctr := j.Spec.Template.Spec.Containers[0]
	assert.Equal(t, []string{"-f", "http://cart-preview.default/health?v=v2"}, ctr.Args)
	env := map[string]string{}
	for _, e := range ctr.Env {
		env[e.Name] = e.Value
	}
	assert.Equal(t, map[string]string{
		"TARGET": "cart-green", "SWITCHYARD_APP": "cart", "SWITCHYARD_NAMESPACE": "default", "SWITCHYARD_REVISION": "v2",
		"SWITCHYARD_STABLE": "v1", "SWITCHYARD_SLOT": "cart-green", "SWITCHYARD_SERVICE": "cart-preview",
	}, env)
	require.NotNil(t, j.Spec.BackoffLimit)
	assert.Equal(t, int32(0), *j.Spec.BackoffLimit)

	finish(t, c, j, batchv1.JobComplete, "", "")
	o := wait(t, res)
	require.NoError(t, o.err)
	assert.Equal(t, analysis.PhaseSuccessful, o.res.Verdict)
	assert.Equal(t, 1.0, o.res.Value)
	assert.Equal(t, "job "+j.Name+" complete", o.res.Reason)
	assert.Contains(t, o.res.Raw, "Complete=True")
	assertDeleted(t, c, j.Name)
}

func TestFailedIsFailed(t *testing.T) {
	t.Parallel()
	c := cluster(t)
	jobs := watchJobs(t, c)
	res := measure(job.New(template()), c)
	j := created(t, jobs)
	finish(t, c, j, batchv1.JobFailed, "BackoffLimitExceeded", "Job has reached the specified backoff limit")
	o := wait(t, res)
	require.NoError(t, o.err)
	assert.Equal(t, analysis.PhaseFailed, o.res.Verdict)
	assert.Equal(t, "job "+j.Name+" failed: BackoffLimitExceeded: Job has reached the specified backoff limit", o.res.Reason)
	assertDeleted(t, c, j.Name)
}

func TestTimeoutDeletesTheJob(t *testing.T) {
	t.Parallel()
	c := cluster(t)
	jobs := watchJobs(t, c)
	res := measure(job.New(template(), job.WithTimeout(time.Minute)), c)
	j := created(t, jobs)
	// The timeout was armed before the Job was created.
	c.Clock().Step(time.Minute)
	o := wait(t, res)
	require.ErrorIs(t, o.err, context.DeadlineExceeded)
	assert.ErrorContains(t, o.err, "timed out after 1m0s")
	assertDeleted(t, c, j.Name)
}

func TestCreateErrorIsAnError(t *testing.T) {
	t.Parallel()
	c := cluster(t)
	c.FailRequests("create", "jobs", apierrors.NewForbidden(batchv1.Resource("jobs"), "", errors.New("no")), 1)
	o := wait(t, measure(job.New(template()), c))
	require.Error(t, o.err)
	assert.True(t, apierrors.IsForbidden(o.err), o.err.Error())
}

func TestInAnAnalysis(t *testing.T) {
	t.Parallel()
	c := cluster(t, fake.WithAutoAdvance())
	idle, _, done := c.Clock().Track()
	idle()
	defer done()
	jobs := watchJobs(t, c)
	go func() {
		// The first Job fails, the second completes.
		for i := 0; ; i++ {
			j, ok := <-jobs
			if !ok {
				return
			}
			typ := batchv1.JobComplete
			if i == 0 {
				typ = batchv1.JobFailed
			}
			_ = setCondition(c, j, typ, "", "")
		}
	}()
	a := analysis.Analysis{Name: "pre", Metrics: []analysis.Metric{{
		Name: "smoke", Provider: job.New(template()), Interval: time.Minute, Count: 2, FailureLimit: 1,
	}}}
	in := strategy.CheckInput{Clients: c.Clients(), Clock: c.Clock(), Release: strategy.Release{
		App: types.NamespacedName{Namespace: "default", Name: "cart"}, Revision: "v2"}}
	rep, err := a.Run(context.Background(), in)
	require.NoError(t, err)
	assert.Equal(t, analysis.PhaseSuccessful, rep.Phase, rep.Message)
	m := rep.Metrics[0]
	assert.Equal(t, 1, m.Failed)
	assert.Equal(t, 1, m.Successful)
	// Each Job is seen ended at a poll: usually the first, 5s after it was
	// created, later if the goroutine above was slow to end it.
	first, second := m.Measurements[0].Time.Sub(t0), m.Measurements[1].Time.Sub(t0)
	assert.True(t, first >= job.DefaultPollInterval && first%job.DefaultPollInterval == 0, first)
	assert.True(t, second >= time.Minute+job.DefaultPollInterval && second%job.DefaultPollInterval == 0, second)
	list, err := c.Clients().Kube.BatchV1().Jobs("default").List(context.Background(), metav1.ListOptions{})
	require.NoError(t, err)
	assert.Empty(t, list.Items, "every Job was deleted")
}

func TestTimeoutInAnAnalysis(t *testing.T) {
	t.Parallel()
	c := cluster(t, fake.WithAutoAdvance())
	idle, _, done := c.Clock().Track()
	idle()
	defer done()
	a := analysis.Analysis{Name: "pre", Metrics: []analysis.Metric{{
		Name: "smoke", Provider: job.New(template(), job.WithTimeout(30*time.Second), job.WithPollInterval(10*time.Second)),
		ConsecutiveErrorLimit: ptr.To(0),
	}}}
	in := strategy.CheckInput{Clients: c.Clients(), Clock: c.Clock(), Release: strategy.Release{
		App: types.NamespacedName{Namespace: "default", Name: "cart"}, Revision: "v2"}}
	rep, err := a.Run(context.Background(), in)
	require.NoError(t, err)
	assert.Equal(t, analysis.PhaseError, rep.Phase)
	ms := rep.Metrics[0].Measurements
	require.Len(t, ms, 1)
	assert.Equal(t, t0.Add(30*time.Second), ms[0].Time, "polled at 10s, 20s and 30s on the fake clock")
	assert.Contains(t, ms[0].Message, "timed out after 30s")
	list, err := c.Clients().Kube.BatchV1().Jobs("default").List(context.Background(), metav1.ListOptions{})
	require.NoError(t, err)
	assert.Empty(t, list.Items, "the Job was deleted")
}

func TestStoppedRunDeletesTheRunningJob(t *testing.T) {
	t.Parallel()
	c := cluster(t, fake.WithAutoAdvance())
	idle, _, done := c.Clock().Track()
	idle()
	defer done()
	jobs := watchJobs(t, c)
	ctx, cancel := context.WithCancel(context.Background())
	go func() {
		<-jobs
		cancel()
	}()
	a := analysis.Analysis{Name: "pre", Metrics: []analysis.Metric{{Name: "smoke", Provider: job.New(template())}}}
	in := strategy.CheckInput{Clients: c.Clients(), Clock: c.Clock(), Release: strategy.Release{
		App: types.NamespacedName{Namespace: "default", Name: "cart"}, Revision: "v2"}}
	_, err := a.Run(ctx, in)
	require.ErrorIs(t, err, context.Canceled)
	list, err := c.Clients().Kube.BatchV1().Jobs("default").List(context.Background(), metav1.ListOptions{})
	require.NoError(t, err)
	assert.Empty(t, list.Items, "the Job was deleted")
}

func TestValidate(t *testing.T) {
	t.Parallel()
	always := template()
	always.Spec.Template.Spec.RestartPolicy = corev1.RestartPolicyAlways
	empty := template()
	empty.Spec.Template.Spec.Containers = nil
	tests := map[string]struct {
		p     *job.Provider
		paths []string
	}{
		"valid":              {p: job.New(template())},
		"no template":        {p: job.New(nil), paths: []string{"m.provider.job.template"}},
		"no containers":      {p: job.New(empty), paths: []string{"m.provider.job.template.spec.template.spec.containers"}},
		"restart always":     {p: job.New(always), paths: []string{"m.provider.job.template.spec.template.spec.restartPolicy"}},
		"negative timeout":   {p: job.New(template(), job.WithTimeout(-time.Second)), paths: []string{"m.provider.job.timeout"}},
		"zero poll interval": {p: job.New(template(), job.WithPollInterval(0)), paths: []string{"m.provider.job.pollInterval"}},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			var v strategy.Validator
			tc.p.Validate(&v, "m", "")
			err := v.Err()
			if len(tc.paths) == 0 {
				require.NoError(t, err)
				return
			}
			var ve *strategy.ValidationError
			require.ErrorAs(t, err, &ve)
			for _, p := range tc.paths {
				assert.True(t, ve.Has(p), "missing %s in %v", p, err)
			}
		})
	}
}
