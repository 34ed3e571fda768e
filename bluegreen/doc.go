// Package bluegreen ships a new version of an app next to the live one and
// switches traffic to it at once, with an instant way back.
//
// The app's pods run in two Deployments, <app>-blue and <app>-green (label
// switchyard.dev/slot). A release goes to the idle slot, is reached for
// tests through the preview Service, and takes the traffic when the active
// Service's selector is pointed at its slot in one write, made only when
// every pod of the slot is ready (judged from the pods, honouring
// minReadySeconds) and followed by a check that the Service's EndpointSlices
// hold exactly the new pods. The pods that were tested are the pods that
// serve: nothing is copied or rolled again at promotion.
//
// Entry point: New(clients, Spec{ActiveService: "web"}).Run(ctx, release).
//
// # Rules
//
//   - First release: the revision goes to blue; the active Service is created
//     when missing and Spec.ServicePorts is set. An active Service that
//     selects no slot and serves nothing is pointed at the empty slot until
//     the switch, so the new pods get no traffic before promotion. A plain
//     Deployment named after the app is adopted: its traffic moves to blue
//     once blue is ready, and it is scaled to zero after ScaleDownDelay.
//     Until that switch the Service, which selects by the app's labels only,
//     reaches blue's pods as well as the adopted ones: giving it a slot
//     earlier would cut the adopted pods off.
//   - A slot is rolled only while it is idle, so its Deployment replaces all
//     its pods at once (maxSurge and maxUnavailable 100%), whatever strategy
//     the release's workload names.
//   - Pre-promotion checks start once the preview Service's EndpointSlices
//     hold the new pods.
//   - Abort (Control.Abort, a failed check, or a missed progress deadline)
//     points the active Service back at the old slot at once, waits until
//     its EndpointSlices route to the old slot's pods alone, records phase
//     Aborted, and scales the candidate down after AbortScaleDownDelay. It
//     is heard at every step, during checks (whose context it cancels) and
//     during the scale-down delay after the switch, while the old slot
//     still runs. Once the old slot is being scaled down, and on a first
//     release that already serves, Abort is refused with an error.
//     Control.Retry then Run releases the same revision again.
//   - Undo to the previous revision after the switch is an abort back to
//     it; the Run of the new revision then returns ErrSuperseded.
//   - Undo to the revision the idle slot still runs (RollbackWindow 1, the
//     default) is a switch back with no checks and no pod started; any other
//     Undo is a normal release of the revision's recorded workload.
//   - A new release while one is in flight under another driver replaces the
//     candidate: the running driver stops (traffic stays where it is) and the
//     new revision is deployed to the same idle slot. The live slot is never
//     touched by a release. After the switch, the new release waits for the
//     one in flight to end.
//   - Companion ConfigMaps and Secrets in Release.Objects are copied per
//     revision (name-<hash of revision>) and the slot's pod template refers to
//     the copies, so blue and green never share mutable configuration; a
//     slot's copies of other revisions are deleted when it gets a new one.
//   - Role metadata (ActiveMetadata, PreviewMetadata) is written onto the
//     slot's existing pods; pods the ReplicaSet creates later do not get it.
//
// # Autoscaling
//
// Spec.Autoscaler names the app's HorizontalPodAutoscaler, as Flagger's
// autoscalerRef does: one object of the user's, autoscaling/v2, in the
// app's namespace, whose scaleTargetRef is the live Deployment (a slot,
// or the plain Deployment a first release adopts). It is checked before
// any write: missing, or scaling anything but <app>, <app>-blue or
// <app>-green, is a *strategy.ValidationError at spec.autoscaler. A release
// then:
//
//   - takes full size from the replicas the autoscaler set on the Deployment
//     it scales, not from the workload's spec.replicas (the workload's size
//     serves when that Deployment does not run yet); the candidate is
//     resized before the switch if the autoscaler changed the live slot
//     meanwhile, and the live slot's replicas are never written;
//   - points the autoscaler at the live Deployment when the release starts,
//     if it was elsewhere, so that it never scales the candidate while it is
//     rolled;
//   - moves its scaleTargetRef to the candidate in the switch step, right
//     after the selector write and before the step is recorded, so that a
//     driver resumed there moves it too; an abort or undo that switches back
//     while the old slot runs moves it back.
//
// Only the scaleTargetRef is written, with a merge patch conditional on
// the resourceVersion last read (on a conflict the autoscaler is read and
// checked again); the object is never deleted. An autoscaler deleted during
// a release is left deleted, and the release goes on.
//
// A release that is stopped at any point (the process dies) is continued by
// the next Run from the step the record holds (at once under the same
// identity, once its lease has lapsed under another); every step can be
// repeated. The steps, by the names the record and events use: deploy,
// preview-available, pre-promotion, promotion, full-available, switch,
// verify-endpoints, post-promotion, scale-down.
package bluegreen
