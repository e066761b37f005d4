package chaos

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// buildAttune builds the real binary once into dir: the suite kills processes, so it cannot
// run the CLI in the test's own process as the end-to-end tests do.
func buildAttune(t *testing.T, dir string) string {
	t.Helper()
	bin := filepath.Join(dir, "attune")
	cmd := exec.Command("go", "build", "-o", bin, "github.com/attune-go/attune/cmd/attune")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build attune: %v\n%s", err, out)
	}
	return bin
}

// proc is one attune command run as a child process, which the scenario may SIGKILL and
// start again with the same arguments (a restart on the same host).
type proc struct {
	t       *testing.T
	name    string // serve-a, worker-1 …: names its log file
	bin     string
	args    []string
	env     []string
	logPath string
	url     string // http://addr of its API (serve only)

	mu       sync.Mutex
	cmd      *exec.Cmd
	done     chan struct{}
	exitErr  error
	killedUs bool // the scenario killed or stopped it: its exit is not the product's doing
	starts   int
}

// newProc prepares a process with a home of its own (HOME, ATTUNE_CONFIG), so that it never
// reads or writes the user's ~/.config.
func newProc(t *testing.T, dir, name, bin string, args []string, extraEnv ...string) *proc {
	home := filepath.Join(dir, name+"-home")
	if err := os.MkdirAll(home, 0o755); err != nil {
		t.Fatal(err)
	}
	env := []string{
		"HOME=" + home,
		"PATH=" + os.Getenv("PATH"),
		"ATTUNE_CONFIG=" + filepath.Join(home, "config.yaml"),
		"LC_ALL=C",
	}
	p := &proc{t: t, name: name, bin: bin, args: args, env: append(env, extraEnv...),
		logPath: filepath.Join(dir, name+".log")}
	t.Cleanup(p.kill)
	return p
}

// start starts the process (again) without waiting for it to be ready.
func (p *proc) start() {
	p.t.Helper()
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.cmd != nil {
		p.t.Fatalf("%s already runs", p.name)
	}
	logFile, err := os.OpenFile(p.logPath, os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o644)
	if err != nil {
		p.t.Fatal(err)
	}
	p.starts++
	fmt.Fprintf(logFile, "\n=== chaos: start %d of %s %s\n", p.starts, p.name, strings.Join(p.args, " "))
	cmd := exec.Command(p.bin, p.args...)
	cmd.Env = p.env
	cmd.Stdout, cmd.Stderr = logFile, logFile
	// Only the attune process itself is killed, as a crash of it would: its action processes
	// are left to whatever the product does about them. Pdeathsig ends it with the test.
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		_ = logFile.Close()
		p.t.Fatalf("start %s: %v", p.name, err)
	}
	done := make(chan struct{})
	go func() {
		err := cmd.Wait()
		_ = logFile.Close()
		p.mu.Lock()
		p.exitErr = err
		p.mu.Unlock()
		close(done)
	}()
	p.cmd, p.done, p.exitErr, p.killedUs = cmd, done, nil, false
}

// startReady starts the process and waits until its /readyz answers 200.
func (p *proc) startReady(timeout time.Duration) {
	p.t.Helper()
	p.start()
	if err := p.waitReady(timeout); err != nil {
		p.t.Fatalf("%s: %v\n%s", p.name, err, p.tail())
	}
}

// waitReady polls /readyz until 200, the process exits, or the timeout.
func (p *proc) waitReady(timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for {
		if code, _ := readyz(p.url); code == http.StatusOK {
			return nil
		}
		if !p.running() {
			return fmt.Errorf("exited before it was ready: %v", p.exit())
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("not ready after %s", timeout)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// kill SIGKILLs the process and waits until it is gone.
func (p *proc) kill() { p.signal(syscall.SIGKILL) }

// stop asks the process to shut down cleanly (SIGTERM) and waits until it has.
func (p *proc) stop() { p.signal(syscall.SIGTERM) }

func (p *proc) signal(sig syscall.Signal) {
	p.mu.Lock()
	cmd, done := p.cmd, p.done
	if cmd == nil {
		p.mu.Unlock()
		return
	}
	p.killedUs = true
	p.mu.Unlock()
	_ = cmd.Process.Signal(sig)
	select {
	case <-done:
	case <-time.After(60 * time.Second):
		_ = cmd.Process.Kill()
		<-done
	}
	p.mu.Lock()
	p.cmd = nil
	p.mu.Unlock()
}

// running reports whether the process is alive.
func (p *proc) running() bool {
	p.mu.Lock()
	done := p.done
	started := p.cmd != nil
	p.mu.Unlock()
	if !started {
		return false
	}
	select {
	case <-done:
		return false
	default:
		return true
	}
}

// diedOnItsOwn reports whether the process exited without the scenario killing it.
func (p *proc) diedOnItsOwn() bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.cmd != nil && !p.killedUs && p.doneClosed()
}

func (p *proc) doneClosed() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

func (p *proc) exit() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.exitErr
}

// tail is the end of the process's log, for a message.
func (p *proc) tail() string {
	b, _ := os.ReadFile(p.logPath)
	if len(b) > 3000 {
		b = b[len(b)-3000:]
	}
	return string(b)
}

// lastLogLine is the last non-empty line of the process's log (why it exited, usually).
func (p *proc) lastLogLine() string {
	lines := strings.Split(strings.TrimSpace(p.tail()), "\n")
	return strings.TrimSpace(lines[len(lines)-1])
}

// readyz returns /readyz's status code and body (0 when the server does not answer).
func readyz(base string) (int, string) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, base+"/readyz", nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, err.Error()
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 2000))
	return resp.StatusCode, strings.TrimSpace(string(b))
}

func freeAddr(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

// runAudit runs `attune audit verify` on the schema and returns "ok" or what failed.
func runAudit(bin, dir, dbURL, schema string) (string, bool) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, "audit", "verify", "--database-url", dbURL, "--schema", schema)
	cmd.Env = []string{"HOME=" + dir, "PATH=" + os.Getenv("PATH"), "ATTUNE_CONFIG=" + filepath.Join(dir, "audit-config.yaml")}
	out, err := cmd.CombinedOutput()
	if err == nil {
		return "ok", true
	}
	var exit *exec.ExitError
	code := -1
	if errors.As(err, &exit) {
		code = exit.ExitCode()
	}
	line := strings.TrimSpace(string(out))
	if i := strings.LastIndexByte(line, '\n'); i >= 0 {
		line = line[i+1:]
	}
	if len(line) > 160 {
		line = line[:160] + "…"
	}
	return fmt.Sprintf("exit %d: %s", code, line), false
}
