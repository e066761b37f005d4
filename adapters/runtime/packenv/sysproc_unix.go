//go:build unix

package packenv

import (
	"os/exec"
	"syscall"
)

// groupAttr puts a build step in its own process group, so a timeout kills what pip or npm
// started (compilers, install scripts) along with it.
func groupAttr() *syscall.SysProcAttr { return &syscall.SysProcAttr{Setpgid: true} }

func killGroup(cmd *exec.Cmd) error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
