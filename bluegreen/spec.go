package bluegreen

import (
	"time"

	corev1 "k8s.io/api/core/v1"

	"github.com/switchyard-dev/switchyard/strategy"
	"github.com/switchyard-dev/switchyard/strategy/flow"
)

// Defaults of Spec, as Argo Rollouts users know them.
const (
	DefaultScaleDownDelay      = 30 * time.Second
	DefaultAbortScaleDownDelay = 30 * time.Second
	DefaultProgressDeadline    = 10 * time.Minute
	DefaultRollbackWindow      = 1
)

// Spec configures blue/green releases of one app. Zero values take the
// documented defaults.
type Spec struct {
	// ActiveService names the Service that carries the app's traffic;
	// required. It must exist unless ServicePorts is set, in which case it
	// is created on the first release.
	ActiveService string
	// ServicePorts are the ports of the active and preview Services when
	// switchyard creates them.
	ServicePorts []corev1.ServicePort
	// PreviewService names a Service that reaches the new revision before
	// promotion, for tests. It is created if missing. Empty: no preview.
	PreviewService string
	// PreviewReplicas runs the new revision at this size until promotion
	// starts, then at full size. Nil: full size from the start.
	PreviewReplicas *int32
	// Autoscaler names the app's HorizontalPodAutoscaler (autoscaling/v2,
	// in the app's namespace), which must scale one of the app's
	// Deployments: the one named after the app or a slot. Full size is
	// then the replicas it chose for the live slot, and the switch moves
	// its scaleTargetRef to the new slot (see the package doc). Empty: no
	// autoscaler, full size is the workload's replicas.
	Autoscaler string
	// ManualPromotion pauses every release when the new revision is ready
	// and its pre-promotion checks passed, until Control.Promote. Off by
	// default: promotion is automatic.
	ManualPromotion bool
	// AutoPromotionAfter waits this long after the new revision is fully
	// available before an automatic promotion.
	AutoPromotionAfter time.Duration
	// ScaleDownDelay is how long the old slot keeps running after the
	// switch, so that proxies and load balancers catch up, before it is
	// scaled down (unless RollbackWindow keeps it). Nil: 30s.
	ScaleDownDelay *time.Duration
	// RollbackWindow is how many previous revisions stay running for an
	// instant Undo: 1 (the default) keeps the old slot at full size, 0
	// scales it down after ScaleDownDelay. With two slots it is at most 1.
	RollbackWindow *int
	// PrePromotion checks run against the new revision (through the preview
	// Service) before the switch; PostPromotion checks after it. A failure
	// aborts the release.
	PrePromotion  []strategy.Check
	PostPromotion []strategy.Check
	// Gates run at the moments every strategy shares: BeforeRelease before
	// the deploy step, BeforeStep before the switch, BeforePromotion before
	// the promotion decision (after the PrePromotion checks),
	// AfterPromotion once the switch is verified, OnRollback once traffic
	// went back after an abort.
	Gates strategy.Gates
	// AbortScaleDownDelay is how long an aborted revision keeps running
	// before it is scaled down. Nil: 30s.
	AbortScaleDownDelay *time.Duration
	// ProgressDeadline bounds each wait for pods and endpoints; zero: 10m.
	ProgressDeadline time.Duration
	// ActiveMetadata and PreviewMetadata are added to the pods of the slot
	// in that role; they are written to the pods in place when roles change.
	ActiveMetadata  PodMetadata
	PreviewMetadata PodMetadata
	// AntiAffinity asks the scheduler to keep the two slots' pods on
	// different nodes where it can (preferred, not required).
	AntiAffinity bool
}

// PodMetadata is labels and annotations for pods in one role.
type PodMetadata struct {
	Labels      map[string]string
	Annotations map[string]string
}

func (s Spec) scaleDownDelay() time.Duration {
	return durationOr(s.ScaleDownDelay, DefaultScaleDownDelay)
}

func (s Spec) abortScaleDownDelay() time.Duration {
	return durationOr(s.AbortScaleDownDelay, DefaultAbortScaleDownDelay)
}

func (s Spec) progressDeadline() time.Duration {
	if s.ProgressDeadline == 0 {
		return DefaultProgressDeadline
	}
	return s.ProgressDeadline
}

func (s Spec) rollbackWindow() int {
	if s.RollbackWindow == nil {
		return DefaultRollbackWindow
	}
	return *s.RollbackWindow
}

func durationOr(d *time.Duration, def time.Duration) time.Duration {
	if d == nil {
		return def
	}
	return *d
}

// validate checks the spec on its own; checks against the cluster come
// later, still before any write.
func (s Spec) validate(v *strategy.Validator) {
	v.Check(s.ActiveService != "", "spec.activeService", nil, "is required")
	flow.ValidateServiceName(v, "spec.activeService", s.ActiveService)
	flow.ValidateServiceName(v, "spec.previewService", s.PreviewService)
	if s.PreviewService != "" {
		v.Check(s.PreviewService != s.ActiveService, "spec.previewService", s.PreviewService, "must differ from the active Service")
	}
	flow.ValidateServicePorts(v, "spec.servicePorts", s.ServicePorts)
	flow.ValidatePodMetadata(v, "spec.activeMetadata", s.ActiveMetadata.Labels, s.ActiveMetadata.Annotations)
	flow.ValidatePodMetadata(v, "spec.previewMetadata", s.PreviewMetadata.Labels, s.PreviewMetadata.Annotations)
	if s.PreviewReplicas != nil {
		v.Check(*s.PreviewReplicas >= 1 && *s.PreviewReplicas <= strategy.MaxReplicas, "spec.previewReplicas", *s.PreviewReplicas,
			"must be within 1..%d", strategy.MaxReplicas)
	}
	v.Check(s.AutoPromotionAfter >= 0, "spec.autoPromotionAfter", s.AutoPromotionAfter, "must not be negative")
	v.Check(durationOr(s.ScaleDownDelay, 0) >= 0, "spec.scaleDownDelay", s.ScaleDownDelay, "must not be negative")
	v.Check(durationOr(s.AbortScaleDownDelay, 0) >= 0, "spec.abortScaleDownDelay", s.AbortScaleDownDelay, "must not be negative")
	v.Check(s.ProgressDeadline >= 0, "spec.progressDeadline", s.ProgressDeadline, "must not be negative")
	if w := s.rollbackWindow(); w < 0 || w > 1 {
		v.Add("spec.rollbackWindow", w, "must be 0 or 1: there are two slots")
	}
	if s.ManualPromotion && s.AutoPromotionAfter > 0 {
		v.Add("spec.autoPromotionAfter", s.AutoPromotionAfter, "has no effect with manual promotion")
	}
	flow.ValidateChecks(v, "spec.prePromotion", s.PrePromotion)
	flow.ValidateChecks(v, "spec.postPromotion", s.PostPromotion)
	flow.ValidateGates(v, "spec.gates", s.Gates)
}
