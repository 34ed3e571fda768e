package fake

import (
	"fmt"
	"maps"
	"slices"
	"strconv"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apiequality "k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/validation/field"
	"k8s.io/utils/ptr"
)

var (
	statefulSetsGVR = appsv1.SchemeGroupVersion.WithResource("statefulsets")
	pvcsGVR         = corev1.SchemeGroupVersion.WithResource("persistentvolumeclaims")
)

// Labels the StatefulSet controller puts on its pods.
const (
	statefulSetRevisionLabel = appsv1.ControllerRevisionHashLabelKey
	statefulSetPodNameLabel  = appsv1.StatefulSetPodNameLabel
	statefulSetPodIndexLabel = appsv1.PodIndexLabel
)

// syncStatefulSet is one pass of the StatefulSet controller for ns/name:
// pods named <set>-<ordinal>, created in order and each only once the ones
// before it are Running and Ready (OrderedReady), or all at once (Parallel);
// removed from the highest ordinal down; replaced from the highest ordinal
// down to the partition when the template changes (RollingUpdate). Claims
// of volumeClaimTemplates are created with the pods and bound at once.
func (c *Cluster) syncStatefulSet(ns, name string) {
	key := objKey{gvr: statefulSetsGVR, ns: ns, name: name}
	obj, ok := c.store.get(key)
	if !ok {
		return
	}
	sts := obj.(*appsv1.StatefulSet)
	if sts.DeletionTimestamp != nil {
		return
	}
	rev := statefulSetRevision(sts)
	pods, terminating := c.statefulSetPods(sts)
	want := int(deref(sts.Spec.Replicas, 1))
	ordered := sts.Spec.PodManagementPolicy != appsv1.ParallelPodManagement
	healthy := func(upTo int) bool {
		for i := 0; i < upTo; i++ {
			p, ok := pods[i]
			if !ok || !podReady(p) || p.Status.Phase != corev1.PodRunning {
				return false
			}
		}
		return true
	}

	// Scale up, lowest ordinal first.
	for i := 0; i < want; i++ {
		if _, ok := pods[i]; ok {
			continue
		}
		if ordered && (terminating > 0 || !healthy(i)) {
			break
		}
		c.createStatefulSetPod(sts, i, rev)
	}
	// Scale down, highest ordinal first; one at a time when ordered.
	if !ordered || terminating == 0 {
		for _, i := range slices.Backward(ordinals(pods)) {
			if i < want {
				break
			}
			p := pods[i]
			_, _ = c.store.deleteObj(podsGVR, ns, p.Name, metav1.DeleteOptions{}, writeOpts{internal: true})
			terminating++
			if ordered {
				break
			}
		}
	}
	// Rolling update: replace the highest pod of another revision, at or
	// above the partition, once every pod is Running and Ready.
	if su := sts.Spec.UpdateStrategy; su.Type != appsv1.OnDeleteStatefulSetStrategyType && terminating == 0 && healthy(want) {
		partition := 0
		if su.RollingUpdate != nil && su.RollingUpdate.Partition != nil {
			partition = int(*su.RollingUpdate.Partition)
		}
		for i := want - 1; i >= partition; i-- {
			if p := pods[i]; p != nil && p.Labels[statefulSetRevisionLabel] != rev {
				_, _ = c.store.deleteObj(podsGVR, ns, p.Name, metav1.DeleteOptions{}, writeOpts{internal: true})
				break
			}
		}
	}
	c.updateStatefulSetStatus(key, rev)
}

// statefulSetRevision names the set's current template, as the controller
// names its ControllerRevisions: <set>-<hash>.
func statefulSetRevision(sts *appsv1.StatefulSet) string {
	var collisions *int32
	if n := deref(sts.Status.CollisionCount, 0); n > 0 {
		collisions = &n
	}
	return sts.Name + "-" + templateHash(&sts.Spec.Template, collisions)
}

// statefulSetPods returns the live pods sts controls by ordinal, and how
// many of its pods are terminating.
func (c *Cluster) statefulSetPods(sts *appsv1.StatefulSet) (map[int]*corev1.Pod, int) {
	s := c.store
	s.mu.Lock()
	defer s.mu.Unlock()
	pods := map[int]*corev1.Pod{}
	terminating := 0
	for k := range s.owners[sts.UID] {
		if k.gvr != podsGVR {
			continue
		}
		o, ok := s.getLocked(k)
		if !ok {
			continue
		}
		p := o.(*corev1.Pod)
		if ref := metav1.GetControllerOfNoCopy(p); ref == nil || ref.UID != sts.UID {
			continue
		}
		if p.DeletionTimestamp != nil {
			terminating++
			continue
		}
		if i, ok := podOrdinal(sts.Name, p.Name); ok {
			pods[i] = p
		}
	}
	return pods, terminating
}

