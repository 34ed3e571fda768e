package rbac

import (
	"bytes"
	"fmt"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/kubernetes/scheme"
	"sigs.k8s.io/yaml"
)

// YAML renders objs as one YAML stream, documents separated by "---",
// for kubectl apply -f. Objects without apiVersion and kind get those of
// client-go's scheme; empty fields such as creationTimestamp are left out.
func YAML(objs ...runtime.Object) ([]byte, error) {
	var b bytes.Buffer
	for i, o := range objs {
		if o == nil {
			return nil, fmt.Errorf("object %d is nil", i)
		}
		o = o.DeepCopyObject()
		if o.GetObjectKind().GroupVersionKind().Empty() {
			gvks, _, err := scheme.Scheme.ObjectKinds(o)
			if err != nil {
				return nil, fmt.Errorf("object %d: %w", i, err)
			}
			o.GetObjectKind().SetGroupVersionKind(gvks[0])
		}
		u, err := runtime.DefaultUnstructuredConverter.ToUnstructured(o)
		if err != nil {
			return nil, fmt.Errorf("object %d: %w", i, err)
		}
		unstructured.RemoveNestedField(u, "metadata", "creationTimestamp")
		out, err := yaml.Marshal(u)
		if err != nil {
			return nil, fmt.Errorf("object %d: %w", i, err)
		}
		if i > 0 {
			b.WriteString("---\n")
		}
		b.Write(out)
	}
	return b.Bytes(), nil
}
