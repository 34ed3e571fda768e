package bootstrap_test

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/yaml"

	"github.com/switchyard-dev/switchyard/bootstrap"
)

// statusCase is one object and the status the kstatus rules give it. The
// cases cover the situations kstatus's own tests cover, kind by kind.
type statusCase struct {
	yaml   string
	want   bootstrap.Status
	reason string // checked when set
}

var now = time.Date(2026, 1, 1, 0, 0, 30, 0, time.UTC)

func fromYAML(t *testing.T, s string) *unstructured.Unstructured {
	t.Helper()
	js, err := yaml.YAMLToJSON([]byte(s))
	require.NoError(t, err)
	u := &unstructured.Unstructured{}
	require.NoError(t, u.UnmarshalJSON(js))
	return u
}

func runStatusCases(t *testing.T, cases map[string]statusCase) {
	t.Helper()
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			got := bootstrap.Compute(fromYAML(t, tc.yaml), now)
			assert.Equal(t, tc.want, got.Status, "%s", got)
			if tc.reason != "" {
				assert.Equal(t, tc.reason, got.Reason, "%s", got)
			}
			assert.NotEmpty(t, got.Message, "every status says why")
		})
	}
}

func TestPodStatus(t *testing.T) {
	t.Parallel()
	runStatusCases(t, map[string]statusCase{
		"podNoStatus": {yaml: "apiVersion: v1\nkind: Pod\nmetadata: {name: p, generation: 1}\n",
			want: bootstrap.StatusInProgress, reason: "PodNotObserved"},
		"podReady": {yaml: `apiVersion: v1
kind: Pod
metadata: {name: p}
status:
  phase: Running
  conditions: [{type: Ready, status: "True"}]`, want: bootstrap.StatusCurrent},
		"podCompletedSuccessfully": {yaml: "apiVersion: v1\nkind: Pod\nmetadata: {name: p}\nstatus: {phase: Succeeded}\n", want: bootstrap.StatusCurrent},
		"podCompletedFailed":       {yaml: "apiVersion: v1\nkind: Pod\nmetadata: {name: p}\nstatus: {phase: Failed}\n", want: bootstrap.StatusCurrent},
		"podBeingScheduled": {yaml: `apiVersion: v1
kind: Pod
metadata: {name: p, creationTimestamp: "2026-01-01T00:00:20Z"}
status:
  phase: Pending
  conditions: [{type: PodScheduled, status: "False", reason: Unschedulable}]`, want: bootstrap.StatusInProgress, reason: "PodNotScheduled"},
		"podUnschedulable": {yaml: `apiVersion: v1
kind: Pod
metadata: {name: p, creationTimestamp: "2026-01-01T00:00:00Z"}
status:
  phase: Pending
  conditions: [{type: PodScheduled, status: "False", reason: Unschedulable}]`, want: bootstrap.StatusFailed, reason: "PodUnschedulable"},
		"podCrashLooping": {yaml: `apiVersion: v1
kind: Pod
metadata: {name: p}
status:
  phase: Running
  conditions: [{type: Ready, status: "False"}]
  containerStatuses:
  - name: app
    state: {waiting: {reason: CrashLoopBackOff}}`, want: bootstrap.StatusFailed, reason: "ContainerCrashLooping"},
	})
}

func TestPVCStatus(t *testing.T) {
	t.Parallel()
	runStatusCases(t, map[string]statusCase{
		"pvcNoStatus": {yaml: "apiVersion: v1\nkind: PersistentVolumeClaim\nmetadata: {name: c}\n", want: bootstrap.StatusInProgress, reason: "NotBound"},
		"pvcBound":    {yaml: "apiVersion: v1\nkind: PersistentVolumeClaim\nmetadata: {name: c}\nstatus: {phase: Bound}\n", want: bootstrap.StatusCurrent},
	})
}

