package e2e

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/types"

	"github.com/switchyard-dev/switchyard/bootstrap"
	"github.com/switchyard-dev/switchyard/strategy"
)

// orderChecker asks the cluster, at each apply, whether what the object
// needs is there: a custom resource's CRD Established and NamesAccepted,
// a workload's ServiceAccount.
func (e *env) orderChecker(objs []*unstructured.Unstructured) strategy.Observer {
	byName := map[string]*unstructured.Unstructured{}
	for _, o := range objs {
		byName[bootstrap.RefOf(o).String()] = o
	}
	return func(ev strategy.Event) {
		if ev.Type != bootstrap.EventApplied {
			return
		}
		o := byName[ev.Object]
		if o == nil {
			e.t.Errorf("event for an object not in the bundle: %s", ev.Object)
			return
		}
		ctx := context.Background()
		switch o.GetKind() {
		case "Widget":
			crd, err := e.clients.Dynamic.Resource(crdResource).Get(ctx, "widgets."+e.group(), metav1.GetOptions{})
			if assert.NoError(e.t, err, "%s applied before its CRD exists", ev.Object) {
				assert.True(e.t, condition(crd, "Established") && condition(crd, "NamesAccepted"),
					"%s applied before its CRD was established", ev.Object)
			}
		case "Deployment", "StatefulSet", "Job":
			sa, _, _ := unstructured.NestedString(o.Object, "spec", "template", "spec", "serviceAccountName")
			if sa != "" {
				_, err := e.clients.Kube.CoreV1().ServiceAccounts(o.GetNamespace()).Get(ctx, sa, metav1.GetOptions{})
				assert.NoError(e.t, err, "%s applied before its ServiceAccount %s", ev.Object, sa)
			}
		}
	}
}

func condition(u *unstructured.Unstructured, typ string) bool {
	conds, _, _ := unstructured.NestedSlice(u.Object, "status", "conditions")
	for _, c := range conds {
		if m, ok := c.(map[string]any); ok && m["type"] == typ {
			return m["status"] == "True"
		}
	}
	return false
}

func TestPlatform(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	objs := e.platform()
	var rec recorder
	controller, written := e.widgetController(2 * time.Second)
	s := bootstrap.New(e.clients, bootstrap.Spec{}, strategy.WithIdentity("e2e"),
		strategy.WithObserver(rec.observe), strategy.WithObserver(e.orderChecker(objs)), strategy.WithObserver(controller))
	rep, err := s.Apply(e.ctx, strategy.Release{App: e.app, Revision: "v1", Objects: objs})
	require.NoError(t, err)
	assert.Equal(t, strategy.PhaseSucceeded, rep.Result.Phase)
	firstWrites := e.writes.reset()
	t.Logf("first run: %s, %d writes", rep.Result.Finished.Sub(rep.Result.Started).Round(time.Millisecond), len(firstWrites))
	for _, o := range rep.Objects {
		assert.True(t, o.Ready, "%s: %s", o.Ref, o.Status)
		assert.Equal(t, bootstrap.ActionCreate, o.Action, "%s", o.Ref)
	}
	for ref, st := range e.live(objs) {
		assert.Equal(t, bootstrap.StatusCurrent, st.Status, "%s: %s", ref, st)
	}
	// The widget was ready only after its controller wrote a status.
	at, ok := written("default-widget")
	require.True(t, ok, "the widget controller never wrote")
	widget := e.ref("example.com", "Widget", "platform", "default-widget")
	assert.False(t, rec.of(bootstrap.EventReady)[widget.String()].Time.Before(at))
	// Ordering the waits made, on a real apiserver.
	before := func(first, then bootstrap.Ref) {
		t.Helper()
		f, th := rec.position(bootstrap.EventReady, first.String()), rec.position(bootstrap.EventApplied, then.String())
		require.True(t, f >= 0 && th >= 0, "%s / %s", first, then)
		assert.Less(t, f, th, "%s ready before %s applied", first, then)
	}
	before(bootstrap.Ref{Group: "apiextensions.k8s.io", Kind: "CustomResourceDefinition", Name: "widgets." + e.group()}, widget)
	before(e.ref("", "ServiceAccount", "platform", "operator"), e.ref("apps", "Deployment", "platform", "operator"))
	before(e.ref("apps", "Deployment", "platform", "operator"), e.ref("admissionregistration.k8s.io", "ValidatingWebhookConfiguration", "", "widget-validator"))
	before(e.ref("batch", "Job", "apps", "migrate"), e.ref("apps", "Deployment", "apps", "web"))

	// The same bundle again writes nothing, counted on the wire.
	var rec2 recorder
	s2 := bootstrap.New(e.clients, bootstrap.Spec{}, strategy.WithIdentity("e2e"), strategy.WithObserver(rec2.observe))
	rep2, err := s2.Apply(e.ctx, strategy.Release{App: e.app, Revision: "v1", Objects: e.platform()})
	require.NoError(t, err)
	assert.Empty(t, e.writes.reset(), "a second run writes nothing")
	assert.Equal(t, len(objs), rep2.Count(bootstrap.ActionUnchanged))
	assert.Len(t, rec2.of(bootstrap.EventReady), len(objs))
}

