package e2e

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/types"

	"github.com/switchyard-dev/switchyard/bootstrap"
	"github.com/switchyard-dev/switchyard/internal/controlplane"
	"github.com/switchyard-dev/switchyard/strategy"
)

// benchBundle returns a bundle of 1,000 objects in 10 namespaces named
// <prefix>-0 … <prefix>-9, each holding 100: the Namespace, 10
// ServiceAccounts, a Role and its RoleBinding, 25 ConfigMaps, 12 Secrets,
// 25 Services and 25 one-replica Deployments, each Deployment using a
// ServiceAccount, a ConfigMap and a Secret. Every object has the label
// bench=<prefix>.
func benchBundle(prefix string) []string {
	var docs []string
	meta := func(name, ns string) string {
		s := "metadata:\n  name: " + name + "\n"
		if ns != "" {
			s += "  namespace: " + ns + "\n"
		}
		return s + "  labels: {bench: " + prefix + "}\n"
	}
	for n := range 10 {
		ns := fmt.Sprintf("%s-%d", prefix, n)
		docs = append(docs, "apiVersion: v1\nkind: Namespace\n"+meta(ns, ""))
		var subjects []string
		for k := range 10 {
			docs = append(docs, "apiVersion: v1\nkind: ServiceAccount\n"+meta(fmt.Sprintf("app-%d", k), ns))
			subjects = append(subjects, fmt.Sprintf("- {kind: ServiceAccount, name: app-%d}", k))
		}
		docs = append(docs, "apiVersion: rbac.authorization.k8s.io/v1\nkind: Role\n"+meta("config-reader", ns)+
			"rules:\n- {apiGroups: [\"\"], resources: [configmaps], verbs: [get, list, watch]}\n")
		docs = append(docs, "apiVersion: rbac.authorization.k8s.io/v1\nkind: RoleBinding\n"+meta("config-reader", ns)+
			"roleRef: {apiGroup: rbac.authorization.k8s.io, kind: Role, name: config-reader}\nsubjects:\n"+strings.Join(subjects, "\n")+"\n")
		for k := range 25 {
			docs = append(docs, "apiVersion: v1\nkind: ConfigMap\n"+meta(fmt.Sprintf("cfg-%d", k), ns)+fmt.Sprintf("data: {index: \"%d\"}\n", k))
		}
		for k := range 12 {
			docs = append(docs, "apiVersion: v1\nkind: Secret\n"+meta(fmt.Sprintf("sec-%d", k), ns)+"stringData: {token: not-a-secret}\n")
		}
		for k := range 25 {
			app := fmt.Sprintf("web-%d", k)
			docs = append(docs, "apiVersion: v1\nkind: Service\n"+meta(app, ns)+
				"spec:\n  selector: {app: "+app+"}\n  ports: [{port: 80, targetPort: 8080}]\n")
			docs = append(docs, "apiVersion: apps/v1\nkind: Deployment\n"+meta(app, ns)+`spec:
  replicas: 1
  selector: {matchLabels: {app: `+app+`}}
  template:
    metadata: {labels: {app: `+app+`}}
    spec:
      serviceAccountName: `+fmt.Sprintf("app-%d", k%10)+`
      tolerations: [{key: kwok.x-k8s.io/node, operator: Exists, effect: NoSchedule}]
      containers:
      - name: web
        image: registry.example/web:1.0
        envFrom: [{configMapRef: {name: `+fmt.Sprintf("cfg-%d", k)+`}}]
        env: [{name: TOKEN, valueFrom: {secretKeyRef: {name: `+fmt.Sprintf("sec-%d", k%12)+`, key: token}}}]
`)
		}
	}
	return docs
}

// BenchmarkBundle1000 applies 1,000 objects and waits until they are ready,
// once with bootstrap and once with kubectl apply --server-side followed by
// kubectl wait for every Deployment to be Available, each under names of
// its own, and reports both times and kubectl's time over bootstrap's.
// It also reports a second bootstrap run of the same bundle, which writes
// nothing.
//
// It runs twice: on a control plane of its own whose controller-manager and
// scheduler may send 500 requests a second, where the tools themselves make
// the difference; and on the shared control plane, whose
// kube-controller-manager talks to the apiserver at its default 20 a
// second, which sets the pace of 250 Deployments for both tools.
func BenchmarkBundle1000(b *testing.B) {
	b.Run("fast-controllers", func(b *testing.B) {
		if testing.Short() {
			b.Skip("skipping real-control-plane benchmark in -short mode")
		}
		fast := []string{"--kube-api-qps=500", "--kube-api-burst=1000"}
		cp := &controlplane.ControlPlane{ExtraArgs: map[string][]string{
			controlplane.KubeControllerManager: append(fast, "--concurrent-deployment-syncs=20", "--concurrent-replicaset-syncs=20"),
			controlplane.KubeScheduler:         fast,
		}}
		if _, err := cp.Start(context.Background()); err != nil {
			b.Fatal(err)
		}
		defer func() {
			if err := cp.Stop(); err != nil {
				b.Error(err)
			}
		}()
		benchBundle1000(b, cp, false) // the control plane goes, with all it holds
	})
	b.Run("default-controllers", func(b *testing.B) { benchBundle1000(b, controlplane.SharedControlPlane(b), true) })
}

