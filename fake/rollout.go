package fake

import (
	"encoding/json"
	"hash/fnv"
	"sort"
	"strconv"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apiequality "k8s.io/apimachinery/pkg/api/equality"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/apimachinery/pkg/util/rand"
)

// Annotations and labels the deployment controller uses.
const (
	RevisionAnnotation        = "deployment.kubernetes.io/revision"
	desiredReplicasAnnotation = "deployment.kubernetes.io/desired-replicas"
	maxReplicasAnnotation     = "deployment.kubernetes.io/max-replicas"
)

// resolveFenceposts turns maxSurge and maxUnavailable into pod counts for
// desired replicas: surge rounds up, unavailable rounds down, and if both
// come out zero, one pod may be unavailable.
func resolveFenceposts(maxSurge, maxUnavailable *intstr.IntOrString, desired int32) (int32, int32) {
	surge, err := intstr.GetScaledValueFromIntOrPercent(orZero(maxSurge), int(desired), true)
	if err != nil {
		surge = 0
	}
	unavailable, err := intstr.GetScaledValueFromIntOrPercent(orZero(maxUnavailable), int(desired), false)
	if err != nil {
		unavailable = 0
	}
	if surge == 0 && unavailable == 0 {
		unavailable = 1
	}
	return int32(surge), int32(unavailable)
}

func orZero(v *intstr.IntOrString) *intstr.IntOrString {
	if v == nil {
		z := intstr.FromInt32(0)
		return &z
	}
	return v
}

// maxUnavailable is how many pods of d may be unavailable during a rollout.
func maxUnavailable(d *appsv1.Deployment) int32 {
	replicas := deref(d.Spec.Replicas, 1)
	if d.Spec.Strategy.Type != appsv1.RollingUpdateDeploymentStrategyType || d.Spec.Strategy.RollingUpdate == nil || replicas == 0 {
		return 0
	}
	_, u := resolveFenceposts(d.Spec.Strategy.RollingUpdate.MaxSurge, d.Spec.Strategy.RollingUpdate.MaxUnavailable, replicas)
	if u > replicas {
		return replicas
	}
	return u
}

// maxSurge is how many pods of d may exist above the desired count.
func maxSurge(d *appsv1.Deployment) int32 {
	if d.Spec.Strategy.Type != appsv1.RollingUpdateDeploymentStrategyType || d.Spec.Strategy.RollingUpdate == nil {
		return 0
	}
	s, _ := resolveFenceposts(d.Spec.Strategy.RollingUpdate.MaxSurge, d.Spec.Strategy.RollingUpdate.MaxUnavailable, deref(d.Spec.Replicas, 1))
	return s
}

// templateHash is the pod-template-hash of a template.
func templateHash(t *corev1.PodTemplateSpec, collisions *int32) string {
	h := fnv.New32a()
	b, _ := json.Marshal(t)
	h.Write(b)
	if collisions != nil {
		h.Write([]byte(strconv.Itoa(int(*collisions))))
	}
	return rand.SafeEncodeString(strconv.FormatUint(uint64(h.Sum32()), 10))
}

// equalIgnoreHash compares two templates without their pod-template-hash.
func equalIgnoreHash(a, b *corev1.PodTemplateSpec) bool {
	if !labelsEqualIgnoreHash(a.Labels, b.Labels) {
		return false
	}
	ma, mb := a.ObjectMeta, b.ObjectMeta
	ma.Labels, mb.Labels = nil, nil
	return apiequality.Semantic.DeepEqual(ma, mb) && apiequality.Semantic.DeepEqual(a.Spec, b.Spec)
}

func labelsEqualIgnoreHash(a, b map[string]string) bool {
	n := 0
	for k, v := range a {
		if k == appsv1.DefaultDeploymentUniqueLabelKey {
			continue
		}
		if w, ok := b[k]; !ok || w != v {
			return false
		}
		n++
	}
	for k := range b {
		if k != appsv1.DefaultDeploymentUniqueLabelKey {
			n--
		}
	}
	return n == 0
}

func revisionOf(rs *appsv1.ReplicaSet) int64 {
	v, _ := strconv.ParseInt(rs.Annotations[RevisionAnnotation], 10, 64)
	return v
}

func sumReplicas(rss []*appsv1.ReplicaSet) int32 {
	var n int32
	for _, rs := range rss {
		if rs != nil {
			n += deref(rs.Spec.Replicas, 0)
		}
	}
	return n
}

func sumStatus(rss []*appsv1.ReplicaSet, f func(*appsv1.ReplicaSetStatus) int32) int32 {
	var n int32
	for _, rs := range rss {
		if rs != nil {
			n += f(&rs.Status)
		}
	}
	return n
}

// byCreation sorts replica sets oldest first, then by name.
func byCreation(rss []*appsv1.ReplicaSet) {
	sort.SliceStable(rss, func(i, j int) bool {
		a, b := rss[i].CreationTimestamp, rss[j].CreationTimestamp
		if a.Equal(&b) {
			return rss[i].Name < rss[j].Name
		}
		return a.Before(&b)
	})
}

// newRSReplicas is how many replicas the new ReplicaSet may have now in a
// rolling update: up to desired, without the total passing desired+surge.
func newRSReplicas(d *appsv1.Deployment, all []*appsv1.ReplicaSet, newRS *appsv1.ReplicaSet) int32 {
	desired := deref(d.Spec.Replicas, 1)
	cur := int32(0)
	if newRS != nil {
		cur = deref(newRS.Spec.Replicas, 0)
	}
	if d.Spec.Strategy.Type == appsv1.RecreateDeploymentStrategyType {
		return desired
	}
	maxTotal := desired + maxSurge(d)
	total := sumReplicas(all)
	if total >= maxTotal {
		return cur
	}
	up := min(maxTotal-total, desired-cur)
	return cur + up
}

// The status comparisons below agree with apiequality.Semantic.DeepEqual;
// they only skip its reflection for conditions that are identical field by
// field, the usual case, as a controller mostly rewrites a status it has
// written before.

func equalConditions[C comparable](a, b []C) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] && !apiequality.Semantic.DeepEqual(&a[i], &b[i]) {
			return false
		}
	}
	return true
}

func equalDeploymentStatus(a, b *appsv1.DeploymentStatus) bool {
	if !equalConditions(a.Conditions, b.Conditions) {
		return false
	}
	ra, rb := *a, *b
	ra.Conditions, rb.Conditions = nil, nil
	return apiequality.Semantic.DeepEqual(&ra, &rb)
}

func equalReplicaSetStatus(a, b *appsv1.ReplicaSetStatus) bool {
	if !equalConditions(a.Conditions, b.Conditions) {
		return false
	}
	ra, rb := *a, *b
	ra.Conditions, rb.Conditions = nil, nil
	return apiequality.Semantic.DeepEqual(&ra, &rb)
}

// equalSyncedPodStatus compares a pod's status old with the status st
// syncPod computed from it. st is old with the fields syncPod sets
// replaced and all others shared, so only those are compared; and those
// set with the pod IP (IPs, host IPs, start time, QoS class) are set only
// when old has no pod IP, which st then has.
func equalSyncedPodStatus(old, st *corev1.PodStatus) bool {
	if old.PodIP == "" || old.Phase != st.Phase || !equalConditions(old.Conditions, st.Conditions) {
		return false
	}
	a, b := old.ContainerStatuses, st.ContainerStatuses // so that st stays on its caller's stack
	return apiequality.Semantic.DeepEqual(&a, &b)
}
