package fake

import (
	"slices"
	"sort"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
)

// syncReplicaSet is one pass of the replica set controller: make or delete
// pods to match spec.replicas, then report status.
func (c *Cluster) syncReplicaSet(ns, name string) {
	s := c.store
	key := objKey{gvr: replicaSetsGVR, ns: ns, name: name}
	obj, ok := s.get(key)
	if !ok {
		return
	}
	rs := obj.(*appsv1.ReplicaSet)
	active := c.activePods(rs)
	if rs.DeletionTimestamp == nil {
		want := int(deref(rs.Spec.Replicas, 1))
		switch diff := len(active) - want; {
		case diff < 0:
			for i := 0; i < -diff; i++ {
				c.createPod(rs)
			}
			active = c.activePods(rs)
		case diff > 0:
			rankForDeletion(active)
			for _, p := range active[:diff] {
				_, _ = s.deleteObj(podsGVR, p.Namespace, p.Name, metav1.DeleteOptions{}, writeOpts{internal: true})
			}
			active = c.activePods(rs)
		}
	}
	c.updateRSStatus(key, active)
}

// activePods returns the pods rs controls that are neither terminating nor
// finished, as stored.
func (c *Cluster) activePods(rs *appsv1.ReplicaSet) []*corev1.Pod {
	pods := controlledBy[*corev1.Pod](c.store, rs.UID, podsGVR)
	return slices.DeleteFunc(pods, func(p *corev1.Pod) bool {
		return p.Status.Phase == corev1.PodSucceeded || p.Status.Phase == corev1.PodFailed
	})
}

func (c *Cluster) createPod(rs *appsv1.ReplicaSet) {
	// The pod shares its labels, annotations and spec (below the top level,
	// which defaultPodSpec sets) with the stored replica set's template;
	// neither is changed in place.
	t := &rs.Spec.Template
	p := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{
			GenerateName:    rs.Name + "-",
			Namespace:       rs.Namespace,
			Labels:          t.Labels,
			Annotations:     t.Annotations,
			OwnerReferences: []metav1.OwnerReference{*metav1.NewControllerRef(rs, appsv1.SchemeGroupVersion.WithKind("ReplicaSet"))},
		},
		Spec:   t.Spec,
		Status: corev1.PodStatus{Phase: corev1.PodPending},
	}
	defaultPodSpec(&p.Spec)
	_, _ = c.store.create(podsGVR, rs.Namespace, p, writeOpts{internal: true})
}

// rankForDeletion orders pods so that the ones to delete first come first:
// unscheduled, pending, not ready, ready for less time, more restarts,
// newer.
func rankForDeletion(pods []*corev1.Pod) {
	phase := func(p *corev1.Pod) int {
		switch p.Status.Phase {
		case corev1.PodPending:
			return 0
		case corev1.PodUnknown:
			return 1
		case corev1.PodRunning:
			return 2
		}
		return 3
	}
	sort.SliceStable(pods, func(i, j int) bool {
		a, b := pods[i], pods[j]
		if (a.Spec.NodeName == "") != (b.Spec.NodeName == "") {
			return a.Spec.NodeName == ""
		}
		if phase(a) != phase(b) {
			return phase(a) < phase(b)
		}
		ra, rb := podReady(a), podReady(b)
		if ra != rb {
			return !ra
		}
		if ra && rb {
			ta, tb := readySince(a), readySince(b)
			if !ta.Equal(tb) {
				return ta.After(tb)
			}
		}
		if restarts(a) != restarts(b) {
			return restarts(a) > restarts(b)
		}
		if !a.CreationTimestamp.Equal(&b.CreationTimestamp) {
			return b.CreationTimestamp.Before(&a.CreationTimestamp)
		}
		return a.Name > b.Name
	})
}

// updateRSStatus stores the replica set's status from its active pods and
// wakes up when a Ready pod will have been Ready for minReadySeconds.
func (c *Cluster) updateRSStatus(key objKey, active []*corev1.Pod) {
	s := c.store
	obj, ok := s.get(key)
	if !ok {
		return
	}
	rs := obj.(*appsv1.ReplicaSet)
	now := c.clock.Now()
	minReady := time.Duration(rs.Spec.MinReadySeconds) * time.Second
	st := appsv1.ReplicaSetStatus{Replicas: int32(len(active)), ObservedGeneration: rs.Generation}
	// A pod is fully labeled if it has the template's labels or matches the
	// selector; the selector is parsed only if a pod needs it.
	tmplSel := labels.ValidatedSetSelector(rs.Spec.Template.Labels)
	var sel labels.Selector
	parsed := false
	fullyLabeled := func(l labels.Set) bool {
		if tmplSel.Matches(l) {
			return true
		}
		if !parsed {
			sel, _ = metav1.LabelSelectorAsSelector(rs.Spec.Selector)
			parsed = true
		}
		return sel != nil && sel.Matches(l)
	}
	var wake time.Duration
	for _, p := range active {
		if fullyLabeled(labels.Set(p.Labels)) {
			st.FullyLabeledReplicas++
		}
		if !podReady(p) {
			continue
		}
		st.ReadyReplicas++
		availableAt := readySince(p).Add(minReady)
		if !availableAt.After(now) {
			st.AvailableReplicas++
		} else if d := availableAt.Sub(now); wake == 0 || d < wake {
			wake = d
		}
	}
	if wake > 0 {
		c.queue.addAfter(item{kind: itemReplicaSet, ns: key.ns, name: key.name}, wake)
	}
	if equalReplicaSetStatus(&rs.Status, &st) {
		return
	}
	// The store owns n; it shares all but its status and top-level fields
	// with the stored rs, which nobody changes in place.
	n := *rs
	n.Status = st
	if _, err := s.update(replicaSetsGVR, key.ns, &n, writeOpts{internal: true}); err != nil {
		c.queue.add(item{kind: itemReplicaSet, ns: key.ns, name: key.name})
	}
}

func podReady(p *corev1.Pod) bool {
	for _, cnd := range p.Status.Conditions {
		if cnd.Type == corev1.PodReady {
			return cnd.Status == corev1.ConditionTrue
		}
	}
	return false
}

func readySince(p *corev1.Pod) time.Time {
	for _, cnd := range p.Status.Conditions {
		if cnd.Type == corev1.PodReady {
			return cnd.LastTransitionTime.Time
		}
	}
	return time.Time{}
}

func restarts(p *corev1.Pod) int32 {
	var n int32
	for _, cs := range p.Status.ContainerStatuses {
		n += cs.RestartCount
	}
	return n
}
