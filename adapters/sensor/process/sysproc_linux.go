package process

import "syscall"

// groupAttr puts a sensor in its own process group (stopping it stops what it started) and
// asks the kernel to SIGKILL it when the engine dies, so that a sensor never outlives an
// engine killed with SIGKILL and posts events for nobody.
//
// Go's caveat: the parent-death signal fires when the OS *thread* that forked the child
// exits. The Go runtime retires a thread only when a goroutine exits while locked to it
// (runtime.LockOSThread without Unlock); nothing here locks a thread, so keep it that way.
// Only the direct child is covered: what it started in its group lives on until it exits.
func groupAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
}
