package controlplane

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"syscall"
	"time"
)

// modulePath is the main module; the repository root is the directory of the
// go.mod that declares it.
const modulePath = "github.com/switchyard-dev/switchyard"

// recipeVersion is mixed into the cache key; bump it when the way binaries
// are built (flags, file layout) changes, so that stale caches are ignored.
const recipeVersion = "1"

// Binaries are the paths of the built control-plane programs.
type Binaries struct {
	// Dir holds every binary and the Stages folder: CACHE/bin/<key>.
	Dir                   string
	Etcd                  string
	KubeAPIServer         string
	KubeControllerManager string
	KubeScheduler         string
	Kubectl               string
	Kwok                  string
	// Stages are the kwok stage files, each passed to kwok with --config.
	Stages []string
	// Built reports whether this call built the binaries (false on a cache hit).
	Built bool
}

// tool is one binary of the cache: which tools module builds which package.
type tool struct {
	name   string // file name in the cache
	module string // folder under internal/controlplane/tools
	pkg    string
}

var tools = []tool{
	{"etcd", "kube", "go.etcd.io/etcd/server/v3"},
	{"kube-apiserver", "kube", "k8s.io/kubernetes/cmd/kube-apiserver"},
	{"kube-controller-manager", "kube", "k8s.io/kubernetes/cmd/kube-controller-manager"},
	{"kube-scheduler", "kube", "k8s.io/kubernetes/cmd/kube-scheduler"},
	{"kubectl", "kube", "k8s.io/kubernetes/cmd/kubectl"},
	{"kwok", "kwok", "sigs.k8s.io/kwok/cmd/kwok"},
}

// kwokStageDirs are the folders of the kwok module whose YAML files are the
// stages we run: nodes turn Ready at once and keep a heartbeat, pods turn
// Ready at once, complete and go away when deleted.
var kwokStageDirs = []string{
	"kustomize/stage/node/fast",
	"kustomize/stage/node/heartbeat-with-lease",
	"kustomize/stage/pod/fast",
}

// CacheDir returns the folder that holds built binaries: $SWITCHYARD_CACHE if
// set, else os.UserCacheDir()/switchyard, else os.TempDir()/switchyard-cache.
func CacheDir() string {
	if d := os.Getenv("SWITCHYARD_CACHE"); d != "" {
		if abs, err := filepath.Abs(d); err == nil {
			return abs // go test runs each package in its own folder
		}
		return d
	}
	if d, err := os.UserCacheDir(); err == nil {
		return filepath.Join(d, "switchyard")
	}
	return filepath.Join(os.TempDir(), "switchyard-cache")
}

// EnsureBinaries returns the control-plane binaries, building them on first
// use. Builds are serialised across processes by a file lock, happen in a
// temporary folder and are renamed into place, so concurrent test binaries
// never build twice nor see half-built files.
func EnsureBinaries(ctx context.Context) (Binaries, error) {
	root, err := repoRoot()
	if err != nil {
		return Binaries{}, err
	}
	goBin, err := exec.LookPath("go")
	if err != nil {
		return Binaries{}, fmt.Errorf("finding the go command to build the control plane: %w", err)
	}
	goVersion, err := output(ctx, "", goBin, "env", "GOVERSION")
	if err != nil {
		return Binaries{}, err
	}
	toolsDir := filepath.Join(root, "internal", "controlplane", "tools")
	key, err := cacheKey(toolsDir, goVersion)
	if err != nil {
		return Binaries{}, err
	}
	binDir := filepath.Join(CacheDir(), "bin")
	if err := os.MkdirAll(binDir, 0o755); err != nil {
		return Binaries{}, fmt.Errorf("creating binary cache: %w", err)
	}
	final := filepath.Join(binDir, key)
	unlock, err := lockFile(ctx, final+".lock")
	if err != nil {
		return Binaries{}, err
	}
	defer unlock()

	bins := layout(final)
	if _, err := os.Stat(final); err == nil {
		return bins, nil
	} else if !errors.Is(err, os.ErrNotExist) {
		return Binaries{}, fmt.Errorf("reading binary cache: %w", err)
	}
	// Folders of builds that were killed half-way; we hold the lock.
	if stale, _ := filepath.Glob(final + ".tmp-*"); len(stale) > 0 {
		for _, d := range stale {
			_ = os.RemoveAll(d)
		}
	}
	if err := build(ctx, goBin, toolsDir, binDir, final); err != nil {
		return Binaries{}, err
	}
	bins = layout(final)
	bins.Built = true
	return bins, nil
}

