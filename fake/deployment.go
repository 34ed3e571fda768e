package fake

import (
	"fmt"
	"maps"
	"slices"
	"strconv"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
)

// Deployment condition reasons, as the real controller sets them.
const (
	ReasonNewRSAvailable     = "NewReplicaSetAvailable"
	ReasonRSUpdated          = "ReplicaSetUpdated"
	ReasonNewRSCreated       = "NewReplicaSetCreated"
	ReasonFoundNewRS         = "FoundNewReplicaSet"
	ReasonProgressDeadline   = "ProgressDeadlineExceeded"
	ReasonPaused             = "DeploymentPaused"
	ReasonResumed            = "DeploymentResumed"
	ReasonMinimumAvailable   = "MinimumReplicasAvailable"
	ReasonMinimumUnavailable = "MinimumReplicasUnavailable"
)

// rollout is the state one deployment sync works on. The deployment and
// the replica sets are the stored objects, shared with the store and never
// changed in place: d is copied (editD) before its first change, and a
// replica set is replaced by the object the store returns after a write.
type rollout struct {
	d      *appsv1.Deployment
	dOwned bool // d is a private copy, not yet handed to the store
	newRS  *appsv1.ReplicaSet
	old    []*appsv1.ReplicaSet
}

// editD returns r.d ready to be changed, copying the stored deployment on
// the first change. The controller changes only the top-level fields, the
// annotations and the status (conditions in place) of a deployment: the
// copy has its own of those and shares the rest with the stored object.
func (r *rollout) editD() *appsv1.Deployment {
	if !r.dOwned {
		d := *r.d
		d.Annotations = maps.Clone(r.d.Annotations)
		d.Status.Conditions = slices.Clone(r.d.Status.Conditions)
		r.d, r.dOwned = &d, true
	}
	return r.d
}

func (r *rollout) all() []*appsv1.ReplicaSet {
	if r.newRS == nil {
		return r.old
	}
	return append([]*appsv1.ReplicaSet{r.newRS}, r.old...)
}

// syncDeployment is one pass of the deployment controller for ns/name.
func (c *Cluster) syncDeployment(ns, name string) {
	obj, ok := c.store.get(objKey{gvr: deploymentsGVR, ns: ns, name: name})
	if !ok {
		return
	}
	d := obj.(*appsv1.Deployment)
	if d.DeletionTimestamp != nil {
		return
	}
	r := &rollout{d: d}
	hash := c.deploymentHash(d)
	for _, rs := range c.ownedReplicaSets(d) {
		// The hash label finds the new replica set quickly; the template
		// comparison is the real test (templates edited by hand, collisions).
		if r.newRS == nil && (rs.Labels[appsv1.DefaultDeploymentUniqueLabelKey] == hash || equalIgnoreHash(&rs.Spec.Template, &d.Spec.Template)) {
			r.newRS = rs
			continue
		}
		r.old = append(r.old, rs)
	}
	byCreation(r.old)
	var err error
	switch {
	case d.Spec.Paused:
		err = c.syncPaused(r)
	case d.Spec.Strategy.Type == appsv1.RecreateDeploymentStrategyType:
		err = c.rolloutRecreate(r)
	default:
		err = c.rolloutRolling(r)
	}
	if err != nil {
		// Conflicts and races resolve on the next pass.
		c.queue.addAfter(item{kind: itemDeployment, ns: ns, name: name}, time.Second)
	}
}

// ownedReplicaSets returns the replica sets d controls, oldest first, as
// stored: callers must not change them.
func (c *Cluster) ownedReplicaSets(d *appsv1.Deployment) []*appsv1.ReplicaSet {
	out := controlledBy[*appsv1.ReplicaSet](c.store, d.UID, replicaSetsGVR)
	byCreation(out)
	return out
}

// copyForWrite returns a copy of a stored replica set to write back: it
// has its own annotations and top-level fields and shares the rest (the
// template above all) with rs, which neither the store nor the
// controllers change in place.
func copyForWrite(rs *appsv1.ReplicaSet) *appsv1.ReplicaSet {
	n := *rs
	n.Annotations = maps.Clone(rs.Annotations)
	return &n
}

