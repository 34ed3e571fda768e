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
//
// It also holds the shared watch caches of internal/objcache to what a
// shared informer layer must do on either cluster (watches_test.go): one
// list and one watch for all the users of a Layer's cache; a watch again
// from the cache's resourceVersion when the server ends a watch, and a list
// again when that version has expired (410 Gone); an observed write never
// taken back by older events; a forbidden watch reported in Err, waking
// the waiters; and no goroutine left after Layer.Close. Each env has a
// wire to count and disturb its requests: the fake's request counts and
// faults, or, on the real control plane, a transport under the test's
// client, RBAC with impersonation, and etcd compaction.
package conformance
