package fake

import (
	"fmt"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// syncRolloutStatus computes and stores d's status, including the
// Available and Progressing conditions and the progress deadline.
func (c *Cluster) syncRolloutStatus(r *rollout) error {
	d := r.d
	now := c.clock.Now()
	all := r.all()
	desired := deref(d.Spec.Replicas, 1)
	st := appsv1.DeploymentStatus{
		ObservedGeneration: d.Generation,
		Replicas:           sumStatus(all, func(s *appsv1.ReplicaSetStatus) int32 { return s.Replicas }),
		ReadyReplicas:      sumStatus(all, func(s *appsv1.ReplicaSetStatus) int32 { return s.ReadyReplicas }),
		AvailableReplicas:  sumStatus(all, func(s *appsv1.ReplicaSetStatus) int32 { return s.AvailableReplicas }),
		CollisionCount:     d.Status.CollisionCount,
		Conditions:         append([]appsv1.DeploymentCondition(nil), d.Status.Conditions...),
	}
	if r.newRS != nil {
		st.UpdatedReplicas = r.newRS.Status.Replicas
	}
	st.UnavailableReplicas = max(sumReplicas(all)-st.AvailableReplicas, 0)
	if st.AvailableReplicas >= desired-maxUnavailable(d) {
		setCondition(&st, appsv1.DeploymentAvailable, corev1.ConditionTrue, ReasonMinimumAvailable, "Deployment has minimum availability.", now)
	} else {
		setCondition(&st, appsv1.DeploymentAvailable, corev1.ConditionFalse, ReasonMinimumUnavailable, "Deployment does not have minimum availability.", now)
	}

	deadline := d.Spec.ProgressDeadlineSeconds
	cur := getCondition(st, appsv1.DeploymentProgressing)
	switch {
	case d.Spec.Paused:
		if cur == nil || cur.Reason != ReasonPaused {
			setCondition(&st, appsv1.DeploymentProgressing, corev1.ConditionUnknown, ReasonPaused, "Deployment is paused", now)
		}
	case cur != nil && cur.Reason == ReasonPaused:
		setCondition(&st, appsv1.DeploymentProgressing, corev1.ConditionUnknown, ReasonResumed, "Deployment is resumed", now)
	case deadline == nil || *deadline == int32(^uint32(0)>>1):
		removeCondition(&st, appsv1.DeploymentProgressing)
	case st.Replicas == st.UpdatedReplicas && cur != nil && cur.Reason == ReasonNewRSAvailable && d.Generation == d.Status.ObservedGeneration:
		// Complete already: nothing to do.
	case r.newRS != nil && st.UpdatedReplicas == desired && st.Replicas == desired && st.AvailableReplicas == desired && sumReplicas(r.old) == 0:
		setCondition(&st, appsv1.DeploymentProgressing, corev1.ConditionTrue, ReasonNewRSAvailable,
			fmt.Sprintf("ReplicaSet %q has successfully progressed.", r.newRS.Name), now)
	case progressed(d.Status, st):
		msg := "Deployment is progressing."
		if r.newRS != nil {
			msg = fmt.Sprintf("ReplicaSet %q is progressing.", r.newRS.Name)
		}
		setCondition(&st, appsv1.DeploymentProgressing, corev1.ConditionTrue, ReasonRSUpdated, msg, now)
	case cur != nil && cur.Reason != ReasonProgressDeadline && cur.Reason != ReasonNewRSAvailable &&
		!cur.LastUpdateTime.Add(time.Duration(*deadline)*time.Second).After(now):
		name := ""
		if r.newRS != nil {
			name = r.newRS.Name
		}
		setCondition(&st, appsv1.DeploymentProgressing, corev1.ConditionFalse, ReasonProgressDeadline,
			fmt.Sprintf("ReplicaSet %q has timed out progressing.", name), now)
	}
	// Wake up at the progress deadline of a rollout still in progress.
	if cur := getCondition(st, appsv1.DeploymentProgressing); cur != nil && deadline != nil &&
		cur.Status == corev1.ConditionTrue && cur.Reason != ReasonNewRSAvailable {
		due := cur.LastUpdateTime.Add(time.Duration(*deadline) * time.Second)
		c.queue.addAfter(item{kind: itemDeployment, ns: d.Namespace, name: d.Name}, due.Sub(now)+time.Nanosecond)
	}
	if equalDeploymentStatus(&d.Status, &st) {
		return nil
	}
	r.editD().Status = st
	return c.writeDeployment(r)
}

// progressed reports whether the new status shows progress over the old.
func progressed(old, cur appsv1.DeploymentStatus) bool {
	oldStale := old.Replicas - old.UpdatedReplicas
	curStale := cur.Replicas - cur.UpdatedReplicas
	return cur.UpdatedReplicas > old.UpdatedReplicas || curStale < oldStale ||
		cur.ReadyReplicas > old.ReadyReplicas || cur.AvailableReplicas > old.AvailableReplicas
}

func getCondition(st appsv1.DeploymentStatus, t appsv1.DeploymentConditionType) *appsv1.DeploymentCondition {
	for i := range st.Conditions {
		if st.Conditions[i].Type == t {
			return &st.Conditions[i]
		}
	}
	return nil
}

func hasCondition(st appsv1.DeploymentStatus, t appsv1.DeploymentConditionType) bool {
	return getCondition(st, t) != nil
}

// setCondition sets a condition; the transition time changes only when the
// status does, and nothing changes if status and reason are the same
// (except that Progressing refreshes its update time, as progress does).
func setCondition(st *appsv1.DeploymentStatus, t appsv1.DeploymentConditionType, status corev1.ConditionStatus, reason, msg string, now time.Time) {
	ts := metav1.NewTime(now)
	cond := appsv1.DeploymentCondition{Type: t, Status: status, Reason: reason, Message: msg, LastUpdateTime: ts, LastTransitionTime: ts}
	if cur := getCondition(*st, t); cur != nil {
		if cur.Status == status && cur.Reason == reason && cur.Message == msg && (t != appsv1.DeploymentProgressing || reason != ReasonRSUpdated) {
			return
		}
		if cur.Status == status {
			cond.LastTransitionTime = cur.LastTransitionTime
		}
		*cur = cond
		return
	}
	st.Conditions = append(st.Conditions, cond)
}

func removeCondition(st *appsv1.DeploymentStatus, t appsv1.DeploymentConditionType) {
	var out []appsv1.DeploymentCondition
	for _, c := range st.Conditions {
		if c.Type != t {
			out = append(out, c)
		}
	}
	st.Conditions = out
}
