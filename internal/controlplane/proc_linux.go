package controlplane

import "syscall"

// sysProcAttr puts a child in its own process group and kills it if the test
// binary dies without calling Stop (a panic or a -timeout).
func sysProcAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
}
