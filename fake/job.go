package fake

import (
	"fmt"
	"maps"
	"time"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	apiequality "k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/validation/field"
	"k8s.io/utils/ptr"
)

var jobsGVR = batchv1.SchemeGroupVersion.WithResource("jobs")

// DefaultJobDuration is how long a Job's pod runs before it succeeds,
// unless WithJobDuration says otherwise.
const DefaultJobDuration = 5 * time.Second

// WithJobDuration sets how long a Job's pod runs, from its creation, before
// its containers exit 0 (default DefaultJobDuration). Pods of a version
// whose Behavior is CrashLoop exit 1 after their start-up time instead, and
// those of a NeverReady version never finish.
func WithJobDuration(d time.Duration) Option {
	return optionFunc(func(c *config) { c.jobDuration = d })
}

// Labels the Job controller's defaulting puts on a Job's pod template.
const (
	jobControllerUIDLabel       = batchv1.ControllerUidLabel
	jobNameLabel                = batchv1.JobNameLabel
	legacyJobControllerUIDLabel = "controller-uid"
	legacyJobNameLabel          = "job-name"
)

// syncJob is one pass of the Job controller, with the kubelet's part for
// the Job's pods: it runs up to parallelism pods until completions of them
// have succeeded, replaces failed pods until the backoff limit, and sets
// the conditions the real controller sets (SuccessCriteriaMet and
// Complete; FailureTarget and Failed, for BackoffLimitExceeded or
// DeadlineExceeded).
func (c *Cluster) syncJob(ns, name string) {
	key := objKey{gvr: jobsGVR, ns: ns, name: name}
	obj, ok := c.store.get(key)
	if !ok {
		return
	}
	job := obj.(*batchv1.Job)
	if job.DeletionTimestamp != nil || jobFinished(job) {
		return
	}
	now := c.clock.Now()
	it := item{kind: itemJob, ns: ns, name: name}
	var active []*corev1.Pod
	var succeeded, failed, ready int32
	for _, p := range controlledBy[*corev1.Pod](c.store, job.UID, podsGVR) {
		phase := c.finishJobPod(p, now, it)
		switch phase {
		case corev1.PodSucceeded:
			succeeded++
		case corev1.PodFailed:
			failed++
		default:
			active = append(active, p)
			if podReady(p) {
				ready++
			}
		}
	}
	st := job.Status.DeepCopy()
	st.Succeeded, st.Failed, st.Ready = succeeded, failed, ptr.To(ready)
	if st.StartTime == nil && !deref(job.Spec.Suspend, false) {
		st.StartTime = ptr.To(metav1.NewTime(now))
	}
	completions := deref(job.Spec.Completions, 1)
	parallelism := deref(job.Spec.Parallelism, 1)
	var reason, msg string
	switch {
	case failed > deref(job.Spec.BackoffLimit, 6):
		reason, msg = batchv1.JobReasonBackoffLimitExceeded, "Job has reached the specified backoff limit"
	case job.Spec.ActiveDeadlineSeconds != nil && st.StartTime != nil:
		end := st.StartTime.Add(secondsDuration(*job.Spec.ActiveDeadlineSeconds))
		if !end.After(now) {
			reason, msg = batchv1.JobReasonDeadlineExceeded, "Job was active longer than specified deadline"
		} else {
			c.queue.addAfter(it, end.Sub(now))
		}
	}
	switch {
	case reason != "":
		for _, p := range active {
			_, _ = c.store.deleteObj(podsGVR, ns, p.Name, metav1.DeleteOptions{}, writeOpts{internal: true})
		}
		active = nil
		setJobCondition(st, batchv1.JobFailureTarget, reason, msg, now)
		setJobCondition(st, batchv1.JobFailed, reason, msg, now)
	case succeeded >= completions:
		st.CompletionTime = ptr.To(metav1.NewTime(now))
		setJobCondition(st, batchv1.JobSuccessCriteriaMet, batchv1.JobReasonCompletionsReached, "Reached expected number of succeeded pods", now)
		setJobCondition(st, batchv1.JobComplete, batchv1.JobReasonCompletionsReached, "Reached expected number of succeeded pods", now)
	case !deref(job.Spec.Suspend, false):
		if wait := c.jobBackoff(job, now); wait > 0 {
			c.queue.addAfter(it, wait)
			break
		}
		for n := int32(len(active)); n < min(parallelism, completions-succeeded); n++ {
			c.createJobPod(job)
			active = append(active, nil)
		}
	}
	st.Active = int32(len(active))
	if apiequality.Semantic.DeepEqual(&job.Status, st) {
		return
	}
	n := *job
	n.Status = *st
	if _, err := c.store.update(jobsGVR, ns, &n, writeOpts{internal: true}); err != nil {
		c.queue.add(it)
	}
}