func TestPrune(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	controller, _ := e.widgetController(time.Second)
	s := bootstrap.New(e.clients, bootstrap.Spec{Prune: true}, strategy.WithIdentity("e2e"), strategy.WithObserver(controller))
	first := e.platform()
	_, err := s.Apply(e.ctx, strategy.Release{App: e.app, Revision: "v1", Objects: first})
	require.NoError(t, err)

	// Something the bundle does not own lands in apps; the web app, its
	// Service, the cache and the webhook leave the bundle; so does the
	// namespace apps itself.
	_, err = e.clients.Kube.CoreV1().ConfigMaps(e.ns("apps")).Create(e.ctx, &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "foreign"}}, metav1.CreateOptions{})
	require.NoError(t, err)
	leaving := map[bootstrap.Ref]bool{
		e.ref("apps", "Deployment", "apps", "web"):                                                      true,
		e.ref("", "Service", "apps", "web"):                                                             true,
		e.ref("apps", "StatefulSet", "apps", "cache"):                                                   true,
		e.ref("", "Service", "apps", "cache"):                                                           true,
		e.ref("admissionregistration.k8s.io", "ValidatingWebhookConfiguration", "", "widget-validator"): true,
		{Kind: "Namespace", Name: e.ns("apps")}:                                                         true,
	}
	var second []*unstructured.Unstructured
	for _, o := range first {
		if !leaving[bootstrap.RefOf(o)] {
			second = append(second, o)
		}
	}
	// The rest of apps stays in the bundle, so the namespace must stay
	// whatever: it holds them. Drop them too, to see the namespace kept for
	// the foreign object alone.
	var rest []*unstructured.Unstructured
	for _, o := range second {
		if o.GetNamespace() == e.ns("apps") {
			leaving[bootstrap.RefOf(o)] = true
			continue
		}
		rest = append(rest, o)
	}
	rep, err := s.Apply(e.ctx, strategy.Release{App: e.app, Revision: "v2", Objects: rest})
	require.NoError(t, err)
	pruned := 0
	for _, o := range first {
		ref := bootstrap.RefOf(o)
		r, _ := rep.Object(ref)
		switch {
		case !leaving[ref]:
			assert.True(t, e.exists(o), "%s stays", ref)
		case ref.Kind == "Namespace":
			assert.Equal(t, bootstrap.ActionKeep, r.Action)
			assert.Contains(t, r.Message, "ConfigMap "+e.ns("apps")+"/foreign")
			assert.True(t, e.exists(o))
		default:
			assert.Equal(t, bootstrap.ActionPrune, r.Action, "%s", ref)
			assert.True(t, r.Ready, "%s gone", ref)
			assert.False(t, e.exists(o), "%s pruned", ref)
			pruned++
		}
	}
	assert.Equal(t, rep.Count(bootstrap.ActionPrune), pruned, "nothing else was pruned")
	_, err = e.clients.Kube.CoreV1().ConfigMaps(e.ns("apps")).Get(e.ctx, "foreign", metav1.GetOptions{})
	assert.NoError(t, err, "the foreign object is untouched")

	// Once it is gone, the namespace goes too.
	require.NoError(t, e.clients.Kube.CoreV1().ConfigMaps(e.ns("apps")).Delete(e.ctx, "foreign", metav1.DeleteOptions{}))
	rep, err = s.Apply(e.ctx, strategy.Release{App: e.app, Revision: "v2", Objects: rest})
	require.NoError(t, err)
	r, _ := rep.Object(bootstrap.Ref{Kind: "Namespace", Name: e.ns("apps")})
	assert.Equal(t, bootstrap.ActionPrune, r.Action)
	assert.True(t, r.Ready, "namespace gone: %v", r.Err)
}