func TestStatefulSetStatus(t *testing.T) {
	t.Parallel()
	const head = "apiVersion: apps/v1\nkind: StatefulSet\nmetadata: {name: s, generation: 1}\nspec: {replicas: 4}\n"
	runStatusCases(t, map[string]statusCase{
		"stsNoStatus":  {yaml: head, want: bootstrap.StatusInProgress, reason: "LessReplicas"},
		"stsBadStatus": {yaml: head + "status: {observedGeneration: 1, replicas: 4, readyReplicas: 2, currentReplicas: 4}\n", want: bootstrap.StatusInProgress, reason: "LessReady"},
		"stsOK": {yaml: head + "status: {observedGeneration: 1, replicas: 4, readyReplicas: 4, currentReplicas: 4, updatedReplicas: 4, currentRevision: r1, updateRevision: r1}\n",
			want: bootstrap.StatusCurrent},
		"stsLessReady":   {yaml: head + "status: {observedGeneration: 1, replicas: 4, readyReplicas: 3, currentReplicas: 4}\n", want: bootstrap.StatusInProgress, reason: "LessReady"},
		"stsLessCurrent": {yaml: head + "status: {observedGeneration: 1, replicas: 4, readyReplicas: 4, currentReplicas: 3}\n", want: bootstrap.StatusInProgress, reason: "LessCurrent"},
		"stsExtraPods":   {yaml: head + "status: {observedGeneration: 1, replicas: 5, readyReplicas: 4, currentReplicas: 4}\n", want: bootstrap.StatusInProgress, reason: "ExtraPods"},
		"stsRevisionMismatch": {yaml: head + "status: {observedGeneration: 1, replicas: 4, readyReplicas: 4, currentReplicas: 4, currentRevision: r1, updateRevision: r2}\n",
			want: bootstrap.StatusInProgress, reason: "RevisionMismatch"},
		"stsPartitionRollout": {yaml: "apiVersion: apps/v1\nkind: StatefulSet\nmetadata: {name: s, generation: 2}\nspec: {replicas: 4, updateStrategy: {type: RollingUpdate, rollingUpdate: {partition: 2}}}\n" +
			"status: {observedGeneration: 2, replicas: 4, readyReplicas: 4, currentReplicas: 2, updatedReplicas: 1}\n", want: bootstrap.StatusInProgress, reason: "PartitionRollout"},
		"stsOnDelete": {yaml: "apiVersion: apps/v1\nkind: StatefulSet\nmetadata: {name: s}\nspec: {replicas: 4, updateStrategy: {type: OnDelete}}\n", want: bootstrap.StatusCurrent},
	})
}

func TestDaemonSetStatus(t *testing.T) {
	t.Parallel()
	const head = "apiVersion: apps/v1\nkind: DaemonSet\nmetadata: {name: d, generation: 1}\n"
	runStatusCases(t, map[string]statusCase{
		"dsNoStatus":  {yaml: head, want: bootstrap.StatusInProgress, reason: "NoObservedGeneration"},
		"dsBadStatus": {yaml: head + "status: {observedGeneration: 1, currentNumberScheduled: 1}\n", want: bootstrap.StatusInProgress, reason: "NoDesiredNumber"},
		"dsOK": {yaml: head + "status: {observedGeneration: 1, desiredNumberScheduled: 3, currentNumberScheduled: 3, updatedNumberScheduled: 3, numberAvailable: 3, numberReady: 3}\n",
			want: bootstrap.StatusCurrent},
		"dsLessReady": {yaml: head + "status: {observedGeneration: 1, desiredNumberScheduled: 3, currentNumberScheduled: 3, updatedNumberScheduled: 3, numberAvailable: 3, numberReady: 2}\n",
			want: bootstrap.StatusInProgress, reason: "LessReady"},
		"dsDifferentGeneration": {yaml: "apiVersion: apps/v1\nkind: DaemonSet\nmetadata: {name: d, generation: 2}\nstatus: {observedGeneration: 1, desiredNumberScheduled: 3, currentNumberScheduled: 3, updatedNumberScheduled: 3, numberAvailable: 3, numberReady: 3}\n",
			want: bootstrap.StatusInProgress, reason: "LatestGenerationNotObserved"},
		"dsLessAvailable": {yaml: head + "status: {observedGeneration: 1, desiredNumberScheduled: 3, currentNumberScheduled: 3, updatedNumberScheduled: 3, numberAvailable: 2, numberReady: 3}\n",
			want: bootstrap.StatusInProgress, reason: "LessAvailable"},
	})
}

func TestDeploymentStatus(t *testing.T) {
	t.Parallel()
	const head = "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: d, generation: 1}\nspec: {replicas: 2, progressDeadlineSeconds: 600}\n"
	const allReady = "status:\n  observedGeneration: 1\n  replicas: 2\n  updatedReplicas: 2\n  readyReplicas: 2\n"
	const complete = "  conditions:\n  - {type: Progressing, status: \"True\", reason: NewReplicaSetAvailable}\n  - {type: Available, status: \"True\"}\n"
	runStatusCases(t, map[string]statusCase{
		"depNoStatus": {yaml: head, want: bootstrap.StatusInProgress, reason: "LessReplicas"},
		"depOK":       {yaml: head + allReady + "  availableReplicas: 2\n" + complete, want: bootstrap.StatusCurrent},
		"depNotProgressing": {yaml: head + allReady + "  availableReplicas: 2\n" +
			"  conditions:\n  - {type: Progressing, status: \"False\", reason: ProgressDeadlineExceeded, message: timed out}\n  - {type: Available, status: \"True\"}\n",
			want: bootstrap.StatusFailed, reason: "ProgressDeadlineExceeded"},
		"depNoProgressDeadlineSeconds": {yaml: "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: d, generation: 1}\nspec: {replicas: 2}\n" +
			allReady + "  availableReplicas: 2\n  conditions:\n  - {type: Available, status: \"True\"}\n", want: bootstrap.StatusCurrent},
		"depNotAvailable": {yaml: head + allReady + "  availableReplicas: 2\n" +
			"  conditions:\n  - {type: Progressing, status: \"True\", reason: NewReplicaSetAvailable}\n  - {type: Available, status: \"False\"}\n",
			want: bootstrap.StatusInProgress, reason: "DeploymentNotAvailable"},
		"depLessAvailable": {yaml: head + allReady + "  availableReplicas: 1\n" + complete, want: bootstrap.StatusInProgress, reason: "LessAvailable"},
		"depOldGeneration": {yaml: "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: d, generation: 2}\nspec: {replicas: 2}\nstatus: {observedGeneration: 1}\n",
			want: bootstrap.StatusInProgress, reason: "LatestGenerationNotObserved"},
	})
}

