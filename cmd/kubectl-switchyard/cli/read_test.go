package cli

import (
	"encoding/json"
	"errors"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"sigs.k8s.io/yaml"

	"github.com/switchyard-dev/switchyard/strategy"
)

// TestReadsOfAPausedRelease lists, shows and tells the history of a
// blue/green release of v2 paused for its manual promotion.
func TestReadsOfAPausedRelease(t *testing.T) {
	h := newHarness(t)
	done, release := h.pausedV2Held()
	defer func() { release(); require.NoError(t, h.control.Promote(h.ctx, h.app)); h.finish(done) }()

	t.Run("list", func(t *testing.T) {
		r := h.run("list")
		require.Equal(t, ExitOK, r.code, r.err)
		assert.Regexp(t, `APP +STRATEGY +REVISION +PHASE +STEP +WEIGHT +AGE\n`, r.out)
		assert.Regexp(t, `\nweb +bluegreen +v2 +Paused +promotion +- +\d+[smhd]\n`, r.out)
		assert.NotContains(t, r.out, "NAMESPACE")
	})
	t.Run("list all namespaces", func(t *testing.T) {
		r := h.run("list", "-A")
		require.Equal(t, ExitOK, r.code, r.err)
		assert.Regexp(t, `^NAMESPACE +APP +STRATEGY`, r.out)
		assert.Regexp(t, `\ndefault +web +bluegreen +v2 +Paused +promotion`, r.out)
	})
	t.Run("status", func(t *testing.T) {
		r := h.run("status", "web")
		require.Equal(t, ExitOK, r.code, r.err)
		for _, want := range []string{
			"Release:  web in default\n",
			"Strategy: bluegreen\n",
			"Revision: v2 (stable v1)\n",
			"Phase:    Paused: paused until Promote\n",
			"Step:     3 promotion\n",
			"Weight:   -\n",
			"Lease:    driver, renewed ",
			"Pending:  none\n",
			"History: v1 Succeeded, v2 Progressing",
			"kubectl switchyard promote web -n default  # go on past this step\n",
			"kubectl switchyard abort web -n default    # send all traffic back to v1",
		} {
			assert.Contains(t, r.out, want)
		}
	})
	t.Run("history", func(t *testing.T) {
		r := h.run("history", "web")
		require.Equal(t, ExitOK, r.code, r.err)
		assert.Regexp(t, `REVISION +PHASE +STARTED +FINISHED +IMAGES +NOTE +MESSAGE\n`, r.out)
		assert.Regexp(t, `\nv1 +Succeeded +\d+[smhd] +\d+[smhd] +web:v1 +serving +v1 serves from slot blue\n`, r.out)
		assert.Regexp(t, `\nv2 +Progressing +\d+[smhd] +- +web:v2 +current release`, r.out)
	})
}

// TestReadsForScripts reads the paused release of v2 as JSON and YAML.
func TestReadsForScripts(t *testing.T) {
	h := newHarness(t)
	done := h.pausedV2()
	defer func() { require.NoError(t, h.control.Promote(h.ctx, h.app)); h.finish(done) }()

	t.Run("list json", func(t *testing.T) {
		r := h.run("list", "-A", "-o", "json")
		require.Equal(t, ExitOK, r.code, r.err)
		var got ReleaseList
		require.NoError(t, json.Unmarshal([]byte(r.out), &got), r.out)
		require.Len(t, got.Items, 1)
		item := got.Items[0]
		assert.Equal(t, "default", item.Namespace)
		assert.Equal(t, "web", item.App)
		assert.Equal(t, strategy.PhasePaused, item.Phase)
		assert.Equal(t, 3, item.Step)
		assert.Equal(t, "promotion", item.StepName)
		assert.Equal(t, "driver", item.Lease.Holder)
	})
	t.Run("status yaml", func(t *testing.T) {
		r := h.run("status", "web", "-o", "yaml")
		require.Equal(t, ExitOK, r.code, r.err)
		var got ReleaseStatus
		require.NoError(t, yaml.Unmarshal([]byte(r.out), &got), r.out)
		assert.Equal(t, "v2", got.Revision)
		assert.Equal(t, "v1", got.Stable)
		assert.Equal(t, strategy.PhasePaused, got.Phase)
		assert.Equal(t, "bluegreen", got.Strategy)
		require.Len(t, got.History, 2)
		assert.Equal(t, "web:v1", got.History[0].Workload.Spec.Template.Spec.Containers[0].Image)
	})
	t.Run("history json", func(t *testing.T) {
		r := h.run("history", "web", "-o", "json")
		require.Equal(t, ExitOK, r.code, r.err)
		var got ReleaseHistory
		require.NoError(t, json.Unmarshal([]byte(r.out), &got), r.out)
		assert.Equal(t, "v1", got.Stable)
		require.Len(t, got.History, 2)
		assert.Equal(t, "v1", got.History[0].Revision)
		assert.Equal(t, strategy.PhaseSucceeded, got.History[0].Phase)
		assert.Equal(t, "v2", got.History[1].Revision)
	})
}

