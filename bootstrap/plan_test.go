package bootstrap_test

import (
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"github.com/switchyard-dev/switchyard/bootstrap"
	"github.com/switchyard-dev/switchyard/strategy"
)

func TestDryRunOnAnEmptyCluster(t *testing.T) {
	t.Parallel()
	c := newCluster(t)
	s := bootstrap.New(c.Clients(), bootstrap.Spec{}, strategy.WithClock(c.Clock()))
	rep, err := s.DryRun(testCtx(t), strategy.Release{App: platformApp, Objects: platform(t)})
	require.NoError(t, err)
	assert.Equal(t, strategy.Phase(""), rep.Result.Phase, "no release yet")
	require.Len(t, rep.Objects, 23)
	seen := map[string]int{}
	for k, o := range rep.Objects {
		seen[o.Ref.String()] = k
		assert.Equal(t, bootstrap.ActionCreate, o.Action, "%s", o.Ref)
		assert.NoError(t, o.Err, "%s", o.Ref)
		switch {
		case o.Ref.Kind == "Widget":
			assert.Equal(t, "after CustomResourceDefinition.apiextensions.k8s.io widgets.example.com is established", o.Message)
		case o.Ref.Namespace != "":
			assert.Equal(t, "after Namespace "+o.Ref.Namespace+" is created", o.Message)
		default:
			assert.Empty(t, o.Message, "%s is dry-run", o.Ref)
		}
	}
	// In the order of the graph.
	assert.Less(t, seen["CustomResourceDefinition.apiextensions.k8s.io widgets.example.com"], seen["Widget.example.com platform/default-widget"])
	assert.Less(t, seen["Job.batch apps/migrate"], seen["Deployment.apps apps/web"])
	_, err = c.Clients().Kube.CoreV1().Namespaces().Get(testCtx(t), "platform", metav1.GetOptions{})
	assert.True(t, apierrors.IsNotFound(err), "a dry run creates nothing")
}

func TestDryRunShowsWhatWouldChange(t *testing.T) {
	t.Parallel()
	c := newCluster(t)
	var written sync.Map
	opts := []strategy.Option{strategy.WithClock(c.Clock()), strategy.WithObserver(statusWriter(t, c.Clients(), c.Clock(), time.Second, &written))}
	objs := platform(t)
	_, err := bootstrap.New(c.Clients(), bootstrap.Spec{}, opts...).Apply(testCtx(t), strategy.Release{App: platformApp, Revision: "v1", Objects: objs})
	require.NoError(t, err)

	next := platform(t)
	for _, o := range next {
		switch bootstrap.RefOf(o).String() {
		case "Deployment.apps apps/web":
			require.NoError(t, unstructured.SetNestedField(o.Object, int64(5), "spec", "replicas"))
		case "Secret apps/web-secret":
			require.NoError(t, unstructured.SetNestedField(o.Object, "another-key", "stringData", "api-key"))
		case "ConfigMap apps/web-config":
			o.SetLabels(map[string]string{"tier": "web"})
		}
	}
	// The image sits in a list.
	for _, o := range next {
		if bootstrap.RefOf(o).String() == "Deployment.apps apps/web" {
			cs, _, _ := unstructured.NestedSlice(o.Object, "spec", "template", "spec", "containers")
			cs[0].(map[string]any)["image"] = "registry.example/web:1.1"
			require.NoError(t, unstructured.SetNestedSlice(o.Object, cs, "spec", "template", "spec", "containers"))
		}
	}
	s := bootstrap.New(c.Clients(), bootstrap.Spec{}, opts...)
	rep, err := s.DryRun(testCtx(t), strategy.Release{App: platformApp, Revision: "v2", Objects: next})
	require.NoError(t, err)
	assert.Equal(t, strategy.PhaseSucceeded, rep.Result.Phase)
	assert.Equal(t, 3, rep.Count(bootstrap.ActionConfigure))
	assert.Equal(t, 20, rep.Count(bootstrap.ActionUnchanged))

	web, _ := rep.Object(bootstrap.Ref{Group: "apps", Kind: "Deployment", Namespace: "apps", Name: "web"})
	assert.Equal(t, bootstrap.ActionConfigure, web.Action)
	assert.Contains(t, web.Diff, "~ spec.replicas: 3 -> 5")
	assert.Contains(t, web.Diff, `~ spec.template.spec.containers[name=web].image: "registry.example/web:1.0" -> "registry.example/web:1.1"`)
	cm, _ := rep.Object(bootstrap.Ref{Kind: "ConfigMap", Namespace: "apps", Name: "web-config"})
	assert.Equal(t, `+ metadata.labels: {"tier":"web"}`, cm.Diff)
	secret, _ := rep.Object(bootstrap.Ref{Kind: "Secret", Namespace: "apps", Name: "web-secret"})
	assert.Equal(t, bootstrap.ActionConfigure, secret.Action)
	assert.NotContains(t, secret.Diff, "another-key", "secret values are not shown")
	assert.Contains(t, secret.Diff, "(sensitive)")

	plan, err := s.Plan(testCtx(t), strategy.Release{App: platformApp, Revision: "v2", Objects: next})
	require.NoError(t, err)
	for _, step := range plan.Steps {
		if step.Name == "Deployment.apps apps/web" {
			assert.True(t, strings.HasPrefix(step.Description, "configure\n~ spec.replicas: 3 -> 5"), step.Description)
		}
	}
	// Nothing changed in the cluster.
	d, err := c.Clients().Kube.AppsV1().Deployments("apps").Get(testCtx(t), "web", metav1.GetOptions{})
	require.NoError(t, err)
	assert.Equal(t, int32(3), *d.Spec.Replicas)
}

