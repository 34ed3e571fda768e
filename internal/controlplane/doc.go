// Package controlplane runs a real Kubernetes control plane on loopback for
// the project's tests: etcd, kube-apiserver (RBAC on, token authentication),
// kube-controller-manager, kube-scheduler, and kwok, which simulates Nodes
// and turns scheduled Pods Running and Ready, so Deployments become
// Available and EndpointSlices fill without a kubelet or container runtime.
//
// The entry point is [ControlPlane]: a struct with documented defaults whose
// Start returns an admin *rest.Config and whose Stop ends every process. A
// test package shares one control plane by calling [Main] from TestMain and
// [Config] in its tests; under go test -short those tests skip.
//
// # Binaries and their cache
//
// The programs are built from source, from the Go module proxy, by the
// tools modules under tools/kube (k8s.io/kubernetes, etcd) and tools/kwok,
// so the main module never requires k8s.io/kubernetes. [EnsureBinaries]
// builds them on first use into CACHE/bin/<key>, where key hashes those
// modules' go.mod and go.sum, the Go version and the platform; a change to
// any of them builds afresh. The first build takes minutes (9 on 2 cores
// with an empty Go build cache, plus module downloads) and logs each binary
// to stderr; later runs reuse the binaries and start in about 5 seconds. A file lock makes concurrent test
// binaries wait for one build.
//
// CACHE is $SWITCHYARD_CACHE if set, else os.UserCacheDir()/switchyard
// (~/.cache/switchyard on Linux), else os.TempDir()/switchyard-cache. To
// clear it, remove that folder: rm -rf ~/.cache/switchyard. Old keys are
// never removed automatically.
//
// # Environment
//
//   - SWITCHYARD_CACHE: the cache folder, see above.
//   - SWITCHYARD_KEEP_LOGS=1: keep the logs (and kubeconfigs) after a run that
//     passed.
//
// # When a run fails
//
// Each process writes to its own log in the control plane's temporary
// folder: logs/etcd.log, kube-apiserver.log, kube-controller-manager.log,
// kube-scheduler.log and kwok.log, each starting with its command line.
// When Start fails, a process exits early, or a test using the shared
// control plane fails, the folder is kept (without etcd data) and its path
// printed as "controlplane: kept control plane logs in …"; admin.kubeconfig
// sits next to it. Errors of processes that died carry the end of their log.
//
// # Limits
//
// Linux and other Unix systems only (process groups, flock). No kubelet:
// containers never run, so probes, exec, logs and port-forward do not work;
// pods turn Ready at once. The node lifecycle controller is off, so Nodes
// never turn NotReady and pods are never evicted. Ports are loopback only.
package controlplane
