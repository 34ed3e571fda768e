package fake

import (
	"context"
	"fmt"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// rollToCompletion steps the clock until every deployment reports its new
// revision fully available.
func rollToCompletion(b *testing.B, c *Cluster, names []string) {
	b.Helper()
	for i := 0; i < 100; i++ {
		step(b, c, time.Second)
		done := true
		for _, n := range names {
			o, _ := c.store.get(objKey{gvr: deploymentsGVR, ns: "default", name: n})
			d := o.(*appsv1.Deployment)
			p := getCondition(d.Status, appsv1.DeploymentProgressing)
			if d.Status.UpdatedReplicas != *d.Spec.Replicas || d.Status.AvailableReplicas != *d.Spec.Replicas ||
				d.Status.Replicas != *d.Spec.Replicas || p == nil || p.Reason != ReasonNewRSAvailable || d.Annotations[RevisionAnnotation] != "2" {
				done = false
				break
			}
		}
		if done {
			return
		}
	}
	b.Fatal("rollout did not complete")
}

func benchRollout(b *testing.B, n int) {
	b.ReportAllocs()
	for i := 0; i < b.N; i++ {
		b.StopTimer()
		c := NewCluster()
		ctx := context.Background()
		deps := c.Clients().Kube.AppsV1().Deployments("default")
		names := make([]string, n)
		for j := range names {
			names[j] = fmt.Sprintf("app-%d", j)
			if _, err := deps.Create(ctx, testDeployment(names[j], 3, "v1"), metav1.CreateOptions{}); err != nil {
				b.Fatal(err)
			}
		}
		step(b, c, time.Second)
		c.ResetRequests()
		b.StartTimer()
		for _, name := range names {
			d, err := deps.Get(ctx, name, metav1.GetOptions{})
			if err != nil {
				b.Fatal(err)
			}
			d.Spec.Template.Labels[DefaultVersionLabel] = "v2"
			if _, err := deps.Update(ctx, d, metav1.UpdateOptions{}); err != nil {
				b.Fatal(err)
			}
		}
		rollToCompletion(b, c, names)
		b.StopTimer()
		b.ReportMetric(float64(c.Requests().Total())/float64(n), "requests/rollout")
		c.Stop()
		b.StartTimer()
	}
}

// BenchmarkDeploymentRollout rolls one 3-replica Deployment to a new
// template, stepping the clock by hand.
func BenchmarkDeploymentRollout(b *testing.B) { benchRollout(b, 1) }

// BenchmarkRollout10000 rolls 10,000 Deployments at once in one cluster.
func BenchmarkRollout10000(b *testing.B) { benchRollout(b, 10000) }
