package bootstrap

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	utiljson "k8s.io/apimachinery/pkg/util/json"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"sigs.k8s.io/yaml"
)

// DecodeError is a manifest that cannot be read. It names where the
// document is: its source, its position in that source (1 for the first
// document) and the line of the source the problem is on.
type DecodeError struct {
	Source   string
	Document int
	Line     int
	Err      error
}

func (e *DecodeError) Error() string {
	return fmt.Sprintf("%s: document %d (line %d): %v", e.Source, e.Document, e.Line, e.Err)
}

func (e *DecodeError) Unwrap() error { return e.Err }

// ReadFiles reads the manifests of files and directories. A directory
// contributes its *.yaml, *.yml and *.json files, in lexical order of their
// paths, its subdirectories included. Objects keep the order in which they
// were read; the order does not decide the order of apply.
func ReadFiles(paths ...string) ([]*unstructured.Unstructured, error) {
	var out []*unstructured.Unstructured
	for _, p := range paths {
		var files []string
		err := filepath.WalkDir(p, func(path string, d fs.DirEntry, err error) error {
			if err != nil {
				return err
			}
			if d.IsDir() {
				return nil
			}
			switch strings.ToLower(filepath.Ext(path)) {
			case ".yaml", ".yml", ".json":
				files = append(files, path)
			default:
				if path == p { // a file named explicitly is read whatever its name
					files = append(files, path)
				}
			}
			return nil
		})
		if err != nil {
			return nil, fmt.Errorf("reading manifests: %w", err)
		}
		for _, f := range files {
			objs, err := readFile(f)
			if err != nil {
				return nil, err
			}
			out = append(out, objs...)
		}
	}
	return out, nil
}

func readFile(path string) ([]*unstructured.Unstructured, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("reading manifests: %w", err)
	}
	defer f.Close()
	return Decode(path, f)
}

// Decode reads multi-document YAML or JSON from r: documents separated by
// "---" lines, each an object, a v1 List, or a JSON array of objects.
// Empty documents are skipped. source names r in errors, which are
// *DecodeError.
func Decode(source string, r io.Reader) ([]*unstructured.Unstructured, error) {
	data, err := io.ReadAll(r)
	if err != nil {
		return nil, fmt.Errorf("reading %s: %w", source, err)
	}
	var out []*unstructured.Unstructured
	for _, doc := range splitDocuments(data) {
		objs, err := decodeDocument(doc.body)
		if err != nil {
			line := doc.line
			var le *lineError
			if errors.As(err, &le) {
				line += le.line - 1
				err = le.err
			}
			return nil, &DecodeError{Source: source, Document: doc.index, Line: line, Err: err}
		}
		out = append(out, objs...)
	}
	return out, nil
}

type document struct {
	index int    // 1 for the first document of the source
	line  int    // line of the source the document starts on
	body  []byte // the document without its separator
}

// separator matches a YAML document separator line, which may carry a
// comment.
var separator = regexp.MustCompile(`^---(\s.*)?$`)

func splitDocuments(data []byte) []document {
	var docs []document
	cur := document{index: 1, line: 1}
	var body bytes.Buffer
	sc := bufio.NewScanner(bytes.NewReader(data))
	sc.Buffer(make([]byte, 64*1024), len(data)+1)
	n := 0
	for sc.Scan() {
		n++
		line := sc.Text()
		if separator.MatchString(strings.TrimRight(line, "\r")) {
			cur.body = bytes.Clone(body.Bytes())
			docs = append(docs, cur)
			cur = document{index: cur.index + 1, line: n + 1}
			body.Reset()
			continue
		}
		body.WriteString(line)
		body.WriteByte('\n')
	}
	cur.body = body.Bytes()
	return append(docs, cur)
}

// lineError is an error at a line of a document (1 for its first line).
type lineError struct {
	line int
	err  error
}

func (e *lineError) Error() string { return fmt.Sprintf("line %d: %v", e.line, e.err) }