// finishJobPod plays the kubelet for the end of a Job's pod: once its run
// time has passed its containers exit, 0 for a healthy version and 1 for a
// crash-looping one. It returns the pod's phase and, for a pod still
// running, wakes the Job when the pod will finish.
func (c *Cluster) finishJobPod(p *corev1.Pod, now time.Time, it item) corev1.PodPhase {
	if p.Status.Phase == corev1.PodSucceeded || p.Status.Phase == corev1.PodFailed {
		return p.Status.Phase
	}
	b := c.Behavior(p.Labels[c.cfg.versionLabel])
	if b.NeverReady {
		return p.Status.Phase
	}
	run, exit := c.cfg.jobDuration, int32(0)
	if b.CrashLoop {
		run, exit = max(b.Startup, c.cfg.podStartup, time.Second), 1
	}
	end := p.CreationTimestamp.Add(run)
	if end.After(now) {
		c.queue.addAfter(it, end.Sub(now))
		return p.Status.Phase
	}
	n := p.DeepCopy()
	n.Status.Phase, n.Status.Reason = corev1.PodSucceeded, ""
	reason := "Completed"
	if exit != 0 {
		n.Status.Phase, reason = corev1.PodFailed, "Error"
	}
	finished := metav1.NewTime(end)
	for i := range n.Status.Conditions {
		if t := n.Status.Conditions[i].Type; t == corev1.PodReady || t == corev1.ContainersReady {
			n.Status.Conditions[i].Status, n.Status.Conditions[i].Reason = corev1.ConditionFalse, "PodCompleted"
			n.Status.Conditions[i].LastTransitionTime = finished
		}
	}
	n.Status.ContainerStatuses = nil
	for _, ct := range p.Spec.Containers {
		n.Status.ContainerStatuses = append(n.Status.ContainerStatuses, corev1.ContainerStatus{
			Name: ct.Name, Image: ct.Image, ImageID: "fake://" + ct.Image, Started: ptr.To(false),
			ContainerID: fmt.Sprintf("fake://%s/%s", p.UID, ct.Name),
			State: corev1.ContainerState{Terminated: &corev1.ContainerStateTerminated{
				ExitCode: exit, Reason: reason, StartedAt: p.CreationTimestamp, FinishedAt: finished}},
		})
	}
	if _, err := c.store.update(podsGVR, p.Namespace, n, writeOpts{internal: true}); err != nil {
		c.queue.add(it)
		return p.Status.Phase
	}
	return n.Status.Phase
}

// jobBackoff returns how long the Job must wait before it starts a pod in
// place of failed ones: 10s after the first failure, doubling with each
// further one up to 6 minutes, counted from the last failure.
func (c *Cluster) jobBackoff(job *batchv1.Job, now time.Time) time.Duration {
	var last time.Time
	failures := 0
	for _, p := range controlledBy[*corev1.Pod](c.store, job.UID, podsGVR) {
		if p.Status.Phase != corev1.PodFailed {
			continue
		}
		failures++
		for _, cs := range p.Status.ContainerStatuses {
			if t := cs.State.Terminated; t != nil && t.FinishedAt.After(last) {
				last = t.FinishedAt.Time
			}
		}
	}
	if failures == 0 {
		return 0
	}
	delay := 10 * time.Second
	for i := 1; i < failures && delay < 6*time.Minute; i++ {
		delay *= 2
	}
	return last.Add(min(delay, 6*time.Minute)).Sub(now)
}

func (c *Cluster) createJobPod(job *batchv1.Job) {
	t := &job.Spec.Template
	p := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{
			GenerateName:    job.Name + "-",
			Namespace:       job.Namespace,
			Labels:          t.Labels,
			Annotations:     t.Annotations,
			OwnerReferences: []metav1.OwnerReference{*metav1.NewControllerRef(job, batchv1.SchemeGroupVersion.WithKind("Job"))},
		},
		Spec:   *t.Spec.DeepCopy(),
		Status: corev1.PodStatus{Phase: corev1.PodPending},
	}
	defaultPodSpec(&p.Spec)
	_, _ = c.store.create(podsGVR, job.Namespace, p, writeOpts{internal: true})
}

