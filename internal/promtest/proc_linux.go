package promtest

import "syscall"

// sysProcAttr puts Prometheus in its own process group and kills it if the
// test binary dies without stopping it (a panic or a -timeout).
func sysProcAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
}