func TestUnschedulableDeploymentFails(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	objs := e.platform()
	operator := e.ref("apps", "Deployment", "platform", "operator")
	webhook := e.ref("admissionregistration.k8s.io", "ValidatingWebhookConfiguration", "", "widget-validator")
	for _, o := range objs {
		if bootstrap.RefOf(o) == operator {
			require.NoError(t, unstructured.SetNestedStringMap(o.Object, map[string]string{"no-such-node": "true"}, "spec", "template", "spec", "nodeSelector"))
			require.NoError(t, unstructured.SetNestedField(o.Object, int64(10), "spec", "progressDeadlineSeconds"))
		}
	}
	controller, _ := e.widgetController(time.Second)
	s := bootstrap.New(e.clients, bootstrap.Spec{}, strategy.WithIdentity("e2e"), strategy.WithObserver(controller))
	rep, err := s.Apply(e.ctx, strategy.Release{App: e.app, Objects: objs})
	var fe *bootstrap.FailedError
	require.ErrorAs(t, err, &fe)
	require.Len(t, fe.Failed, 1, "%v", err)
	var oe *bootstrap.ObjectError
	require.ErrorAs(t, fe.Failed[0], &oe)
	assert.Equal(t, operator, oe.Ref)
	assert.Equal(t, "ProgressDeadlineExceeded", oe.Status.Reason)
	var names []string
	for _, sk := range fe.Skipped {
		names = append(names, sk.Ref.String())
		if sk.Ref == webhook {
			assert.Equal(t, operator, sk.Dependency)
		}
	}
	assert.Contains(t, names, webhook.String())
	assert.Contains(t, err.Error(), webhook.String())
	r, _ := rep.Object(webhook)
	assert.Equal(t, bootstrap.ActionSkip, r.Action)
	_, err = e.clients.Kube.AdmissionregistrationV1().ValidatingWebhookConfigurations().Get(e.ctx, webhook.Name, metav1.GetOptions{})
	assert.True(t, apierrors.IsNotFound(err))
	st, err := strategy.NewControl(e.clients.Kube).Status(e.ctx, e.app)
	require.NoError(t, err)
	assert.Equal(t, strategy.PhaseFailed, st.Phase)
}

func TestRejectedWithoutWrites(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	s := bootstrap.New(e.clients, bootstrap.Spec{}, strategy.WithIdentity("e2e"))
	objs := e.platform()
	// A cycle: namespace apps waits for the operator, which is in namespace
	// platform, which waits for a ConfigMap in apps.
	for _, o := range objs {
		if bootstrap.RefOf(o) == (bootstrap.Ref{Kind: "Namespace", Name: e.ns("apps")}) {
			o.SetAnnotations(map[string]string{bootstrap.AnnotationDependsOn: "apps/namespaces/" + e.ns("platform") + "/Deployment/operator"})
		}
		if bootstrap.RefOf(o) == (bootstrap.Ref{Kind: "Namespace", Name: e.ns("platform")}) {
			o.SetAnnotations(map[string]string{bootstrap.AnnotationDependsOn: "/namespaces/" + e.ns("apps") + "/ConfigMap/web-config"})
		}
	}
	e.writes.reset()
	_, err := s.Apply(e.ctx, strategy.Release{App: e.app, Objects: objs})
	var ve *strategy.ValidationError
	require.ErrorAs(t, err, &ve)
	assert.Contains(t, err.Error(), "dependency cycle")
	assert.Zero(t, e.writes.count(), "nothing written: %v", e.writes.reset())

	// A malformed document is caught while reading, with its place.
	_, err = bootstrap.Decode("bundle.yaml", strings.NewReader("apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: a\n  labels: [\n"))
	var de *bootstrap.DecodeError
	require.ErrorAs(t, err, &de)
	assert.Equal(t, 1, de.Document)
	// An object without a kind is rejected before any write.
	bad := append(e.platform(), &unstructured.Unstructured{Object: map[string]any{"metadata": map[string]any{"name": "x"}}})
	_, err = s.Apply(e.ctx, strategy.Release{App: types.NamespacedName{Namespace: "default", Name: "bad"}, Objects: bad})
	require.ErrorAs(t, err, &ve)
	assert.True(t, ve.Has(fmt.Sprintf("release.objects[%d]", len(bad)-1)), "%v", err)
	assert.Zero(t, e.writes.count())
}