func TestReplicaSetStatus(t *testing.T) {
	t.Parallel()
	const head = "apiVersion: apps/v1\nkind: ReplicaSet\nmetadata: {name: r, generation: 1}\nspec: {replicas: 2}\n"
	runStatusCases(t, map[string]statusCase{
		"rsNoStatus": {yaml: head, want: bootstrap.StatusInProgress, reason: "LessLabelled"},
		"rsOK1": {yaml: head + "status: {observedGeneration: 1, replicas: 2, fullyLabeledReplicas: 2, availableReplicas: 2, readyReplicas: 2}\n",
			want: bootstrap.StatusCurrent},
		"rsOK2": {yaml: "apiVersion: apps/v1\nkind: ReplicaSet\nmetadata: {name: r}\nstatus: {replicas: 1, fullyLabeledReplicas: 1, availableReplicas: 1, readyReplicas: 1}\n",
			want: bootstrap.StatusCurrent},
		"rsLessAvailable": {yaml: head + "status: {observedGeneration: 1, replicas: 2, fullyLabeledReplicas: 2, availableReplicas: 1, readyReplicas: 2}\n",
			want: bootstrap.StatusInProgress, reason: "LessAvailable"},
		"rsLessReady": {yaml: head + "status: {observedGeneration: 1, replicas: 2, fullyLabeledReplicas: 2, availableReplicas: 2, readyReplicas: 1}\n",
			want: bootstrap.StatusInProgress, reason: "LessReady"},
		"rsReplicaFailure": {yaml: head + "status:\n  observedGeneration: 1\n  conditions: [{type: ReplicaFailure, status: \"True\"}]\n",
			want: bootstrap.StatusInProgress, reason: "ReplicaFailure"},
	})
}

func TestPDBStatus(t *testing.T) {
	t.Parallel()
	runStatusCases(t, map[string]statusCase{
		"pdbNotObserved": {yaml: "apiVersion: policy/v1\nkind: PodDisruptionBudget\nmetadata: {name: p, generation: 2}\nstatus: {observedGeneration: 1}\n",
			want: bootstrap.StatusInProgress, reason: "LatestGenerationNotObserved"},
		"pdbObserved": {yaml: "apiVersion: policy/v1\nkind: PodDisruptionBudget\nmetadata: {name: p, generation: 1}\nstatus: {observedGeneration: 1}\n",
			want: bootstrap.StatusCurrent},
	})
}

func TestCustomResourceGenericStatus(t *testing.T) {
	t.Parallel()
	const head = "apiVersion: something/v1\nkind: MyCR\nmetadata: {name: c, namespace: q, generation: 1}\n"
	runStatusCases(t, map[string]statusCase{
		"crdNoStatus":    {yaml: head, want: bootstrap.StatusCurrent},
		"crdReady":       {yaml: head + "status:\n  conditions: [{type: Ready, status: \"True\", message: fine}]\n", want: bootstrap.StatusCurrent},
		"crdNotReady":    {yaml: head + "status:\n  observedGeneration: 1\n  conditions: [{type: Ready, status: \"False\", reason: NotReadyYet}]\n", want: bootstrap.StatusInProgress, reason: "NotReadyYet"},
		"crdNoCondition": {yaml: head + "status:\n  conditions: [{type: SomeCondition, status: \"False\"}]\n", want: bootstrap.StatusCurrent},
		"crdMismatchStatusGeneration": {yaml: "apiVersion: something/v1\nkind: MyCR\nmetadata: {name: c, namespace: q, generation: 2}\nstatus: {observedGeneration: 1}\n",
			want: bootstrap.StatusInProgress, reason: "LatestGenerationNotObserved"},
		"reconciling": {yaml: head + "status:\n  conditions: [{type: Reconciling, status: \"True\", reason: Working}]\n", want: bootstrap.StatusInProgress, reason: "Working"},
		"stalled":     {yaml: head + "status:\n  conditions: [{type: Stalled, status: \"True\", reason: Broken, message: bad spec}]\n", want: bootstrap.StatusFailed, reason: "Broken"},
		"terminating": {yaml: "apiVersion: something/v1\nkind: MyCR\nmetadata: {name: c, deletionTimestamp: \"2026-01-01T00:00:00Z\"}\n", want: bootstrap.StatusTerminating},
	})
}