// yamlLine finds the line number the YAML parser reports.
var yamlLine = regexp.MustCompile(`^(?:error converting YAML to JSON: )?yaml: line (\d+): (.*)$`)

func decodeDocument(body []byte) ([]*unstructured.Unstructured, error) {
	if blank(body) {
		return nil, nil
	}
	js, err := yaml.YAMLToJSON(body)
	if err != nil {
		if m := yamlLine.FindStringSubmatch(err.Error()); m != nil {
			n, _ := strconv.Atoi(m[1])
			return nil, &lineError{line: n, err: errors.New(m[2])}
		}
		return nil, err
	}
	var v any
	if err := utiljson.Unmarshal(js, &v); err != nil {
		return nil, err
	}
	switch t := v.(type) {
	case nil:
		return nil, nil
	case []any:
		return objectsOf(t, "array element")
	case map[string]any:
		u := &unstructured.Unstructured{Object: t}
		if err := checkTypeMeta(u); err != nil {
			return nil, err
		}
		if u.IsList() {
			items, _, _ := unstructured.NestedSlice(t, "items")
			return objectsOf(items, "list item")
		}
		return []*unstructured.Unstructured{u}, nil
	default:
		return nil, fmt.Errorf("a manifest must be an object, a list or an array, not %T", v)
	}
}

func objectsOf(items []any, what string) ([]*unstructured.Unstructured, error) {
	out := make([]*unstructured.Unstructured, 0, len(items))
	for i, it := range items {
		m, ok := it.(map[string]any)
		if !ok {
			return nil, fmt.Errorf("%s %d is not an object", what, i)
		}
		u := &unstructured.Unstructured{Object: m}
		if err := checkTypeMeta(u); err != nil {
			return nil, fmt.Errorf("%s %d: %w", what, i, err)
		}
		out = append(out, u)
	}
	return out, nil
}

func checkTypeMeta(u *unstructured.Unstructured) error {
	_, hasAPI := u.Object["apiVersion"].(string)
	_, hasKind := u.Object["kind"].(string)
	if !hasAPI || !hasKind || u.GetAPIVersion() == "" || u.GetKind() == "" {
		return errors.New("apiVersion and kind are required")
	}
	m, ok := u.Object["metadata"]
	if !ok {
		return nil
	}
	meta, ok := m.(map[string]any)
	if !ok {
		return errors.New("metadata must be a mapping")
	}
	for _, k := range []string{"name", "generateName", "namespace"} {
		if v, ok := meta[k]; ok {
			if _, ok := v.(string); !ok {
				return fmt.Errorf("metadata.%s must be a string", k)
			}
		}
	}
	return nil
}

// blank reports whether a document holds only comments and white space.
func blank(body []byte) bool {
	for _, line := range bytes.Split(body, []byte("\n")) {
		line = bytes.TrimSpace(line)
		if len(line) > 0 && line[0] != '#' {
			return false
		}
	}
	return true
}

// Objects converts typed API objects (those of client-go's scheme) and
// unstructured ones into a bundle.
func Objects(objs ...runtime.Object) ([]*unstructured.Unstructured, error) {
	out := make([]*unstructured.Unstructured, 0, len(objs))
	for i, o := range objs {
		if u, ok := o.(*unstructured.Unstructured); ok {
			out = append(out, u)
			continue
		}
		gvks, _, err := clientgoscheme.Scheme.ObjectKinds(o)
		if err != nil || len(gvks) == 0 {
			return nil, fmt.Errorf("object %d (%T): unknown kind: %w", i, o, err)
		}
		m, err := runtime.DefaultUnstructuredConverter.ToUnstructured(o)
		if err != nil {
			return nil, fmt.Errorf("object %d (%T): %w", i, o, err)
		}
		u := &unstructured.Unstructured{Object: m}
		u.SetGroupVersionKind(gvks[0])
		delete(u.Object, "status")
		if md, ok := u.Object["metadata"].(map[string]any); ok {
			if md["creationTimestamp"] == nil {
				delete(md, "creationTimestamp")
			}
		}
		out = append(out, u)
	}
	return out, nil
}
