package promtest

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/prometheus/client_golang/api"
	promv1 "github.com/prometheus/client_golang/api/prometheus/v1"
	"k8s.io/apimachinery/pkg/util/wait"

	"github.com/switchyard-dev/switchyard/internal/controlplane"
)

const (
	startTimeout = 30 * time.Second       // from process start to /-/ready
	stopGrace    = 5 * time.Second        // SIGTERM to SIGKILL
	pollInterval = 100 * time.Millisecond // readiness probes
	startTries   = 3                      // ports taken between probe and bind
)

// Server is a Prometheus server on loopback that scrapes its targets every
// second and evaluates rules every second. Stop ends it.
type Server struct {
	url     string
	dir     string // temporary folder: config, data and log
	logPath string
	cmd     *exec.Cmd
	done    chan struct{} // closed when the process has exited
	err     error         // the exit status, valid once done is closed
}

// Start starts a Prometheus server scraping targets (host:port, path
// /metrics) for the test and stops it when the test ends; if the test
// failed, the end of the server's log is logged. It skips under -short and
// fails the test if the server cannot start.
func Start(tb testing.TB, targets ...string) *Server {
	tb.Helper()
	if testing.Short() {
		tb.Skip("skipping real-Prometheus test in -short mode (the first run builds Prometheus)")
	}
	s, err := StartServer(tb.Context(), targets...)
	if err != nil {
		tb.Fatalf("starting Prometheus: %v", err)
	}
	tb.Cleanup(func() {
		if tb.Failed() {
			tb.Logf("prometheus log (end):\n%s", readTail(s.logPath, 3000))
		}
		if err := s.Stop(); err != nil {
			tb.Errorf("stopping Prometheus: %v", err)
		}
	})
	return s
}

// StartServer builds Prometheus if needed (see
// controlplane.EnsurePrometheus), starts it scraping targets and returns once
// it is ready. ctx bounds the build and the start, not the server's life.
func StartServer(ctx context.Context, targets ...string) (*Server, error) {
	bin, _, err := controlplane.EnsurePrometheus(ctx)
	if err != nil {
		return nil, err
	}
	dir, err := os.MkdirTemp("", "switchyard-prometheus-")
	if err != nil {
		return nil, fmt.Errorf("creating Prometheus folder: %w", err)
	}
	cfgPath := filepath.Join(dir, "prometheus.yml")
	if err := os.WriteFile(cfgPath, []byte(config(targets)), 0o644); err != nil {
		_ = os.RemoveAll(dir)
		return nil, fmt.Errorf("writing Prometheus config: %w", err)
	}
	for try := 1; ; try++ {
		s, err := start(ctx, bin, dir, cfgPath)
		if err == nil {
			return s, nil
		}
		if try == startTries || !strings.Contains(err.Error(), "address already in use") {
			_ = os.RemoveAll(dir)
			return nil, err
		}
	}
}

// URL is the server's base address, http://127.0.0.1:<port>.
func (s *Server) URL() string { return s.url }

// API returns a client of the server's HTTP API.
func (s *Server) API() promv1.API {
	c, err := api.NewClient(api.Config{Address: s.url})
	if err != nil {
		panic(fmt.Sprintf("promtest: API client for %s: %v", s.url, err)) // only a bad address fails
	}
	return promv1.NewAPI(c)
}

// Stop ends the server (SIGTERM to its process group, SIGKILL after a
// grace period) and removes its folder. It is safe to call more than once.
func (s *Server) Stop() error {
	stop(s.cmd, s.done, stopGrace)
	if err := os.RemoveAll(s.dir); err != nil {
		return fmt.Errorf("removing Prometheus folder: %w", err)
	}
	return nil
}

