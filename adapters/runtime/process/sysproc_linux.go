package process

import "syscall"

// groupAttr puts a child in its own process group, so that a timeout or cancel reaches
// everything it started, and asks the kernel to SIGKILL it when its parent dies, so that an
// action never outlives a worker killed with SIGKILL.
//
// Go's caveat: the parent-death signal fires when the OS *thread* that forked the child
// exits, not the process. The Go runtime retires a thread only when a goroutine exits while
// locked to it (runtime.LockOSThread without Unlock); nothing here locks a thread, so the
// thread lives as long as the process. Keep it that way: never start a child from a
// goroutine that called LockOSThread.
//
// It covers the direct child only: the rest of its group, and what left the group (setsid),
// are killed by the next worker on this host from the run records (runs.go).
func groupAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
}