func jobFinished(job *batchv1.Job) bool {
	for _, cnd := range job.Status.Conditions {
		if (cnd.Type == batchv1.JobComplete || cnd.Type == batchv1.JobFailed) && cnd.Status == corev1.ConditionTrue {
			return true
		}
	}
	return false
}

func setJobCondition(st *batchv1.JobStatus, t batchv1.JobConditionType, reason, msg string, now time.Time) {
	ts := metav1.NewTime(now)
	for i := range st.Conditions {
		if st.Conditions[i].Type == t {
			st.Conditions[i] = batchv1.JobCondition{Type: t, Status: corev1.ConditionTrue, Reason: reason, Message: msg,
				LastProbeTime: ts, LastTransitionTime: ts}
			return
		}
	}
	st.Conditions = append(st.Conditions, batchv1.JobCondition{Type: t, Status: corev1.ConditionTrue, Reason: reason, Message: msg,
		LastProbeTime: ts, LastTransitionTime: ts})
}

// admitJob defaults a Job as the apiserver does (counts, backoff limit,
// and a selector and template labels naming the Job's uid) and rejects a
// restart policy other than Never or OnFailure, and changes to the
// template, selector or completions.
func admitJob(_ *store, old, obj runtime.Object) error {
	job, ok := obj.(*batchv1.Job)
	if !ok {
		return nil
	}
	gk := batchv1.SchemeGroupVersion.WithKind("Job").GroupKind()
	if job.Spec.Parallelism == nil {
		job.Spec.Parallelism = ptr.To[int32](1)
		if job.Spec.Completions == nil {
			job.Spec.Completions = ptr.To[int32](1)
		}
	}
	if job.Spec.BackoffLimit == nil {
		job.Spec.BackoffLimit = ptr.To[int32](6)
	}
	if job.Spec.CompletionMode == nil {
		job.Spec.CompletionMode = ptr.To(batchv1.NonIndexedCompletion)
	}
	if job.Spec.Suspend == nil {
		job.Spec.Suspend = ptr.To(false)
	}
	if job.Spec.PodReplacementPolicy == nil {
		job.Spec.PodReplacementPolicy = ptr.To(batchv1.TerminatingOrFailed)
	}
	if old == nil && job.UID != "" && job.Spec.Selector == nil && !deref(job.Spec.ManualSelector, false) {
		uid := string(job.UID)
		job.Spec.Selector = &metav1.LabelSelector{MatchLabels: map[string]string{jobControllerUIDLabel: uid}}
		lbls := maps.Clone(job.Spec.Template.Labels)
		if lbls == nil {
			lbls = map[string]string{}
		}
		lbls[jobControllerUIDLabel], lbls[legacyJobControllerUIDLabel] = uid, uid
		lbls[jobNameLabel], lbls[legacyJobNameLabel] = job.Name, job.Name
		job.Spec.Template.Labels = lbls
	}
	defaultPodSpec(&job.Spec.Template.Spec)
	if rp := job.Spec.Template.Spec.RestartPolicy; rp != corev1.RestartPolicyNever && rp != corev1.RestartPolicyOnFailure {
		return apierrors.NewInvalid(gk, job.Name, field.ErrorList{field.NotSupported(
			field.NewPath("spec", "template", "spec", "restartPolicy"), rp, []string{string(corev1.RestartPolicyOnFailure), string(corev1.RestartPolicyNever)})})
	}
	if o, ok := old.(*batchv1.Job); ok {
		var errs field.ErrorList
		if !apiequality.Semantic.DeepEqual(o.Spec.Template, job.Spec.Template) {
			errs = append(errs, field.Invalid(field.NewPath("spec", "template"), "", "field is immutable"))
		}
		if !apiequality.Semantic.DeepEqual(o.Spec.Selector, job.Spec.Selector) {
			errs = append(errs, field.Invalid(field.NewPath("spec", "selector"), "", "field is immutable"))
		}
		if !apiequality.Semantic.DeepEqual(o.Spec.Completions, job.Spec.Completions) {
			errs = append(errs, field.Invalid(field.NewPath("spec", "completions"), "", "field is immutable"))
		}
		if len(errs) > 0 {
			return apierrors.NewInvalid(gk, job.Name, errs)
		}
	}
	return nil
}