// layout lists the binaries and stage files of a complete cache folder.
func layout(dir string) Binaries {
	b := Binaries{
		Dir:                   dir,
		Etcd:                  filepath.Join(dir, "etcd"),
		KubeAPIServer:         filepath.Join(dir, "kube-apiserver"),
		KubeControllerManager: filepath.Join(dir, "kube-controller-manager"),
		KubeScheduler:         filepath.Join(dir, "kube-scheduler"),
		Kubectl:               filepath.Join(dir, "kubectl"),
		Kwok:                  filepath.Join(dir, "kwok"),
	}
	b.Stages, _ = filepath.Glob(filepath.Join(dir, "stages", "*.yaml"))
	return b
}

// build builds every tool into a temporary folder beside final, copies the
// kwok stages and renames the folder to final.
func build(ctx context.Context, goBin, toolsDir, binDir, final string) (err error) {
	tmp, err := os.MkdirTemp(binDir, filepath.Base(final)+".tmp-")
	if err != nil {
		return fmt.Errorf("creating build folder: %w", err)
	}
	defer func() {
		if err != nil {
			_ = os.RemoveAll(tmp)
		}
	}()
	kubeVersion, err := requiredVersion(filepath.Join(toolsDir, "kube", "go.mod"), "k8s.io/kubernetes")
	if err != nil {
		return err
	}
	start := time.Now()
	logf("building control-plane binaries into %s (first run only; several minutes on a cold Go build cache)", final)
	for _, t := range tools {
		args := []string{"build", "-buildvcs=false", "-o", filepath.Join(tmp, t.name)}
		if t.module == "kube" && t.name != "etcd" {
			args = append(args, "-ldflags="+kubeLDFlags(kubeVersion))
		}
		args = append(args, t.pkg)
		began := time.Now()
		logf("building %s (%s)", t.name, t.pkg)
		if _, err := output(ctx, filepath.Join(toolsDir, t.module), goBin, args...); err != nil {
			return fmt.Errorf("building %s: %w", t.name, err)
		}
		logf("built %s in %s", t.name, time.Since(began).Round(time.Second))
	}
	kwokDir, err := output(ctx, filepath.Join(toolsDir, "kwok"), goBin, "list", "-m", "-f", "{{.Dir}}", "sigs.k8s.io/kwok")
	if err != nil {
		return err
	}
	if err := copyStages(kwokDir, filepath.Join(tmp, "stages")); err != nil {
		return err
	}
	if err := os.Rename(tmp, final); err != nil {
		return fmt.Errorf("moving binaries into the cache: %w", err)
	}
	logf("built control-plane binaries in %s", time.Since(start).Round(time.Second))
	return nil
}

// kubeLDFlags stamps the Kubernetes version into the binaries, as release
// builds do, so that /version reports it.
func kubeLDFlags(version string) string {
	major, minor, _ := strings.Cut(strings.TrimPrefix(version, "v"), ".")
	minor, _, _ = strings.Cut(minor, ".")
	const p = "k8s.io/component-base/version"
	return fmt.Sprintf("-X %[1]s.gitVersion=%[2]s -X %[1]s.gitMajor=%[3]s -X %[1]s.gitMinor=%[4]s -X %[1]s.gitTreeState=clean",
		p, version, major, minor)
}

// copyStages copies the stage YAML files (not kustomization.yaml, not
// testdata) of the kwok module into dst.
func copyStages(kwokDir, dst string) error {
	if err := os.MkdirAll(dst, 0o755); err != nil {
		return fmt.Errorf("creating stage folder: %w", err)
	}
	n := 0
	for _, d := range kwokStageDirs {
		files, err := filepath.Glob(filepath.Join(kwokDir, d, "*.yaml"))
		if err != nil {
			return err
		}
		for _, f := range files {
			if filepath.Base(f) == "kustomization.yaml" {
				continue
			}
			data, err := os.ReadFile(f)
			if err != nil {
				return fmt.Errorf("reading kwok stage: %w", err)
			}
			if err := os.WriteFile(filepath.Join(dst, filepath.Base(f)), data, 0o644); err != nil {
				return fmt.Errorf("writing kwok stage: %w", err)
			}
			n++
		}
	}
	if n == 0 {
		return fmt.Errorf("no kwok stage files under %s", kwokDir)
	}
	return nil
}

