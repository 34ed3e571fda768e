package controlplane

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	"k8s.io/client-go/rest"
)

// ControlPlane is a real Kubernetes control plane on loopback: etcd,
// kube-apiserver, kube-controller-manager, kube-scheduler and kwok, which
// simulates Nodes and runs their Pods. The zero value is ready to use; each
// field documents its default.
type ControlPlane struct {
	// Nodes is the number of kwok Nodes to create. Zero means 3; negative
	// means none.
	Nodes int

	// LogDir receives one log file per process (etcd.log,
	// kube-apiserver.log, …). Empty means the "logs" folder of the control
	// plane's temporary folder, which Stop removes unless KeepLogs is set.
	// A LogDir given here is never removed.
	LogDir string

	// KeepLogs keeps the temporary folder (logs, kubeconfigs, certificates,
	// not etcd data) after Stop and prints where it is. Setting
	// SWITCHYARD_KEEP_LOGS=1 has the same effect. Start keeps it on failure.
	KeepLogs bool

	// StartTimeout bounds Start after the binaries are ready. Zero means two
	// minutes.
	StartTimeout time.Duration

	// StopTimeout is how long Stop waits for a process after SIGTERM before
	// it sends SIGKILL. Zero means ten seconds.
	StopTimeout time.Duration

	// ServiceClusterIPRange is the Service CIDR. Empty means 10.96.0.0/16.
	ServiceClusterIPRange string

	// PodCIDR is the range kwok gives pod IPs from. Empty means 10.244.0.0/16.
	PodCIDR string

	// ExtraArgs are flags appended to a component's command line, keyed by
	// component name (KubeAPIServer, …); a later flag overrides an earlier one.
	ExtraArgs map[string][]string

	bins       Binaries
	dir        string // temporary folder
	logDir     string
	kubeconfig string // admin kubeconfig
	cfg        *rest.Config
	procs      []*process
}

// Start builds the binaries if needed, starts every process, creates the
// kwok Nodes and returns an admin client configuration once the default
// ServiceAccount exists and every Node is Ready. On failure it stops what it
// started and keeps the logs.
func (cp *ControlPlane) Start(ctx context.Context) (cfg *rest.Config, err error) {
	if cp.cfg != nil {
		return nil, errors.New("control plane already started")
	}
	bins, err := EnsureBinaries(ctx)
	if err != nil {
		return nil, err
	}
	cp.bins = bins
	began := time.Now()

	ctx, cancel := context.WithTimeout(ctx, orDefault(cp.StartTimeout, 2*time.Minute))
	defer cancel()
	if cp.dir, err = os.MkdirTemp("", "switchyard-controlplane-"); err != nil {
		return nil, fmt.Errorf("creating control plane folder: %w", err)
	}
	defer func() {
		if err != nil {
			cp.stopProcesses()
			cp.cleanup(true)
			cp.cfg = nil
		}
	}()
	cp.logDir = cp.LogDir
	if cp.logDir == "" {
		cp.logDir = filepath.Join(cp.dir, "logs")
	}
	if err := os.MkdirAll(cp.logDir, 0o755); err != nil {
		return nil, fmt.Errorf("creating log folder: %w", err)
	}

	p, users, err := cp.prepare()
	if err != nil {
		return nil, err
	}
	// A port found free may be taken before a process binds it: retry with
	// new ports.
	for attempt := 1; ; attempt++ {
		err = cp.startServers(ctx, p, users)
		if err == nil || attempt == 3 || !addrInUse(err) {
			break
		}
		logf("port taken, retrying: %v", strings.SplitN(err.Error(), "\n", 2)[0])
		cp.stopProcesses()
		_ = os.RemoveAll(p.etcdData)
	}
	if err != nil {
		return nil, err
	}
	servers := time.Since(began)
	if err := cp.startKwok(ctx, p); err != nil {
		return nil, err
	}
	if err := cp.waitCluster(ctx); err != nil {
		return nil, err
	}
	ms := func(d time.Duration) time.Duration { return d.Round(time.Millisecond) }
	logf("control plane ready at %s in %s (servers %s, nodes and default ServiceAccount %s; logs: %s)",
		cp.cfg.Host, ms(time.Since(began)), ms(servers), ms(time.Since(began)-servers), cp.logDir)
	return rest.CopyConfig(cp.cfg), nil
}

// prepare writes the service account keys and the token file.
func (cp *ControlPlane) prepare() (paths, map[string]user, error) {
	p := paths{
		etcdData:       filepath.Join(cp.dir, "etcd"),
		certDir:        filepath.Join(cp.dir, "certs"),
		tokenFile:      filepath.Join(cp.dir, "tokens.csv"),
		kcmKubeconfig:  filepath.Join(cp.dir, "kube-controller-manager.kubeconfig"),
		schedKubecfg:   filepath.Join(cp.dir, "kube-scheduler.kubeconfig"),
		kwokKubeconfig: filepath.Join(cp.dir, "kwok.kubeconfig"),
	}
	p.rootCA = filepath.Join(p.certDir, "apiserver.crt")
	cp.kubeconfig = filepath.Join(cp.dir, "admin.kubeconfig")
	if err := os.MkdirAll(p.certDir, 0o700); err != nil {
		return p, nil, err
	}
	var err error
	if p.saKey, p.saPub, err = writeServiceAccountKeys(cp.dir); err != nil {
		return p, nil, err
	}
	users, err := newUsers()
	if err != nil {
		return p, nil, err
	}
	return p, users, writeTokenFile(p.tokenFile, users)
}