func TestJobStatus(t *testing.T) {
	t.Parallel()
	const head = "apiVersion: batch/v1\nkind: Job\nmetadata: {name: j}\nspec: {completions: 1}\n"
	runStatusCases(t, map[string]statusCase{
		"jobNoStatus": {yaml: head, want: bootstrap.StatusInProgress, reason: "JobNotStarted"},
		"jobComplete": {yaml: head + "status:\n  succeeded: 1\n  startTime: \"2026-01-01T00:00:00Z\"\n  conditions: [{type: Complete, status: \"True\"}]\n",
			want: bootstrap.StatusCurrent},
		"jobFailed": {yaml: head + "status:\n  failed: 7\n  startTime: \"2026-01-01T00:00:00Z\"\n  conditions: [{type: Failed, status: \"True\", reason: BackoffLimitExceeded}]\n",
			want: bootstrap.StatusFailed, reason: "JobFailed"},
		// kstatus calls a running Job Current; Apply waits for it to
		// complete (see TestReadinessOverrides).
		"jobInProgress": {yaml: head + "status:\n  active: 1\n  startTime: \"2026-01-01T00:00:00Z\"\n", want: bootstrap.StatusCurrent},
	})
}

func TestCronJobStatus(t *testing.T) {
	t.Parallel()
	runStatusCases(t, map[string]statusCase{
		"cronjobNoStatus":   {yaml: "apiVersion: batch/v1\nkind: CronJob\nmetadata: {name: c}\n", want: bootstrap.StatusCurrent},
		"cronjobWithStatus": {yaml: "apiVersion: batch/v1\nkind: CronJob\nmetadata: {name: c}\nstatus: {lastScheduleTime: \"2026-01-01T00:00:00Z\"}\n", want: bootstrap.StatusCurrent},
	})
}

func TestServiceStatus(t *testing.T) {
	t.Parallel()
	runStatusCases(t, map[string]statusCase{
		"serviceDefault":  {yaml: "apiVersion: v1\nkind: Service\nmetadata: {name: s}\n", want: bootstrap.StatusCurrent},
		"serviceNodePort": {yaml: "apiVersion: v1\nkind: Service\nmetadata: {name: s}\nspec: {type: NodePort, clusterIP: 10.0.0.1}\n", want: bootstrap.StatusCurrent},
		"serviceLBnok":    {yaml: "apiVersion: v1\nkind: Service\nmetadata: {name: s}\nspec: {type: LoadBalancer}\n", want: bootstrap.StatusInProgress, reason: "NoIPAssigned"},
		"serviceLBok":     {yaml: "apiVersion: v1\nkind: Service\nmetadata: {name: s}\nspec: {type: LoadBalancer, clusterIP: 10.0.0.1}\n", want: bootstrap.StatusCurrent},
	})
}

func TestCRDStatus(t *testing.T) {
	t.Parallel()
	const head = "apiVersion: apiextensions.k8s.io/v1\nkind: CustomResourceDefinition\nmetadata: {name: a.b, generation: 1}\n"
	runStatusCases(t, map[string]statusCase{
		"crdNoConditions": {yaml: head, want: bootstrap.StatusInProgress, reason: "Installing"},
		"crdInstalling": {yaml: head + "status:\n  conditions: [{type: Established, status: \"False\", reason: Installing}]\n",
			want: bootstrap.StatusInProgress, reason: "Installing"},
		"crdNamesNotAccepted": {yaml: head + "status:\n  conditions: [{type: NamesAccepted, status: \"False\", reason: NameConflict}]\n",
			want: bootstrap.StatusFailed, reason: "NameConflict"},
		"crdEstablished": {yaml: head + "status:\n  conditions: [{type: NamesAccepted, status: \"True\"}, {type: Established, status: \"True\"}]\n",
			want: bootstrap.StatusCurrent},
	})
}

func TestAlwaysReadyKinds(t *testing.T) {
	t.Parallel()
	runStatusCases(t, map[string]statusCase{
		"configMap": {yaml: "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: c}\n", want: bootstrap.StatusCurrent},
		"secret":    {yaml: "apiVersion: v1\nkind: Secret\nmetadata: {name: s}\n", want: bootstrap.StatusCurrent},
		"role":      {yaml: "apiVersion: rbac.authorization.k8s.io/v1\nkind: Role\nmetadata: {name: r}\n", want: bootstrap.StatusCurrent},
	})
}