// cacheKey hashes what determines the binaries: the tools modules' go.mod and
// go.sum, the Go version, the platform and the build recipe.
func cacheKey(toolsDir, goVersion string) (string, error) {
	h := sha256.New()
	fmt.Fprintf(h, "%s\n%s\n%s/%s\n", recipeVersion, goVersion, runtime.GOOS, runtime.GOARCH)
	for _, m := range []string{"kube", "kwok"} {
		for _, f := range []string{"go.mod", "go.sum"} {
			data, err := os.ReadFile(filepath.Join(toolsDir, m, f))
			if err != nil {
				return "", fmt.Errorf("hashing tools module: %w", err)
			}
			fmt.Fprintf(h, "%s/%s %d\n", m, f, len(data))
			h.Write(data)
		}
	}
	return hex.EncodeToString(h.Sum(nil))[:16], nil
}

// lockFile takes an exclusive flock on path, waiting for ctx. The lock goes
// away with the process, so a killed build never leaves it held.
func lockFile(ctx context.Context, path string) (unlock func(), err error) {
	f, err := os.OpenFile(path, os.O_CREATE|os.O_RDWR, 0o644)
	if err != nil {
		return nil, fmt.Errorf("opening cache lock: %w", err)
	}
	locked := make(chan error, 1)
	go func() { locked <- syscall.Flock(int(f.Fd()), syscall.LOCK_EX) }()
	select {
	case err := <-locked:
		if err != nil {
			_ = f.Close()
			return nil, fmt.Errorf("locking %s: %w", path, err)
		}
	case <-ctx.Done():
		// Closing the file releases the lock if the goroutine got it late.
		go func() { <-locked; _ = f.Close() }()
		return nil, fmt.Errorf("waiting for cache lock %s (another test binary is building): %w", path, ctx.Err())
	}
	return func() {
		_ = syscall.Flock(int(f.Fd()), syscall.LOCK_UN)
		_ = f.Close()
	}, nil
}

// repoRoot walks up from the working directory to the main module's root.
func repoRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if p, err := modulePathOf(filepath.Join(dir, "go.mod")); err == nil && p == modulePath {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", fmt.Errorf("no go.mod of module %s above the working directory", modulePath)
		}
		dir = parent
	}
}

// modulePathOf reads the module line of a go.mod file.
func modulePathOf(goMod string) (string, error) {
	f, err := os.Open(goMod)
	if err != nil {
		return "", err
	}
	defer f.Close()
	s := bufio.NewScanner(f)
	for s.Scan() {
		if rest, ok := strings.CutPrefix(strings.TrimSpace(s.Text()), "module "); ok {
			return strings.Trim(strings.TrimSpace(rest), `"`), nil
		}
	}
	return "", fmt.Errorf("no module line in %s", goMod)
}

// requiredVersion reads the version of a module required by a go.mod file.
func requiredVersion(goMod, module string) (string, error) {
	data, err := os.ReadFile(goMod)
	if err != nil {
		return "", err
	}
	for _, line := range strings.Split(string(data), "\n") {
		fields := strings.Fields(strings.TrimPrefix(strings.TrimSpace(line), "require "))
		if len(fields) >= 2 && fields[0] == module {
			return fields[1], nil
		}
	}
	return "", fmt.Errorf("%s does not require %s", goMod, module)
}

// output runs a command in dir (GOWORK off) and returns its trimmed stdout;
// on failure the error carries stderr.
func output(ctx context.Context, dir, name string, args ...string) (string, error) {
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "GOWORK=off")
	var stdout, stderr bytes.Buffer
	cmd.Stdout = &stdout
	cmd.Stderr = &stderr
	if err := cmd.Run(); err != nil {
		return "", fmt.Errorf("%s %s: %w\n%s", name, strings.Join(args, " "), err, tail(stderr.String(), 4000))
	}
	return strings.TrimSpace(stdout.String()), nil
}