// rolloutRolling is the RollingUpdate strategy: scale the new replica set up
// within maxSurge, then the old ones down within maxUnavailable.
func (c *Cluster) rolloutRolling(r *rollout) error {
	created, err := c.ensureNewRS(r, true)
	if err != nil {
		return err
	}
	if !created {
		if scaled, err := c.reconcileNewRS(r); err != nil || scaled {
			if err != nil {
				return err
			}
			return c.syncRolloutStatus(r)
		}
	}
	if scaled, err := c.reconcileOldRSs(r); err != nil || scaled {
		if err != nil {
			return err
		}
		return c.syncRolloutStatus(r)
	}
	if c.complete(r) {
		c.cleanupOld(r)
	}
	return c.syncRolloutStatus(r)
}

// rolloutRecreate is the Recreate strategy: all old pods go before any new
// pod is made.
func (c *Cluster) rolloutRecreate(r *rollout) error {
	scaled := false
	for i := range r.old {
		if deref(r.old[i].Spec.Replicas, 0) != 0 {
			if err := c.scaleRS(r, &r.old[i], 0); err != nil {
				return err
			}
			scaled = true
		}
	}
	if scaled {
		return c.syncRolloutStatus(r)
	}
	if c.oldPodsExist(r) {
		return c.syncRolloutStatus(r)
	}
	if _, err := c.ensureNewRS(r, true); err != nil {
		return err
	}
	if want := deref(r.d.Spec.Replicas, 1); deref(r.newRS.Spec.Replicas, 0) != want {
		if err := c.scaleRS(r, &r.newRS, want); err != nil {
			return err
		}
		return c.syncRolloutStatus(r)
	}
	if c.complete(r) {
		c.cleanupOld(r)
	}
	return c.syncRolloutStatus(r)
}

// oldPodsExist reports whether any pod of an old replica set still exists.
func (c *Cluster) oldPodsExist(r *rollout) bool {
	s := c.store
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, rs := range r.old {
		for _, k := range s.dependentsLocked(rs.UID) {
			if k.gvr == podsGVR {
				if o, ok := s.getLocked(k); ok {
					if p := o.(*corev1.Pod); p.Status.Phase != corev1.PodSucceeded && p.Status.Phase != corev1.PodFailed {
						return true
					}
				}
			}
		}
	}
	return false
}

// syncPaused keeps a paused deployment's scale and status current without
// rolling out a new template.
func (c *Cluster) syncPaused(r *rollout) error {
	want := deref(r.d.Spec.Replicas, 1)
	var active **appsv1.ReplicaSet
	if r.newRS != nil {
		active = &r.newRS
	} else {
		for i := len(r.old) - 1; i >= 0; i-- {
			if deref(r.old[i].Spec.Replicas, 0) > 0 {
				active = &r.old[i]
				break
			}
		}
	}
	if active != nil {
		if total := sumReplicas(r.all()); total != want {
			n := deref((*active).Spec.Replicas, 0) + want - total
			if err := c.scaleRS(r, active, max(n, 0)); err != nil {
				return err
			}
		}
	}
	return c.syncRolloutStatus(r)
}

