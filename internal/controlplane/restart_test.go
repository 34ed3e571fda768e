package controlplane

import (
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestEnsureBinariesCacheHit checks that binaries built once are reused:
// concurrent calls after the first build none and agree on the files.
func TestEnsureBinariesCacheHit(t *testing.T) {
	if testing.Short() {
		t.Skip("skipping: the first call builds Kubernetes from source")
	}
	ctx := t.Context()
	first, err := EnsureBinaries(ctx)
	require.NoError(t, err)

	results := make(chan Binaries, 3)
	errs := make(chan error, 3)
	for range 3 {
		go func() {
			b, err := EnsureBinaries(ctx)
			results <- b
			errs <- err
		}()
	}
	for range 3 {
		require.NoError(t, <-errs)
		b := <-results
		assert.False(t, b.Built, "a second EnsureBinaries must be a cache hit")
		assert.Equal(t, first.Dir, b.Dir)
	}
	for _, p := range []string{first.Etcd, first.KubeAPIServer, first.KubeControllerManager, first.KubeScheduler, first.Kubectl, first.Kwok} {
		st, err := os.Stat(p)
		if assert.NoError(t, err) {
			assert.NotZero(t, st.Mode()&0o111, "%s is not executable", p)
		}
	}
	assert.NotEmpty(t, first.Stages)
	leftovers, err := filepath.Glob(first.Dir + ".tmp-*")
	require.NoError(t, err)
	assert.Empty(t, leftovers, "no half-built folders")
}

// TestStartStopRestart starts a control plane of its own twice from the
// cached binaries, and checks that Stop ends every process and removes the
// temporary folder.
func TestStartStopRestart(t *testing.T) {
	if testing.Short() {
		t.Skip("skipping real-control-plane test in -short mode")
	}
	t.Setenv("SWITCHYARD_KEEP_LOGS", "") // the test checks that Stop cleans up
	for i := range 2 {
		cp := &ControlPlane{Nodes: 1}
		ctx, cancel := context.WithTimeout(t.Context(), 5*time.Minute)
		began := time.Now()
		cfg, err := cp.Start(ctx)
		cancel()
		require.NoError(t, err)
		t.Logf("start %d: control plane ready in %s (binaries built: %v)", i+1, time.Since(began).Round(time.Millisecond), cp.Binaries().Built)

		client, err := kubernetes.NewForConfig(cfg)
		require.NoError(t, err)
		nodes, err := client.CoreV1().Nodes().List(t.Context(), metav1.ListOptions{LabelSelector: "type=kwok"})
		require.NoError(t, err)
		assert.Len(t, nodes.Items, 1)
		out, err := cp.Kubectl(t.Context(), "get", "nodes", "-o", "name").CombinedOutput()
		require.NoError(t, err, "%s", out)
		assert.Equal(t, "node/kwok-node-0\n", string(out))

		dir, procs := cp.dir, cp.procs
		require.NoError(t, cp.Stop())
		for _, p := range procs {
			assert.Error(t, p.exited(), "%s still running after Stop", p.name)
		}
		_, err = os.Stat(dir)
		assert.ErrorIs(t, err, os.ErrNotExist, "Stop must remove %s", dir)
		assert.NoError(t, cp.Stop(), "a second Stop does nothing")
	}
}

// TestStartFailureKeepsLogs checks that a process dying during Start is
// reported with its log, that nothing keeps running and the logs stay.
func TestStartFailureKeepsLogs(t *testing.T) {
	if testing.Short() {
		t.Skip("skipping real-control-plane test in -short mode")
	}
	logDir := t.TempDir()
	cp := &ControlPlane{LogDir: logDir, ExtraArgs: map[string][]string{KubeAPIServer: {"--no-such-flag"}}}
	_, err := cp.Start(t.Context())
	require.Error(t, err)
	var exit *ExitError
	require.ErrorAs(t, err, &exit)
	assert.Equal(t, KubeAPIServer, exit.Component)
	assert.Contains(t, exit.LogTail, "no-such-flag")
	assert.Equal(t, filepath.Join(logDir, "kube-apiserver.log"), exit.LogPath)
	assert.FileExists(t, filepath.Join(logDir, "etcd.log"))
	assert.Empty(t, cp.procs, "Start stops what it started")
	assert.NoError(t, cp.Stop())
}
