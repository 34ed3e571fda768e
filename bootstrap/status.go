package bootstrap

import (
	"fmt"
	"time"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
)

// Status is how far an object is from the state its manifest declares, in
// the terms of kstatus.
type Status string

// The statuses an object can have.
const (
	// Current: the object's controllers have acted on its latest spec and
	// it is ready.
	StatusCurrent Status = "Current"
	// InProgress: not there yet.
	StatusInProgress Status = "InProgress"
	// Failed: it will not get there without a change.
	StatusFailed Status = "Failed"
	// Terminating: it is being deleted.
	StatusTerminating Status = "Terminating"
	// NotFound: it does not exist.
	StatusNotFound Status = "NotFound"
	// Unknown: its status could not be read.
	StatusUnknown Status = "Unknown"
)

// ObjectStatus is the status of one object, with the reason and message
// that explain it.
type ObjectStatus struct {
	Status Status
	// Reason is a one-word cause, such as "LessReady" or "JobNotComplete".
	Reason  string
	Message string
}

func (s ObjectStatus) String() string {
	out := string(s.Status)
	if s.Reason != "" {
		out += " (" + s.Reason + ")"
	}
	if s.Message != "" {
		out += ": " + s.Message
	}
	return out
}

func current(msg string) ObjectStatus { return ObjectStatus{Status: StatusCurrent, Message: msg} }

func inProgress(reason, msg string) ObjectStatus {
	return ObjectStatus{Status: StatusInProgress, Reason: reason, Message: msg}
}

func failed(reason, msg string) ObjectStatus {
	return ObjectStatus{Status: StatusFailed, Reason: reason, Message: msg}
}

// Compute applies the kstatus rules to u at time now:
//
//   - a deletion timestamp makes it Terminating;
//   - a status.observedGeneration other than metadata.generation makes it
//     InProgress;
//   - a Reconciling condition that is True makes it InProgress, a Stalled
//     one Failed;
//   - the built-in kinds (Deployment, StatefulSet, DaemonSet, ReplicaSet,
//     Pod, PersistentVolumeClaim, Service, Job, PodDisruptionBudget,
//     CustomResourceDefinition) follow their own rules;
//   - other objects with a Ready condition follow it;
//   - anything else is Current.
//
// now only matters for a pod that cannot be scheduled, which is Failed
// once it has waited 15 seconds. Run adds its own rules on top of these;
// see the package documentation.
func Compute(u *unstructured.Unstructured, now time.Time) ObjectStatus {
	if st, ok := generic(u); ok {
		return st
	}
	if rule := kindRules[u.GroupVersionKind().GroupKind().String()]; rule != nil {
		return rule(u, now)
	}
	if st, ok := readyCondition(u); ok {
		return st
	}
	return current("exists")
}

// generic checks what every kind shares: deletion, the observed
// generation, and the Reconciling and Stalled conditions.
func generic(u *unstructured.Unstructured) (ObjectStatus, bool) {
	if u.GetDeletionTimestamp() != nil {
		return ObjectStatus{Status: StatusTerminating, Reason: "Deleting", Message: "being deleted"}, true
	}
	if st, ok := generationObserved(u); !ok {
		return st, true
	}
	for _, c := range conditions(u) {
		switch {
		case c.Type == "Reconciling" && c.Status == "True":
			return inProgress(orDefault(c.Reason, "Reconciling"), orDefault(c.Message, "reconciling")), true
		case c.Type == "Stalled" && c.Status == "True":
			return failed(orDefault(c.Reason, "Stalled"), orDefault(c.Message, "stalled")), true
		}
	}
	return ObjectStatus{}, false
}

// generationObserved reports false, with the status to give, when the
// object's controller reports an observed generation older than the
// object's; objects without status.observedGeneration pass.
func generationObserved(u *unstructured.Unstructured) (ObjectStatus, bool) {
	gen, found, err := unstructured.NestedInt64(u.Object, "metadata", "generation")
	if !found || err != nil {
		return ObjectStatus{}, true
	}
	observed, found, err := unstructured.NestedInt64(u.Object, "status", "observedGeneration")
	if !found || err != nil || observed == gen {
		return ObjectStatus{}, true
	}
	return inProgress("LatestGenerationNotObserved",
		fmt.Sprintf("generation %d not yet observed by its controller (observed %d)", gen, observed)), false
}

// readyCondition follows a Ready condition, if the object has one.
func readyCondition(u *unstructured.Unstructured) (ObjectStatus, bool) {
	for _, c := range conditions(u) {
		if c.Type != "Ready" {
			continue
		}
		switch c.Status {
		case "True":
			return current(orDefault(c.Message, "Ready")), true
		case "False", "Unknown":
			return inProgress(orDefault(c.Reason, "NotReady"), orDefault(c.Message, "Ready is "+c.Status)), true
		}
	}
	return ObjectStatus{}, false
}

// condition is the part of a status condition the rules read.
type condition struct {
	Type, Status, Reason, Message string
}

// conditions returns u's status.conditions; entries that are not objects
// are skipped.
func conditions(u *unstructured.Unstructured) []condition {
	raw, _, _ := unstructured.NestedSlice(u.Object, "status", "conditions")
	out := make([]condition, 0, len(raw))
	for _, r := range raw {
		m, ok := r.(map[string]any)
		if !ok {
			continue
		}
		str := func(k string) string { s, _ := m[k].(string); return s }
		out = append(out, condition{Type: str("type"), Status: str("status"), Reason: str("reason"), Message: str("message")})
	}
	return out
}

func findCondition(u *unstructured.Unstructured, typ string) (condition, bool) {
	for _, c := range conditions(u) {
		if c.Type == typ {
			return c, true
		}
	}
	return condition{}, false
}

func orDefault(s, def string) string {
	if s == "" {
		return def
	}
	return s
}

// intField reads an integer at path, or def when it is missing.
func intField(u *unstructured.Unstructured, def int64, path ...string) int64 {
	v, found, err := unstructured.NestedFieldNoCopy(u.Object, path...)
	if !found || err != nil {
		return def
	}
	switch n := v.(type) {
	case int64:
		return n
	case int:
		return int64(n)
	case int32:
		return int64(n)
	case float64:
		return int64(n)
	}
	return def
}

func stringField(u *unstructured.Unstructured, def string, path ...string) string {
	s, found, err := unstructured.NestedString(u.Object, path...)
	if !found || err != nil {
		return def
	}
	return s
}
