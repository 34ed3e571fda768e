package bootstrap

import (
	"strings"
	"testing"
)

// FuzzDecode feeds arbitrary text to the manifest decoder: it returns
// objects or an error naming where, never panics, and every object it
// returns has an apiVersion, a kind and string names. The seeds run as an
// ordinary test (one found that a name of [1] decoded as no name); a
// longer run:
//
//	go test -run '^$' -fuzz FuzzDecode -fuzztime 60s ./bootstrap/
func FuzzDecode(f *testing.F) {
	for _, seed := range []string{
		"apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: a\n  namespace: b\n",
		"apiVersion: v1\nkind: List\nitems:\n- apiVersion: v1\n  kind: Secret\n  metadata: {name: s}\n",
		"---\n---\napiVersion: v1\nkind: Namespace\nmetadata: {name: n}\n",
		`{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"x"}}`,
		"kind: ConfigMap\n", "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: [1]}\n",
		"a: &a [*a, *a]\n", ": :\n", "\t- x", "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: a\ndata: {k: 1.5e400}\n",
	} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, text string) {
		objs, err := Decode("fuzz.yaml", strings.NewReader(text))
		if err != nil {
			return
		}
		for _, o := range objs {
			if o.GetAPIVersion() == "" || o.GetKind() == "" {
				t.Fatalf("decoded an object without apiVersion or kind: %v", o.Object)
			}
			if meta, ok := o.Object["metadata"].(map[string]any); ok {
				if name, ok := meta["name"]; ok && name != o.GetName() {
					t.Fatalf("metadata.name %v decoded as %q", name, o.GetName())
				}
			}
		}
	})
}
