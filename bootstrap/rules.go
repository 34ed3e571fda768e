package bootstrap

import (
	"fmt"
	"math"
	"strings"
	"time"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
)

// kindRule computes the status of one built-in kind, after the generic
// checks.
type kindRule func(u *unstructured.Unstructured, now time.Time) ObjectStatus

// kindRules holds the built-in kinds' rules, by "Kind" or "Kind.group".
var kindRules = map[string]kindRule{
	"Deployment.apps":            deploymentStatus,
	"Deployment.extensions":      deploymentStatus,
	"StatefulSet.apps":           statefulSetStatus,
	"DaemonSet.apps":             daemonSetStatus,
	"DaemonSet.extensions":       daemonSetStatus,
	"ReplicaSet.apps":            replicaSetStatus,
	"ReplicaSet.extensions":      replicaSetStatus,
	"Pod":                        podStatus,
	"PersistentVolumeClaim":      pvcStatus,
	"Service":                    serviceStatus,
	"Job.batch":                  jobStatus,
	"PodDisruptionBudget.policy": always("the disruption controller has observed it"),
	"CronJob.batch":              always("schedules are ready once they exist"),
	"ConfigMap":                  always("data is ready once it exists"),
	"Secret":                     always("data is ready once it exists"),
	"CustomResourceDefinition.apiextensions.k8s.io": crdStatus,
}

func always(msg string) kindRule {
	return func(*unstructured.Unstructured, time.Time) ObjectStatus { return current(msg) }
}

func deploymentStatus(u *unstructured.Unstructured, _ time.Time) ObjectStatus {
	// Without a progress deadline the controller never sets a Progressing
	// condition, so its absence cannot hold the Deployment back.
	progressed := intField(u, math.MaxInt32, "spec", "progressDeadlineSeconds") == math.MaxInt32
	available := false
	for _, c := range conditions(u) {
		switch c.Type {
		case "Progressing":
			if c.Reason == "ProgressDeadlineExceeded" {
				return failed("ProgressDeadlineExceeded", orDefault(c.Message, "progress deadline exceeded"))
			}
			if c.Status == "True" && c.Reason == "NewReplicaSetAvailable" {
				progressed = true
			}
		case "Available":
			available = c.Status == "True"
		}
	}
	want := intField(u, 1, "spec", "replicas")
	replicas := intField(u, 0, "status", "replicas")
	updated := intField(u, 0, "status", "updatedReplicas")
	ready := intField(u, 0, "status", "readyReplicas")
	avail := intField(u, 0, "status", "availableReplicas")
	switch {
	case want > replicas:
		return inProgress("LessReplicas", fmt.Sprintf("replicas %d/%d", replicas, want))
	case want > updated:
		return inProgress("LessUpdated", fmt.Sprintf("updated %d/%d", updated, want))
	case replicas > want:
		return inProgress("ExtraPods", fmt.Sprintf("%d old replicas still terminating", replicas-want))
	case updated > avail:
		return inProgress("LessAvailable", fmt.Sprintf("available %d/%d", avail, updated))
	case want > ready:
		return inProgress("LessReady", fmt.Sprintf("ready %d/%d", ready, want))
	case !progressed:
		return inProgress("ReplicaSetNotAvailable", "the new ReplicaSet is not yet available")
	case !available:
		return inProgress("DeploymentNotAvailable", "the Deployment is not yet Available")
	}
	return current(fmt.Sprintf("available, %d replicas", replicas))
}

