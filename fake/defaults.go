package fake

import (
	"fmt"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/apimachinery/pkg/util/validation/field"
	"k8s.io/utils/ptr"
)

// admitFunc defaults and validates an object on its way into the store, as
// the apiserver's defaulting and validation do. old is nil on create.
type admitFunc func(s *store, old, obj runtime.Object) error

func admitters() map[string]admitFunc {
	return map[string]admitFunc{
		"apps/Deployment":  admitDeployment,
		"apps/ReplicaSet":  admitReplicaSet,
		"/Service":         admitService,
		"/Pod":             admitPod,
		"/Namespace":       admitNamespace,
		"apps/StatefulSet": admitStatefulSet,
		"batch/Job":        admitJob,
	}
}

func (s *store) admitLocked(ri *resourceInfo, old, obj runtime.Object) error {
	if f, ok := s.admit[ri.gvk.Group+"/"+ri.gvk.Kind]; ok {
		return f(s, old, obj)
	}
	return nil
}

func admitDeployment(_ *store, _, obj runtime.Object) error {
	d, ok := obj.(*appsv1.Deployment)
	if !ok {
		return nil
	}
	if d.Spec.Replicas == nil {
		d.Spec.Replicas = ptr.To[int32](1)
	}
	if d.Spec.Strategy.Type == "" {
		d.Spec.Strategy.Type = appsv1.RollingUpdateDeploymentStrategyType
	}
	if d.Spec.Strategy.Type == appsv1.RollingUpdateDeploymentStrategyType {
		if d.Spec.Strategy.RollingUpdate == nil {
			d.Spec.Strategy.RollingUpdate = &appsv1.RollingUpdateDeployment{}
		}
		ru := d.Spec.Strategy.RollingUpdate
		if ru.MaxSurge == nil {
			ru.MaxSurge = ptr.To(intstr.FromString("25%"))
		}
		if ru.MaxUnavailable == nil {
			ru.MaxUnavailable = ptr.To(intstr.FromString("25%"))
		}
	}
	if d.Spec.RevisionHistoryLimit == nil {
		d.Spec.RevisionHistoryLimit = ptr.To[int32](10)
	}
	if d.Spec.ProgressDeadlineSeconds == nil {
		d.Spec.ProgressDeadlineSeconds = ptr.To[int32](600)
	}
	defaultPodSpec(&d.Spec.Template.Spec)
	return validateSelector(obj, "Deployment", d.Name, d.Spec.Selector, d.Spec.Template.Labels, d.Spec.Replicas)
}

func admitReplicaSet(_ *store, _, obj runtime.Object) error {
	rs, ok := obj.(*appsv1.ReplicaSet)
	if !ok {
		return nil
	}
	if rs.Spec.Replicas == nil {
		rs.Spec.Replicas = ptr.To[int32](1)
	}
	defaultPodSpec(&rs.Spec.Template.Spec)
	return validateSelector(obj, "ReplicaSet", rs.Name, rs.Spec.Selector, rs.Spec.Template.Labels, rs.Spec.Replicas)
}

func validateSelector(obj runtime.Object, kind, name string, sel *metav1.LabelSelector, tmplLabels map[string]string, replicas *int32) error {
	var errs field.ErrorList
	if replicas != nil && *replicas < 0 {
		errs = append(errs, field.Invalid(field.NewPath("spec", "replicas"), *replicas, "must be greater than or equal to 0"))
	}
	if sel == nil || (len(sel.MatchLabels) == 0 && len(sel.MatchExpressions) == 0) {
		errs = append(errs, field.Required(field.NewPath("spec", "selector"), ""))
	} else if s, err := metav1.LabelSelectorAsSelector(sel); err != nil {
		errs = append(errs, field.Invalid(field.NewPath("spec", "selector"), sel, err.Error()))
	} else if !s.Matches(labels.Set(tmplLabels)) {
		errs = append(errs, field.Invalid(field.NewPath("spec", "template", "metadata", "labels"), tmplLabels, "`selector` does not match template `labels`"))
	}
	if len(errs) == 0 {
		return nil
	}
	return apierrors.NewInvalid(obj.GetObjectKind().GroupVersionKind().GroupKind(), name, errs)
}

