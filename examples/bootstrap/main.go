// Command bootstrap installs a small platform on a cluster as one bundle,
// the Day 1 way: a namespace, a CustomResourceDefinition and a custom
// resource of it, RBAC, configuration, and a Deployment behind a Service,
// each applied as soon as what it needs is ready. It prints each object's
// progress. By default it runs on switchyard's in-memory fake cluster, whose
// clock moves by itself while the bootstrap waits; with -kubeconfig it runs
// against a real cluster.
//
// It plans the bundle first (a server-side dry run), applies it, applies it
// again (nothing is written the second time), and then plans and applies a
// change of the Deployment's replicas.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"strings"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"

	"github.com/switchyard-dev/switchyard/bootstrap"
	"github.com/switchyard-dev/switchyard/examples/internal/target"
	"github.com/switchyard-dev/switchyard/strategy"
)

func main() {
	kubeconfig := flag.String("kubeconfig", "", "run against the cluster of this kubeconfig instead of the fake")
	flag.Parse()
	if err := run(*kubeconfig); err != nil {
		fmt.Fprintln(os.Stderr, "bootstrap:", err)
		os.Exit(1)
	}
}

func run(kubeconfig string) error {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	t, err := target.Open(kubeconfig, "default")
	if err != nil {
		return err
	}
	defer t.Close()

	app := types.NamespacedName{Namespace: "demo", Name: "platform"}
	start := t.Clock.Now()
	printer := func(e strategy.Event) {
		switch e.Type {
		case bootstrap.EventApplied, bootstrap.EventWaiting, bootstrap.EventReady, bootstrap.EventFailed,
			bootstrap.EventSkipped, bootstrap.EventPruned, bootstrap.EventKept:
			fmt.Printf("%9s  %-15s %-62s %s\n", e.Time.Sub(start).Round(time.Millisecond), e.Type, e.Object, e.Message)
		}
	}
	s := bootstrap.New(t.Clients, bootstrap.Spec{}, strategy.WithClock(t.Clock), strategy.WithIdentity("examples-bootstrap"),
		strategy.WithObserver(printer), strategy.WithObserver(widgetOperator(ctx, t)))

	objs, err := bootstrap.Decode("platform.yaml", strings.NewReader(platform(2)))
	if err != nil {
		return err
	}
	rel := strategy.Release{App: app, Revision: "v1", Objects: objs}
	if err := plan(ctx, s, rel); err != nil {
		return err
	}
	fmt.Println("\n== apply")
	rep, err := s.Apply(ctx, rel)
	if err != nil {
		return err
	}
	fmt.Printf("== %s after %s: %s\n", rep.Result.Phase, rep.Result.Finished.Sub(rep.Result.Started).Round(time.Millisecond), rep.Result.Message)

	fmt.Println("\n== apply again")
	writes := func() int { return 0 }
	if t.Fake != nil {
		writes = func() int {
			n := 0
			for _, verb := range []string{"create", "update", "patch", "delete"} {
				n += t.Fake.Requests().Count(verb, "*")
			}
			return n
		}
	}
	before := writes()
	if rep, err = s.Apply(ctx, rel); err != nil {
		return err
	}
	fmt.Printf("== %s: %s", rep.Result.Phase, rep.Result.Message)
	if t.Fake != nil {
		fmt.Printf(" (%d write requests)", writes()-before)
	}
	fmt.Println()

	if objs, err = bootstrap.Decode("platform.yaml", strings.NewReader(platform(3))); err != nil {
		return err
	}
	rel = strategy.Release{App: app, Revision: "v2", Objects: objs}
	if err := plan(ctx, s, rel); err != nil {
		return err
	}
	fmt.Println("\n== apply v2")
	if rep, err = s.Apply(ctx, rel); err != nil {
		return err
	}
	fmt.Printf("== %s: %s\n", rep.Result.Phase, rep.Result.Message)
	return nil
}

