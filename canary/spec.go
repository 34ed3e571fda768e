package canary

import (
	"fmt"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/intstr"

	"github.com/switchyard-dev/switchyard/strategy"
	"github.com/switchyard-dev/switchyard/strategy/flow"
	"github.com/switchyard-dev/switchyard/strategy/traffic"
)

// Defaults of Spec, as Argo Rollouts users know them.
const (
	DefaultScaleDownDelay      = 30 * time.Second
	DefaultAbortScaleDownDelay = 30 * time.Second
	DefaultProgressDeadline    = 10 * time.Minute
)

// Spec configures canary releases of one app. Zero values take the
// documented defaults.
type Spec struct {
	// StableService names the Service that carries the app's traffic;
	// required. With a Router it selects the stable slot (switchyard points
	// it at the new slot when a release completes); without one
	// (ReplicaRatio routing) it selects the pods of both slots and must not
	// name a slot. It must exist unless ServicePorts is set and there is no
	// Router, in which case the first release creates it.
	StableService string
	// CanaryService names the Service that selects the canary slot; the
	// Router splits traffic between the two. Required with a Router, unused
	// without one. It must exist; switchyard points it at each release's
	// canary slot while the Router sends it no traffic.
	CanaryService string
	// ServicePorts are the ports of the stable Service when switchyard
	// creates it.
	ServicePorts []corev1.ServicePort
	// Router splits the traffic between the stable and canary Services.
	// Nil means ReplicaRatio: one Service selects both slots, and the
	// canary's share of traffic is its share of the ready pods (see
	// ReplicaSplit for the rounding). A router of strategy/traffic must
	// have its objects in the app's namespace unless it was built with
	// traffic.AllowCrossNamespace.
	Router traffic.Router
	// Steps is the schedule, such as Steps(2, 25, 75, 100) or
	// Canary10Percent5Minutes(); at least one step. After the last step the
	// canary takes all the traffic and the slots swap roles.
	Steps []Step
	// Background analysis runs from a step on until the last step ends; a
	// failure aborts the release at once.
	Background *Background
	// Gates run at the moments every strategy shares: BeforeRelease before
	// the deploy step, BeforeStep before each SetWeight step,
	// BeforePromotion before the promote step, AfterPromotion after it,
	// OnRollback once traffic went back after an abort.
	Gates strategy.Gates
	// MaxSurge and MaxUnavailable bound how a slot replaces its pods when
	// a new revision arrives while the slot already runs pods (a release
	// replaced mid-flight). Nil: 25% and 0, so a slot that serves traffic
	// never loses ready pods.
	MaxSurge       *intstr.IntOrString
	MaxUnavailable *intstr.IntOrString
	// DynamicStableScale shrinks the stable slot as its traffic falls and
	// grows it back before traffic returns to it. Off: the stable slot
	// keeps its full size until the release completes.
	DynamicStableScale bool
	// MinPodsPerSlot is the fewest pods a slot runs while it has traffic
	// (at least 1).
	MinPodsPerSlot int32
	// Autoscaler names the app's HorizontalPodAutoscaler (autoscaling/v2,
	// in the app's namespace), which must scale one of the app's
	// Deployments: the one named after the app or a slot. The stable size
	// is then the replicas it chose for the stable slot, which switchyard
	// never writes, and its scaleTargetRef moves to the canary slot when
	// that slot takes all the traffic (see the package doc). It cannot be
	// combined with DynamicStableScale. Empty: no autoscaler, the stable
	// size is the workload's replicas.
	Autoscaler string
	// ScaleDownDelay is how long the old stable slot keeps running after
	// the slots swap, so that proxies catch up. Nil: 30s. Without a router
	// it does not apply: the old slot's pods are its traffic, and they
	// leave with the last SetWeight.
	ScaleDownDelay *time.Duration
	// AbortScaleDownDelay is how long an aborted canary keeps running
	// after its traffic went back to stable. Nil: 30s. Without a router
	// it does not apply: the canary's pods are its traffic, so an abort
	// removes them at once.
	AbortScaleDownDelay *time.Duration
	// ProgressDeadline bounds each wait for pods and endpoints; zero: 10m.
	ProgressDeadline time.Duration
	// AntiAffinity asks the scheduler to keep the two slots' pods on
	// different nodes where it can.
	AntiAffinity bool
	// StableMetadata and CanaryMetadata are written onto the pods of the
	// slot in that role, in place.
	StableMetadata PodMetadata
	CanaryMetadata PodMetadata
}

// Background is analysis that runs alongside the steps.
type Background struct {
	// StartingStep is the index in Spec.Steps from which the checks run.
	StartingStep int
	// Checks run concurrently; each runs until it fails or the last step
	// ends (analysis.Analysis.Check without a count does that).
	Checks []strategy.Check
}

// PodMetadata is labels and annotations for pods in one role.
type PodMetadata struct {
	Labels      map[string]string
	Annotations map[string]string
}

