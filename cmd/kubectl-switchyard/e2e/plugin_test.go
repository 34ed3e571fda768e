package e2e

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"encoding/xml"
	"errors"
	"io"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/client-go/tools/clientcmd"
	"k8s.io/utils/ptr"

	"github.com/switchyard-dev/switchyard/bluegreen"
	"github.com/switchyard-dev/switchyard/cmd/kubectl-switchyard/cli"
	"github.com/switchyard-dev/switchyard/internal/controlplane"
	"github.com/switchyard-dev/switchyard/internal/e2ekit"
	"github.com/switchyard-dev/switchyard/strategy"
)

const (
	namespace = "plugin-e2e"
	appName   = "web"
)

// TestPluginSteersARelease runs a blue/green release of v2 with a manual
// promotion in this process, and the built plugin as a program beside it:
// list and status -o json see it paused, watch follows it, promote lets it
// go on, and watch exits 0 once it succeeded. A second promote is refused
// (exit 4) and an unknown app is not found (exit 3).
func TestPluginSteersARelease(t *testing.T) {
	cp := controlplane.SharedControlPlane(t)
	ctx, cancel := context.WithTimeout(t.Context(), 2*time.Minute)
	defer cancel()
	built := buildPlugin(ctx, t.TempDir())
	clients, err := strategy.NewClients(cp.Config())
	require.NoError(t, err)
	app := types.NamespacedName{Namespace: namespace, Name: appName}
	setUp(t, ctx, clients)
	kubeconfig := kubeconfigIn(t, cp.KubeconfigPath(), namespace)

	spec := bluegreen.Spec{ActiveService: appName, PreviewService: appName + "-preview",
		ScaleDownDelay: ptr.To(time.Second), AbortScaleDownDelay: ptr.To(time.Second), ProgressDeadline: time.Minute}
	driver := strategy.WithIdentity("e2e-driver")
	_, err = bluegreen.New(clients, spec, driver).Run(ctx, release(app, "v1"))
	require.NoError(t, err)
	spec.ManualPromotion = true
	done := e2ekit.Start(ctx, bluegreen.New(clients, spec, driver), release(app, "v2"))
	e2ekit.WaitStatus(t, ctx, clients.Kube, app, "v2 paused", func(st *strategy.Status) bool {
		return st.Revision == "v2" && st.Phase == strategy.PhasePaused
	})
	b := <-built
	require.NoError(t, b.err, "building the plugin: %s", b.out)
	p := plugin{t: t, ctx: ctx, bin: b.bin, kubeconfig: kubeconfig}

	r := p.run("list")
	require.Equal(t, cli.ExitOK, r.code, r.err)
	assert.Regexp(t, `\nweb +bluegreen +v2 +Paused +promotion +- +\d+s\n`, r.out)

	r = p.run("status", appName, "-o", "json")
	require.Equal(t, cli.ExitOK, r.code, r.err)
	var st cli.ReleaseStatus
	require.NoError(t, json.Unmarshal([]byte(r.out), &st), r.out)
	assert.Equal(t, cli.ReleaseStatus{Namespace: namespace, App: appName, Revision: "v2", Stable: "v1",
		Phase: strategy.PhasePaused, StepName: "promotion", Step: 3, Lease: strategy.Lease{Holder: "e2e-driver"}},
		cli.ReleaseStatus{Namespace: st.Namespace, App: st.App, Revision: st.Revision, Stable: st.Stable,
			Phase: st.Phase, StepName: st.StepName, Step: st.Step, Lease: strategy.Lease{Holder: st.Lease.Holder}})

	w := p.start("watch", appName)
	w.waitLine("web v2 Paused step 3 promotion driver e2e-driver")

	r = p.run("promote", appName)
	require.Equal(t, cli.ExitOK, r.code, r.err)
	assert.Contains(t, r.out, "web in plugin-e2e: v2 is Paused at step 3 (promotion); v1 serves.\n")
	assert.Contains(t, r.out, "Promote recorded in the release record web.switchyard; the driver e2e-driver")

	code, lines := w.wait()
	assert.Equal(t, cli.ExitOK, code, strings.Join(lines, "\n"))
	require.NotEmpty(t, lines)
	assert.Regexp(t, `^\S+Z web v2 Succeeded weight 100% driver none: v2 serves from slot green$`, lines[len(lines)-1])
	o := e2ekit.Await(t, ctx, done)
	require.NoError(t, o.Err)

	r = p.run("promote", appName)
	assert.Equal(t, cli.ExitRefused, r.code, r.err)
	assert.Contains(t, r.err, "error: Promote refused: it does not apply to a release in phase Succeeded")
	r = p.run("status", "nope")
	assert.Equal(t, cli.ExitNotFound, r.code, r.err)
	assert.Contains(t, r.err, "error: no release of nope in plugin-e2e: has it ever been Run?")

	abortedRelease(t, ctx, p, clients, spec, driver, app)
}

