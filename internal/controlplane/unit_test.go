package controlplane

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// These tests need no control plane and run under -short.

func TestCacheKey(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	for _, m := range []string{"kube", "kwok"} {
		require.NoError(t, os.MkdirAll(filepath.Join(dir, m), 0o755))
		for _, f := range []string{"go.mod", "go.sum"} {
			require.NoError(t, os.WriteFile(filepath.Join(dir, m, f), []byte(m+f), 0o644))
		}
	}
	base, err := cacheKey(dir, "go1.26.0")
	require.NoError(t, err)
	again, err := cacheKey(dir, "go1.26.0")
	require.NoError(t, err)
	assert.Equal(t, base, again, "the key is stable")
	assert.Len(t, base, 16)

	otherGo, err := cacheKey(dir, "go1.26.1")
	require.NoError(t, err)
	assert.NotEqual(t, base, otherGo, "a Go upgrade rebuilds")

	require.NoError(t, os.WriteFile(filepath.Join(dir, "kwok", "go.sum"), []byte("changed"), 0o644))
	otherSum, err := cacheKey(dir, "go1.26.0")
	require.NoError(t, err)
	assert.NotEqual(t, base, otherSum, "a tools dependency change rebuilds")
}

func TestRepoRootAndToolsModules(t *testing.T) {
	t.Parallel()
	root, err := repoRoot()
	require.NoError(t, err)
	got, err := modulePathOf(filepath.Join(root, "go.mod"))
	require.NoError(t, err)
	assert.Equal(t, modulePath, got)

	v, err := requiredVersion(filepath.Join(root, "internal/controlplane/tools/kube/go.mod"), "k8s.io/kubernetes")
	require.NoError(t, err)
	assert.True(t, strings.HasPrefix(v, "v1."), v)

	// The main module must never require k8s.io/kubernetes.
	_, err = requiredVersion(filepath.Join(root, "go.mod"), "k8s.io/kubernetes")
	assert.Error(t, err, "the main module requires k8s.io/kubernetes")
}

func TestKubeLDFlags(t *testing.T) {
	t.Parallel()
	want := "-X k8s.io/component-base/version.gitVersion=v1.37.2 -X k8s.io/component-base/version.gitMajor=1 " +
		"-X k8s.io/component-base/version.gitMinor=37 -X k8s.io/component-base/version.gitTreeState=clean"
	assert.Equal(t, want, kubeLDFlags("v1.37.2"))
}

func TestEtcdArgs(t *testing.T) {
	t.Parallel()
	p := paths{etcdData: "/d"}
	pt := ports{etcdClient: 1, etcdPeer: 2}
	tests := map[string]struct {
		noFsync bool
		want    []string
	}{
		"without fsync": {noFsync: true, want: []string{"--unsafe-no-fsync=true"}},
		"old etcd":      {noFsync: false, want: nil},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			args := etcdArgs(p, pt, tc.noFsync)
			var extra []string
			for _, a := range args {
				if strings.HasPrefix(a, "--unsafe") {
					extra = append(extra, a)
				}
			}
			if diff := cmp.Diff(tc.want, extra); diff != "" {
				t.Errorf("unsafe flags (-want +got):\n%s", diff)
			}
			assert.Contains(t, args, "--listen-client-urls=http://127.0.0.1:1")
			assert.Contains(t, args, "--initial-cluster=switchyard=http://127.0.0.1:2")
		})
	}
}

func TestAPIServerArgs(t *testing.T) {
	t.Parallel()
	args := apiserverArgs(paths{}, ports{apiserver: 6443}, "10.96.0.0/16")
	for _, want := range []string{
		"--authorization-mode=Node,RBAC",
		"--endpoint-reconciler-type=none",
		"--bind-address=127.0.0.1",
		"--secure-port=6443",
	} {
		assert.Contains(t, args, want)
	}
}