// logf reports progress on stderr, so a slow first run explains itself.
func logf(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "controlplane: "+format+"\n", args...)
}

// tail returns at most the last n bytes of s.
func tail(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return "..." + s[len(s)-n:]
}

// prometheusRecipe is mixed into the Prometheus cache key; bump it when the
// way Prometheus is built changes. It is apart from recipeVersion so that a
// change here never rebuilds the Kubernetes binaries.
const prometheusRecipe = "1"

// prometheusTags leave out every service-discovery plugin but file and
// http; without the builtinassets tag the web UI is not embedded either.
const prometheusTags = "remove_all_sd"

// EnsurePrometheus returns the path of a Prometheus server built by the
// tools module tools/prometheus, building it on first use into
// CACHE/bin/prometheus-<key>, where key hashes that module's go.mod and
// go.sum, the Go version, the platform and the build flags. Built reports
// whether this call built it. Builds are locked and renamed into place as in
// EnsureBinaries; the first takes about two minutes on 2 cores.
func EnsurePrometheus(ctx context.Context) (path string, built bool, err error) {
	root, err := repoRoot()
	if err != nil {
		return "", false, err
	}
	goBin, err := exec.LookPath("go")
	if err != nil {
		return "", false, fmt.Errorf("finding the go command to build Prometheus: %w", err)
	}
	goVersion, err := output(ctx, "", goBin, "env", "GOVERSION")
	if err != nil {
		return "", false, err
	}
	modDir := filepath.Join(root, "internal", "controlplane", "tools", "prometheus")
	h := sha256.New()
	fmt.Fprintf(h, "prometheus %s\n%s\n%s/%s\n%s\n", prometheusRecipe, goVersion, runtime.GOOS, runtime.GOARCH, prometheusTags)
	for _, f := range []string{"go.mod", "go.sum"} {
		data, err := os.ReadFile(filepath.Join(modDir, f))
		if err != nil {
			return "", false, fmt.Errorf("hashing the Prometheus tools module: %w", err)
		}
		fmt.Fprintf(h, "%s %d\n", f, len(data))
		h.Write(data)
	}
	binDir := filepath.Join(CacheDir(), "bin")
	if err := os.MkdirAll(binDir, 0o755); err != nil {
		return "", false, fmt.Errorf("creating binary cache: %w", err)
	}
	final := filepath.Join(binDir, "prometheus-"+hex.EncodeToString(h.Sum(nil))[:16])
	path = filepath.Join(final, "prometheus")
	unlock, err := lockFile(ctx, final+".lock")
	if err != nil {
		return "", false, err
	}
	defer unlock()
	if _, err := os.Stat(final); err == nil {
		return path, false, nil
	} else if !errors.Is(err, os.ErrNotExist) {
		return "", false, fmt.Errorf("reading binary cache: %w", err)
	}
	if stale, _ := filepath.Glob(final + ".tmp-*"); len(stale) > 0 {
		for _, d := range stale {
			_ = os.RemoveAll(d)
		}
	}
	tmp, err := os.MkdirTemp(binDir, filepath.Base(final)+".tmp-")
	if err != nil {
		return "", false, fmt.Errorf("creating build folder: %w", err)
	}
	defer func() {
		if err != nil {
			_ = os.RemoveAll(tmp)
		}
	}()
	start := time.Now()
	logf("building prometheus into %s (first run only; about two minutes on a cold Go build cache)", final)
	if _, err := output(ctx, modDir, goBin, "build", "-buildvcs=false", "-tags", prometheusTags,
		"-ldflags=-s -w", "-o", filepath.Join(tmp, "prometheus"), "github.com/prometheus/prometheus/cmd/prometheus"); err != nil {
		return "", false, fmt.Errorf("building prometheus: %w", err)
	}
	if err := os.Rename(tmp, final); err != nil {
		return "", false, fmt.Errorf("moving prometheus into the cache: %w", err)
	}
	logf("built prometheus in %s", time.Since(start).Round(time.Second))
	return path, true, nil
}