// abortedRelease runs the other commands on a third release, v3, aborted
// from the plugin while it waits for its promotion.
func abortedRelease(t *testing.T, ctx context.Context, p plugin, clients strategy.Clients, spec bluegreen.Spec,
	driver strategy.Option, app types.NamespacedName) {
	done := e2ekit.Start(ctx, bluegreen.New(clients, spec, driver), release(app, "v3"))
	e2ekit.WaitStatus(t, ctx, clients.Kube, app, "v3 paused", func(st *strategy.Status) bool {
		return st.Revision == "v3" && st.Phase == strategy.PhasePaused
	})
	r := p.run("pause", appName)
	assert.Equal(t, cli.ExitRefused, r.code, "a release that waits for its promotion is not paused again: %s", r.err)
	r = p.run("resume", appName, "--wait", "--timeout", "1m")
	assert.Equal(t, cli.ExitOK, r.code, r.err)
	r = p.run("history", appName)
	require.Equal(t, cli.ExitOK, r.code, r.err)
	assert.Regexp(t, `\nv2 +Succeeded .*\n`, r.out)
	assert.Regexp(t, `\nv3 +Progressing `, r.out)

	r = p.run("abort", appName, "--wait", "--timeout", "1m")
	assert.Equal(t, cli.ExitOK, r.code, r.err)
	o := e2ekit.Await(t, ctx, done)
	require.ErrorIs(t, o.Err, strategy.ErrAborted)
	r = p.run("status", appName, "-o", "json")
	require.Equal(t, cli.ExitOK, r.code, r.err)
	var st cli.ReleaseStatus
	require.NoError(t, json.Unmarshal([]byte(r.out), &st), r.out)
	assert.Equal(t, strategy.PhaseAborted, st.Phase)
	assert.Equal(t, "v2", st.Stable)

	r = p.run("timeline", appName, "-o", "svg")
	require.Equal(t, cli.ExitOK, r.code, r.err)
	dec := xml.NewDecoder(strings.NewReader(r.out))
	for {
		_, err := dec.Token()
		if errors.Is(err, io.EOF) {
			break
		}
		require.NoError(t, err, "the timeline is well-formed SVG")
	}
	assert.True(t, strings.HasPrefix(strings.TrimSpace(r.out), "<svg"), r.out[:min(len(r.out), 80)])
	assert.Contains(t, r.out, "Aborted")
	r = p.run("timeline", appName)
	require.Equal(t, cli.ExitOK, r.code, r.err)
	assert.Contains(t, r.out, "Abort")

	r = p.run("retry", appName)
	assert.Equal(t, cli.ExitOK, r.code, r.err)
	r = p.run("undo", appName, "--to", "nope")
	assert.Equal(t, cli.ExitRefused, r.code, r.err)
	r = p.run("undo", appName, "--to", "v1")
	assert.Equal(t, cli.ExitOK, r.code, r.err)
}

type build struct {
	bin, out string
	err      error
}

// buildPlugin builds kubectl-switchyard into dir in the background.
func buildPlugin(ctx context.Context, dir string) <-chan build {
	ch := make(chan build, 1)
	go func() {
		bin := filepath.Join(dir, "kubectl-switchyard")
		out, err := exec.CommandContext(ctx, "go", "build", "-o", bin,
			"github.com/switchyard-dev/switchyard/cmd/kubectl-switchyard").CombinedOutput()
		ch <- build{bin: bin, out: string(out), err: err}
	}()
	return ch
}

// setUp creates the test's namespace and the app's active Service.
func setUp(t *testing.T, ctx context.Context, clients strategy.Clients) {
	kube := clients.Kube
	_, err := kube.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: namespace}}, metav1.CreateOptions{})
	require.NoError(t, err)
	t.Cleanup(func() { _ = kube.CoreV1().Namespaces().Delete(context.Background(), namespace, metav1.DeleteOptions{}) })
	_, err = kube.CoreV1().Services(namespace).Create(ctx, &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Name: appName, Namespace: namespace},
		Spec: corev1.ServiceSpec{Selector: map[string]string{"app": appName},
			Ports: []corev1.ServicePort{{Name: "http", Port: 80, TargetPort: intstr.FromString("http")}}},
	}, metav1.CreateOptions{})
	require.NoError(t, err)
}

