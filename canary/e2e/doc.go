// Package e2e tests package canary on a real control plane (etcd,
// kube-apiserver, kube-controller-manager, kube-scheduler and kwok, from
// internal/controlplane) instead of the fake cluster of its unit tests.
//
// Each test works in a namespace of its own with the real clock, five
// replicas and short delays, on every kind of routing: ReplicaRatio (one
// Service selects both slots), GatewayHTTPRoute (the HTTPRoute CRD from
// the release manifests in the sigs.k8s.io/gateway-api module this module
// requires), IstioVirtualService and SMITrafficSplit (the CRDs of
// internal/routertest) and NGINXIngress (core Ingresses). For
// each it checks:
//
//   - a full canary (SetWeight 20, Pause 2s, SetWeight 50, SetWeight 100)
//     holds the weight for the pause (the router's objects carry 20% and
//     the canary Service reaches the canary's pods, or the shared Service's
//     endpoints are split as ReplicaSplit says), ends Succeeded with the
//     stable Service on the new slot, the router's weight read back from
//     its object as 0 and the old slot scaled to 0;
//   - Abort while paused at a Pause{} step ends Aborted, the traffic objects
//     point all traffic at stable before the canary slot is scaled to 0,
//     AbortScaleDownDelay later, and the stable slot keeps its full size.
//
// Throughout, an independent watcher follows the stable Service's
// EndpointSlices with a list and watch of its own (not the strategy's
// caches) and asserts that, from the moment v1 fully serves it, the Service
// never has fewer ready endpoints than the workload's replicas; with a
// router, that it reaches no new pod before promotion.
//
// BenchmarkStepOverhead runs 6-step canaries (two pauses of 1s) on
// GatewayHTTPRoute and ReplicaRatio and reports the time per step spent
// outside pauses and the API requests per step by verb:
//
//	go test -run x -bench StepOverhead -benchtime=1x ./canary/e2e/
//
// Everything here skips under go test -short.
package e2e
