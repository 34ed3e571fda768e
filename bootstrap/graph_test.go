package bootstrap

import (
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/yaml"

	"github.com/switchyard-dev/switchyard/strategy"
)

// objects parses YAML documents written for the tests.
func objects(t *testing.T, docs ...string) []*unstructured.Unstructured {
	t.Helper()
	var out []*unstructured.Unstructured
	for _, d := range docs {
		js, err := yaml.YAMLToJSON([]byte(d))
		require.NoError(t, err)
		u := &unstructured.Unstructured{}
		require.NoError(t, u.UnmarshalJSON(js))
		out = append(out, u)
	}
	return out
}

// edges returns the graph's edges as "from -> to" strings.
func edges(g *graph) []string {
	var out []string
	for i, ds := range g.deps {
		for _, e := range ds {
			out = append(out, g.refs[i].String()+" -> "+g.refs[e.to].String())
		}
	}
	return out
}

func TestInferredEdges(t *testing.T) {
	t.Parallel()
	objs := objects(t,
		"apiVersion: v1\nkind: Namespace\nmetadata: {name: ns}",
		"apiVersion: apiextensions.k8s.io/v1\nkind: CustomResourceDefinition\nmetadata: {name: widgets.example.com}\nspec: {group: example.com, names: {kind: Widget, plural: widgets}, scope: Namespaced}",
		"apiVersion: example.com/v1\nkind: Widget\nmetadata: {name: w, namespace: ns}",
		"apiVersion: v1\nkind: ServiceAccount\nmetadata: {name: sa, namespace: ns}",
		"apiVersion: v1\nkind: ServiceAccount\nmetadata: {name: default, namespace: ns}",
		"apiVersion: v1\nkind: ConfigMap\nmetadata: {name: cm, namespace: ns}",
		"apiVersion: v1\nkind: ConfigMap\nmetadata: {name: projected, namespace: ns}",
		"apiVersion: v1\nkind: Secret\nmetadata: {name: env, namespace: ns}",
		"apiVersion: v1\nkind: Secret\nmetadata: {name: pull, namespace: ns}",
		"apiVersion: v1\nkind: PersistentVolumeClaim\nmetadata: {name: data, namespace: ns}\nspec: {storageClassName: fast}",
		"apiVersion: storage.k8s.io/v1\nkind: StorageClass\nmetadata: {name: fast}",
		"apiVersion: scheduling.k8s.io/v1\nkind: PriorityClass\nmetadata: {name: high}",
		"apiVersion: rbac.authorization.k8s.io/v1\nkind: Role\nmetadata: {name: r, namespace: ns}",
		"apiVersion: rbac.authorization.k8s.io/v1\nkind: RoleBinding\nmetadata: {name: rb, namespace: ns}\nroleRef: {kind: Role, name: r}\nsubjects: [{kind: ServiceAccount, name: sa}]",
		"apiVersion: rbac.authorization.k8s.io/v1\nkind: ClusterRole\nmetadata: {name: cr}",
		"apiVersion: rbac.authorization.k8s.io/v1\nkind: ClusterRoleBinding\nmetadata: {name: crb}\nroleRef: {kind: ClusterRole, name: cr}\nsubjects: [{kind: ServiceAccount, name: sa, namespace: ns}]",
		`apiVersion: apps/v1
kind: Deployment
metadata: {name: app, namespace: ns}
spec:
  template:
    metadata: {labels: {app: app}}
    spec:
      serviceAccountName: sa
      priorityClassName: high
      imagePullSecrets: [{name: pull}]
      volumes:
      - {name: a, configMap: {name: cm}}
      - {name: b, persistentVolumeClaim: {claimName: data}}
      - name: c
        projected: {sources: [{configMap: {name: projected}}]}
      containers:
      - name: c
        env: [{name: X, valueFrom: {secretKeyRef: {name: env, key: k}}}]`,
		"apiVersion: batch/v1\nkind: CronJob\nmetadata: {name: cron, namespace: ns}\nspec: {jobTemplate: {spec: {template: {spec: {containers: [{name: c, envFrom: [{configMapRef: {name: cm}}]}]}}}}}",
		"apiVersion: v1\nkind: Service\nmetadata: {name: app, namespace: ns}\nspec: {selector: {app: app}}",
		"apiVersion: admissionregistration.k8s.io/v1\nkind: MutatingWebhookConfiguration\nmetadata: {name: hook}\nwebhooks: [{name: a.b, clientConfig: {service: {namespace: ns, name: app}}}]",
		"apiVersion: apiregistration.k8s.io/v1\nkind: APIService\nmetadata: {name: v1.metrics}\nspec: {service: {namespace: ns, name: app}}",
		"apiVersion: apps/v1\nkind: StatefulSet\nmetadata: {name: db, namespace: ns}\nspec: {serviceName: app, template: {spec: {containers: [{name: c}]}}}",
	)
	var v strategy.Validator
	g := buildGraph(objs, nil, &v)
	require.NoError(t, v.Err())
	got := edges(g)
	for _, want := range []string{
		"Widget.example.com ns/w -> Namespace ns",
		"Widget.example.com ns/w -> CustomResourceDefinition.apiextensions.k8s.io widgets.example.com",
		"PersistentVolumeClaim ns/data -> StorageClass.storage.k8s.io fast",
		"RoleBinding.rbac.authorization.k8s.io ns/rb -> Role.rbac.authorization.k8s.io ns/r",
		"RoleBinding.rbac.authorization.k8s.io ns/rb -> ServiceAccount ns/sa",
		"ClusterRoleBinding.rbac.authorization.k8s.io crb -> ClusterRole.rbac.authorization.k8s.io cr",
		"ClusterRoleBinding.rbac.authorization.k8s.io crb -> ServiceAccount ns/sa",
		"Deployment.apps ns/app -> ServiceAccount ns/sa",
		"Deployment.apps ns/app -> RoleBinding.rbac.authorization.k8s.io ns/rb",
		"Deployment.apps ns/app -> ClusterRoleBinding.rbac.authorization.k8s.io crb",
		"Deployment.apps ns/app -> ConfigMap ns/cm",
		"Deployment.apps ns/app -> ConfigMap ns/projected",
		"Deployment.apps ns/app -> Secret ns/env",
		"Deployment.apps ns/app -> Secret ns/pull",
		"Deployment.apps ns/app -> PersistentVolumeClaim ns/data",
		"Deployment.apps ns/app -> PriorityClass.scheduling.k8s.io high",
		"CronJob.batch ns/cron -> ServiceAccount ns/default",
		"CronJob.batch ns/cron -> ConfigMap ns/cm",
		"MutatingWebhookConfiguration.admissionregistration.k8s.io hook -> Service ns/app",
		"MutatingWebhookConfiguration.admissionregistration.k8s.io hook -> Deployment.apps ns/app",
		"APIService.apiregistration.k8s.io v1.metrics -> Deployment.apps ns/app",
		"StatefulSet.apps ns/db -> Service ns/app",
	} {
		assert.Contains(t, got, want)
	}
	assert.NotContains(t, got, "Deployment.apps ns/app -> ServiceAccount ns/default", "it runs as sa")
	assert.NotContains(t, got, "Widget.example.com ns/w -> ServiceAccount ns/sa")
	// Every edge points back in the order.
	pos := map[int]int{}
	for p, i := range g.order {
		pos[i] = p
	}
	require.Len(t, g.order, len(objs))
	for i, ds := range g.deps {
		for _, e := range ds {
			assert.Less(t, pos[e.to], pos[i], "%s before %s", g.refs[e.to], g.refs[i])
		}
	}
}

