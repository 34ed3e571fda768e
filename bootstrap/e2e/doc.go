// Package e2e tests package bootstrap on a real control plane (etcd,
// kube-apiserver, kube-controller-manager, kube-scheduler and kwok, from
// internal/controlplane) instead of the fake cluster of its unit tests.
//
// Each test installs the platform bundle of bootstrap/testdata/platform
// (Namespaces, a CRD and its custom resource, RBAC, ConfigMaps, Secrets,
// Services, Deployments, a StatefulSet, a Job and a webhook
// configuration) under names of its own, and checks:
//
//   - no custom resource is applied before its CRD is Established, and no
//     workload before its ServiceAccount exists (asked of the cluster at
//     the moment of each apply); every object ends Current; the custom
//     resource is ready only once its stand-in controller wrote a status;
//   - a second run of the same bundle makes no write request at all,
//     counted on the wire;
//   - prune deletes exactly the objects that left the bundle, and keeps a
//     namespace that holds an object the bundle does not own;
//   - a Deployment whose pods can never be scheduled fails the run by its
//     progress deadline, and the webhook behind it is skipped and named;
//   - a cycle and a malformed document are rejected without a write.
//
// BenchmarkBundle1000 applies a bundle of 1,000 objects with bootstrap, and
// the same bundle (under other names) with kubectl apply --server-side
// followed by kubectl wait, and reports both times and their ratio:
//
//	go test -run '^$' -bench Bundle1000 -benchtime=1x -timeout 30m ./bootstrap/e2e/
//
// Everything here skips under go test -short.
package e2e
