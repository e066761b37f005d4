// Package measure counts what an execution costs, for the benchmarks: CPU of a process and
// of the PostgreSQL backends serving it (from /proc), and the statements and transactions a
// pool sends (a pgx tracer). Nothing here is used by the product; the benchmarks in
// cmd/attune/app and cmd/attune/loadbench report its figures per execution.
package measure

import (
	"bytes"
	"fmt"
	"os"
	"strconv"
	"syscall"
	"time"
)

// clockTick is the unit of utime and stime in /proc/<pid>/stat: USER_HZ, 100 on every Linux
// that Go runs on (the kernel fixes it for user space; getconf CLK_TCK says so).
const clockTick = 10 * time.Millisecond

// SelfCPU is the CPU (user + system) this process has used so far, every goroutine
// included. Child processes (an action's shell) are not in it.
func SelfCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// ProcessCPU reads the CPU (user + system) that process pid has used so far from
// /proc/<pid>/stat, to the kernel's 10 ms tick. Reading another user's process needs root or
// the same user (PostgreSQL's backends run as postgres: the benchmarks run as root).
func ProcessCPU(pid int) (time.Duration, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, err
	}
	return parseStat(b)
}

// parseStat takes utime and stime (fields 14 and 15) from a /proc/<pid>/stat line. The
// command name (field 2) is in parentheses and may hold spaces, so fields count from the
// last ')'.
func parseStat(b []byte) (time.Duration, error) {
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return 0, fmt.Errorf("parse /proc stat: no command name in %q", b)
	}
	f := bytes.Fields(b[i+1:]) // f[0] is field 3 (state)
	if len(f) < 13 {
		return 0, fmt.Errorf("parse /proc stat: %d fields after the command name", len(f))
	}
	utime, err1 := strconv.ParseInt(string(f[11]), 10, 64)
	stime, err2 := strconv.ParseInt(string(f[12]), 10, 64)
	if err1 != nil || err2 != nil {
		return 0, fmt.Errorf("parse /proc stat: utime %q stime %q", f[11], f[12])
	}
	return time.Duration(utime+stime) * clockTick, nil
}

// BrokerPID finds the local RabbitMQ node: the beam.smp process whose command line boots
// rabbit. ok is false when there is none on this host (a remote broker: its CPU is not
// measured).
func BrokerPID() (pid int, ok bool) {
	dirs, err := os.ReadDir("/proc")
	if err != nil {
		return 0, false
	}
	for _, d := range dirs {
		n, err := strconv.Atoi(d.Name())
		if err != nil {
			continue
		}
		cmd, err := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", n))
		if err != nil {
			continue
		}
		args := bytes.Split(cmd, []byte{0})
		if len(args) > 0 && bytes.HasSuffix(args[0], []byte("beam.smp")) && bytes.Contains(cmd, []byte("\x00rabbit\x00boot")) {
			return n, true
		}
	}
	return 0, false
}
