package pgtest

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

// Cluster is a PostgreSQL server of a test's own, on a free port in a temporary directory:
// for tests that kill, stop or restart the database, which must never touch the shared one.
// Its postmaster runs in a process group of its own, so Kill takes every backend with it, as
// a real crash would, and the test process's death takes it too (parent-death signal).
type Cluster struct {
	t       testing.TB
	bin     string // the directory of initdb and postgres
	dir     string // data directory
	port    int
	cred    *syscall.Credential // nil unless the test runs as root (postgres refuses root)
	logPath string

	mu   sync.Mutex
	proc *exec.Cmd
	done chan struct{} // closed when proc has exited
}

// StartCluster initialises and starts a cluster, and stops and removes it when the test ends.
// It fails the test when PostgreSQL's server binaries cannot be found: they come with the
// PostgreSQL that scripts/services.sh installs.
func StartCluster(t testing.TB) *Cluster {
	t.Helper()
	bin, err := serverBinaries()
	if err != nil {
		t.Fatalf("pgtest: %v", err)
	}
	c := &Cluster{t: t, bin: bin}
	parent, err := os.MkdirTemp("", "attune-pg-")
	if err != nil {
		t.Fatalf("pgtest: temp dir: %v", err)
	}
	t.Cleanup(func() {
		c.Kill()
		_ = os.RemoveAll(parent)
	})
	c.dir = filepath.Join(parent, "data")
	c.logPath = filepath.Join(parent, "postgres.log")
	if os.Geteuid() == 0 {
		// initdb and postgres refuse to run as root: run them as the postgres user.
		u, err := user.Lookup("postgres")
		if err != nil {
			t.Fatalf("pgtest: running as root needs a postgres user: %v", err)
		}
		uid, _ := strconv.Atoi(u.Uid)
		gid, _ := strconv.Atoi(u.Gid)
		c.cred = &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid)}
		if err := os.Chown(parent, uid, gid); err != nil {
			t.Fatalf("pgtest: chown %s: %v", parent, err)
		}
	}
	if c.port, err = freePort(); err != nil {
		t.Fatalf("pgtest: %v", err)
	}
	initdb := c.command(filepath.Join(bin, "initdb"), "-D", c.dir, "-U", "postgres", "--auth=trust", "-E", "UTF8", "--no-sync", "--no-instructions")
	if out, err := initdb.CombinedOutput(); err != nil {
		t.Fatalf("pgtest: initdb: %v\n%s", err, out)
	}
	c.Start()
	return c
}

// URL is the cluster's connection string (database postgres).
func (c *Cluster) URL() string {
	return fmt.Sprintf("postgres://postgres@127.0.0.1:%d/postgres?sslmode=disable", c.port)
}

// Port is the TCP port the cluster listens on.
func (c *Cluster) Port() int { return c.port }

