//go:build !linux

package process

import "syscall"

// groupAttr puts a child in its own process group, so that a timeout or cancel reaches
// everything it started. There is no parent-death signal outside Linux: a child outlives a
// worker killed with SIGKILL until the next worker on the host reaps it (runs.go).
func groupAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Setpgid: true}
}