func podOrdinal(set, pod string) (int, bool) {
	if len(pod) <= len(set)+1 || pod[:len(set)+1] != set+"-" {
		return 0, false
	}
	i, err := strconv.Atoi(pod[len(set)+1:])
	return i, err == nil && i >= 0
}

func ordinals(pods map[int]*corev1.Pod) []int {
	out := slices.Collect(maps.Keys(pods))
	slices.Sort(out)
	return out
}

func (c *Cluster) createStatefulSetPod(sts *appsv1.StatefulSet, i int, rev string) {
	name := fmt.Sprintf("%s-%d", sts.Name, i)
	t := sts.Spec.Template.DeepCopy()
	lbls := maps.Clone(t.Labels)
	if lbls == nil {
		lbls = map[string]string{}
	}
	lbls[statefulSetRevisionLabel] = rev
	lbls[statefulSetPodNameLabel] = name
	lbls[statefulSetPodIndexLabel] = strconv.Itoa(i)
	spec := t.Spec
	spec.Hostname = name
	spec.Subdomain = sts.Spec.ServiceName
	for _, tmpl := range sts.Spec.VolumeClaimTemplates {
		claim := fmt.Sprintf("%s-%s-%d", tmpl.Name, sts.Name, i)
		c.ensureClaim(sts, tmpl, claim)
		if !slices.ContainsFunc(spec.Volumes, func(v corev1.Volume) bool { return v.Name == tmpl.Name }) {
			spec.Volumes = append(spec.Volumes, corev1.Volume{Name: tmpl.Name, VolumeSource: corev1.VolumeSource{
				PersistentVolumeClaim: &corev1.PersistentVolumeClaimVolumeSource{ClaimName: claim}}})
		}
	}
	p := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{
			Name: name, Namespace: sts.Namespace, Labels: lbls, Annotations: t.Annotations,
			OwnerReferences: []metav1.OwnerReference{*metav1.NewControllerRef(sts, appsv1.SchemeGroupVersion.WithKind("StatefulSet"))},
		},
		Spec:   spec,
		Status: corev1.PodStatus{Phase: corev1.PodPending},
	}
	defaultPodSpec(&p.Spec)
	_, _ = c.store.create(podsGVR, sts.Namespace, p, writeOpts{internal: true})
}

// ensureClaim creates a pod's claim from its template, bound at once as if
// a default provisioner had made a volume for it. Claims outlive the set,
// as with the default retention policy.
func (c *Cluster) ensureClaim(sts *appsv1.StatefulSet, tmpl corev1.PersistentVolumeClaim, name string) {
	if _, ok := c.store.get(objKey{gvr: pvcsGVR, ns: sts.Namespace, name: name}); ok {
		return
	}
	pvc := &corev1.PersistentVolumeClaim{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: sts.Namespace, Labels: maps.Clone(sts.Spec.Selector.MatchLabels)},
		Spec:       *tmpl.Spec.DeepCopy(),
		Status: corev1.PersistentVolumeClaimStatus{
			Phase:       corev1.ClaimBound,
			AccessModes: tmpl.Spec.AccessModes,
			Capacity:    tmpl.Spec.Resources.Requests,
		},
	}
	pvc.Spec.VolumeName = "pv-" + sts.Namespace + "-" + name
	_, _ = c.store.create(pvcsGVR, sts.Namespace, pvc, writeOpts{internal: true})
}

