package controlplane

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"time"
)

// process is one running control-plane program, in its own process group,
// with stdout and stderr in one log file.
type process struct {
	name    string
	logPath string
	cmd     *exec.Cmd
	done    chan struct{} // closed when the process has exited
	err     error         // the exit status, valid once done is closed
}

// startProcess starts bin with args, logging to logDir/name.log.
func startProcess(logDir, name, bin string, args []string, env ...string) (*process, error) {
	logPath := filepath.Join(logDir, name+".log")
	f, err := os.OpenFile(logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return nil, fmt.Errorf("opening %s log: %w", name, err)
	}
	defer f.Close() // the child holds its own copy of the descriptor
	fmt.Fprintf(f, "# %s %s\n", bin, strings.Join(args, " "))

	cmd := exec.Command(bin, args...)
	cmd.Stdout = f
	cmd.Stderr = f
	cmd.Env = append(os.Environ(), env...)
	cmd.SysProcAttr = sysProcAttr()
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("starting %s: %w", name, err)
	}
	p := &process{name: name, logPath: logPath, cmd: cmd, done: make(chan struct{})}
	go func() {
		p.err = cmd.Wait()
		close(p.done)
	}()
	return p, nil
}

// exited returns an error with the log tail if the process has ended.
func (p *process) exited() error {
	select {
	case <-p.done:
		return &ExitError{Component: p.name, Err: p.err, LogPath: p.logPath, LogTail: readTail(p.logPath, 3000)}
	default:
		return nil
	}
}

// stop sends SIGTERM to the process group, then SIGKILL after grace, and
// waits for the process to exit.
func (p *process) stop(grace time.Duration) {
	select {
	case <-p.done:
		return
	default:
	}
	pgid := p.cmd.Process.Pid
	_ = syscall.Kill(-pgid, syscall.SIGTERM)
	timer := time.NewTimer(grace)
	defer timer.Stop()
	select {
	case <-p.done:
	case <-timer.C:
		_ = syscall.Kill(-pgid, syscall.SIGKILL)
		<-p.done
	}
	// Children the program may have left in its group.
	_ = syscall.Kill(-pgid, syscall.SIGKILL)
}

// ExitError reports a control-plane process that ended before Stop.
type ExitError struct {
	Component string
	Err       error  // the exit status
	LogPath   string // the full log
	LogTail   string // the end of the log
}

func (e *ExitError) Error() string {
	return fmt.Sprintf("%s exited early (%v); log %s:\n%s", e.Component, e.Err, e.LogPath, e.LogTail)
}

func (e *ExitError) Unwrap() error { return e.Err }

// addrInUse reports whether err is a process that died on a port taken
// between our probe and its bind.
func addrInUse(err error) bool {
	var ee *ExitError
	return errors.As(err, &ee) && strings.Contains(ee.LogTail, "address already in use")
}

// readTail returns the last n bytes of a file.
func readTail(path string, n int64) string {
	f, err := os.Open(path)
	if err != nil {
		return ""
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return ""
	}
	off := max(st.Size()-n, 0)
	buf := make([]byte, st.Size()-off)
	if _, err := f.ReadAt(buf, off); err != nil {
		return ""
	}
	return string(buf)
}
