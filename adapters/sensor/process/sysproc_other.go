//go:build !linux

package process

import "syscall"

// groupAttr puts a sensor in its own process group. Outside Linux there is no parent-death
// signal: a sensor outlives an engine killed with SIGKILL.
func groupAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Setpgid: true}
}
