// Package e2e tests package rbac on a real control plane (etcd,
// kube-apiserver with RBAC on, kube-controller-manager, kube-scheduler and
// kwok, from internal/controlplane).
//
// Each part of switchyard (blue/green, canary with ReplicaRatio and with a
// Gateway API HTTPRoute, rolling, Control and bootstrap) runs as a
// ServiceAccount, authenticated with its own token, bound to exactly the
// Role and ClusterRole that package rbac returns for it, and must succeed.
// The blue/green and ReplicaRatio canary apps have a HorizontalPodAutoscaler
// (Spec.Autoscaler) that their second release moves, so that its rule is
// used and its removal shows.
// Then each part runs again once for each verb of each of its rules, with
// that verb removed: the run must fail within 30 seconds with a forbidden
// error or a *strategy.WatchError. A verb whose removal goes unnoticed is
// not needed and fails the test; so does a run that waits for its deadline
// instead of failing, unless it is a known library bug (knownHangs), which
// is skipped with its description. Events are best effort: without them a
// run succeeds and writes none.
//
// Everything here skips under go test -short.
package e2e
