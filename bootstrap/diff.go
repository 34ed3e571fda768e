package bootstrap

import (
	"encoding/json"
	"fmt"
	"reflect"
	"sort"
	"strings"
)

// diff lists the fields that differ between live and next, one per line:
// "+ path: value" for an added field, "- path: value" for a removed one,
// "~ path: old -> new" for a changed one. Lists whose items all have a
// name are matched by name ("containers[name=web].image"). Metadata the
// server keeps and the status are left out; with secret set, values under
// data and stringData are not shown.
func diff(live, next map[string]any, secret bool) string {
	d := differ{secret: secret}
	d.walk("", strip(live), strip(next))
	return strings.Join(d.lines, "\n")
}

type differ struct {
	secret bool
	lines  []string
}

// strip returns a shallow copy of obj without status and server-kept
// metadata.
func strip(obj map[string]any) map[string]any {
	out := make(map[string]any, len(obj))
	for k, v := range obj {
		if k != "status" {
			out[k] = v
		}
	}
	if md, ok := obj["metadata"].(map[string]any); ok {
		m := make(map[string]any, len(md))
		for k, v := range md {
			switch k {
			case "managedFields", "resourceVersion", "generation", "uid", "creationTimestamp", "selfLink":
			default:
				m[k] = v
			}
		}
		out["metadata"] = m
	}
	return out
}

func (d *differ) walk(path string, a, b any) {
	if reflect.DeepEqual(a, b) {
		return
	}
	switch {
	case a == nil:
		d.add("+", path, d.show(path, b))
		return
	case b == nil:
		d.add("-", path, d.show(path, a))
		return
	}
	am, aok := a.(map[string]any)
	bm, bok := b.(map[string]any)
	if aok && bok {
		keys := map[string]bool{}
		for k := range am {
			keys[k] = true
		}
		for k := range bm {
			keys[k] = true
		}
		for _, k := range sortedKeys(keys) {
			d.walk(join(path, k), am[k], bm[k])
		}
		return
	}
	al, aok := a.([]any)
	bl, bok := b.([]any)
	if aok && bok {
		if an, bn := byName(al), byName(bl); an != nil && bn != nil {
			keys := map[string]bool{}
			for k := range an {
				keys[k] = true
			}
			for k := range bn {
				keys[k] = true
			}
			for _, k := range sortedKeys(keys) {
				d.walk(fmt.Sprintf("%s[name=%s]", path, k), an[k], bn[k])
			}
			return
		}
		for i := 0; i < max(len(al), len(bl)); i++ {
			var x, y any
			if i < len(al) {
				x = al[i]
			}
			if i < len(bl) {
				y = bl[i]
			}
			d.walk(fmt.Sprintf("%s[%d]", path, i), x, y)
		}
		return
	}
	d.add("~", path, d.show(path, a)+" -> "+d.show(path, b))
}

func (d *differ) add(sign, path, text string) {
	d.lines = append(d.lines, sign+" "+path+": "+text)
}

// show formats a value for a line of the diff.
func (d *differ) show(path string, v any) string {
	if d.secret && (strings.HasPrefix(path, "data.") || strings.HasPrefix(path, "stringData.") ||
		path == "data" || path == "stringData") {
		return "(sensitive)"
	}
	raw, err := json.Marshal(v)
	if err != nil {
		return fmt.Sprint(v)
	}
	s := string(raw)
	if len(s) > 120 {
		s = s[:117] + "..."
	}
	return s
}

// byName indexes a list of objects by their name, or returns nil when an
// item is not an object with a unique name.
func byName(l []any) map[string]any {
	out := make(map[string]any, len(l))
	for _, it := range l {
		m, ok := it.(map[string]any)
		if !ok {
			return nil
		}
		n, ok := m["name"].(string)
		if !ok {
			return nil
		}
		if _, dup := out[n]; dup {
			return nil
		}
		out[n] = it
	}
	return out
}

func join(path, key string) string {
	if path == "" {
		return key
	}
	return path + "." + key
}

func sortedKeys(m map[string]bool) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}
