package flow

import (
	"context"
	"fmt"
	"strings"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/validation"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	metav1validation "k8s.io/apimachinery/pkg/apis/meta/v1/validation"
	"k8s.io/apimachinery/pkg/util/sets"
	utilvalidation "k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/apimachinery/pkg/util/validation/field"
	"k8s.io/client-go/kubernetes"

	"github.com/switchyard-dev/switchyard/strategy"
)

// ValidateChecks adds the errors of a list of checks at path to v: every
// check needs a unique name and a function.
func ValidateChecks(v *strategy.Validator, path string, checks []strategy.Check) {
	seen := map[string]bool{}
	for i, c := range checks {
		p := fmt.Sprintf("%s[%d]", path, i)
		v.Check(c.Name != "", p+".name", nil, "must not be empty")
		v.Check(!seen[c.Name], p+".name", c.Name, "must be unique")
		v.Check(c.Func != nil, p+".func", nil, "must be set")
		if c.Validate != nil {
			c.Validate(v, p)
		}
		seen[c.Name] = true
	}
}

// ValidateGates adds the errors of every moment's gates under path to v.
func ValidateGates(v *strategy.Validator, path string, g strategy.Gates) {
	for _, m := range []struct {
		field  string
		checks []strategy.Check
	}{
		{"beforeRelease", g.BeforeRelease}, {"beforeStep", g.BeforeStep}, {"beforePromotion", g.BeforePromotion},
		{"afterPromotion", g.AfterPromotion}, {"onRollback", g.OnRollback},
	} {
		ValidateChecks(v, path+"."+m.field, m.checks)
	}
}

// ValidateServiceName adds a field error at path unless name is a valid
// Service name (a DNS-1035 label). An empty name is left to the caller.
func ValidateServiceName(v *strategy.Validator, path, name string) {
	if name == "" {
		return
	}
	for _, msg := range validation.NameIsDNS1035Label(name, false) {
		v.Add(path, name, "%s", msg)
	}
}

// ValidatePodMetadata adds field errors under path for labels and
// annotations that switchyard writes onto pods: label keys must be
// qualified names and values valid label values, annotation keys qualified
// names within the size limit, and neither may use switchyard's own
// prefix "switchyard.dev/", whose labels decide which slot and revision a
// pod belongs to.
func ValidatePodMetadata(v *strategy.Validator, path string, lbls, annotations map[string]string) {
	p := field.NewPath(path)
	v.AddFieldErrors(metav1validation.ValidateLabels(lbls, p.Child("labels")))
	v.AddFieldErrors(validation.ValidateAnnotations(annotations, p.Child("annotations")))
	for _, m := range []struct {
		field string
		keys  map[string]string
	}{{"labels", lbls}, {"annotations", annotations}} {
		for k := range m.keys {
			if strings.HasPrefix(k, reservedPrefix) {
				v.Add(p.Child(m.field).String(), k, "uses the prefix %s, which switchyard keeps for itself", reservedPrefix)
			}
		}
	}
}

// ValidateServicePorts adds field errors under path for the ports of a
// Service switchyard creates: port numbers in 1..65535, unique per
// protocol; protocols TCP, UDP or SCTP; names that are IANA service names,
// required and unique when there are several ports; target ports that are
// a port number or a name; node ports 0 or a port number.
func ValidateServicePorts(v *strategy.Validator, path string, ports []corev1.ServicePort) {
	names, numbers := sets.New[string](), sets.New[string]()
	for i, sp := range ports {
		p := fmt.Sprintf("%s[%d]", path, i)
		switch {
		case sp.Name == "" && len(ports) > 1:
			v.Add(p+".name", nil, "is required when there are several ports")
		case sp.Name != "":
			for _, msg := range utilvalidation.IsValidPortName(sp.Name) {
				v.Add(p+".name", sp.Name, "%s", msg)
			}
			if names.Has(sp.Name) {
				v.Add(p+".name", sp.Name, "must be unique")
			}
			names.Insert(sp.Name)
		}
		for _, msg := range utilvalidation.IsValidPortNum(int(sp.Port)) {
			v.Add(p+".port", sp.Port, "%s", msg)
		}
		proto := sp.Protocol
		switch proto {
		case "":
			proto = corev1.ProtocolTCP
		case corev1.ProtocolTCP, corev1.ProtocolUDP, corev1.ProtocolSCTP:
		default:
			v.Add(p+".protocol", string(sp.Protocol), "must be TCP, UDP or SCTP")
		}
		key := fmt.Sprintf("%d/%s", sp.Port, proto)
		if numbers.Has(key) {
			v.Add(p+".port", sp.Port, "must be unique for protocol %s", proto)
		}
		numbers.Insert(key)
		if tp := sp.TargetPort; tp.IntVal != 0 || tp.StrVal != "" {
			if tp.StrVal != "" {
				for _, msg := range utilvalidation.IsValidPortName(tp.StrVal) {
					v.Add(p+".targetPort", tp.StrVal, "%s", msg)
				}
			} else {
				for _, msg := range utilvalidation.IsValidPortNum(int(tp.IntVal)) {
					v.Add(p+".targetPort", tp.IntVal, "%s", msg)
				}
			}
		}
		if sp.NodePort != 0 {
			for _, msg := range utilvalidation.IsValidPortNum(int(sp.NodePort)) {
				v.Add(p+".nodePort", sp.NodePort, "%s", msg)
			}
		}
		if sp.AppProtocol != nil {
			for _, msg := range utilvalidation.IsQualifiedName(*sp.AppProtocol) {
				v.Add(p+".appProtocol", *sp.AppProtocol, "%s", msg)
			}
		}
	}
}

// CheckNamespace adds a field error at "release.app.namespace" when the
// namespace ns does not exist or is being deleted, so that a release
// fails validation instead of at its first write. An identity that may
// not read namespaces (403 Forbidden) is not an error: least-privilege
// deployers are only granted rights inside the namespace. Other API
// errors are returned. An empty or malformed ns is left to
// Release.Validate, and no request is made for it.
func CheckNamespace(ctx context.Context, kube kubernetes.Interface, ns string, v *strategy.Validator) error {
	if ns == "" || kube == nil || len(validation.ValidateNamespaceName(ns, false)) > 0 {
		return nil // Release.Validate reports it
	}
	got, err := kube.CoreV1().Namespaces().Get(ctx, ns, metav1.GetOptions{})
	switch {
	case apierrors.IsNotFound(err):
		v.Add("release.app.namespace", ns, "no such namespace")
	case apierrors.IsForbidden(err):
	case err != nil:
		return fmt.Errorf("reading namespace %s: %w", ns, err)
	case got.Status.Phase == corev1.NamespaceTerminating || got.DeletionTimestamp != nil:
		v.Add("release.app.namespace", ns, "is being deleted")
	}
	return nil
}

// reservedPrefix starts the labels and annotations switchyard owns.
const reservedPrefix = "switchyard.dev/"
