package bootstrap_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"

	"github.com/switchyard-dev/switchyard/bootstrap"
)

func TestDecode(t *testing.T) {
	t.Parallel()
	tests := map[string]struct {
		in    string
		names []string
	}{
		"documents": {in: "# a comment\n---\napiVersion: v1\nkind: ConfigMap\nmetadata: {name: a}\n--- # the second\napiVersion: v1\nkind: ConfigMap\nmetadata: {name: b}\n---\n",
			names: []string{"a", "b"}},
		"json":       {in: `{"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "a"}}`, names: []string{"a"}},
		"json array": {in: `[{"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "a"}}, {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "b"}}]`, names: []string{"a", "b"}},
		"list": {in: "apiVersion: v1\nkind: List\nitems:\n- {apiVersion: v1, kind: ConfigMap, metadata: {name: a}}\n- {apiVersion: v1, kind: ConfigMap, metadata: {name: b}}\n",
			names: []string{"a", "b"}},
		"empty": {in: "\n---\n# nothing\n---\n"},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			objs, err := bootstrap.Decode("in", strings.NewReader(tc.in))
			require.NoError(t, err)
			var names []string
			for _, o := range objs {
				names = append(names, o.GetName())
			}
			assert.Equal(t, tc.names, names)
		})
	}

	objs, err := bootstrap.Decode("in", strings.NewReader("apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: d}\nspec: {replicas: 3}\n"))
	require.NoError(t, err)
	assert.Equal(t, int64(3), objs[0].Object["spec"].(map[string]any)["replicas"], "whole numbers stay integers, as the API decodes them")
}

func TestDecodeErrors(t *testing.T) {
	t.Parallel()
	tests := map[string]struct {
		in             string
		document, line int
		text           string
	}{
		"bad indent in the second document": {
			in:       "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: a}\n---\napiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: b\n   bad: x\n",
			document: 2, line: 9, text: "mapping values are not allowed",
		},
		"no kind": {in: "apiVersion: v1\nmetadata: {name: a}\n", document: 1, line: 1, text: "apiVersion and kind are required"},
		"third document, a scalar": {
			in:       "---\napiVersion: v1\nkind: ConfigMap\nmetadata: {name: a}\n---\n---\njust text\n",
			document: 4, line: 7, text: "must be an object",
		},
		"list item without kind": {in: "apiVersion: v1\nkind: List\nitems:\n- {metadata: {name: a}}\n", document: 1, line: 1, text: "list item 0"},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			_, err := bootstrap.Decode("bundle.yaml", strings.NewReader(tc.in))
			var de *bootstrap.DecodeError
			require.ErrorAs(t, err, &de)
			assert.Equal(t, "bundle.yaml", de.Source)
			assert.Equal(t, tc.document, de.Document)
			assert.Equal(t, tc.line, de.Line)
			assert.Contains(t, err.Error(), tc.text)
			assert.True(t, strings.HasPrefix(err.Error(), "bundle.yaml: document "), err.Error())
		})
	}
}

func TestReadFiles(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	write := func(name, body string) {
		require.NoError(t, os.MkdirAll(filepath.Dir(filepath.Join(dir, name)), 0o755))
		require.NoError(t, os.WriteFile(filepath.Join(dir, name), []byte(body), 0o644))
	}
	write("b.yaml", "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: b}\n")
	write("a.json", `{"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "a"}}`)
	write("sub/c.yml", "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: c}\n")
	write("README.md", "not a manifest")
	write("broken.yaml", "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: x}\n---\nkind: [\n")

	objs, err := bootstrap.ReadFiles(filepath.Join(dir, "a.json"), filepath.Join(dir, "b.yaml"), filepath.Join(dir, "sub"))
	require.NoError(t, err)
	var names []string
	for _, o := range objs {
		names = append(names, o.GetName())
	}
	assert.Equal(t, []string{"a", "b", "c"}, names)

	_, err = bootstrap.ReadFiles(dir)
	var de *bootstrap.DecodeError
	require.ErrorAs(t, err, &de)
	assert.Equal(t, filepath.Join(dir, "broken.yaml"), de.Source)
	assert.Equal(t, 2, de.Document)
	assert.Equal(t, 5, de.Line)

	_, err = bootstrap.ReadFiles(filepath.Join(dir, "missing"))
	assert.Error(t, err)
}

func TestObjects(t *testing.T) {
	t.Parallel()
	objs, err := bootstrap.Objects(
		&corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "apps"}},
		&appsv1.Deployment{ObjectMeta: metav1.ObjectMeta{Name: "web", Namespace: "apps"}, Spec: appsv1.DeploymentSpec{Replicas: ptr.To[int32](2)}},
	)
	require.NoError(t, err)
	require.Len(t, objs, 2)
	assert.Equal(t, bootstrap.Ref{Kind: "Namespace", Name: "apps"}, bootstrap.RefOf(objs[0]))
	assert.Equal(t, "apps/v1", objs[1].GetAPIVersion())
	assert.Equal(t, bootstrap.Ref{Group: "apps", Kind: "Deployment", Namespace: "apps", Name: "web"}, bootstrap.RefOf(objs[1]))
	assert.NotContains(t, objs[1].Object, "status")
}

func TestParseDependsOn(t *testing.T) {
	t.Parallel()
	refs, err := bootstrap.ParseDependsOn("apps/namespaces/db/StatefulSet/pg, /namespaces/db/Service/pg,rbac.authorization.k8s.io/ClusterRole/admin")
	require.NoError(t, err)
	assert.Equal(t, []bootstrap.Ref{
		{Group: "apps", Kind: "StatefulSet", Namespace: "db", Name: "pg"},
		{Kind: "Service", Namespace: "db", Name: "pg"},
		{Group: "rbac.authorization.k8s.io", Kind: "ClusterRole", Name: "admin"},
	}, refs)
	for _, r := range refs {
		back, err := bootstrap.ParseDependsOn(r.DependsOnValue())
		require.NoError(t, err)
		assert.Equal(t, []bootstrap.Ref{r}, back)
	}
	for _, bad := range []string{"Service/pg", "apps/ns/db/StatefulSet/pg", "/namespaces//Service/pg", "a/b/c/d"} {
		_, err := bootstrap.ParseDependsOn(bad)
		assert.Error(t, err, bad)
	}
}
