package strategy_test

import (
	"context"
	"errors"
	"net"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/validation/field"
	"k8s.io/utils/ptr"

	"github.com/switchyard-dev/switchyard/strategy"
	"github.com/switchyard-dev/switchyard/strategy/flow"
)

var (
	errTransient = apierrors.NewServiceUnavailable("etcd is busy")
	errPermanent = apierrors.NewForbidden(schema.GroupResource{Resource: "configmaps"}, "web", errors.New("no"))
)

func TestTransient(t *testing.T) {
	gr := schema.GroupResource{Group: "apps", Resource: "deployments"}
	cases := map[string]struct {
		err  error
		want bool
	}{
		"nil":             {nil, false},
		"conflict":        {apierrors.NewConflict(gr, "web", errors.New("stale")), true},
		"429":             {apierrors.NewTooManyRequests("slow down", 1), true},
		"server timeout":  {apierrors.NewServerTimeout(gr, "get", 1), true},
		"timeout":         {apierrors.NewTimeoutError("late", 1), true},
		"500":             {apierrors.NewInternalError(errors.New("boom")), true},
		"503":             {errTransient, true},
		"502 generic":     {apierrors.NewGenericServerResponse(502, "get", gr, "web", "bad gateway", 0, true), true},
		"network":         {&net.OpError{Op: "dial", Err: errors.New("refused")}, true},
		"forbidden":       {errPermanent, false},
		"not found":       {apierrors.NewNotFound(gr, "web"), false},
		"invalid":         {apierrors.NewInvalid(schema.GroupKind{Kind: "Deployment"}, "web", field.ErrorList{field.Required(field.NewPath("spec"), "")}), false},
		"validation":      {&strategy.ValidationError{Fields: []strategy.FieldError{{Path: "x"}}}, false},
		"wrapped 503":     {errors.Join(errors.New("reading"), errTransient), true},
		"plain error":     {errors.New("something else"), false},
		"unauthenticated": {apierrors.NewUnauthorized("who"), false},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			assert.Equal(t, tc.want, strategy.Transient(tc.err))
		})
	}
}

func TestReleaseValidationListsEveryBadField(t *testing.T) {
	bad := strategy.Release{
		App:      types.NamespacedName{Namespace: "Bad_NS", Name: "Web_App"},
		Revision: "not a label value!",
		Workload: &appsv1.Deployment{
			ObjectMeta: metav1.ObjectMeta{Namespace: "other"},
			Spec: appsv1.DeploymentSpec{
				Replicas: ptr.To[int32](-1),
				Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": "web"}},
				Template: corev1.PodTemplateSpec{ObjectMeta: metav1.ObjectMeta{Labels: map[string]string{"app": "api"}}},
			},
		},
		Objects: []*unstructured.Unstructured{nil, {Object: map[string]any{"kind": "ConfigMap"}}},
	}
	var v strategy.Validator
	bad.Validate(&v)
	err := v.Err()
	require.ErrorIs(t, err, strategy.ErrInvalid)
	var ve *strategy.ValidationError
	require.ErrorAs(t, err, &ve)
	for _, path := range []string{
		"release.app.name", "release.app.namespace", "release.revision",
		"release.workload.metadata.namespace", "release.workload.spec.replicas",
		"release.workload.spec.template.spec.containers", "release.workload.spec.selector",
		"release.objects[0]", "release.objects[1]",
	} {
		assert.True(t, ve.Has(path), "missing %s in %v", path, err)
	}

	var long strategy.Validator
	strategy.Release{App: types.NamespacedName{Namespace: "ns", Name: string(make([]byte, 60))}, Revision: "v1"}.Validate(&long)
	require.Error(t, long.Err())

	var ok strategy.Validator
	strategy.Release{App: app, Revision: "v1"}.Validate(&ok)
	require.NoError(t, ok.Err())
}

func TestConfigValidation(t *testing.T) {
	c := strategy.NewConfig(strategy.WithLeaseDuration(-1), strategy.WithHistoryLimit(0), strategy.WithFieldManager(""))
	err := c.Validate()
	var ve *strategy.ValidationError
	require.ErrorAs(t, err, &ve)
	assert.True(t, ve.Has("options.leaseDuration"))
	assert.True(t, ve.Has("options.historyLimit"))
	assert.True(t, ve.Has("options.fieldManager"))

	e := newEnv(t)
	_, err = flow.Begin(context.Background(), "test", e.clients(), strategy.Release{App: app, Revision: "v1"}, c)
	require.ErrorIs(t, err, strategy.ErrInvalid)
	cms, lerr := e.kube.CoreV1().ConfigMaps(app.Namespace).List(context.Background(), metav1.ListOptions{})
	require.NoError(t, lerr)
	assert.Empty(t, cms.Items, "nothing is written for bad options")
}

func TestResultErrMatchesReason(t *testing.T) {
	cases := []struct {
		res  strategy.Result
		want error
	}{
		{strategy.Result{Phase: strategy.PhaseAborted, Reason: strategy.ReasonRequested}, strategy.ErrAborted},
		{strategy.Result{Phase: strategy.PhaseFailed, Reason: strategy.ReasonProgressDeadline}, strategy.ErrProgressDeadline},
		{strategy.Result{Phase: strategy.PhaseAborted, Reason: strategy.ReasonAnalysisFailed}, strategy.ErrAnalysisFailed},
		{strategy.Result{Phase: strategy.PhaseAborted}, strategy.ErrAborted},
	}
	for _, tc := range cases {
		err := tc.res.Err()
		require.ErrorIs(t, err, tc.want)
		var re *strategy.ResultError
		require.ErrorAs(t, err, &re)
	}
	assert.NoError(t, (&strategy.Result{Phase: strategy.PhaseSucceeded}).Err())
}