func durationOr(d *time.Duration, def time.Duration) time.Duration {
	if d == nil {
		return def
	}
	return *d
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

func (s Spec) minPods() int32 { return max(s.MinPodsPerSlot, 1) }

// validate checks the spec on its own; checks against the cluster come
// later, still before any write.
func (s Spec) validate(v *strategy.Validator) {
	v.Check(s.StableService != "", "spec.stableService", nil, "is required")
	flow.ValidateServiceName(v, "spec.stableService", s.StableService)
	flow.ValidateServiceName(v, "spec.canaryService", s.CanaryService)
	if s.Router != nil {
		v.Check(s.CanaryService != "", "spec.canaryService", nil, "is required with a router")
		v.Check(s.CanaryService == "" || s.CanaryService != s.StableService, "spec.canaryService", s.CanaryService, "must differ from the stable Service")
	}
	flow.ValidateServicePorts(v, "spec.servicePorts", s.ServicePorts)
	flow.ValidatePodMetadata(v, "spec.stableMetadata", s.StableMetadata.Labels, s.StableMetadata.Annotations)
	flow.ValidatePodMetadata(v, "spec.canaryMetadata", s.CanaryMetadata.Labels, s.CanaryMetadata.Annotations)
	headers, mirror := false, false
	if s.Router != nil {
		headers, mirror = traffic.Supports(s.Router)
	}
	validateSteps(v, s.Steps, headers, mirror, s.Router)
	s.validateRoutesHavePods(v)
	if b := s.Background; b != nil {
		v.Check(b.StartingStep >= 0 && b.StartingStep < max(len(s.Steps), 1), "spec.background.startingStep", b.StartingStep,
			"must be the index of a step (0..%d)", len(s.Steps)-1)
		v.Check(len(b.Checks) > 0, "spec.background.checks", nil, "must not be empty")
		flow.ValidateChecks(v, "spec.background.checks", b.Checks)
	}
	flow.ValidateGates(v, "spec.gates", s.Gates)
	v.Check(s.MinPodsPerSlot >= 0 && s.MinPodsPerSlot <= strategy.MaxReplicas, "spec.minPodsPerSlot", s.MinPodsPerSlot,
		"must be within 0..%d", strategy.MaxReplicas)
	v.Check(s.Autoscaler == "" || !s.DynamicStableScale, "spec.dynamicStableScale", true,
		"cannot be used with spec.autoscaler: the autoscaler sizes the stable slot")
	v.Check(durationOr(s.ScaleDownDelay, 0) >= 0, "spec.scaleDownDelay", s.ScaleDownDelay, "must not be negative")
	v.Check(durationOr(s.AbortScaleDownDelay, 0) >= 0, "spec.abortScaleDownDelay", s.AbortScaleDownDelay, "must not be negative")
	v.Check(s.ProgressDeadline >= 0, "spec.progressDeadline", s.ProgressDeadline, "must not be negative")
	for _, f := range []struct {
		path string
		v    *intstr.IntOrString
	}{{"spec.maxSurge", s.MaxSurge}, {"spec.maxUnavailable", s.MaxUnavailable}} {
		if f.v == nil {
			continue
		}
		if _, err := intstr.GetScaledValueFromIntOrPercent(f.v, 100, true); err != nil || f.v.IntValue() < 0 && f.v.Type == intstr.Int {
			v.Add(f.path, f.v.String(), "must be a non-negative number or percentage")
		}
	}
	if s.MaxSurge != nil && s.MaxUnavailable != nil {
		surge, _ := intstr.GetScaledValueFromIntOrPercent(s.MaxSurge, 100, true)
		unavail, _ := intstr.GetScaledValueFromIntOrPercent(s.MaxUnavailable, 100, false)
		v.Check(surge > 0 || unavail > 0, "spec.maxUnavailable", s.MaxUnavailable.String(), "cannot be 0 when maxSurge is 0")
	}
}

// validateNamespace rejects a router whose objects are outside the app's
// namespace, unless it was built with traffic.AllowCrossNamespace: a
// release writes only in its app's namespace.
func (s Spec) validateNamespace(v *strategy.Validator, app types.NamespacedName) {
	if s.Router == nil {
		return
	}
	mergeUnder(v, "spec.router", "", traffic.CheckNamespace(s.Router, app))
}

// validateRoutesHavePods rejects header and mirror routes set while the
// canary would have no pods: the requests they send would find nothing.
func (s Spec) validateRoutesHavePods(v *strategy.Validator) {
	weight, scaled := int32(0), false
	for i, st := range s.Steps {
		switch st := st.(type) {
		case SetWeight:
			weight = st.Percent
		case SetCanaryScale:
			scaled = !st.MatchTrafficWeight && (st.Replicas != nil && *st.Replicas > 0 || st.Percent != nil && *st.Percent > 0)
		case SetHeaderRoute:
			if len(st.Match) > 0 && weight == 0 && !scaled {
				v.Add(fmt.Sprintf("spec.steps[%d].setHeaderRoute", i), st.Name,
					"sends requests to a canary with no pods: put a SetCanaryScale or a SetWeight above 0 before it")
			}
		case SetMirrorRoute:
			if st.Percent > 0 && weight == 0 && !scaled {
				v.Add(fmt.Sprintf("spec.steps[%d].setMirrorRoute", i), st.Name,
					"mirrors to a canary with no pods: put a SetCanaryScale or a SetWeight above 0 before it")
			}
		}
	}
}