func benchBundle1000(b *testing.B, cp *controlplane.ControlPlane, cleanup bool) {
	for i := range b.N {
		b.StopTimer()
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Minute)
		boot := fmt.Sprintf("bb%d", i)
		kube := fmt.Sprintf("bk%d", i)

		bootDocs := benchBundle(boot)
		objs, err := bootstrap.Decode("bench", yamlOf(bootDocs))
		if err != nil {
			b.Fatal(err)
		}
		if len(objs) != 1000 {
			b.Fatalf("the bundle has %d objects", len(objs))
		}
		var writes writeCounter
		clients, err := strategy.NewClients(writes.wrap(cp.Config()))
		if err != nil {
			b.Fatal(err)
		}
		var lastApplied time.Time
		s := bootstrap.New(clients, bootstrap.Spec{}, strategy.WithIdentity("bench"), strategy.WithObserver(func(e strategy.Event) {
			if e.Type == bootstrap.EventApplied {
				lastApplied = e.Time
			}
		}))
		rel := strategy.Release{App: types.NamespacedName{Namespace: boot + "-0", Name: "bench"}, Revision: "v1", Objects: objs}

		b.StartTimer()
		bootStart := time.Now()
		rep, err := s.Apply(ctx, rel)
		bootTime := time.Since(bootStart)
		b.StopTimer()
		if err != nil {
			b.Fatal(err)
		}
		firstWrites := writes.count()
		writes.reset()
		start := time.Now()
		rep2, err := s.Apply(ctx, rel)
		rerun := time.Since(start)
		if err != nil {
			b.Fatal(err)
		}

		file := filepath.Join(b.TempDir(), "bundle.yaml")
		if err := os.WriteFile(file, yamlOf(benchBundle(kube)).Bytes(), 0o644); err != nil {
			b.Fatal(err)
		}
		start = time.Now()
		if out, err := cp.Kubectl(ctx, "apply", "--server-side", "-f", file).CombinedOutput(); err != nil {
			b.Fatalf("kubectl apply: %v\n%s", err, tail(out))
		}
		applied := time.Since(start)
		if out, err := cp.Kubectl(ctx, "wait", "--for=condition=Available", "deployment", "-l", "bench="+kube, "-A", "--timeout=15m").CombinedOutput(); err != nil {
			b.Fatalf("kubectl wait: %v\n%s", err, tail(out))
		}
		kubectlTime := time.Since(start)

		b.ReportMetric(bootTime.Seconds(), "bootstrap-s")
		b.ReportMetric(kubectlTime.Seconds(), "kubectl-s")
		b.ReportMetric(kubectlTime.Seconds()/bootTime.Seconds(), "kubectl/bootstrap")
		b.ReportMetric(rerun.Seconds(), "rerun-s")
		b.ReportMetric(float64(writes.count()), "rerun-writes")
		b.Logf("1,000 objects: bootstrap %s (last apply after %s; %d writes, %d created); kubectl apply --server-side %s, then wait, %s in all; ratio %.2f",
			bootTime.Round(time.Millisecond), lastApplied.Sub(bootStart).Round(time.Millisecond), firstWrites, rep.Count(bootstrap.ActionCreate),
			applied.Round(time.Millisecond), kubectlTime.Round(time.Millisecond), kubectlTime.Seconds()/bootTime.Seconds())
		b.Logf("second bootstrap run: %s, %d writes, %d unchanged", rerun.Round(time.Millisecond), writes.count(), rep2.Count(bootstrap.ActionUnchanged))

		for n := range 10 {
			for _, p := range []string{boot, kube} {
				if cleanup {
					_ = cp.Kubectl(context.Background(), "delete", "namespace", fmt.Sprintf("%s-%d", p, n), "--wait=false").Run()
				}
			}
		}
		cancel()
	}
}

func tail(out []byte) string {
	if len(out) > 2000 {
		out = out[len(out)-2000:]
	}
	return string(out)
}
