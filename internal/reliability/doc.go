// Package reliability tests bluegreen, canary and bootstrap on a real
// control plane (internal/controlplane) while the API fails under them,
// and while their driver is killed.
//
// Proxy is an API fault-injecting reverse proxy on loopback in front of
// the kube-apiserver: the clients under test talk to it (Proxy.Config),
// and it answers a seeded share of their requests with 500, 429 (with
// Retry-After), 409 Conflict (updates and patches), a timeout (held, then
// 504) or a lost answer (forwarded, answered by the server, then dropped:
// the write happened but the client sees a broken stream). Watches get
// faults only when they are established, unless Options.WatchCut also cuts
// them mid-stream. The fate of the n-th request of each key (method, path
// without the namespace, selectors) depends only on the seed. The proxy
// also counts the writes that reached the server, so that a test can stop
// a driver process right after its n-th write and kill it.
//
// The tests, in this package's _test files:
//
//   - TestReleasesUnderAPIFaults: blue/green, canary and bootstrap releases
//     at 20 % and 50 % faults end Succeeded or fail cleanly, the record
//     reads back consistently, the stable Service never loses ready
//     endpoints, and a fault-free re-run converges;
//   - TestKilledCanaryDriver and TestKilledBootstrapDriver: a driver
//     process killed with SIGKILL after its k-th write, for every k, is
//     finished by a driver with the same identity, which takes over at once
//     and ends in the state of a release that never crashed;
//   - TestKwokNodesDeclareEphemeralStorage: what bundles that request
//     ephemeral-storage need of the harness's Nodes;
//   - the Proxy's own tests, which run under -short too;
//   - the bugs the suite found, each a test of its own (bugs_test.go): a
//     lost answer to a record or inventory write, one discovery fault, and
//     a server that does not answer discovery before the run's deadline.
//
// # Knobs
//
//   - SWITCHYARD_RELIABILITY_LONG=1: more fault levels (10 to 65 %), three
//     seeds each, and a quarter of the watches cut mid-stream. About seven
//     minutes on 2 cores.
//   - SWITCHYARD_RELIABILITY_SEED=n: the first seed (default 1), to replay
//     a run's faults.
//   - SWITCHYARD_RELIABILITY_PARALLEL=n: scenarios and kill trials that run
//     at once (default 4).
//
// Run it with (about a minute on 2 cores once the binaries are built):
//
//	go test -count=1 ./internal/reliability/
//
// Everything that needs the control plane skips under go test -short.
package reliability