// updateStatefulSetStatus stores the status the real controller reports:
// replica counts by readiness and revision, and the current revision,
// which becomes the update revision once every replica runs it.
func (c *Cluster) updateStatefulSetStatus(key objKey, rev string) {
	obj, ok := c.store.get(key)
	if !ok {
		return
	}
	sts := obj.(*appsv1.StatefulSet)
	pods, terminating := c.statefulSetPods(sts)
	now := c.clock.Now()
	minReady := time.Duration(sts.Spec.MinReadySeconds) * time.Second
	current := sts.Status.CurrentRevision
	if current == "" {
		current = rev
	}
	st := appsv1.StatefulSetStatus{
		ObservedGeneration: sts.Generation,
		Replicas:           int32(len(pods) + terminating),
		CurrentRevision:    current,
		UpdateRevision:     rev,
		CollisionCount:     ptr.To(deref(sts.Status.CollisionCount, 0)),
	}
	var wake time.Duration
	for _, p := range pods {
		switch p.Labels[statefulSetRevisionLabel] {
		case rev:
			st.UpdatedReplicas++
			if current == rev {
				st.CurrentReplicas++
			}
		case current:
			st.CurrentReplicas++
		}
		if !podReady(p) || p.Status.Phase != corev1.PodRunning {
			continue
		}
		st.ReadyReplicas++
		if at := readySince(p).Add(minReady); !at.After(now) {
			st.AvailableReplicas++
		} else if d := at.Sub(now); wake == 0 || d < wake {
			wake = d
		}
	}
	want := deref(sts.Spec.Replicas, 1)
	if st.UpdatedReplicas == want && st.Replicas == want && st.ReadyReplicas == want && current != rev {
		st.CurrentRevision, st.CurrentReplicas = rev, st.UpdatedReplicas
	}
	if wake > 0 {
		c.queue.addAfter(item{kind: itemStatefulSet, ns: key.ns, name: key.name}, wake)
	}
	if apiequality.Semantic.DeepEqual(&sts.Status, &st) {
		return
	}
	n := *sts
	n.Status = st
	if _, err := c.store.update(statefulSetsGVR, key.ns, &n, writeOpts{internal: true}); err != nil {
		c.queue.add(item{kind: itemStatefulSet, ns: key.ns, name: key.name})
	}
}

// admitStatefulSet defaults a StatefulSet as the apiserver does and rejects
// changes to the fields that cannot change after creation.
func admitStatefulSet(_ *store, old, obj runtime.Object) error {
	sts, ok := obj.(*appsv1.StatefulSet)
	if !ok {
		return nil
	}
	if sts.Spec.Replicas == nil {
		sts.Spec.Replicas = ptr.To[int32](1)
	}
	if sts.Spec.PodManagementPolicy == "" {
		sts.Spec.PodManagementPolicy = appsv1.OrderedReadyPodManagement
	}
	if sts.Spec.UpdateStrategy.Type == "" {
		sts.Spec.UpdateStrategy.Type = appsv1.RollingUpdateStatefulSetStrategyType
	}
	if sts.Spec.UpdateStrategy.Type == appsv1.RollingUpdateStatefulSetStrategyType {
		if sts.Spec.UpdateStrategy.RollingUpdate == nil {
			sts.Spec.UpdateStrategy.RollingUpdate = &appsv1.RollingUpdateStatefulSetStrategy{}
		}
		if sts.Spec.UpdateStrategy.RollingUpdate.Partition == nil {
			sts.Spec.UpdateStrategy.RollingUpdate.Partition = ptr.To[int32](0)
		}
	}
	if sts.Spec.RevisionHistoryLimit == nil {
		sts.Spec.RevisionHistoryLimit = ptr.To[int32](10)
	}
	if sts.Spec.PersistentVolumeClaimRetentionPolicy == nil {
		sts.Spec.PersistentVolumeClaimRetentionPolicy = &appsv1.StatefulSetPersistentVolumeClaimRetentionPolicy{
			WhenDeleted: appsv1.RetainPersistentVolumeClaimRetentionPolicyType,
			WhenScaled:  appsv1.RetainPersistentVolumeClaimRetentionPolicyType,
		}
	}
	defaultPodSpec(&sts.Spec.Template.Spec)
	if err := validateSelector(obj, "StatefulSet", sts.Name, sts.Spec.Selector, sts.Spec.Template.Labels, sts.Spec.Replicas); err != nil {
		return err
	}
	if o, ok := old.(*appsv1.StatefulSet); ok && !sameFixedStatefulSetSpec(o.Spec, sts.Spec) {
		return apierrors.NewInvalid(appsv1.SchemeGroupVersion.WithKind("StatefulSet").GroupKind(), sts.Name, field.ErrorList{
			field.Forbidden(field.NewPath("spec"), "updates to statefulset spec for fields other than 'replicas', 'ordinals', "+
				"'template', 'updateStrategy', 'persistentVolumeClaimRetentionPolicy' and 'minReadySeconds' are forbidden")})
	}
	return nil
}

// sameFixedStatefulSetSpec compares two specs on the fields that may not
// change.
func sameFixedStatefulSetSpec(a, b appsv1.StatefulSetSpec) bool {
	unset := func(s *appsv1.StatefulSetSpec) {
		s.Replicas, s.Ordinals, s.Template, s.UpdateStrategy = nil, nil, corev1.PodTemplateSpec{}, appsv1.StatefulSetUpdateStrategy{}
		s.PersistentVolumeClaimRetentionPolicy, s.MinReadySeconds = nil, 0
	}
	unset(&a)
	unset(&b)
	return apiequality.Semantic.DeepEqual(a, b)
}