// start runs one attempt on a fresh port and waits for /-/ready.
func start(ctx context.Context, bin, dir, cfgPath string) (*Server, error) {
	port, err := freePort()
	if err != nil {
		return nil, err
	}
	addr := net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
	logPath := filepath.Join(dir, "prometheus.log")
	logFile, err := os.Create(logPath)
	if err != nil {
		return nil, fmt.Errorf("creating Prometheus log: %w", err)
	}
	defer logFile.Close() // the child holds its own copy
	args := []string{
		"--config.file=" + cfgPath,
		"--storage.tsdb.path=" + filepath.Join(dir, "data"),
		"--storage.tsdb.retention.time=1h",
		"--web.listen-address=" + addr,
		"--scrape.discovery-reload-interval=200ms", // scrape new targets at once, not after 5s
		"--log.level=warn",
	}
	fmt.Fprintf(logFile, "# %s %s\n", bin, strings.Join(args, " "))
	cmd := exec.Command(bin, args...)
	cmd.Stdout = logFile
	cmd.Stderr = logFile
	cmd.SysProcAttr = sysProcAttr()
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("starting Prometheus: %w", err)
	}
	s := &Server{url: "http://" + addr, dir: dir, logPath: logPath, cmd: cmd, done: make(chan struct{})}
	go func() {
		s.err = cmd.Wait()
		close(s.done)
	}()
	if err := s.waitReady(ctx); err != nil {
		stop(cmd, s.done, stopGrace)
		return nil, err
	}
	return s, nil
}

// waitReady polls /-/ready until it answers 200, the process exits or the
// start times out.
func (s *Server) waitReady(ctx context.Context) error {
	client := &http.Client{Timeout: 2 * time.Second}
	defer client.CloseIdleConnections()
	var last error
	err := wait.PollUntilContextTimeout(ctx, pollInterval, startTimeout, true, func(ctx context.Context) (bool, error) {
		select {
		case <-s.done:
			return false, fmt.Errorf("prometheus exited early (%v); log %s:\n%s", s.err, s.logPath, readTail(s.logPath, 3000))
		default:
		}
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, s.url+"/-/ready", nil)
		if err != nil {
			return false, err
		}
		resp, err := client.Do(req)
		if err != nil {
			last = err
			return false, nil
		}
		_ = resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			last = fmt.Errorf("/-/ready: %s", resp.Status)
			return false, nil
		}
		return true, nil
	})
	if err != nil && wait.Interrupted(err) {
		return fmt.Errorf("waiting for Prometheus at %s to be ready: %w (last: %v; log %s)", s.url, err, last, s.logPath)
	}
	return err
}

// config is a prometheus.yml that scrapes targets every second.
func config(targets []string) string {
	var b strings.Builder
	b.WriteString("global:\n  scrape_interval: 1s\n  scrape_timeout: 1s\n  evaluation_interval: 1s\n")
	b.WriteString("scrape_configs:\n  - job_name: promtest\n    static_configs:\n      - targets: [")
	for i, t := range targets {
		if i > 0 {
			b.WriteString(", ")
		}
		b.WriteString(strconv.Quote(t))
	}
	b.WriteString("]\n")
	return b.String()
}

// stop sends SIGTERM to the process group, SIGKILL after grace, and waits
// for the process to exit.
func stop(cmd *exec.Cmd, done <-chan struct{}, grace time.Duration) {
	select {
	case <-done:
		return
	default:
	}
	pgid := cmd.Process.Pid
	_ = syscall.Kill(-pgid, syscall.SIGTERM)
	timer := time.NewTimer(grace)
	defer timer.Stop()
	select {
	case <-done:
	case <-timer.C:
		_ = syscall.Kill(-pgid, syscall.SIGKILL)
		<-done
	}
}

// freePort returns a loopback port that was free a moment ago.
func freePort() (int, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, fmt.Errorf("finding a free port: %w", err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port, nil
}

// readTail returns the last n bytes of a file, or why it cannot.
func readTail(path string, n int64) string {
	f, err := os.Open(path)
	if err != nil {
		return err.Error()
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return err.Error()
	}
	off := max(st.Size()-n, 0)
	buf := make([]byte, st.Size()-off)
	if _, err := f.ReadAt(buf, off); err != nil && !errors.Is(err, io.EOF) {
		return err.Error()
	}
	return string(buf)
}