// TestNotFound: every command on an app with no record exits 3 and asks
// whether it was ever released.
func TestNotFound(t *testing.T) {
	h := newHarness(t)
	for _, args := range [][]string{
		{"status", "shop"}, {"history", "shop"}, {"watch", "shop"}, {"promote", "shop"}, {"abort", "shop", "--wait"},
	} {
		r := h.run(append(args, "-n", "default")...)
		assert.Equal(t, ExitNotFound, r.code, "%v", args)
		assert.Equal(t, "error: no release of shop in default: has it ever been Run? "+
			"(kubectl switchyard list -n default lists the releases there)\n", r.err, "%v", args)
		assert.Empty(t, r.out, "%v", args)
	}
}

// TestListEmpty: a namespace without releases lists nothing, says so on
// stderr, and exits 0; JSON gives an empty list.
func TestListEmpty(t *testing.T) {
	h := newHarness(t)
	r := h.run("list", "-n", "shop")
	assert.Equal(t, ExitOK, r.code)
	assert.Empty(t, r.out)
	assert.Equal(t, "No releases in namespace shop.\n", r.err)
	r = h.run("list", "-o", "json")
	assert.Equal(t, ExitOK, r.code)
	assert.JSONEq(t, `{"items": []}`, r.out)
}

// TestUnreadableRecords: a corrupt record is left out of list (exit 1,
// naming it) and status says how to inspect it; a look-alike ConfigMap
// is never taken for a record.
func TestUnreadableRecords(t *testing.T) {
	h := newHarness(t)
	h.ship(h.strategy(false), "v1")
	for name, labels := range map[string]map[string]string{
		"api.switchyard":  {strategy.LabelRecord: "true", strategy.LabelManagedBy: strategy.ManagedBy},
		"shop.switchyard": {"app": "shop"},
	} {
		_, err := h.c.Clients().Kube.CoreV1().ConfigMaps("default").Create(h.ctx, &corev1.ConfigMap{
			ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "default", Labels: labels},
			Data:       map[string]string{strategy.RecordKey: "{not json"},
		}, metav1.CreateOptions{})
		require.NoError(t, err)
	}
	r := h.run("list")
	assert.Equal(t, ExitError, r.code)
	assert.Regexp(t, `\nweb +bluegreen +v1 +Succeeded`, r.out)
	assert.NotContains(t, r.out, "api")
	assert.Contains(t, r.err, "error: some release records could not be read and are left out: release record default/api.switchyard of default/api: cannot parse record.json")

	r = h.run("status", "api")
	assert.Equal(t, ExitError, r.code)
	assert.Regexp(t, `^error: release record default/api.switchyard of default/api: cannot parse record.json: .*; `+
		`the record is left as it is: inspect it with kubectl get configmap api.switchyard -n default -o yaml\n$`, r.err)
	r = h.run("abort", "shop")
	assert.Equal(t, ExitError, r.code)
	assert.Contains(t, r.err, "ConfigMap shop.switchyard in default is not a switchyard release record (no switchyard labels), so it is never read or written")
}

