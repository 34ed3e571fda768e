// Package conformance holds the tests that hold package fake to the real
// thing: the same test code runs against fake.Cluster and against a real
// control plane (kube-apiserver, etcd, kube-controller-manager,
// kube-scheduler and kwok, from internal/controlplane). Where the two
// disagree, the fake is wrong.
//
// It covers what switchyard's strategies rely on: Deployment rollouts under
// several maxSurge/maxUnavailable settings, observed through ReplicaSet
// watches (ready counts within the bounds the settings allow, and the exact
// sequence of the controller's scaling decisions where only one pod starts
// at a time, so that the order in which pods turn Ready cannot change it),
// readiness reaching EndpointSlices, server-side apply create,
// update and conflict, and watch semantics (resume from a resourceVersion,
// field selectors, optimistic concurrency).
package conformance
