package e2ekit

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"
)

// The environment of a helper process: the role it plays, its arguments as
// JSON and the kubeconfig it talks to the control plane with.
const (
	HelperRoleEnv       = "SWITCHYARD_E2E_HELPER"
	HelperArgsEnv       = "SWITCHYARD_E2E_HELPER_ARGS"
	HelperKubeconfigEnv = "SWITCHYARD_E2E_KUBECONFIG"
	// helperPrefix starts each line a helper process sends its parent.
	helperPrefix = "switchyard-e2e-helper "
)

// Message is one line a helper process sent its parent.
type Message struct {
	Type string          `json:"type"`
	Data json.RawMessage `json:"data,omitempty"`
	At   time.Time       `json:"at"`
}

// Process is a helper process: the test binary run again, as the standard
// Go pattern does, to run one test function (TestHelperProcess) that plays
// a role against the shared control plane in a process of its own.
type Process struct {
	tb    testing.TB
	role  string
	cmd   *exec.Cmd
	stdin io.WriteCloser

	mu      sync.Mutex
	msgs    []Message
	read    int // messages taken by Next
	changed chan struct{}
	output  strings.Builder // lines that are not messages: the test framework's output
	exited  chan struct{}
	waitErr error
}

// WriteKubeconfig writes a kubeconfig for cfg (a bearer token and a CA, as
// the control plane's admin configuration has) to a temporary file of tb,
// and returns its path.
func WriteKubeconfig(tb testing.TB, cfg *rest.Config) string {
	tb.Helper()
	kc := clientcmdapi.NewConfig()
	kc.Clusters["e2e"] = &clientcmdapi.Cluster{Server: cfg.Host, CertificateAuthorityData: cfg.CAData,
		CertificateAuthority: cfg.CAFile}
	kc.AuthInfos["e2e"] = &clientcmdapi.AuthInfo{Token: cfg.BearerToken, ClientCertificateData: cfg.CertData,
		ClientKeyData: cfg.KeyData}
	kc.Contexts["e2e"] = &clientcmdapi.Context{Cluster: "e2e", AuthInfo: "e2e"}
	kc.CurrentContext = "e2e"
	path := filepath.Join(tb.TempDir(), "kubeconfig")
	if err := clientcmd.WriteToFile(*kc, path); err != nil {
		tb.Fatalf("writing kubeconfig: %v", err)
	}
	return path
}

// StartProcess runs test (a function that calls HelperRole first) of the
// test binary in a new process, playing role with args, against the
// cluster of kubeconfig. The process is killed when tb ends; its output is
// logged when tb failed.
func StartProcess(tb testing.TB, test, kubeconfig, role string, args any) *Process {
	tb.Helper()
	raw, err := json.Marshal(args)
	if err != nil {
		tb.Fatalf("encoding the helper's arguments: %v", err)
	}
	cmd := exec.Command(os.Args[0], "-test.run=^"+test+"$", "-test.count=1", "-test.timeout=3m")
	cmd.Env = append(os.Environ(), HelperRoleEnv+"="+role, HelperArgsEnv+"="+string(raw), HelperKubeconfigEnv+"="+kubeconfig)
	p := &Process{tb: tb, role: role, cmd: cmd, changed: make(chan struct{}), exited: make(chan struct{})}
	// The helper exits when its stdin closes, so that it never outlives the
	// test binary that started it.
	if p.stdin, err = cmd.StdinPipe(); err != nil {
		tb.Fatal(err)
	}
	out, err := cmd.StdoutPipe()
	if err != nil {
		tb.Fatal(err)
	}
	cmd.Stderr = cmd.Stdout
	if err := cmd.Start(); err != nil {
		tb.Fatalf("starting helper %s: %v", role, err)
	}
	go p.readOutput(out)
	tb.Cleanup(func() {
		_ = p.Kill()
		<-p.exited
		if tb.Failed() {
			tb.Logf("helper %s (pid %d) output:\n%s", role, cmd.Process.Pid, p.Output())
		}
	})
	return p
}

func (p *Process) readOutput(out io.Reader) {
	sc := bufio.NewScanner(out)
	sc.Buffer(make([]byte, 64<<10), 16<<20)
	for sc.Scan() {
		line := sc.Text()
		p.mu.Lock()
		if rest, ok := strings.CutPrefix(line, helperPrefix); ok {
			var m Message
			if err := json.Unmarshal([]byte(rest), &m); err == nil {
				p.msgs = append(p.msgs, m)
				close(p.changed)
				p.changed = make(chan struct{})
				p.mu.Unlock()
				continue
			}
		}
		p.output.WriteString(line + "\n")
		p.mu.Unlock()
	}
	err := p.cmd.Wait()
	p.mu.Lock()
	p.waitErr = err
	close(p.changed)
	p.changed = make(chan struct{})
	p.mu.Unlock()
	close(p.exited)
}

