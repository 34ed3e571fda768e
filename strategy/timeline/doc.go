// Package timeline draws what a release did, from the timeline its
// release record keeps (strategy.Status.Timeline): SVG writes a
// self-contained picture and Text a list for terminals.
//
// The picture has time on x, from the release's start. Its top panel is
// the new revision's share of the traffic (a step line, in percent) and
// the pods of the canary and stable slots; below it, one small panel per
// analysis metric shows each measurement as a point coloured by its
// verdict, against a dashed line at the metric's limit when the limit is
// a number. Vertical markers, labelled at the top, show step
// transitions, pauses (shaded while they last), promotion, aborts and
// rollbacks, and the control requests taken, with who sent them.
//
// Output depends only on the status and the options, so it can be
// compared byte for byte. docs/timeline-canary.svg is the picture of a
// canary release like examples/canary's, with pauses and a person's
// requests, on the fake cluster; it is drawn again by
//
//	go test ./strategy/timeline/ -run TestCanaryTimeline -args -write
//
// # Limits
//
// The timeline holds what the record kept: at most strategy.TimelineLimit
// entries, the oldest measurements dropped first, and nothing a driver
// saw after its last write. Pods are the sizes the strategy set, reported
// with each traffic change; after a rollback they are not known and are
// no longer drawn. A measurement whose value is not a number (a sample
// set) is listed by Text but not drawn.
package timeline
