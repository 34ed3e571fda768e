package strategy

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/distribution/reference"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/validation"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	metav1validation "k8s.io/apimachinery/pkg/apis/meta/v1/validation"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/util/sets"
	utilvalidation "k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/apimachinery/pkg/util/validation/field"
)

// MaxReplicas is the most replicas a release's workload may ask for.
// Kubernetes supports clusters of at most 150,000 pods, and blue/green and
// canary releases run two slots at full size, so no workload can usefully
// ask for more than half of that. The bound also keeps the replica
// arithmetic of surges and traffic shares (replicas × 100 × 100) far from
// overflowing an int32.
const MaxReplicas = 75_000

// companionSuffix has the length of what internal/slots.CompanionName
// appends to a companion's name for each revision: "-" and 8 hex digits.
const companionSuffix = "-00000000"

// reservedPrefix starts the labels and annotations switchyard owns.
const reservedPrefix = "switchyard.dev/"

// Validate checks the fields every strategy needs: the app's name and
// namespace, the revision, and, when set, the workload and objects. It adds
// to v so that a strategy reports its own fields in the same error.
//
// The workload must ask for 0..MaxReplicas replicas and have valid labels
// and annotations, on itself and its pod template; its containers (init
// containers included) need unique DNS-1123 label names and images that
// are valid references (github.com/distribution/reference). Objects are
// the companions of a Day 2 release: ConfigMaps and Secrets (apiVersion
// v1) in the app's namespace (or none), named so that the per-revision
// name switchyard gives each ("<name>-<8 hex digits>") is a valid object
// name, each named once per kind, with valid labels and data keys.
func (r Release) Validate(v *Validator) {
	if r.App.Name == "" {
		v.Add("release.app.name", nil, "must not be empty")
	} else {
		// The longest name switchyard derives is "<app>-green" and the
		// record "<app>.switchyard": both must be valid, and the slot name
		// must also fit a label value.
		for _, msg := range validation.NameIsDNS1035Label(r.App.Name+"-green", false) {
			v.Add("release.app.name", r.App.Name, "%s (checked as %q)", msg, r.App.Name+"-green")
		}
	}
	if r.App.Namespace == "" {
		v.Add("release.app.namespace", nil, "must not be empty")
	} else {
		for _, msg := range validation.ValidateNamespaceName(r.App.Namespace, false) {
			v.Add("release.app.namespace", r.App.Namespace, "%s", msg)
		}
	}
	if r.Revision == "" {
		v.Add("release.revision", nil, "must not be empty")
	} else {
		for _, msg := range utilvalidation.IsValidLabelValue(r.Revision) {
			v.Add("release.revision", r.Revision, "%s", msg)
		}
	}
	if r.Workload != nil {
		r.validateWorkload(v)
	}
	r.validateCompanions(v)
}

func (r Release) validateWorkload(v *Validator) {
	w := r.Workload
	if w.Namespace != "" && w.Namespace != r.App.Namespace {
		v.Add("release.workload.metadata.namespace", w.Namespace, "must be empty or the app's namespace %q", r.App.Namespace)
	}
	if n := w.Spec.Replicas; n != nil && (*n < 0 || *n > MaxReplicas) {
		v.Add("release.workload.spec.replicas", *n, "must be within 0..%d", MaxReplicas)
	}
	meta := field.NewPath("release", "workload", "metadata")
	v.AddFieldErrors(metav1validation.ValidateLabels(w.Labels, meta.Child("labels")))
	v.AddFieldErrors(validation.ValidateAnnotations(w.Annotations, meta.Child("annotations")))
	tmpl := field.NewPath("release", "workload", "spec", "template")
	v.AddFieldErrors(metav1validation.ValidateLabels(w.Spec.Template.Labels, tmpl.Child("metadata", "labels")))
	v.AddFieldErrors(validation.ValidateAnnotations(w.Spec.Template.Annotations, tmpl.Child("metadata", "annotations")))
	if len(w.Spec.Template.Spec.Containers) == 0 {
		v.Add("release.workload.spec.template.spec.containers", nil, "must have at least one container")
	}
	names := sets.New[string]()
	pod := tmpl.Child("spec")
	validateContainers(v, pod.Child("initContainers"), w.Spec.Template.Spec.InitContainers, names)
	validateContainers(v, pod.Child("containers"), w.Spec.Template.Spec.Containers, names)
	if w.Spec.Selector != nil {
		sel, err := metav1.LabelSelectorAsSelector(w.Spec.Selector)
		switch {
		case err != nil:
			v.Add("release.workload.spec.selector", nil, "%v", err)
		case sel.Empty():
			v.Add("release.workload.spec.selector", nil, "must not be empty")
		case !sel.Matches(labels.Set(w.Spec.Template.Labels)):
			v.Add("release.workload.spec.selector", sel.String(), "does not match the template's labels %v", w.Spec.Template.Labels)
		}
	}
	if d := w.Spec.MinReadySeconds; d < 0 {
		v.Add("release.workload.spec.minReadySeconds", d, "must not be negative")
	}
	if d := w.Spec.ProgressDeadlineSeconds; d != nil && *d <= 0 {
		v.Add("release.workload.spec.progressDeadlineSeconds", *d, "must be positive")
	}
}