func TestExplicitEdgesAndCycles(t *testing.T) {
	t.Parallel()
	objs := objects(t,
		"apiVersion: v1\nkind: ConfigMap\nmetadata: {name: a, namespace: ns, annotations: {config.kubernetes.io/depends-on: /namespaces/ns/ConfigMap/b}}",
		"apiVersion: v1\nkind: ConfigMap\nmetadata: {name: b, namespace: ns}",
		"apiVersion: v1\nkind: ConfigMap\nmetadata: {name: c, namespace: ns}",
	)
	var v strategy.Validator
	g := buildGraph(objs, []Dependency{{Object: Ref{Kind: "ConfigMap", Namespace: "ns", Name: "b"}, DependsOn: Ref{Kind: "ConfigMap", Namespace: "ns", Name: "c"}}}, &v)
	require.NoError(t, v.Err())
	assert.Equal(t, []int{2, 1, 0}, g.order)
	why, ok := g.waitsFor(0, 1)
	assert.True(t, ok)
	assert.Equal(t, "its config.kubernetes.io/depends-on annotation", why)

	// Closing the loop is a cycle, reported with every edge and reason.
	buildGraph(objs, []Dependency{
		{Object: Ref{Kind: "ConfigMap", Namespace: "ns", Name: "b"}, DependsOn: Ref{Kind: "ConfigMap", Namespace: "ns", Name: "c"}},
		{Object: Ref{Kind: "ConfigMap", Namespace: "ns", Name: "c"}, DependsOn: Ref{Kind: "ConfigMap", Namespace: "ns", Name: "a"}},
	}, &v)
	err := v.Err()
	require.Error(t, err)
	assert.Contains(t, err.Error(), "dependency cycle: ")
	for _, part := range []string{"ConfigMap ns/a waits for ConfigMap ns/b (its config.kubernetes.io/depends-on annotation)",
		"ConfigMap ns/b waits for ConfigMap ns/c (spec.dependencies)", "ConfigMap ns/c waits for ConfigMap ns/a (spec.dependencies)"} {
		assert.Contains(t, err.Error(), part)
	}
	assert.Equal(t, 1, strings.Count(err.Error(), "dependency cycle"), "one cycle, reported once")
}

