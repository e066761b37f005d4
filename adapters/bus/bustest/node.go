package bustest

import (
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"syscall"
	"testing"
	"time"

	amqp091 "github.com/rabbitmq/amqp091-go"
)

// Node is a RabbitMQ node of a test's own, on free ports in a temporary directory: for tests
// that kill or restart the broker, which must never touch the shared one. Its Erlang VM runs
// in a process group of its own, so Kill is a crash of the whole node.
type Node struct {
	t    testing.TB
	dir  string
	name string
	port int
	dist int

	mu   sync.Mutex
	proc *exec.Cmd
	done chan struct{}
}

// rabbitServer is Debian's real start script (/usr/sbin/rabbitmq-server is a wrapper that
// switches to the rabbitmq user and its fixed directories).
const rabbitServer = "/usr/lib/rabbitmq/bin/rabbitmq-server"

// StartNode starts a fresh node (30 s at most) and stops and removes it when the test ends.
func StartNode(t testing.TB) *Node {
	t.Helper()
	if _, err := os.Stat(rabbitServer); err != nil {
		t.Fatalf("bustest: no RabbitMQ server at %s; run scripts/services.sh: %v", rabbitServer, err)
	}
	dir, err := os.MkdirTemp("", "attune-rabbit-")
	if err != nil {
		t.Fatalf("bustest: temp dir: %v", err)
	}
	n := &Node{t: t, dir: dir, name: fmt.Sprintf("attune-test-%d@localhost", os.Getpid()+int(time.Now().UnixNano()%100000))}
	t.Cleanup(func() {
		n.Kill()
		_ = os.RemoveAll(dir)
	})
	if n.port, err = freeTCPPort(); err != nil {
		t.Fatalf("bustest: %v", err)
	}
	if n.dist, err = freeTCPPort(); err != nil {
		t.Fatalf("bustest: %v", err)
	}
	n.Start()
	return n
}

// URL is the node's AMQP URL.
func (n *Node) URL() string { return fmt.Sprintf("amqp://guest:guest@127.0.0.1:%d/", n.port) }

// Start starts the node (again) and waits until it accepts AMQP connections.
func (n *Node) Start() {
	n.t.Helper()
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.proc != nil {
		n.t.Fatalf("bustest: node %s already runs", n.name)
	}
	logPath := filepath.Join(n.dir, "server.out")
	logFile, err := os.OpenFile(logPath, os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o644)
	if err != nil {
		n.t.Fatalf("bustest: %v", err)
	}
	conf := filepath.Join(n.dir, "rabbitmq.conf")
	// guest may connect from 127.0.0.1 only, which is where tests connect from.
	if err := os.WriteFile(conf, []byte("loopback_users.guest = true\nlisteners.tcp.default = 127.0.0.1:"+fmt.Sprint(n.port)+"\n"), 0o644); err != nil {
		n.t.Fatalf("bustest: %v", err)
	}
	cmd := exec.Command(rabbitServer)
	cmd.Env = append(os.Environ(),
		"RABBITMQ_NODENAME="+n.name,
		"RABBITMQ_NODE_PORT="+fmt.Sprint(n.port),
		"RABBITMQ_DIST_PORT="+fmt.Sprint(n.dist),
		"RABBITMQ_CONFIG_FILE="+conf,
		"RABBITMQ_MNESIA_BASE="+filepath.Join(n.dir, "mnesia"),
		"RABBITMQ_LOG_BASE="+filepath.Join(n.dir, "log"),
		"RABBITMQ_PID_FILE="+filepath.Join(n.dir, "pid"),
		"RABBITMQ_ENABLED_PLUGINS_FILE="+filepath.Join(n.dir, "enabled_plugins"),
		"RABBITMQ_ENABLED_PLUGINS=",
		"RABBITMQ_ADVANCED_CONFIG_FILE="+filepath.Join(n.dir, "advanced.config"),
		"RABBITMQ_CONF_ENV_FILE="+filepath.Join(n.dir, "rabbitmq-env.conf"),
		"RABBITMQ_ALLOW_INPUT=",
	)
	cmd.Stdout, cmd.Stderr = logFile, logFile
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		_ = logFile.Close()
		n.t.Fatalf("bustest: start rabbitmq: %v", err)
	}
	done := make(chan struct{})
	go func() { _ = cmd.Wait(); _ = logFile.Close(); close(done) }()
	n.proc, n.done = cmd, done
	deadline := time.Now().Add(60 * time.Second)
	for {
		conn, err := amqp091.Dial(n.URL())
		if err == nil {
			_ = conn.Close()
			return
		}
		select {
		case <-done:
			n.proc = nil
			out, _ := os.ReadFile(logPath)
			n.t.Fatalf("bustest: rabbitmq exited at start: %s", out)
		default:
		}
		if time.Now().After(deadline) {
			out, _ := os.ReadFile(logPath)
			n.t.Fatalf("bustest: rabbitmq node %s not ready after 60 s: %v\n%s", n.name, err, out)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// Kill crashes the node: SIGKILL to its whole process group (the Erlang VM and epmd's
// children it started). Durable queues and persistent messages survive a Start.
func (n *Node) Kill() {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.proc == nil {
		return
	}
	pgid := n.proc.Process.Pid
	_ = syscall.Kill(-pgid, syscall.SIGKILL)
	<-n.done
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		if err := syscall.Kill(-pgid, 0); errors.Is(err, syscall.ESRCH) {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	n.proc = nil
}

func freeTCPPort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, fmt.Errorf("find a free port: %w", err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}
