package controlplane

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"sync"
	"testing"

	"k8s.io/client-go/rest"
)

// shared is the control plane of a test binary that calls Main.
var shared struct {
	once    sync.Once
	enabled bool // Main was called
	cp      ControlPlane
	cfg     *rest.Config
	err     error
	mu      sync.Mutex
	failed  bool // a test using the control plane failed
}

// Main runs a package's tests with one control plane shared by them all;
// call it from TestMain. The control plane starts on the first call to
// Config or Kubectl, so a run that needs none pays nothing, and stops after
// the tests. Its logs are kept if any test that used it failed.
func Main(m *testing.M) {
	if !flag.Parsed() {
		flag.Parse()
	}
	shared.enabled = true
	code := m.Run()
	shared.mu.Lock()
	failed := shared.failed || code != 0
	shared.mu.Unlock()
	if shared.cfg != nil || shared.err != nil {
		shared.cp.KeepLogs = shared.cp.KeepLogs || failed
		if err := shared.cp.Stop(); err != nil {
			fmt.Fprintf(os.Stderr, "controlplane: stopping: %v\n", err)
			if code == 0 {
				code = 1
			}
		}
	}
	os.Exit(code)
}

// Config returns an admin configuration for the shared control plane,
// starting it on first use. Under -short it skips the test, since the first
// run builds Kubernetes from source. It fails the test if the control plane
// cannot start. Each call returns a copy the caller may change.
func Config(tb testing.TB) *rest.Config {
	tb.Helper()
	return SharedControlPlane(tb).Config()
}

// Kubectl returns a kubectl command bound to the shared control plane's
// admin kubeconfig, for tests and benchmarks that drive the CLI.
func Kubectl(tb testing.TB, args ...string) *exec.Cmd {
	tb.Helper()
	return SharedControlPlane(tb).Kubectl(tb.Context(), args...)
}

// SharedControlPlane returns the shared control plane, starting it on first
// use; it skips and fails tests as Config does. Main stops it: tests must
// not call its Stop.
func SharedControlPlane(tb testing.TB) *ControlPlane {
	tb.Helper()
	if testing.Short() {
		tb.Skip("skipping real-control-plane test in -short mode (it runs etcd, kube-apiserver, " +
			"kube-controller-manager, kube-scheduler and kwok; the first run builds them)")
	}
	if !shared.enabled {
		tb.Fatal("controlplane: call controlplane.Main(m) from TestMain to use the shared control plane")
	}
	shared.once.Do(func() {
		// Not the test's context: the control plane outlives this test.
		shared.cfg, shared.err = shared.cp.Start(context.Background())
	})
	if shared.err != nil {
		tb.Fatalf("starting the control plane: %v", shared.err)
	}
	tb.Cleanup(func() {
		if tb.Failed() {
			shared.mu.Lock()
			shared.failed = true
			shared.mu.Unlock()
		}
	})
	return &shared.cp
}