// Start starts the server (again) and waits until it accepts connections.
func (c *Cluster) Start() {
	c.t.Helper()
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.proc != nil {
		c.t.Fatalf("pgtest: cluster on port %d already runs", c.port)
	}
	logFile, err := os.OpenFile(c.logPath, os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o666)
	if err != nil {
		c.t.Fatalf("pgtest: open %s: %v", c.logPath, err)
	}
	cmd := c.command(filepath.Join(c.bin, "postgres"), "-D", c.dir, "-p", strconv.Itoa(c.port),
		"-c", "listen_addresses=127.0.0.1", "-c", "unix_socket_directories="+filepath.Dir(c.dir),
		"-c", "max_connections=60", "-c", "shared_buffers=32MB", "-c", "fsync=off",
		"-c", "full_page_writes=off")
	cmd.Stdout, cmd.Stderr = logFile, logFile
	if err := cmd.Start(); err != nil {
		_ = logFile.Close()
		c.t.Fatalf("pgtest: start postgres: %v", err)
	}
	done := make(chan struct{})
	go func() { _ = cmd.Wait(); _ = logFile.Close(); close(done) }()
	c.proc, c.done = cmd, done
	deadline := time.Now().Add(30 * time.Second)
	for {
		conn, err := pgx.Connect(context.Background(), c.URL())
		if err == nil {
			_ = conn.Close(context.Background())
			return
		}
		select {
		case <-done:
			c.proc = nil
			log, _ := os.ReadFile(c.logPath)
			c.t.Fatalf("pgtest: postgres exited at start: %s", log)
		default:
		}
		if time.Now().After(deadline) {
			c.t.Fatalf("pgtest: postgres on port %d not ready after 30 s: %v", c.port, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// Kill crashes the server: SIGKILL to the postmaster and every backend at once. Nothing is
// shut down cleanly; the next Start recovers from the WAL, as after a power cut of the server.
func (c *Cluster) Kill() { c.stop(syscall.SIGKILL) }

// Stop shuts the server down the fast way (SIGINT: connections are closed, work is rolled back).
func (c *Cluster) Stop() { c.stop(syscall.SIGINT) }

func (c *Cluster) stop(sig syscall.Signal) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.proc == nil {
		return
	}
	pid := c.proc.Process.Pid
	// Every backend calls setsid(), so a process group does not hold them: a crash kills the
	// postmaster's children by pid, at the same moment as the postmaster.
	var children []int
	if sig == syscall.SIGKILL {
		children = childrenOf(pid)
		for _, child := range children {
			_ = syscall.Kill(child, syscall.SIGKILL)
		}
	}
	_ = syscall.Kill(pid, sig)
	select {
	case <-c.done:
	case <-time.After(30 * time.Second):
		_ = syscall.Kill(pid, syscall.SIGKILL)
		<-c.done
	}
	// A new postmaster refuses to start while an old backend holds the shared memory.
	waitGone(children)
	c.proc = nil
}

// Log returns what the server has written to its log so far (for a failing test's message).
func (c *Cluster) Log() string {
	b, _ := os.ReadFile(c.logPath)
	return string(b)
}

func (c *Cluster) command(name string, args ...string) *exec.Cmd {
	cmd := exec.Command(name, args...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL, Credential: c.cred}
	cmd.Env = append(os.Environ(), "LC_ALL=C")
	return cmd
}

// childrenOf lists the pids whose parent is pid, from /proc.
func childrenOf(pid int) []int {
	stats, _ := filepath.Glob("/proc/[0-9]*/stat")
	var out []int
	for _, p := range stats {
		b, err := os.ReadFile(p)
		if err != nil {
			continue
		}
		// pid (comm) state ppid …: comm may hold spaces, so parse after its closing paren.
		rest := string(b[strings.LastIndexByte(string(b), ')')+1:])
		fields := strings.Fields(rest)
		if len(fields) < 2 {
			continue
		}
		if ppid, _ := strconv.Atoi(fields[1]); ppid == pid {
			child, _ := strconv.Atoi(filepath.Base(filepath.Dir(p)))
			out = append(out, child)
		}
	}
	return out
}

// waitGone waits (bounded) until every pid has exited (a zombie counts as exited: it holds
// no memory).
func waitGone(pids []int) {
	deadline := time.Now().Add(10 * time.Second)
	for _, pid := range pids {
		for time.Now().Before(deadline) {
			b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
			if err != nil || errors.Is(syscall.Kill(pid, 0), syscall.ESRCH) {
				break
			}
			if s := string(b); strings.Contains(s[strings.LastIndexByte(s, ')')+1:], " Z ") {
				break
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
}

// serverBinaries finds the newest installed PostgreSQL's bin directory (Debian keeps them
// out of PATH, under /usr/lib/postgresql/<major>/bin), or initdb on PATH.
func serverBinaries() (string, error) {
	dirs, _ := filepath.Glob("/usr/lib/postgresql/*/bin")
	sort.Slice(dirs, func(i, j int) bool { return majorOf(dirs[i]) > majorOf(dirs[j]) })
	for _, d := range dirs {
		if _, err := os.Stat(filepath.Join(d, "initdb")); err == nil {
			return d, nil
		}
	}
	if p, err := exec.LookPath("initdb"); err == nil {
		return filepath.Dir(p), nil
	}
	return "", errors.New("no PostgreSQL server binaries (initdb) under /usr/lib/postgresql/*/bin or on PATH; run scripts/services.sh")
}

func majorOf(binDir string) int {
	n, _ := strconv.Atoi(filepath.Base(filepath.Dir(binDir)))
	return n
}

// freePort asks the kernel for a port that is free now.
func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, fmt.Errorf("find a free port: %w", err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}
