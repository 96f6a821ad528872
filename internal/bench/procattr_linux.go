package bench

import "syscall"

// childAttr makes a child die with the tool, so an interrupted run leaves
// no service holding a port.
func childAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
}
