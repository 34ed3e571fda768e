// Package e2e tests package bluegreen on a real control plane (etcd,
// kube-apiserver, kube-controller-manager, kube-scheduler and kwok, from
// internal/controlplane) instead of the fake cluster of its unit tests.
//
// Each test works in a namespace of its own, with the real clock and the
// strategy's default options, and checks what users of blue/green rely on:
//
//   - a release of v1 and then v2 leaves both slots' Deployments, the active
//     and preview Services' selectors and the release record as documented;
//   - manual promotion holds traffic on the live slot until Promote;
//   - Abort, a failing pre-promotion check and a revision whose pods never
//     turn Ready all leave traffic on the live slot and scale the candidate
//     down;
//   - Undo inside the rollback window switches back without new pods, and
//     outside it redeploys the old revision and switches back;
//   - a plain Deployment of the app is adopted without a moment of fewer
//     ready endpoints;
//   - a new release while one is paused replaces its candidate and never
//     touches the live slot;
//   - Retry after a failed check releases the same revision again.
//
// Throughout, an independent watcher follows the active Service's
// EndpointSlices from a fresh list (not the strategy's own caches) and
// asserts that the Service never has fewer ready endpoints than the
// workload's replicas while traffic moves.
//
// BenchmarkSwitchLatency measures, over 20 rollouts, the time from the new
// slot's last pod turning Ready to the active Service's selector write, and
// the API requests per rollout by verb:
//
//	go test -run x -bench SwitchLatency -benchtime=1x ./bluegreen/e2e/
//
// Everything here skips under go test -short.
package e2e
