// Package platform is what a platform team might write on top of
// switchyard: one Deployer that ships the team's apps, each by the strategy
// that fits it. An app with an error budget (App.MaxErrorRatio) ships by
// canary, 10%, 50% then 100% of the traffic, its error ratio measured after
// each of the first two steps; any other app ships by blue/green. An app
// with Approval waits for a person's Promote before it takes all the
// traffic. Promote and Abort work from any goroutine or process, through
// the app's release record.
//
// Its tests run on switchyard's fake cluster only.
package platform

import (
	"cmp"
	"context"
	"fmt"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/utils/ptr"

	"github.com/switchyard-dev/switchyard/analysis"
	"github.com/switchyard-dev/switchyard/bluegreen"
	"github.com/switchyard-dev/switchyard/canary"
	"github.com/switchyard-dev/switchyard/strategy"
)

// ErrorRatioQuery is the query of an app's error ratio, for a
// Prometheus-like provider: the share of the new revision's requests that
// failed over the last minute.
const ErrorRatioQuery = `sum(rate(http_requests_total{namespace="{{.Namespace}}",app="{{.App}}",version="{{.Revision}}",code=~"5.."}[1m]))` +
	` / sum(rate(http_requests_total{namespace="{{.Namespace}}",app="{{.App}}",version="{{.Revision}}"}[1m]))`

// App is one of the team's apps. Its Service has the app's name and
// serves port 80.
type App struct {
	// Name is unique among the Deployer's apps.
	Name, Namespace string
	// Replicas is the number of pods; zero is 3.
	Replicas int32
	// Port is the container's port; zero is 8080.
	Port int32
	// MaxErrorRatio, when above zero, ships the app by canary, aborting a
	// revision that fails more than this share of its requests. Zero ships
	// it by blue/green.
	MaxErrorRatio float64
	// Approval holds each release before it takes all the traffic, until
	// Promote. (A canary app's first release has no steps and is not held;
	// a blue/green app's is.)
	Approval bool
}

// Config is what a Deployer ships and how.
type Config struct {
	Apps []App
	// Metrics answers ErrorRatioQuery for the canaries: a prometheus.New in
	// production.
	Metrics analysis.Provider
	// Paused, when set, is told that a release stopped for a person (an
	// approval, an inconclusive analysis, a Pause request), who will
	// Promote or Abort it, say from a chat message. It is called by the
	// release's driver and must return quickly.
	Paused func(app, revision string)
}

// Deployer ships the team's apps to one cluster.
type Deployer struct {
	apps    map[string]App
	ships   map[string]strategy.Strategy
	control *strategy.Control
}

// New returns a Deployer of cfg's apps on the cluster of clients. opts go
// to every release and to Promote and Abort (tests pass the fake cluster's
// clock).
func New(clients strategy.Clients, cfg Config, opts ...strategy.Option) *Deployer {
	d := &Deployer{apps: map[string]App{}, ships: map[string]strategy.Strategy{},
		control: strategy.NewControl(clients.Kube, opts...)}
	if cfg.Paused != nil {
		opts = append(opts, strategy.WithObserver(func(e strategy.Event) {
			if e.Type == strategy.EventPhaseChanged && e.Phase == strategy.PhasePaused {
				cfg.Paused(e.App.Name, e.Revision)
			}
		}))
	}
	for _, a := range cfg.Apps {
		a.Replicas, a.Port = cmp.Or(a.Replicas, 3), cmp.Or(a.Port, 8080)
		d.apps[a.Name] = a
		ports := []corev1.ServicePort{{Name: "http", Port: 80, TargetPort: intstr.FromInt32(a.Port)}}
		if a.MaxErrorRatio > 0 {
			d.ships[a.Name] = canary.New(clients, canary.Spec{StableService: a.Name, ServicePorts: ports,
				Steps: steps(a, cfg.Metrics), DynamicStableScale: true}, opts...)
		} else {
			d.ships[a.Name] = bluegreen.New(clients, bluegreen.Spec{ActiveService: a.Name, PreviewService: a.Name + "-preview",
				ServicePorts: ports, ManualPromotion: a.Approval}, opts...)
		}
	}
	return d
}

// Ship releases image as revision of app and returns how the release
// ended: an error when it did not succeed (errors.Is matches
// strategy.ErrAnalysisFailed, strategy.ErrAborted, ...), with the result of
// a release that ran.
func (d *Deployer) Ship(ctx context.Context, app, revision, image string) (*strategy.Result, error) {
	a, ok := d.apps[app]
	if !ok {
		return nil, fmt.Errorf("shipping %s: no such app", app)
	}
	res, err := d.ships[app].Run(ctx, strategy.Release{App: a.key(), Revision: revision, Workload: a.workload(image)})
	if err != nil {
		return res, fmt.Errorf("shipping %s %s: %w", app, revision, err)
	}
	return res, nil
}

// Promote lets app's release go on past its approval.
func (d *Deployer) Promote(ctx context.Context, app string) error {
	return d.act(ctx, app, d.control.Promote)
}

// Abort sends all of app's traffic back to the revision that served before
// its release, at once.
func (d *Deployer) Abort(ctx context.Context, app string) error {
	return d.act(ctx, app, d.control.Abort)
}

func (d *Deployer) act(ctx context.Context, app string, f func(context.Context, types.NamespacedName) error) error {
	a, ok := d.apps[app]
	if !ok {
		return fmt.Errorf("%s: no such app", app)
	}
	return f(ctx, a.key())
}

// steps is a canary's schedule: 10% and 50%, each judged by the error
// ratio, then (after the approval, if any) 100%.
func steps(a App, metrics analysis.Provider) []canary.Step {
	errorRatio := analysis.Analysis{Name: "error-ratio", Metrics: []analysis.Metric{{
		Name: "error-ratio", Provider: metrics, Query: ErrorRatioQuery,
		InitialDelay: 30 * time.Second, Interval: 30 * time.Second, Count: 2,
		Success: analysis.AtMost(a.MaxErrorRatio),
	}}}
	judged := canary.Analysis{Checks: []strategy.Check{errorRatio.Check()}}
	s := []canary.Step{canary.SetWeight{Percent: 10}, judged, canary.SetWeight{Percent: 50}, judged}
	if a.Approval {
		s = append(s, canary.Pause{})
	}
	return append(s, canary.SetWeight{Percent: 100})
}

func (a App) key() types.NamespacedName {
	return types.NamespacedName{Namespace: a.Namespace, Name: a.Name}
}

func (a App) workload(image string) *appsv1.Deployment {
	labels := map[string]string{"app": a.Name}
	return &appsv1.Deployment{Spec: appsv1.DeploymentSpec{
		Replicas: ptr.To(a.Replicas),
		Selector: &metav1.LabelSelector{MatchLabels: labels},
		Template: corev1.PodTemplateSpec{
			ObjectMeta: metav1.ObjectMeta{Labels: labels},
			Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: a.Name, Image: image,
				Ports: []corev1.ContainerPort{{Name: "http", ContainerPort: a.Port}}}}},
		},
	}}
}