// kubeconfigIn writes a copy of the kubeconfig at path whose context
// names namespace, so that the plugin acts there without -n.
func kubeconfigIn(t *testing.T, path, namespace string) string {
	cfg, err := clientcmd.LoadFromFile(path)
	require.NoError(t, err)
	cfg.Contexts[cfg.CurrentContext].Namespace = namespace
	out := filepath.Join(t.TempDir(), "kubeconfig")
	require.NoError(t, clientcmd.WriteToFile(*cfg, out))
	return out
}

// kwokToleration lets pods onto kwok's Nodes, which carry this taint.
var kwokToleration = corev1.Toleration{Key: "kwok.x-k8s.io/node", Operator: corev1.TolerationOpExists, Effect: corev1.TaintEffectNoSchedule}

func release(app types.NamespacedName, rev string) strategy.Release {
	labels := map[string]string{"app": app.Name}
	return strategy.Release{App: app, Revision: rev, Workload: &appsv1.Deployment{Spec: appsv1.DeploymentSpec{
		Replicas: ptr.To[int32](2),
		Selector: &metav1.LabelSelector{MatchLabels: labels},
		Template: corev1.PodTemplateSpec{
			ObjectMeta: metav1.ObjectMeta{Labels: labels},
			Spec: corev1.PodSpec{
				Containers: []corev1.Container{{Name: "web", Image: "web:" + rev,
					Ports: []corev1.ContainerPort{{Name: "http", ContainerPort: 8080}}}},
				Tolerations: []corev1.Toleration{kwokToleration},
			},
		},
	}}}
}

// plugin runs the built plugin with a kubeconfig.
type plugin struct {
	t          *testing.T
	ctx        context.Context
	bin        string
	kubeconfig string
}

type result struct {
	code     int
	out, err string
}

func (p plugin) command(args ...string) *exec.Cmd {
	return exec.CommandContext(p.ctx, p.bin, append([]string{"--kubeconfig", p.kubeconfig}, args...)...)
}

// run runs the plugin to its end.
func (p plugin) run(args ...string) result {
	p.t.Helper()
	cmd := p.command(args...)
	var out, errOut bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errOut
	return result{code: exitCode(p.t, cmd.Run()), out: out.String(), err: errOut.String()}
}

func exitCode(t *testing.T, err error) int {
	t.Helper()
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		return ee.ExitCode()
	}
	require.NoError(t, err)
	return 0
}

// running is a plugin run in the background whose output lines arrive as
// it writes them.
type running struct {
	p      plugin
	cmd    *exec.Cmd
	lines  chan string
	seen   []string
	stderr bytes.Buffer
}

func (p plugin) start(args ...string) *running {
	p.t.Helper()
	r := &running{p: p, cmd: p.command(args...), lines: make(chan string, 100)}
	r.cmd.Stderr = &r.stderr
	out, err := r.cmd.StdoutPipe()
	require.NoError(p.t, err)
	require.NoError(p.t, r.cmd.Start())
	go func() {
		defer close(r.lines)
		s := bufio.NewScanner(out)
		for s.Scan() {
			r.lines <- s.Text()
		}
	}()
	return r
}

// waitLine waits until the program wrote a line that contains s.
func (r *running) waitLine(s string) {
	r.p.t.Helper()
	for {
		select {
		case l, ok := <-r.lines:
			if !ok {
				_ = r.cmd.Wait() // before reading its stderr
				r.p.t.Fatalf("the plugin ended before writing %q:\n%s\n%s", s, strings.Join(r.seen, "\n"), r.stderr.String())
			}
			r.seen = append(r.seen, l)
			if strings.Contains(l, s) {
				return
			}
		case <-r.p.ctx.Done():
			r.p.t.Fatalf("waiting for %q: %v:\n%s", s, r.p.ctx.Err(), strings.Join(r.seen, "\n"))
		}
	}
}

// wait waits until the program ends, and returns its exit code and every
// line it wrote.
func (r *running) wait() (int, []string) {
	r.p.t.Helper()
	for l := range r.lines {
		r.seen = append(r.seen, l)
	}
	return exitCode(r.p.t, r.cmd.Wait()), r.seen
}