func statefulSetStatus(u *unstructured.Unstructured, _ time.Time) ObjectStatus {
	if stringField(u, "", "spec", "updateStrategy", "type") == "OnDelete" {
		return current("updates are left to whoever deletes its pods (OnDelete)")
	}
	want := intField(u, 1, "spec", "replicas")
	replicas := intField(u, 0, "status", "replicas")
	ready := intField(u, 0, "status", "readyReplicas")
	cur := intField(u, 0, "status", "currentReplicas")
	updated := intField(u, 0, "status", "updatedReplicas")
	switch {
	case want > replicas:
		return inProgress("LessReplicas", fmt.Sprintf("replicas %d/%d", replicas, want))
	case want > ready:
		return inProgress("LessReady", fmt.Sprintf("ready %d/%d", ready, want))
	case replicas > want:
		return inProgress("ExtraPods", fmt.Sprintf("%d replicas still terminating", replicas-want))
	}
	if partition := intField(u, -1, "spec", "updateStrategy", "rollingUpdate", "partition"); partition >= 0 {
		if updated < want-partition {
			return inProgress("PartitionRollout", fmt.Sprintf("updated %d/%d", updated, want-partition))
		}
		return current(fmt.Sprintf("rolled out down to partition %d, %d updated", partition, updated))
	}
	if want > cur {
		return inProgress("LessCurrent", fmt.Sprintf("current %d/%d", cur, want))
	}
	if stringField(u, "", "status", "currentRevision") != stringField(u, "", "status", "updateRevision") {
		return inProgress("RevisionMismatch", "the update revision is not yet the current one")
	}
	return current(fmt.Sprintf("%d replicas ready", replicas))
}

func daemonSetStatus(u *unstructured.Unstructured, _ time.Time) ObjectStatus {
	// The controller always writes these fields, so their absence means it
	// has not acted yet.
	if _, found, _ := unstructured.NestedInt64(u.Object, "metadata", "generation"); !found {
		return inProgress("NoGeneration", "metadata.generation not set yet")
	}
	if _, found, _ := unstructured.NestedInt64(u.Object, "status", "observedGeneration"); !found {
		return inProgress("NoObservedGeneration", "status.observedGeneration not set yet")
	}
	desired := intField(u, -1, "status", "desiredNumberScheduled")
	scheduled := intField(u, 0, "status", "currentNumberScheduled")
	updated := intField(u, 0, "status", "updatedNumberScheduled")
	avail := intField(u, 0, "status", "numberAvailable")
	ready := intField(u, 0, "status", "numberReady")
	switch {
	case desired == -1:
		return inProgress("NoDesiredNumber", "status.desiredNumberScheduled not set yet")
	case desired > scheduled:
		return inProgress("LessCurrent", fmt.Sprintf("scheduled %d/%d", scheduled, desired))
	case desired > updated:
		return inProgress("LessUpdated", fmt.Sprintf("updated %d/%d", updated, desired))
	case desired > avail:
		return inProgress("LessAvailable", fmt.Sprintf("available %d/%d", avail, desired))
	case desired > ready:
		return inProgress("LessReady", fmt.Sprintf("ready %d/%d", ready, desired))
	}
	return current(fmt.Sprintf("%d pods scheduled and ready", desired))
}

func replicaSetStatus(u *unstructured.Unstructured, _ time.Time) ObjectStatus {
	if c, ok := findCondition(u, "ReplicaFailure"); ok && c.Status == "True" {
		return inProgress("ReplicaFailure", orDefault(c.Message, "a replica failed: see its pods"))
	}
	want := intField(u, 1, "spec", "replicas")
	replicas := intField(u, 0, "status", "replicas")
	labelled := intField(u, 0, "status", "fullyLabeledReplicas")
	avail := intField(u, 0, "status", "availableReplicas")
	ready := intField(u, 0, "status", "readyReplicas")
	switch {
	case want > labelled:
		return inProgress("LessLabelled", fmt.Sprintf("labelled %d/%d", labelled, want))
	case want > avail:
		return inProgress("LessAvailable", fmt.Sprintf("available %d/%d", avail, want))
	case want > ready:
		return inProgress("LessReady", fmt.Sprintf("ready %d/%d", ready, want))
	case replicas > want:
		return inProgress("ExtraPods", fmt.Sprintf("%d replicas still terminating", replicas-want))
	}
	return current(fmt.Sprintf("available, %d replicas", replicas))
}

// unschedulableAfter is how long a pod may wait to be scheduled before it
// counts as Failed.
const unschedulableAfter = 15 * time.Second