// validateContainers checks names (DNS-1123 labels, unique among all the
// pod's containers, which names collects) and images.
func validateContainers(v *Validator, path *field.Path, cs []corev1.Container, names sets.Set[string]) {
	for i, c := range cs {
		p := path.Index(i)
		switch {
		case c.Name == "":
			v.Add(p.Child("name").String(), nil, "must not be empty")
		case names.Has(c.Name):
			v.Add(p.Child("name").String(), c.Name, "must be unique among the pod's containers")
		default:
			for _, msg := range utilvalidation.IsDNS1123Label(c.Name) {
				v.Add(p.Child("name").String(), c.Name, "%s", msg)
			}
		}
		names.Insert(c.Name)
		if err := ValidateImage(c.Image); err != nil {
			v.Add(p.Child("image").String(), c.Image, "%v", err)
		}
	}
}

// ValidateImage reports why image is not a container image reference a
// kubelet can pull, such as "nginx", "nginx:1.27",
// "registry.example.com:5000/shop/web:v2" or
// "ghcr.io/org/app@sha256:<64 hex digits>", with the grammar of
// github.com/distribution/reference.
func ValidateImage(image string) error {
	if image == "" {
		return fmt.Errorf("must not be empty")
	}
	if _, err := reference.ParseNormalizedNamed(image); err != nil {
		return fmt.Errorf("is not a valid image reference: %w", err)
	}
	return nil
}

// validateCompanions checks the release's objects as Day 2 companions.
func (r Release) validateCompanions(v *Validator) {
	seen := sets.New[string]()
	for i, o := range r.Objects {
		path := "release.objects[" + strconv.Itoa(i) + "]"
		switch {
		case o == nil:
			v.Add(path, nil, "must not be nil")
			continue
		case o.GetKind() == "" || o.GetAPIVersion() == "":
			v.Add(path, o.GetName(), "must have apiVersion and kind")
			continue
		case o.GetKind() != "ConfigMap" && o.GetKind() != "Secret" || o.GetAPIVersion() != "v1":
			v.Add(path+".kind", o.GetAPIVersion()+" "+o.GetKind(), "a release's objects are companions, which must be v1 ConfigMaps or Secrets")
			continue
		}
		if ns := o.GetNamespace(); ns != "" && ns != r.App.Namespace {
			v.Add(path+".metadata.namespace", ns, "must be empty or the app's namespace %q: companions are never written elsewhere", r.App.Namespace)
		}
		switch name := o.GetName(); {
		case name == "":
			v.Add(path+".metadata.name", o.GetGenerateName(), "must be set (generateName is not enough: each revision's copy is named after it)")
		case seen.Has(o.GetKind() + "/" + name):
			v.Add(path+".metadata.name", name, "names a second %s of that name", o.GetKind())
		default:
			for _, msg := range validation.NameIsDNSSubdomain(name, false) {
				v.Add(path+".metadata.name", name, "%s", msg)
			}
			if long := name + companionSuffix; validation.NameIsDNSSubdomain(name, false) == nil {
				for _, msg := range validation.NameIsDNSSubdomain(long, false) {
					v.Add(path+".metadata.name", name, "%s (checked with the per-revision suffix, as %d characters)", msg, len(long))
				}
			}
		}
		seen.Insert(o.GetKind() + "/" + o.GetName())
		meta := field.NewPath(path).Child("metadata")
		v.AddFieldErrors(metav1validation.ValidateLabels(o.GetLabels(), meta.Child("labels")))
		v.AddFieldErrors(validation.ValidateAnnotations(o.GetAnnotations(), meta.Child("annotations")))
		validateDataKeys(v, path, o)
	}
}

// validateDataKeys checks the keys of a companion's data, binaryData and
// stringData.
func validateDataKeys(v *Validator, path string, o *unstructured.Unstructured) {
	for _, f := range []string{"data", "binaryData", "stringData"} {
		m, ok := o.Object[f].(map[string]any)
		if !ok {
			continue
		}
		for k := range m {
			for _, msg := range utilvalidation.IsConfigMapKey(k) {
				v.Add(path+"."+f, k, "%s", msg)
			}
		}
	}
}

// AddFieldErrors adds the errors of apimachinery's validation functions,
// such as metav1validation.ValidateLabels, at their own field paths.
func (v *Validator) AddFieldErrors(errs field.ErrorList) {
	for _, e := range errs {
		msg := e.Detail
		if msg == "" {
			msg = strings.ToLower(string(e.Type))
		}
		var value any
		if e.BadValue != nil && e.BadValue != "" && e.Type != field.ErrorTypeRequired && e.Type != field.ErrorTypeTooLong {
			value = e.BadValue
		}
		v.Add(e.Field, value, "%s", msg)
	}
}
