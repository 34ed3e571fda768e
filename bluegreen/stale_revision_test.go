package bluegreen_test

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"

	"github.com/switchyard-dev/switchyard/fake"
	"github.com/switchyard-dev/switchyard/strategy"
)

// staleLog follows, on watches of its own (independent of the strategy's
// caches), the EndpointSlices of one Service and the namespace's pods, and
// records every ready endpoint of the Service that is a pod of slot but not
// of revision: a pod of the slot's earlier revision serving the Service's
// traffic.
type staleLog struct {
	mu     sync.Mutex
	stale  []string
	events int
}

func (l *staleLog) report() ([]string, int) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]string(nil), l.stale...), l.events
}

func watchStale(t *testing.T, c *fake.Cluster, service, slot, revision string) *staleLog {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	kube := c.Clients().Kube
	pw, err := kube.CoreV1().Pods(app.Namespace).Watch(ctx, metav1.ListOptions{})
	require.NoError(t, err)
	sw, err := kube.DiscoveryV1().EndpointSlices(app.Namespace).Watch(ctx,
		metav1.ListOptions{LabelSelector: discoveryv1.LabelServiceName + "=" + service})
	require.NoError(t, err)
	l := &staleLog{}
	// The labels of every pod seen, kept after it is deleted: a slice can
	// name a pod the pods watch has already seen go.
	labels := map[string]map[string]string{}
	go func() {
		defer pw.Stop()
		defer sw.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case ev, ok := <-pw.ResultChan():
				if !ok {
					return
				}
				if p, ok := ev.Object.(*corev1.Pod); ok {
					labels[p.Name] = p.Labels
				}
			case ev, ok := <-sw.ResultChan():
				if !ok {
					return
				}
				es, ok := ev.Object.(*discoveryv1.EndpointSlice)
				if !ok {
					continue
				}
				var bad []string
				for _, ep := range es.Endpoints {
					// As kube-proxy reads it: unset means ready.
					if !ptr.Deref(ep.Conditions.Ready, true) || ep.TargetRef == nil || ep.TargetRef.Kind != "Pod" {
						continue
					}
					name := ep.TargetRef.Name
					lb, known := labels[name]
					if !known {
						if p, err := kube.CoreV1().Pods(app.Namespace).Get(ctx, name, metav1.GetOptions{}); err == nil {
							lb, labels[name] = p.Labels, p.Labels
						}
					}
					if lb[strategy.LabelSlot] == slot && lb[strategy.LabelRevision] != revision {
						bad = append(bad, fmt.Sprintf("%s (revision %q)", name, lb[strategy.LabelRevision]))
					}
				}
				l.mu.Lock()
				l.events++
				if len(bad) > 0 {
					l.stale = append(l.stale, fmt.Sprintf("%s %s %s: %s", c.Clock().Now().Format(time.TimeOnly), ev.Type, es.Name,
						strings.Join(bad, ", ")))
				}
				l.mu.Unlock()
			}
		}
	}()
	return l
}

// lingeringPod adds to slot a Ready pod of revision that no ReplicaSet
// owns, a copy of one of the slot's pods, and deletes it after linger:
// what the real Deployment controller leaves in a slot it rolls while it
// lags behind (under load its scale-down of the old ReplicaSet, and the
// ReplicaSet controller's deletions, come after the new pods are Ready).
// The fake's controller scales the old ReplicaSet down in the same instant
// it creates the new one, before any new pod can turn Ready, so it never
// shows this on its own.
func lingeringPod(t *testing.T, c *fake.Cluster, slot, revision string, linger time.Duration) {
	t.Helper()
	ctx := testCtx(t)
	kube := c.Clients().Kube
	pods, err := kube.CoreV1().Pods(app.Namespace).List(ctx, metav1.ListOptions{
		LabelSelector: fmt.Sprintf("%s=%s,%s=%s", strategy.LabelSlot, slot, strategy.LabelRevision, revision)})
	require.NoError(t, err)
	require.NotEmpty(t, pods.Items, "slot %s runs no pod of %s", slot, revision)
	src := pods.Items[0]
	lb := map[string]string{}
	for k, v := range src.Labels {
		if k != "pod-template-hash" {
			lb[k] = v
		}
	}
	p := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "web-" + slot + "-" + revision + "-lingering", Namespace: app.Namespace, Labels: lb},
		Spec: *src.Spec.DeepCopy()}
	p.Spec.NodeName = ""
	_, err = kube.CoreV1().Pods(app.Namespace).Create(ctx, p, metav1.CreateOptions{})
	require.NoError(t, err)
	c.Clock().AfterFunc(linger, func() {
		_ = kube.CoreV1().Pods(app.Namespace).Delete(context.Background(), p.Name, metav1.DeleteOptions{})
	})
}

// TestSwitchWaitsForOldRevisionToLeaveTheSlot releases v1 (blue), v2
// (green) and v3, which rolls blue from v1 while a Ready v1 pod lingers
// there for 10s. From the moment the active Service selects blue, its
// ready endpoints in blue must be v3 pods only, as the test's own watches
// see them; with and without a preview Service.
func TestSwitchWaitsForOldRevisionToLeaveTheSlot(t *testing.T) {
	for _, preview := range []string{"web-preview", ""} {
		t.Run("preview="+preview, func(t *testing.T) {
			ctx := testCtx(t)
			c := newCluster(t)
			spec := baseSpec()
			spec.PreviewService = preview
			var switched time.Time
			obs := strategy.WithObserver(func(e strategy.Event) {
				if e.Type == strategy.EventTraffic {
					switched = e.Time
				}
			})
			s := newStrategy(c, spec, "driver-a", obs)
			for _, rev := range []string{"v1", "v2"} {
				_, err := s.Run(ctx, release(rev))
				require.NoError(t, err)
			}
			require.Equal(t, "green", observe(t, c).Active)

			log := watchStale(t, c, "web", "blue", "v3")
			start := c.Clock().Now()
			lingeringPod(t, c, "blue", "v1", 10*time.Second)
			res, err := s.Run(ctx, release("v3"))
			require.NoError(t, err)
			require.Equal(t, strategy.PhaseSucceeded, res.Phase)
			require.NoError(t, c.WaitIdle(ctx))
			stale, events := log.report()
			require.NotZero(t, events, "the watch saw the active Service's EndpointSlices")
			require.Empty(t, stale, "the active Service routed to pods of slot blue's old revision after the switch")
			require.False(t, switched.Before(start.Add(10*time.Second)), "switched at %s, before the v1 pod left at %s",
				switched, start.Add(10*time.Second))
			got := observe(t, c)
			require.Equal(t, "blue", got.Active)
			require.Equal(t, slotState{"v3", 3, 3}, got.Blue)
		})
	}
}

// TestSwitchAfterPlainRollHasOnlyNewRevision is the same release sequence
// without a lingering pod: the fake rolls the slot with no old pod Ready
// once the new ones are.
func TestSwitchAfterPlainRollHasOnlyNewRevision(t *testing.T) {
	ctx := testCtx(t)
	c := newCluster(t)
	s := newStrategy(c, baseSpec(), "driver-a")
	for _, rev := range []string{"v1", "v2"} {
		_, err := s.Run(ctx, release(rev))
		require.NoError(t, err)
	}
	log := watchStale(t, c, "web", "blue", "v3")
	_, err := s.Run(ctx, release("v3"))
	require.NoError(t, err)
	require.NoError(t, c.WaitIdle(ctx))
	stale, events := log.report()
	require.NotZero(t, events)
	require.Empty(t, stale)
}
