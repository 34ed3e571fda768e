package e2e

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/utils/clock"
	"k8s.io/utils/ptr"

	"github.com/switchyard-dev/switchyard/analysis"
	"github.com/switchyard-dev/switchyard/analysis/job"
	"github.com/switchyard-dev/switchyard/internal/controlplane"
	"github.com/switchyard-dev/switchyard/strategy"
)

// TestJobProviderOnTheRealJobController runs an analysis whose metric is a
// Kubernetes Job: the real Job controller creates its pod, kwok completes
// it, the metric is Successful, and the Job is deleted afterwards.
func TestJobProviderOnTheRealJobController(t *testing.T) {
	cfg := controlplane.Config(t)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	clients, err := strategy.NewClients(cfg)
	require.NoError(t, err)
	ns := "analysis-e2e-job"
	_, err = clients.Kube.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}, metav1.CreateOptions{})
	require.NoError(t, err)
	t.Cleanup(func() {
		_ = clients.Kube.CoreV1().Namespaces().Delete(context.Background(), ns, metav1.DeleteOptions{})
	})

	smoke := &batchv1.Job{ObjectMeta: metav1.ObjectMeta{Name: "smoke"}, Spec: batchv1.JobSpec{
		BackoffLimit: ptr.To[int32](0),
		Template: corev1.PodTemplateSpec{Spec: corev1.PodSpec{
			RestartPolicy: corev1.RestartPolicyNever,
			Containers:    []corev1.Container{{Name: "smoke", Image: "smoke:1", Args: []string{"http://{{.Service}}/healthz"}}},
			Tolerations:   []corev1.Toleration{kwokToleration},
		}},
	}}
	a := analysis.Analysis{Name: "smoke", Metrics: []analysis.Metric{{
		Name:     "smoke-test",
		Provider: job.New(smoke, job.WithPollInterval(200*time.Millisecond), job.WithTimeout(time.Minute)),
	}}}
	var v strategy.Validator
	a.Validate(&v, "analysis")
	require.NoError(t, v.Err())
	var measured []strategy.Measurement
	in := strategy.CheckInput{
		Release: strategy.Release{App: types.NamespacedName{Namespace: ns, Name: appName}, Revision: "v2"},
		Slot:    "web-green", Service: "web", Clients: clients, Clock: clock.RealClock{},
		Emit: func(e strategy.Event) {
			if e.Measurement != nil {
				measured = append(measured, *e.Measurement)
			}
		},
	}
	rep, err := a.Run(ctx, in)
	require.NoError(t, err)
	assert.Equal(t, analysis.PhaseSuccessful, rep.Phase, rep.Message)
	require.Len(t, measured, 1)
	assert.Equal(t, "Successful", measured[0].Phase)

	// The Job is deleted with its pods; wait for it on a watch.
	jobs := clients.Kube.BatchV1().Jobs(ns)
	w, err := jobs.Watch(ctx, metav1.ListOptions{})
	require.NoError(t, err)
	defer w.Stop()
	for {
		list, err := jobs.List(ctx, metav1.ListOptions{})
		require.NoError(t, err)
		if len(list.Items) == 0 {
			break
		}
		for _, j := range list.Items {
			assert.Equal(t, "v2", j.Labels[strategy.LabelRevision], "the Job carries the candidate's labels")
		}
		select {
		case <-w.ResultChan():
		case <-ctx.Done():
			t.Fatalf("the Job was never deleted: %d left", len(list.Items))
		}
	}
}
