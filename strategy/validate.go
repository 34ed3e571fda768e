package strategy

import (
	"strconv"

	"k8s.io/apimachinery/pkg/api/validation"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	utilvalidation "k8s.io/apimachinery/pkg/util/validation"
)

// Validate checks the fields every strategy needs: the app's name and
// namespace, the revision, and, when set, the workload and objects. It adds
// to v so that a strategy reports its own fields in the same error.
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
	if w := r.Workload; w != nil {
		if w.Namespace != "" && w.Namespace != r.App.Namespace {
			v.Add("release.workload.metadata.namespace", w.Namespace, "must be empty or the app's namespace %q", r.App.Namespace)
		}
		if w.Spec.Replicas != nil && *w.Spec.Replicas < 0 {
			v.Add("release.workload.spec.replicas", *w.Spec.Replicas, "must not be negative")
		}
		if len(w.Spec.Template.Spec.Containers) == 0 {
			v.Add("release.workload.spec.template.spec.containers", nil, "must have at least one container")
		}
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
	for i, o := range r.Objects {
		path := "release.objects[" + strconv.Itoa(i) + "]"
		switch {
		case o == nil:
			v.Add(path, nil, "must not be nil")
		case o.GetKind() == "" || o.GetAPIVersion() == "":
			v.Add(path, o.GetName(), "must have apiVersion and kind")
		case o.GetName() == "" && o.GetGenerateName() == "":
			v.Add(path+".metadata.name", nil, "must not be empty")
		}
	}
}