// plan prints what applying rel would do.
func plan(ctx context.Context, s *bootstrap.Strategy, rel strategy.Release) error {
	fmt.Printf("\n== plan of %s\n", rel.Revision)
	rep, err := s.DryRun(ctx, rel)
	if err != nil {
		return err
	}
	for _, o := range rep.Objects {
		line := fmt.Sprintf("  %-10s %s", o.Action, o.Ref)
		if o.Message != "" {
			line += " (" + o.Message + ")"
		}
		fmt.Println(line)
		for _, d := range strings.Split(o.Diff, "\n") {
			if d != "" {
				fmt.Println("             " + d)
			}
		}
	}
	return nil
}

// widgetOperator stands in for the operator that would reconcile Widgets:
// two seconds after a Widget is applied, it marks it Ready. The bootstrap
// does not count a new Widget ready before that.
func widgetOperator(ctx context.Context, t *target.Target) strategy.Observer {
	widgets := schema.GroupVersionResource{Group: "example.com", Version: "v1", Resource: "widgets"}
	return func(e strategy.Event) {
		if e.Type != bootstrap.EventApplied || !strings.HasPrefix(e.Object, "Widget.example.com ") {
			return
		}
		ns, name, _ := strings.Cut(strings.TrimPrefix(e.Object, "Widget.example.com "), "/")
		t.Clock.AfterFunc(2*time.Second, func() {
			w, err := t.Clients.Dynamic.Resource(widgets).Namespace(ns).Get(ctx, name, metav1.GetOptions{})
			if err != nil {
				fmt.Fprintln(os.Stderr, "widget operator:", err)
				return
			}
			_ = unstructured.SetNestedField(w.Object, map[string]any{"observedGeneration": w.GetGeneration(),
				"conditions": []any{map[string]any{"type": "Ready", "status": "True", "reason": "Reconciled", "message": "widget reconciled"}}}, "status")
			if _, err := t.Clients.Dynamic.Resource(widgets).Namespace(ns).UpdateStatus(ctx, w, metav1.UpdateOptions{}); err != nil {
				fmt.Fprintln(os.Stderr, "widget operator:", err)
			}
		})
	}
}

// platform is the bundle, with the web Deployment at replicas. Its order
// does not matter: the custom resource comes before its definition, and the
// Deployment before what it uses.
func platform(replicas int) string {
	return fmt.Sprintf(`apiVersion: example.com/v1
kind: Widget
metadata: {name: default, namespace: demo}
spec: {size: 3}
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: web, namespace: demo}
spec:
  replicas: %d
  selector: {matchLabels: {app: web}}
  template:
    metadata: {labels: {app: web}}
    spec:
      serviceAccountName: web
      tolerations: [{key: kwok.x-k8s.io/node, operator: Exists, effect: NoSchedule}]
      containers:
      - name: web
        image: registry.example/web:1.0
        envFrom: [{configMapRef: {name: web-config}}]
---
apiVersion: v1
kind: Service
metadata: {name: web, namespace: demo}
spec:
  selector: {app: web}
  ports: [{port: 80, targetPort: 8080}]
---
apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata: {name: widgets.example.com}
spec:
  group: example.com
  scope: Namespaced
  names: {kind: Widget, plural: widgets, singular: widget, listKind: WidgetList}
  versions:
  - name: v1
    served: true
    storage: true
    subresources: {status: {}}
    schema: {openAPIV3Schema: {type: object, x-kubernetes-preserve-unknown-fields: true}}
---
apiVersion: v1
kind: ServiceAccount
metadata: {name: web, namespace: demo}
---
apiVersion: rbac.authorization.k8s.io/v1
kind: Role
metadata: {name: widget-reader, namespace: demo}
rules: [{apiGroups: [example.com], resources: [widgets], verbs: [get, list, watch]}]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: RoleBinding
metadata: {name: web-widget-reader, namespace: demo}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: Role, name: widget-reader}
subjects: [{kind: ServiceAccount, name: web}]
---
apiVersion: v1
kind: ConfigMap
metadata: {name: web-config, namespace: demo}
data: {GREETING: hello}
---
apiVersion: v1
kind: Namespace
metadata: {name: demo}
`, replicas)
}