func podStatus(u *unstructured.Unstructured, now time.Time) ObjectStatus {
	switch phase := stringField(u, "", "status", "phase"); phase {
	case "Succeeded":
		return current("completed")
	case "Failed":
		return current("completed, unsuccessfully")
	case "Running":
		if c, ok := findCondition(u, "Ready"); ok && c.Status == "True" {
			return current("Ready")
		}
		if crashing := crashLooping(u); len(crashing) > 0 {
			return failed("ContainerCrashLooping", "containers crash-looping: "+strings.Join(crashing, ", "))
		}
		return inProgress("PodRunningNotReady", "running but not Ready")
	case "Pending":
		if c, ok := findCondition(u, "PodScheduled"); ok && c.Status == "False" && c.Reason == "Unschedulable" {
			if now.Sub(u.GetCreationTimestamp().Time) < unschedulableAfter {
				return inProgress("PodNotScheduled", orDefault(c.Message, "not scheduled yet"))
			}
			return failed("PodUnschedulable", orDefault(c.Message, "cannot be scheduled"))
		}
		return inProgress("PodPending", "pending")
	case "":
		return inProgress("PodNotObserved", "no phase yet")
	default:
		return ObjectStatus{Status: StatusUnknown, Reason: "UnknownPhase", Message: "unknown phase " + phase}
	}
}

func crashLooping(u *unstructured.Unstructured) []string {
	statuses, _, _ := unstructured.NestedSlice(u.Object, "status", "containerStatuses")
	var names []string
	for _, s := range statuses {
		m, ok := s.(map[string]any)
		if !ok {
			continue
		}
		if reason, _, _ := unstructured.NestedString(m, "state", "waiting", "reason"); reason == "CrashLoopBackOff" {
			name, _ := m["name"].(string)
			names = append(names, name)
		}
	}
	return names
}

func pvcStatus(u *unstructured.Unstructured, _ time.Time) ObjectStatus {
	if phase := stringField(u, "unknown", "status", "phase"); phase != "Bound" {
		return inProgress("NotBound", "not Bound (phase "+phase+")")
	}
	return current("Bound")
}

func serviceStatus(u *unstructured.Unstructured, _ time.Time) ObjectStatus {
	if stringField(u, "ClusterIP", "spec", "type") == "LoadBalancer" && stringField(u, "", "spec", "clusterIP") == "" {
		return inProgress("NoIPAssigned", "no cluster IP yet (type LoadBalancer)")
	}
	return current("ready")
}

// jobStatus is kstatus's rule for Jobs: Current once started. Run requires
// more (see jobComplete).
func jobStatus(u *unstructured.Unstructured, _ time.Time) ObjectStatus {
	completions := intField(u, intField(u, 1, "spec", "parallelism"), "spec", "completions")
	succeeded := intField(u, 0, "status", "succeeded")
	failedPods := intField(u, 0, "status", "failed")
	for _, c := range conditions(u) {
		switch {
		case c.Type == "Complete" && c.Status == "True":
			return current(fmt.Sprintf("complete, %d/%d succeeded", succeeded, completions))
		case c.Type == "Failed" && c.Status == "True":
			return failed("JobFailed", fmt.Sprintf("failed (%s), %d/%d pods failed", orDefault(c.Message, c.Reason), failedPods, completions))
		}
	}
	if stringField(u, "", "status", "startTime") == "" {
		return inProgress("JobNotStarted", "not started")
	}
	return current(fmt.Sprintf("running: %d succeeded, %d active, %d failed",
		succeeded, intField(u, 0, "status", "active"), failedPods))
}

func crdStatus(u *unstructured.Unstructured, _ time.Time) ObjectStatus {
	for _, c := range conditions(u) {
		switch {
		case c.Type == "NamesAccepted" && c.Status == "False":
			return failed(orDefault(c.Reason, "NamesNotAccepted"), orDefault(c.Message, "names not accepted"))
		case c.Type == "Established" && c.Status == "False" && c.Reason != "Installing":
			return failed(orDefault(c.Reason, "NotEstablished"), orDefault(c.Message, "not established"))
		case c.Type == "Established" && c.Status == "True":
			return current("established")
		}
	}
	return inProgress("Installing", "not established yet")
}