func TestReadinessOverrides(t *testing.T) {
	t.Parallel()
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	r := readiness{}
	job := objects(t, "apiVersion: batch/v1\nkind: Job\nmetadata: {name: j}\nstatus: {active: 1, startTime: \"2026-01-01T00:00:00Z\"}")[0]
	assert.Equal(t, StatusCurrent, Compute(job, now).Status, "kstatus: a running Job is Current")
	st := r.status(job, false, now)
	assert.Equal(t, StatusInProgress, st.Status, "Apply waits for it to complete")
	assert.Equal(t, "JobNotComplete", st.Reason)

	cr := objects(t, "apiVersion: example.com/v1\nkind: Widget\nmetadata: {name: w, generation: 1}\nspec: {size: 1}")[0]
	assert.Equal(t, StatusCurrent, Compute(cr, now).Status, "kstatus: no status is Current")
	assert.Equal(t, StatusCurrent, r.status(cr, false, now).Status, "without a status subresource, nothing to wait for")
	st = r.status(cr, true, now)
	assert.Equal(t, StatusInProgress, st.Status)
	assert.Equal(t, "waiting for its controller to write a status", st.Message)
	cr.Object["status"] = map[string]any{"observedGeneration": int64(1)}
	assert.Equal(t, StatusCurrent, r.status(cr, true, now).Status)

	crd := objects(t, "apiVersion: apiextensions.k8s.io/v1\nkind: CustomResourceDefinition\nmetadata: {name: a.b}\nstatus: {conditions: [{type: Established, status: \"True\"}]}")[0]
	assert.Equal(t, StatusCurrent, Compute(crd, now).Status)
	assert.Equal(t, StatusInProgress, r.status(crd, false, now).Status, "names must be accepted too")
}