// startServers starts etcd, kube-apiserver, kube-controller-manager and
// kube-scheduler on new ports and waits until they serve.
func (cp *ControlPlane) startServers(ctx context.Context, p paths, users map[string]user) error {
	n, err := freePorts(5)
	if err != nil {
		return err
	}
	pt := ports{etcdClient: n[0], etcdPeer: n[1], apiserver: n[2], kcm: n[3], scheduler: n[4]}

	if err := cp.run(Etcd, cp.bins.Etcd, etcdArgs(p, pt, supportsFlag(cp.bins.Etcd, "--unsafe-no-fsync"))); err != nil {
		return err
	}
	apiArgs := apiserverArgs(p, pt, orDefault(cp.ServiceClusterIPRange, "10.96.0.0/16"))
	if err := cp.run(KubeAPIServer, cp.bins.KubeAPIServer, apiArgs); err != nil {
		return err
	}
	host := loopback("https", pt.apiserver)
	caData, err := cp.waitAPIServer(ctx, host, p.rootCA, users[AdminUser])
	if err != nil {
		return err
	}
	cp.cfg = restConfig(host, caData, users[AdminUser])
	for path, u := range map[string]user{
		cp.kubeconfig:    users[AdminUser],
		p.kcmKubeconfig:  users[controllerManagerUser],
		p.schedKubecfg:   users[schedulerUser],
		p.kwokKubeconfig: users[kwokUser],
	} {
		if err := writeKubeconfig(path, restConfig(host, caData, u), u.name); err != nil {
			return err
		}
	}
	if err := cp.run(KubeControllerManager, cp.bins.KubeControllerManager, controllerManagerArgs(p, pt)); err != nil {
		return err
	}
	if err := cp.run(KubeScheduler, cp.bins.KubeScheduler, schedulerArgs(p, pt)); err != nil {
		return err
	}
	return cp.waitHealthy(ctx, map[string]int{KubeControllerManager: pt.kcm, KubeScheduler: pt.scheduler})
}

// startKwok starts kwok with its own HOME, so that a developer's
// ~/.kwok/kwok.yaml does not leak in.
func (cp *ControlPlane) startKwok(ctx context.Context, p paths) error {
	home := filepath.Join(cp.dir, "kwok-home")
	if err := os.MkdirAll(home, 0o700); err != nil {
		return err
	}
	args := kwokArgs(p, cp.bins.Stages, orDefault(cp.PodCIDR, "10.244.0.0/16"))
	return cp.run(Kwok, cp.bins.Kwok, args, "HOME="+home)
}

// run starts a component with its extra arguments.
func (cp *ControlPlane) run(name, bin string, args []string, env ...string) error {
	p, err := startProcess(cp.logDir, name, bin, append(args, cp.ExtraArgs[name]...), env...)
	if err != nil {
		return err
	}
	cp.procs = append(cp.procs, p)
	return nil
}

// Stop stops every process (SIGTERM, then SIGKILL after StopTimeout) and
// removes the temporary folder unless KeepLogs is set. Calling Stop again,
// or on a control plane that never started, does nothing.
func (cp *ControlPlane) Stop() error {
	if cp.dir == "" {
		return nil
	}
	var exited []error
	for _, p := range cp.procs {
		if err := p.exited(); err != nil {
			exited = append(exited, err)
		}
	}
	cp.stopProcesses()
	keep := cp.KeepLogs || len(exited) > 0 || os.Getenv("SWITCHYARD_KEEP_LOGS") != ""
	cp.cleanup(keep)
	cp.cfg = nil
	return errors.Join(exited...)
}

// stopProcesses stops the processes in reverse start order.
func (cp *ControlPlane) stopProcesses() {
	grace := orDefault(cp.StopTimeout, 10*time.Second)
	for i := len(cp.procs) - 1; i >= 0; i-- {
		cp.procs[i].stop(grace)
	}
	cp.procs = nil
}

// cleanup removes the temporary folder, or when keep is set and the logs are
// in it, only the etcd data; it says where the logs are.
func (cp *ControlPlane) cleanup(keep bool) {
	if cp.dir == "" {
		return
	}
	switch {
	case keep && cp.LogDir == "":
		_ = os.RemoveAll(filepath.Join(cp.dir, "etcd"))
		logf("kept control plane logs in %s", cp.logDir)
	case keep:
		// The logs are in the caller's LogDir.
		_ = os.RemoveAll(cp.dir)
		logf("kept control plane logs in %s", cp.logDir)
	default:
		_ = os.RemoveAll(cp.dir)
	}
	cp.dir = ""
}

// Config returns a copy of the admin client configuration, nil before Start.
func (cp *ControlPlane) Config() *rest.Config {
	if cp.cfg == nil {
		return nil
	}
	return rest.CopyConfig(cp.cfg)
}

// KubeconfigPath is the admin kubeconfig file, valid between Start and Stop.
func (cp *ControlPlane) KubeconfigPath() string { return cp.kubeconfig }

// LogPath is the folder of the process logs, valid after Start.
func (cp *ControlPlane) LogPath() string { return cp.logDir }

// Binaries are the programs the control plane runs, valid after Start.
func (cp *ControlPlane) Binaries() Binaries { return cp.bins }

// Kubectl returns a kubectl command bound to the admin kubeconfig.
func (cp *ControlPlane) Kubectl(ctx context.Context, args ...string) *exec.Cmd {
	return exec.CommandContext(ctx, cp.bins.Kubectl, append([]string{"--kubeconfig=" + cp.kubeconfig}, args...)...)
}

// supportsFlag reports whether bin's --help mentions flag.
func supportsFlag(bin, flag string) bool {
	out, _ := exec.Command(bin, "--help").CombinedOutput()
	return strings.Contains(string(out), flag)
}

func orDefault[T comparable](v, def T) T {
	var zero T
	if v == zero {
		return def
	}
	return v
}