func defaultPodSpec(p *corev1.PodSpec) {
	if p.RestartPolicy == "" {
		p.RestartPolicy = corev1.RestartPolicyAlways
	}
	if p.TerminationGracePeriodSeconds == nil {
		p.TerminationGracePeriodSeconds = ptr.To[int64](corev1.DefaultTerminationGracePeriodSeconds)
	}
	if p.DNSPolicy == "" {
		p.DNSPolicy = corev1.DNSClusterFirst
	}
	if p.SchedulerName == "" {
		p.SchedulerName = corev1.DefaultSchedulerName
	}
}

func admitPod(_ *store, old, obj runtime.Object) error {
	p, ok := obj.(*corev1.Pod)
	if !ok {
		return nil
	}
	defaultPodSpec(&p.Spec)
	if old == nil && p.Status.Phase == "" {
		p.Status.Phase = corev1.PodPending
	}
	return nil
}

func admitNamespace(_ *store, old, obj runtime.Object) error {
	n, ok := obj.(*corev1.Namespace)
	if !ok {
		return nil
	}
	if old == nil {
		n.Status.Phase = corev1.NamespaceActive
	}
	return nil
}

func admitService(s *store, old, obj runtime.Object) error {
	svc, ok := obj.(*corev1.Service)
	if !ok {
		return nil
	}
	if svc.Spec.Type == "" {
		svc.Spec.Type = corev1.ServiceTypeClusterIP
	}
	if svc.Spec.SessionAffinity == "" {
		svc.Spec.SessionAffinity = corev1.ServiceAffinityNone
	}
	for i := range svc.Spec.Ports {
		p := &svc.Spec.Ports[i]
		if p.Protocol == "" {
			p.Protocol = corev1.ProtocolTCP
		}
		if p.TargetPort.Type == intstr.Int && p.TargetPort.IntVal == 0 && p.TargetPort.StrVal == "" {
			p.TargetPort = intstr.FromInt32(p.Port)
		}
	}
	if svc.Spec.Type == corev1.ServiceTypeExternalName {
		return nil
	}
	if o, ok := old.(*corev1.Service); ok && o.Spec.ClusterIP != "" {
		if svc.Spec.ClusterIP == "" {
			svc.Spec.ClusterIP, svc.Spec.ClusterIPs = o.Spec.ClusterIP, o.Spec.ClusterIPs
		} else if svc.Spec.ClusterIP != o.Spec.ClusterIP {
			return apierrors.NewInvalid(svc.GroupVersionKind().GroupKind(), svc.Name, field.ErrorList{
				field.Invalid(field.NewPath("spec", "clusterIP"), svc.Spec.ClusterIP, "field is immutable")})
		}
		return nil
	}
	if svc.Spec.ClusterIP == "" {
		s.ipSeq++
		n := s.ipSeq
		svc.Spec.ClusterIP = fmt.Sprintf("10.96.%d.%d", (n/250)%256, n%250+1)
	}
	if len(svc.Spec.ClusterIPs) == 0 {
		svc.Spec.ClusterIPs = []string{svc.Spec.ClusterIP}
	}
	return nil
}

// addFieldLabels adds the field selector labels the apiserver supports for
// some kinds beyond metadata.name and metadata.namespace.
func addFieldLabels(obj runtime.Object, set map[string]string) {
	switch o := obj.(type) {
	case *corev1.Pod:
		set["spec.nodeName"] = o.Spec.NodeName
		set["spec.serviceAccountName"] = o.Spec.ServiceAccountName
		set["status.phase"] = string(o.Status.Phase)
		set["status.podIP"] = o.Status.PodIP
	case *corev1.Event:
		set["involvedObject.kind"] = o.InvolvedObject.Kind
		set["involvedObject.name"] = o.InvolvedObject.Name
		set["involvedObject.namespace"] = o.InvolvedObject.Namespace
		set["involvedObject.uid"] = string(o.InvolvedObject.UID)
		set["reason"] = o.Reason
		set["type"] = o.Type
	case *corev1.Secret:
		set["type"] = string(o.Type)
	case *corev1.Node:
		set["spec.unschedulable"] = fmt.Sprint(o.Spec.Unschedulable)
	}
}

// podGrace returns the grace period a pod deletion gets.
func podGrace(obj runtime.Object, opts metav1.DeleteOptions) int64 {
	p, ok := obj.(*corev1.Pod)
	if !ok || p.Spec.NodeName == "" {
		return 0
	}
	if opts.GracePeriodSeconds != nil {
		return *opts.GracePeriodSeconds
	}
	if p.Spec.TerminationGracePeriodSeconds != nil {
		return *p.Spec.TerminationGracePeriodSeconds
	}
	return corev1.DefaultTerminationGracePeriodSeconds
}
