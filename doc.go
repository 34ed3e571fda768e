// Package switchyard ships software onto Kubernetes from inside your own
// program: the Day 1 install of a cluster's workloads and every Day 2 update
// after it. It is a library, not a controller: there are no CRDs to install
// and nothing else to run. This package holds no code; it is the tour.
//
// # Packages
//
//   - strategy: what every strategy shares. The Strategy interface (Name,
//     Plan, Run), Release, Plan and Result; the release record (one
//     ConfigMap per app holding the state machine, the last revisions and a
//     holder lease, written with optimistic concurrency) that makes every
//     Run resumable by any process; Control (Promote, PromoteFull, Pause,
//     Resume, Abort, Retry, Undo, Status) from any process; watch-based waits
//     on an injected clock; retries of transient API errors; typed errors;
//     observability (an observer callback, corev1 Events, OpenTelemetry
//     spans and metrics, slog); Sequence and Waves for composition.
//   - bluegreen: a new revision next to the live one in the idle slot of two
//     (<app>-blue, <app>-green), tested through a preview Service, switched
//     in one selector write once every pod is ready, verified on the
//     Service's EndpointSlices, and switched back at once on abort or undo.
//   - strategy/rbac: the exact Role (and ClusterRole) each part needs, as Go
//     values and as the YAML of docs/rbac.md.
//   - strategy/rolling: the Deployment's own rolling update driven through
//     the shared machinery; the simplest strategy and a template for custom
//     ones.
//   - strategy/traffic: the routers that move traffic between slots: a
//     Service selector for blue/green, and weighted routers (Gateway API,
//     Istio, SMI, NGINX Ingress) for canary releases.
//   - fake: an in-memory cluster for your tests: typed, dynamic and
//     discovery clients over one store, simulated Deployment, ReplicaSet,
//     Pod and EndpointSlice controllers on a fake clock that can move by
//     itself while a Run waits (and reports a stall with what it waits for),
//     per-version pod behaviour, a traffic model and fake/fakemetrics over
//     it, and API fault injection.
//   - canary: traffic moved to a new revision in weighted steps on the same
//     two slots, split by replica ratio or by a router, judged at each step
//     and sent back to stable at once when a check fails.
//   - bootstrap: the Day 1 install of a bundle of manifests as a dependency
//     graph: server-side apply of each object as soon as what it needs is
//     ready, kstatus readiness from watches, an inventory that makes a
//     second run write nothing and prune safe, a dry run with diffs.
//   - analysis: metrics measured by providers (Prometheus, web, Kubernetes
//     Job, pod health, Go functions) and judged by conditions, limits and
//     statistics (analysis/judge: Mann-Whitney U, two proportions, SPRT,
//     group score); Analysis.Check plugs into blue/green and canary.
//
// # A first release
//
// Build a strategy with the clients of a cluster (strategy.NewClients for a
// real one, fake.NewCluster().Clients() in tests) and call Run:
//
//	s := bluegreen.New(clients, bluegreen.Spec{ActiveService: "web"})
//	res, err := s.Run(ctx, strategy.Release{App: app, Revision: "v2", Workload: dep})
//
// Run returns when the release reaches a terminal phase. A second Run of the
// same release returns the recorded result; a Run after a crash continues
// where the record says the release was: at once under the same identity
// (the host name by default), once the crashed driver's lease has lapsed
// under another. Bad input is a *strategy.ValidationError before anything
// is written.
//
// A long-running program shares one strategy.Watches among its Runs
// (strategy.WithWatches) and calls Close when it stops: a Run in a
// namespace already watched then makes no list and opens no watch. Without
// it each Run watches on its own and ends every goroutine it started
// before it returns.
package switchyard
