// Package hpae2e tests blue/green and canary releases of an app with a
// HorizontalPodAutoscaler on a real control plane (etcd, kube-apiserver,
// kube-controller-manager with its autoscaler controller, kube-scheduler
// and kwok, from internal/controlplane).
//
// There is no metrics API, so the test plays the autoscaler: it writes the
// stable slot's scale subresource (7 replicas while the workload says 3)
// and checks that the autoscaler controller, which cannot read metrics,
// leaves that size alone. Then a blue/green release, and a canary release
// without a router (SetWeight 25, SetWeight 50), must end with 7 ready pods
// on the new slot and the autoscaler's scaleTargetRef on it, while an
// independent watcher of the app's Service EndpointSlices (its own list
// and watch) never sees fewer than 7 ready endpoints. Once the controller
// has observed the moved autoscaler (status.observedGeneration), the new
// slot must still have 7 replicas.
//
//	go test -count=1 -v ./internal/hpae2e/
//
// Everything here skips under go test -short.
package hpae2e
