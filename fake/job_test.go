package fake

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
)

func testJob(name, version string) *batchv1.Job {
	return &batchv1.Job{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "default"},
		Spec: batchv1.JobSpec{Template: corev1.PodTemplateSpec{
			ObjectMeta: metav1.ObjectMeta{Labels: map[string]string{DefaultVersionLabel: version}},
			Spec: corev1.PodSpec{RestartPolicy: corev1.RestartPolicyNever,
				Containers: []corev1.Container{{Name: "migrate", Image: "migrate:" + version}}},
		}},
	}
}

func getJob(t *testing.T, c *Cluster, name string) *batchv1.Job {
	t.Helper()
	j, err := c.Clients().Kube.BatchV1().Jobs("default").Get(context.Background(), name, metav1.GetOptions{})
	require.NoError(t, err)
	return j
}

// jobConditions returns the Job's true conditions and their reasons.
func jobConditions(j *batchv1.Job) map[batchv1.JobConditionType]string {
	out := map[batchv1.JobConditionType]string{}
	for _, c := range j.Status.Conditions {
		if c.Status == corev1.ConditionTrue {
			out[c.Type] = c.Reason
		}
	}
	return out
}

func TestJobCompletesAfterItsDuration(t *testing.T) {
	t.Parallel()
	c := newTestCluster(t, WithJobDuration(30*time.Second))
	created, err := c.Clients().Kube.BatchV1().Jobs("default").Create(context.Background(), testJob("migrate", "v1"), metav1.CreateOptions{})
	require.NoError(t, err)
	uid := string(created.UID)
	assert.Equal(t, map[string]string{batchv1.ControllerUidLabel: uid}, created.Spec.Selector.MatchLabels)
	assert.Equal(t, "migrate", created.Spec.Template.Labels[batchv1.JobNameLabel])
	assert.Equal(t, ptr.To[int32](6), created.Spec.BackoffLimit)

	step(t, c, time.Second)
	j := getJob(t, c, "migrate")
	assert.Equal(t, int32(1), j.Status.Active)
	assert.NotNil(t, j.Status.StartTime)
	assert.Empty(t, jobConditions(j), "not complete while its pod runs")

	step(t, c, 28*time.Second)
	assert.Empty(t, jobConditions(getJob(t, c, "migrate")), "29s in, still running")
	step(t, c, time.Second)
	j = getJob(t, c, "migrate")
	assert.Equal(t, map[batchv1.JobConditionType]string{
		batchv1.JobSuccessCriteriaMet: batchv1.JobReasonCompletionsReached,
		batchv1.JobComplete:           batchv1.JobReasonCompletionsReached,
	}, jobConditions(j))
	assert.Equal(t, int32(0), j.Status.Active)
	assert.Equal(t, int32(1), j.Status.Succeeded)
	require.NotNil(t, j.Status.CompletionTime)
	assert.Equal(t, 30*time.Second, j.Status.CompletionTime.Sub(j.Status.StartTime.Time))

	pods, err := c.Clients().Kube.CoreV1().Pods("default").List(context.Background(), metav1.ListOptions{LabelSelector: batchv1.JobNameLabel + "=migrate"})
	require.NoError(t, err)
	require.Len(t, pods.Items, 1)
	assert.Equal(t, corev1.PodSucceeded, pods.Items[0].Status.Phase)
	assert.Equal(t, int32(0), pods.Items[0].Status.ContainerStatuses[0].State.Terminated.ExitCode)
}

func TestJobCompletionsAndParallelism(t *testing.T) {
	t.Parallel()
	c := newTestCluster(t, WithJobDuration(10*time.Second))
	job := testJob("batch", "v1")
	job.Spec.Completions, job.Spec.Parallelism = ptr.To[int32](3), ptr.To[int32](2)
	_, err := c.Clients().Kube.BatchV1().Jobs("default").Create(context.Background(), job, metav1.CreateOptions{})
	require.NoError(t, err)
	idle(t, c)
	assert.Equal(t, int32(2), getJob(t, c, "batch").Status.Active)
	step(t, c, 10*time.Second)
	j := getJob(t, c, "batch")
	assert.Equal(t, int32(2), j.Status.Succeeded)
	assert.Equal(t, int32(1), j.Status.Active, "one more to reach 3 completions")
	step(t, c, 10*time.Second)
	j = getJob(t, c, "batch")
	assert.Equal(t, int32(3), j.Status.Succeeded)
	assert.Contains(t, jobConditions(j), batchv1.JobComplete)
}

func TestJobFailsAtBackoffLimit(t *testing.T) {
	t.Parallel()
	c := newTestCluster(t)
	c.SetBehavior("bad", Behavior{CrashLoop: true})
	job := testJob("migrate", "bad")
	job.Spec.BackoffLimit = ptr.To[int32](2)
	_, err := c.Clients().Kube.BatchV1().Jobs("default").Create(context.Background(), job, metav1.CreateOptions{})
	require.NoError(t, err)
	// Failures at 1s, then replacements after 10s and 20s of back-off.
	step(t, c, time.Second)
	assert.Equal(t, int32(1), getJob(t, c, "migrate").Status.Failed)
	step(t, c, 9*time.Second)
	assert.Equal(t, int32(0), getJob(t, c, "migrate").Status.Active, "backing off")
	step(t, c, time.Second)
	assert.Equal(t, int32(1), getJob(t, c, "migrate").Status.Active)
	for range 40 {
		step(t, c, time.Second)
	}
	j := getJob(t, c, "migrate")
	assert.Equal(t, int32(3), j.Status.Failed)
	assert.Equal(t, map[batchv1.JobConditionType]string{
		batchv1.JobFailureTarget: batchv1.JobReasonBackoffLimitExceeded,
		batchv1.JobFailed:        batchv1.JobReasonBackoffLimitExceeded,
	}, jobConditions(j))
}

func TestJobActiveDeadline(t *testing.T) {
	t.Parallel()
	c := newTestCluster(t)
	c.SetBehavior("stuck", Behavior{NeverReady: true})
	job := testJob("stuck", "stuck")
	job.Spec.ActiveDeadlineSeconds = ptr.To[int64](60)
	_, err := c.Clients().Kube.BatchV1().Jobs("default").Create(context.Background(), job, metav1.CreateOptions{})
	require.NoError(t, err)
	step(t, c, 59*time.Second)
	assert.Empty(t, jobConditions(getJob(t, c, "stuck")))
	step(t, c, time.Second)
	j := getJob(t, c, "stuck")
	assert.Equal(t, batchv1.JobReasonDeadlineExceeded, jobConditions(j)[batchv1.JobFailed])
	assert.Equal(t, int32(0), j.Status.Active)
}

func TestJobValidation(t *testing.T) {
	t.Parallel()
	c := newTestCluster(t)
	jobs := c.Clients().Kube.BatchV1().Jobs("default")
	bad := testJob("always", "v1")
	bad.Spec.Template.Spec.RestartPolicy = ""
	_, err := jobs.Create(context.Background(), bad, metav1.CreateOptions{})
	assert.True(t, apierrors.IsInvalid(err), "restartPolicy Always is not allowed: %v", err)

	j, err := jobs.Create(context.Background(), testJob("migrate", "v1"), metav1.CreateOptions{})
	require.NoError(t, err)
	j.Spec.Template.Spec.Containers[0].Image = "migrate:v2"
	_, err = jobs.Update(context.Background(), j, metav1.UpdateOptions{})
	assert.True(t, apierrors.IsInvalid(err), "the template is immutable: %v", err)
}