func TestChecksReplaceTheRules(t *testing.T) {
	t.Parallel()
	crd := func() *unstructured.Unstructured {
		objs := platform(t)
		for _, o := range objs {
			if o.GetKind() == "CustomResourceDefinition" {
				return o
			}
		}
		return nil
	}
	widget := func(name string) *unstructured.Unstructured {
		return &unstructured.Unstructured{Object: map[string]any{"apiVersion": "example.com/v1", "kind": "Widget",
			"metadata": map[string]any{"name": name, "namespace": "default"}, "spec": map[string]any{"size": int64(1)}}}
	}
	gk := bootstrap.RefOf(widget("w")).GroupKind()
	app := platformApp
	app.Namespace = "default"
	tests := map[string]struct {
		check   bootstrap.Check
		status  map[string]any // written by the stand-in controller; nil for none
		want    bootstrap.Status
		errText string // in the run's error, when it fails
	}{
		"exists: no controller needed": {check: bootstrap.Check{Kind: gk}, want: bootstrap.StatusCurrent},
		"ready condition met": {
			check:  bootstrap.Check{Kind: gk, Ready: []bootstrap.ConditionMatch{{Type: "Synced"}}},
			status: map[string]any{"conditions": []any{map[string]any{"type": "Synced", "status": "True"}}},
			want:   bootstrap.StatusCurrent,
		},
		"failed condition": {
			check: bootstrap.Check{Kind: gk, Ready: []bootstrap.ConditionMatch{{Type: "Synced"}},
				Failed: []bootstrap.ConditionMatch{{Type: "Synced", Status: "False", Reason: "Invalid"}}},
			status:  map[string]any{"conditions": []any{map[string]any{"type": "Synced", "status": "False", "reason": "Invalid", "message": "size too big"}}},
			want:    bootstrap.StatusFailed,
			errText: "size too big",
		},
		"cel ready": {
			check:  bootstrap.Check{Kind: gk, ReadyCEL: `has(object.status.phase) && object.status.phase == "Running" && object.status.replicas >= 1`},
			status: map[string]any{"phase": "Running", "replicas": int64(2)},
			want:   bootstrap.StatusCurrent,
		},
		"cel not yet": {
			check:   bootstrap.Check{Kind: gk, ReadyCEL: `object.status.phase == "Running"`},
			status:  map[string]any{"phase": "Starting"},
			want:    bootstrap.StatusInProgress,
			errText: `waiting for readyCEL object.status.phase == "Running"`,
		},
		"cel failed": {
			check:   bootstrap.Check{Kind: gk, ReadyCEL: `object.status.phase == "Running"`, FailedCEL: `has(object.status.phase) && object.status.phase == "Broken"`},
			status:  map[string]any{"phase": "Broken"},
			want:    bootstrap.StatusFailed,
			errText: "failedCEL holds",
		},
		"func": {
			check: bootstrap.Check{Kind: gk, Func: func(u *unstructured.Unstructured) bootstrap.ObjectStatus {
				if phase, _, _ := unstructured.NestedString(u.Object, "status", "phase"); phase == "Running" {
					return bootstrap.ObjectStatus{Status: bootstrap.StatusCurrent}
				}
				return bootstrap.ObjectStatus{Status: bootstrap.StatusInProgress, Message: "not running"}
			}},
			status: map[string]any{"phase": "Running"},
			want:   bootstrap.StatusCurrent,
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			c := newCluster(t)
			observer := func(e strategy.Event) {
				if e.Type != bootstrap.EventApplied || !isWidget(e.Object) || tc.status == nil {
					return
				}
				c.Clock().AfterFunc(10*time.Second, func() {
					w, err := c.Clients().Dynamic.Resource(widgets).Namespace("default").Get(testCtx(t), "w", metav1.GetOptions{})
					if !assert.NoError(t, err) {
						return
					}
					w.Object["status"] = tc.status
					_, err = c.Clients().Dynamic.Resource(widgets).Namespace("default").UpdateStatus(testCtx(t), w, metav1.UpdateOptions{})
					assert.NoError(t, err)
				})
			}
			s := bootstrap.New(c.Clients(), bootstrap.Spec{Checks: []bootstrap.Check{tc.check}, ObjectTimeout: time.Minute},
				strategy.WithClock(c.Clock()), strategy.WithObserver(observer))
			rep, err := s.Apply(testCtx(t), strategy.Release{App: app, Objects: []*unstructured.Unstructured{crd(), widget("w")}})
			o, _ := rep.Object(bootstrap.Ref{Group: "example.com", Kind: "Widget", Namespace: "default", Name: "w"})
			assert.Equal(t, tc.want, o.Status.Status, "%s", o.Status)
			if tc.want == bootstrap.StatusCurrent {
				assert.NoError(t, err)
			} else {
				require.Error(t, err)
				assert.Contains(t, err.Error(), tc.errText)
			}
		})
	}
}
