package flow

import (
	"context"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/switchyard-dev/switchyard/strategy"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes"
	"k8s.io/utils/clock"
)

// eventRecorder writes corev1 Events about the release record, counting
// repeats of the same reason and message on one Event object instead of
// creating a new one each time.
type eventRecorder struct {
	kube  kubernetes.Interface
	clock clock.PassiveClock
	app   types.NamespacedName
	by    string
	last  map[string]*corev1.Event // reason+message -> the Event written
}

func (r *eventRecorder) record(ctx context.Context, warning bool, reason, message string) {
	if r == nil {
		return
	}
	now := metav1.NewTime(r.clock.Now())
	key := reason + "\x00" + message
	events := r.kube.CoreV1().Events(r.app.Namespace)
	if prev, ok := r.last[key]; ok {
		ev := prev.DeepCopy()
		ev.Count++
		ev.LastTimestamp = now
		if out, err := events.Update(ctx, ev, metav1.UpdateOptions{}); err == nil {
			r.last[key] = out
			return
		}
	}
	typ := corev1.EventTypeNormal
	if warning {
		typ = corev1.EventTypeWarning
	}
	if len(message) > 1024 {
		message = message[:1021] + "..."
	}
	ev := &corev1.Event{
		ObjectMeta: metav1.ObjectMeta{
			GenerateName: strategy.RecordName(r.app.Name) + ".",
			Namespace:    r.app.Namespace,
			Labels:       map[string]string{strategy.LabelManagedBy: strategy.ManagedBy, strategy.LabelApp: r.app.Name},
		},
		InvolvedObject: corev1.ObjectReference{
			APIVersion: "v1", Kind: "ConfigMap", Namespace: r.app.Namespace, Name: strategy.RecordName(r.app.Name),
		},
		Reason:              reason,
		Message:             message,
		Type:                typ,
		Count:               1,
		FirstTimestamp:      now,
		LastTimestamp:       now,
		Source:              corev1.EventSource{Component: "switchyard"},
		ReportingController: "switchyard.dev/driver",
		ReportingInstance:   r.by,
	}
	// Events are best effort: a failure to write one never fails a release.
	if out, err := events.Create(ctx, ev, metav1.CreateOptions{}); err == nil {
		if r.last == nil {
			r.last = map[string]*corev1.Event{}
		}
		r.last[key] = out
	}
}