// ensureNewRS finds or creates the replica set for the current template and
// keeps its revision and annotations current. It reports whether it created
// one.
func (c *Cluster) ensureNewRS(r *rollout, create bool) (bool, error) {
	d := r.d
	maxOld := int64(0)
	for _, rs := range r.old {
		maxOld = max(maxOld, revisionOf(rs))
	}
	rev := strconv.FormatInt(maxOld+1, 10)
	if r.newRS != nil {
		rs := r.newRS
		staleRev := revisionOf(rs) <= maxOld
		if !staleRev {
			rev = rs.Annotations[RevisionAnnotation]
		}
		if staleRev || rs.Spec.MinReadySeconds != d.Spec.MinReadySeconds || replicaAnnotationsStale(d, rs) {
			n := copyForWrite(rs)
			if staleRev {
				if n.Annotations == nil {
					n.Annotations = map[string]string{}
				}
				n.Annotations[RevisionAnnotation] = rev
			}
			n.Spec.MinReadySeconds = d.Spec.MinReadySeconds
			c.setReplicaAnnotations(d, n)
			out, err := c.store.update(replicaSetsGVR, rs.Namespace, n, writeOpts{internal: true, specChanged: true})
			if err != nil {
				return false, fmt.Errorf("updating replica set %s: %w", rs.Name, err)
			}
			r.newRS = out.(*appsv1.ReplicaSet)
		}
		return false, c.setDeploymentRevision(r, rev)
	}
	if !create {
		return false, nil
	}
	hash := c.deploymentHash(d)
	tmpl := d.Spec.Template.DeepCopy()
	if tmpl.Labels == nil {
		tmpl.Labels = map[string]string{}
	}
	tmpl.Labels[appsv1.DefaultDeploymentUniqueLabelKey] = hash
	sel := d.Spec.Selector.DeepCopy()
	if sel.MatchLabels == nil {
		sel.MatchLabels = map[string]string{}
	}
	sel.MatchLabels[appsv1.DefaultDeploymentUniqueLabelKey] = hash
	labels := map[string]string{}
	for k, v := range tmpl.Labels {
		labels[k] = v
	}
	rs := &appsv1.ReplicaSet{
		ObjectMeta: metav1.ObjectMeta{
			Name:            d.Name + "-" + hash,
			Namespace:       d.Namespace,
			Labels:          labels,
			Annotations:     map[string]string{RevisionAnnotation: rev},
			OwnerReferences: []metav1.OwnerReference{*metav1.NewControllerRef(d, appsv1.SchemeGroupVersion.WithKind("Deployment"))},
		},
		Spec: appsv1.ReplicaSetSpec{
			Replicas:        ptr.To[int32](0),
			MinReadySeconds: d.Spec.MinReadySeconds,
			Selector:        sel,
			Template:        *tmpl,
		},
	}
	c.setReplicaAnnotations(d, rs)
	rs.Spec.Replicas = ptr.To(newRSReplicas(d, r.old, nil))
	out, err := c.store.create(replicaSetsGVR, d.Namespace, rs, writeOpts{internal: true})
	if err != nil {
		return false, fmt.Errorf("creating replica set %s: %w", rs.Name, err)
	}
	r.newRS = out.(*appsv1.ReplicaSet)
	setCondition(&r.editD().Status, appsv1.DeploymentProgressing, corev1.ConditionTrue, ReasonNewRSCreated,
		fmt.Sprintf("Created new replica set %q", rs.Name), c.clock.Now())
	return true, c.setDeploymentRevision(r, rev)
}

// replicaAnnotations returns the desired- and max-replicas annotations d
// asks of its replica sets.
func replicaAnnotations(d *appsv1.Deployment) (desired, maxR string) {
	return strconv.Itoa(int(deref(d.Spec.Replicas, 1))), strconv.Itoa(int(deref(d.Spec.Replicas, 1) + maxSurge(d)))
}

// replicaAnnotationsStale reports whether setReplicaAnnotations would change
// rs.
func replicaAnnotationsStale(d *appsv1.Deployment, rs *appsv1.ReplicaSet) bool {
	desired, maxR := replicaAnnotations(d)
	return rs.Annotations[desiredReplicasAnnotation] != desired || rs.Annotations[maxReplicasAnnotation] != maxR
}

// setReplicaAnnotations sets the replica annotations of rs, a private copy,
// and reports whether they changed.
func (c *Cluster) setReplicaAnnotations(d *appsv1.Deployment, rs *appsv1.ReplicaSet) bool {
	desired, maxR := replicaAnnotations(d)
	if rs.Annotations[desiredReplicasAnnotation] == desired && rs.Annotations[maxReplicasAnnotation] == maxR {
		return false
	}
	if rs.Annotations == nil {
		rs.Annotations = map[string]string{}
	}
	rs.Annotations[desiredReplicasAnnotation] = desired
	rs.Annotations[maxReplicasAnnotation] = maxR
	return true
}

// setDeploymentRevision records the new replica set's revision on d.
func (c *Cluster) setDeploymentRevision(r *rollout, rev string) error {
	if r.d.Annotations[RevisionAnnotation] == rev {
		return nil
	}
	d := r.editD()
	if d.Annotations == nil {
		d.Annotations = map[string]string{}
	}
	d.Annotations[RevisionAnnotation] = rev
	if r.newRS != nil && !hasCondition(d.Status, appsv1.DeploymentProgressing) {
		setCondition(&d.Status, appsv1.DeploymentProgressing, corev1.ConditionTrue, ReasonFoundNewRS,
			fmt.Sprintf("Found new replica set %q", r.newRS.Name), c.clock.Now())
	}
	return c.writeDeployment(r)
}

// writeDeployment stores r.d (metadata and status, changed through editD)
// and refreshes it.
func (c *Cluster) writeDeployment(r *rollout) error {
	d := r.editD()
	out, err := c.store.update(deploymentsGVR, d.Namespace, d, writeOpts{internal: true})
	// The store owns d now, even if the write failed half-way.
	r.dOwned = false
	if err != nil {
		return fmt.Errorf("updating deployment %s: %w", d.Name, err)
	}
	r.d = out.(*appsv1.Deployment)
	return nil
}

