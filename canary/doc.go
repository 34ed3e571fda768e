// Package canary moves traffic to a new version in weighted steps (for
// example 2%, 25%, 75%, 100%), judges each step with checks and analysis,
// and sends all traffic back to the stable version on its own when a step
// fails.
//
// # Slots and routing
//
// A canary release uses the two slots of package bluegreen: Deployments
// <app>-blue and <app>-green, one stable, the other carrying the new
// revision. When the last step is done the canary takes all the traffic and
// the slots swap roles; nothing is deployed again. How the traffic is split
// depends on Spec.Router:
//
//   - nil (ReplicaRatio): one Service selects the pods of both slots and,
//     with no mesh, each ready pod gets an equal share, so the canary's share
//     of traffic is its share of the pods. ReplicaSplit gives the sizes and
//     documents the rounding: the share served is within one pod's share of
//     the weight, a non-zero weight never means zero canary pods, and a step
//     ends only when the Service's endpoints match the split.
//   - a strategy/traffic router (Gateway API HTTPRoute, Istio
//     VirtualService, SMI TrafficSplit, NGINX Ingress): the stable Service
//     selects the stable slot, the canary Service the canary slot, and the
//     router splits requests between them, reading its weight back after
//     every write. Traffic moves to a slot only once its Service's endpoints
//     reach the pods that will take it.
//
// # Steps
//
// SetWeight, Pause (for a duration, or until Control.Promote), Analysis
// (checks; a failure aborts, an inconclusive result wrapping
// strategy.ErrInconclusive pauses for a decision), SetCanaryScale,
// SetHeaderRoute and SetMirrorRoute (where the router supports them) and
// Custom. Background analysis runs from a chosen step until the last one
// and aborts the release the moment it fails. Steps, Linear and TwoStep
// build common schedules, with the AWS CodeDeploy names
// Canary10Percent5Minutes(), Linear10PercentEvery1Minute() and AllAtOnce().
//
// # Autoscaling
//
// Spec.Autoscaler names the app's HorizontalPodAutoscaler (autoscaling/v2,
// in the app's namespace, scaling <app>, <app>-blue or <app>-green; anything
// else is a *strategy.ValidationError before any write), as Flagger's
// autoscalerRef does; unlike Flagger, nothing is copied: the one
// autoscaler scales the stable slot and follows the traffic. The stable
// size is the replicas the autoscaler set on the stable slot, read at
// every step (on a first release, while that Deployment does not run yet,
// the workload's replicas), so weights and SetCanaryScale percents are
// computed from it; switchyard never writes the stable slot's replicas
// while the autoscaler scales it, and DynamicStableScale, which would, is
// refused with it. When
// a release starts the autoscaler is pointed at the stable slot if it was
// elsewhere. Its scaleTargetRef moves to the canary slot when that slot
// takes all the traffic: at promotion (after the canary reached the stable
// size), or, without a router, at a SetWeight of 100 before the stable
// slot's pods leave; in both cases before the step is recorded, so that a
// resumed driver moves it too. Abort moves it back to the stable slot once
// that slot is back at full size. Only the scaleTargetRef is written, with
// a merge patch conditional on the resourceVersion last read; the object
// is never deleted.
//
// # Control
//
// strategy.Control drives a release from any process: Promote ends the
// current pause, PromoteFull skips the remaining steps, Pause and Resume
// hold it, Abort sends every request back to stable at once (growing the
// stable slot back first when it was shrunk, and moving the traffic once
// the stable Service routes to all its ready pods) and scales the
// canary down after AbortScaleDownDelay, Retry runs an aborted release
// again, and Undo ships an earlier revision without its steps. A new
// revision released mid-flight replaces the one in flight: its traffic goes
// back to stable and the new revision restarts the steps on the canary
// slot; the stable slot is not touched.
//
// Requests are heard at every moment: during analysis (whose context an
// Abort cancels), background analysis, pauses and the scale-down delay
// after promotion, when Abort still sends traffic back to the old stable
// slot; once that slot is being scaled down, Abort is refused.
//
// The first release of an app has nothing to compare with and goes straight
// to full size. Every step is recorded in the app's release record by name
// ("deploy", "<i>-<kind>" for the spec's step i such as "0-SetWeight",
// "promote", "scale-down"), so a Run stopped after any write is continued
// by the next one; events carry the step's kind and the traffic split.
//
// Bad input (weights outside 0..100 or going down unmarked, no steps,
// negative pauses, header or mirror steps the router cannot do or that
// would send requests to a canary with no pods, a router object that does
// not exist or does not reference the Services, a stable Service that
// selects the wrong pods) is a *strategy.ValidationError before any write.
package canary