// Pid is the helper's process id.
func (p *Process) Pid() int { return p.cmd.Process.Pid }

// Output returns what the helper printed besides its messages.
func (p *Process) Output() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.output.String()
}

// Next waits for the next message of type typ (skipping others) and
// returns it; it fails when the helper exits first or ctx ends.
func (p *Process) Next(ctx context.Context, typ string) (Message, error) {
	for {
		p.mu.Lock()
		for p.read < len(p.msgs) {
			m := p.msgs[p.read]
			p.read++
			if m.Type == typ {
				p.mu.Unlock()
				return m, nil
			}
		}
		changed := p.changed
		done := p.isExited()
		p.mu.Unlock()
		if done {
			return Message{}, fmt.Errorf("helper %s exited (%v) before sending %q", p.role, p.ExitErr(), typ)
		}
		select {
		case <-changed:
		case <-ctx.Done():
			return Message{}, fmt.Errorf("waiting for %q from helper %s: %w", typ, p.role, ctx.Err())
		}
	}
}

func (p *Process) isExited() bool {
	select {
	case <-p.exited:
		return true
	default:
		return false
	}
}

// Result waits until the helper exits and decodes its "result" message
// into v. It fails when the helper exits without one, or with an error.
func (p *Process) Result(ctx context.Context, v any) error {
	if err := p.Wait(ctx); err != nil {
		return err
	}
	p.mu.Lock()
	var res *Message
	for i := range p.msgs {
		if p.msgs[i].Type == "result" {
			res = &p.msgs[i]
		}
	}
	p.mu.Unlock()
	if res == nil {
		return fmt.Errorf("helper %s sent no result", p.role)
	}
	return json.Unmarshal(res.Data, v)
}

// Wait waits until the helper exits and returns its exit error.
func (p *Process) Wait(ctx context.Context) error {
	select {
	case <-p.exited:
		return p.ExitErr()
	case <-ctx.Done():
		return fmt.Errorf("waiting for helper %s to exit: %w", p.role, ctx.Err())
	}
}

// ExitErr is the error of the helper's exit, nil while it runs or after a
// clean exit.
func (p *Process) ExitErr() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.waitErr
}

// Kill sends the helper SIGKILL: it stops at once, with no chance to clean
// up, as a process killed by the OOM killer or a node failure does.
func (p *Process) Kill() error {
	if p.isExited() {
		return nil
	}
	return p.cmd.Process.Kill()
}

// Killed reports whether the helper ended by SIGKILL.
func (p *Process) Killed() bool {
	var ee *exec.ExitError
	if !errors.As(p.ExitErr(), &ee) {
		return false
	}
	ws, ok := ee.Sys().(syscall.WaitStatus)
	return ok && ws.Signaled() && ws.Signal() == syscall.SIGKILL
}

// HelperRole returns the role this process plays when the test binary was
// started by StartProcess, and false in a normal test run. A helper's
// stdin closing (its parent died) ends it.
func HelperRole() (string, bool) {
	role := os.Getenv(HelperRoleEnv)
	if role == "" {
		return "", false
	}
	go func() {
		_, _ = io.Copy(io.Discard, os.Stdin)
		fmt.Fprintln(os.Stderr, "helper: stdin closed, the parent is gone; exiting")
		os.Exit(3)
	}()
	return role, true
}

// HelperArgs decodes the helper's arguments into v.
func HelperArgs(v any) error {
	return json.Unmarshal([]byte(os.Getenv(HelperArgsEnv)), v)
}

// HelperConfig is the client configuration of the helper's kubeconfig, as
// a program given -kubeconfig builds it, without client-side rate limits
// (as the test's own clients have none).
func HelperConfig() (*rest.Config, error) {
	cfg, err := clientcmd.BuildConfigFromFlags("", os.Getenv(HelperKubeconfigEnv))
	if err != nil {
		return nil, err
	}
	cfg.QPS, cfg.Burst = 1000, 2000
	return cfg, nil
}

// Send sends the parent a message of type typ carrying data.
func Send(typ string, data any) {
	raw, err := json.Marshal(data)
	if err != nil {
		panic(fmt.Sprintf("helper message %s: %v", typ, err))
	}
	line, _ := json.Marshal(Message{Type: typ, Data: raw, At: time.Now()})
	sendMu.Lock()
	defer sendMu.Unlock()
	fmt.Fprintf(os.Stdout, "\n%s%s\n", helperPrefix, line)
}

var sendMu sync.Mutex