// TestForbidden: a call the cluster forbids exits 1 and says which verbs
// on which resource the command needs, and where the roles are.
func TestForbidden(t *testing.T) {
	h := newHarness(t)
	h.ship(h.strategy(false), "v1")
	forbid := func(verb string) {
		h.c.ClearFaults()
		h.c.FailRequests(verb, "configmaps", apierrors.NewForbidden(schema.GroupResource{Resource: "configmaps"},
			"web.switchyard", errors.New("RBAC: not allowed")), 0)
	}
	cases := []struct {
		verb string
		args []string
		want string
	}{
		{"get", []string{"status", "web"}, "error: forbidden: this command needs get on configmaps (the release record web.switchyard) in namespace default; docs/rbac.md lists the roles"},
		{"update", []string{"undo", "web", "--to", "v1"}, "error: forbidden: this command needs get and update on configmaps (the release record web.switchyard) in namespace default; docs/rbac.md"},
		{"list", []string{"list", "-A"}, "error: forbidden: list needs list on configmaps in all namespaces (a ClusterRole, or leave out -A); docs/rbac.md"},
		{"list", []string{"list"}, "error: forbidden: list needs list on configmaps in namespace default; docs/rbac.md"},
	}
	for _, c := range cases {
		forbid(c.verb)
		r := h.run(c.args...)
		assert.Equal(t, ExitError, r.code, "%v: %s", c.args, r.err)
		assert.Contains(t, r.err, c.want, "%v", c.args)
		assert.Contains(t, r.err, "RBAC: not allowed", "%v", c.args)
	}
}

// TestWatchForbidden: a watch the cluster forbids ends watch at once,
// naming the verbs it needs.
func TestWatchForbidden(t *testing.T) {
	h := newHarness(t)
	done := h.pausedV2()
	h.c.FailRequests("watch", "configmaps", apierrors.NewForbidden(schema.GroupResource{Resource: "configmaps"},
		"", errors.New("RBAC: not allowed")), 0)
	r := h.run("watch", "web")
	assert.Equal(t, ExitError, r.code, r.err)
	assert.Contains(t, r.err, "error: forbidden: this command needs get, list and watch on configmaps (the release record web.switchyard) in namespace default; docs/rbac.md")
	h.c.ClearFaults()
	require.NoError(t, h.control.Promote(h.ctx, h.app))
	h.finish(done)
}

// TestUsage: bad arguments and flags exit 2 with a pointer to the help.
func TestUsage(t *testing.T) {
	h := newHarness(t)
	cases := map[string]struct {
		args []string
		want string
	}{
		"unknown command": {[]string{"rollout"}, `error: unknown command "rollout": see kubectl switchyard --help`},
		"missing app":     {[]string{"status"}, "error: status takes one argument, the app's name: kubectl switchyard status APP"},
		"two apps":        {[]string{"promote", "web", "api"}, "error: promote takes one argument"},
		"list argument":   {[]string{"list", "web"}, `error: list takes no arguments, got ["web"]`},
		"unknown flag":    {[]string{"status", "web", "--bogus"}, "error: unknown flag: --bogus (see --help)"},
		"bad output":      {[]string{"list", "-o", "xml"}, "error: -o xml: choose json or yaml"},
		"bad timeout":     {[]string{"abort", "web", "--timeout", "soon"}, `error: invalid argument "soon" for "--timeout"`},
	}
	for name, c := range cases {
		t.Run(name, func(t *testing.T) {
			r := h.run(c.args...)
			assert.Equal(t, ExitUsage, r.code)
			assert.Contains(t, r.err, c.want)
		})
	}
	r := h.run("--help")
	assert.Equal(t, ExitOK, r.code)
	for _, want := range []string{"Exit codes:", "4    refused", "watch", "promote", "undo", "--kubeconfig", "-n, --namespace"} {
		assert.Contains(t, r.out, want)
	}
}