// reconcileNewRS scales the new replica set toward the desired count.
func (c *Cluster) reconcileNewRS(r *rollout) (bool, error) {
	desired := deref(r.d.Spec.Replicas, 1)
	cur := deref(r.newRS.Spec.Replicas, 0)
	if cur == desired {
		return false, nil
	}
	if cur > desired {
		return true, c.scaleRS(r, &r.newRS, desired)
	}
	n := newRSReplicas(r.d, r.all(), r.newRS)
	if n == cur {
		return false, nil
	}
	return true, c.scaleRS(r, &r.newRS, n)
}

// reconcileOldRSs scales old replica sets down: unhealthy pods first, then
// as far as maxUnavailable allows.
func (c *Cluster) reconcileOldRSs(r *rollout) (bool, error) {
	if sumReplicas(r.old) == 0 {
		return false, nil
	}
	desired := deref(r.d.Spec.Replicas, 1)
	minAvailable := desired - maxUnavailable(r.d)
	newUnavailable := deref(r.newRS.Spec.Replicas, 0) - r.newRS.Status.AvailableReplicas
	maxScaledDown := sumReplicas(r.all()) - minAvailable - newUnavailable
	if maxScaledDown <= 0 {
		return false, nil
	}
	total := int32(0)
	// Unhealthy old pods first: removing them costs no availability.
	for i := range r.old {
		rs := r.old[i]
		if total >= maxScaledDown {
			break
		}
		reps := deref(rs.Spec.Replicas, 0)
		if reps == 0 || reps == rs.Status.AvailableReplicas {
			continue
		}
		down := min(maxScaledDown-total, reps-rs.Status.AvailableReplicas)
		if err := c.scaleRS(r, &r.old[i], reps-down); err != nil {
			return false, err
		}
		total += down
	}
	// Then available ones, as far as minAvailable allows.
	available := sumStatus(r.all(), func(s *appsv1.ReplicaSetStatus) int32 { return s.AvailableReplicas })
	if available > minAvailable {
		budget := available - minAvailable
		done := int32(0)
		for i := range r.old {
			if done >= budget {
				break
			}
			reps := deref(r.old[i].Spec.Replicas, 0)
			if reps == 0 {
				continue
			}
			down := min(reps, budget-done)
			if err := c.scaleRS(r, &r.old[i], reps-down); err != nil {
				return false, err
			}
			done += down
		}
		total += done
	}
	return total > 0, nil
}

// scaleRS sets the replicas of the replica set in *slot (a rollout field)
// and replaces it with the stored result.
func (c *Cluster) scaleRS(r *rollout, slot **appsv1.ReplicaSet, n int32) error {
	rs := *slot
	if deref(rs.Spec.Replicas, 0) == n && !replicaAnnotationsStale(r.d, rs) {
		return nil
	}
	// The store owns what it is given; rs stays as stored.
	upd := copyForWrite(rs)
	upd.Spec.Replicas = ptr.To(n)
	c.setReplicaAnnotations(r.d, upd)
	out, err := c.store.update(replicaSetsGVR, rs.Namespace, upd, writeOpts{internal: true, specChanged: true})
	if err != nil {
		return fmt.Errorf("scaling replica set %s: %w", rs.Name, err)
	}
	*slot = out.(*appsv1.ReplicaSet)
	return nil
}

// complete reports whether the rollout reached the desired state.
func (c *Cluster) complete(r *rollout) bool {
	desired := deref(r.d.Spec.Replicas, 1)
	return r.newRS != nil && deref(r.newRS.Spec.Replicas, 0) == desired &&
		r.newRS.Status.AvailableReplicas == desired && sumReplicas(r.old) == 0
}

// cleanupOld deletes old, empty replica sets beyond revisionHistoryLimit.
func (c *Cluster) cleanupOld(r *rollout) {
	limit := int(deref(r.d.Spec.RevisionHistoryLimit, 10))
	var empty []*appsv1.ReplicaSet
	for _, rs := range r.old {
		if deref(rs.Spec.Replicas, 0) == 0 && rs.Status.Replicas == 0 && rs.Generation <= rs.Status.ObservedGeneration {
			empty = append(empty, rs)
		}
	}
	for i := 0; i < len(empty)-limit; i++ {
		_, _ = c.store.deleteObj(replicaSetsGVR, empty[i].Namespace, empty[i].Name, metav1.DeleteOptions{}, writeOpts{internal: true})
	}
}
