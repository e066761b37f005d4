package loadbench

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/oklog/ulid/v2"

	"github.com/attune-go/attune/adapters/auth/clientconfig"
	"github.com/attune-go/attune/adapters/bus/bustest"
)

// buildAttune builds the real binary into dir.
func buildAttune(t *testing.T, dir string) string {
	t.Helper()
	bin := filepath.Join(dir, "attune")
	cmd := exec.Command("go", "build", "-o", bin, "github.com/attune-go/attune/cmd/attune")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build attune: %v\n%s", err, out)
	}
	return bin
}

// serve is one `attune serve` child process on its own database.
type serve struct {
	t       *testing.T
	bin     string
	dir     string
	dbURL   string // with the application_name its sessions carry
	schema  string
	appName string
	url     string
	token   string
	cmd     *exec.Cmd
	done    chan struct{}
	logPath string
}

// startServe runs `attune serve` (every role, a worker included, `--allow-root-actions`) on
// schema of the database at dbURL and waits until /readyz answers 200. Its sessions are
// named appName… so that their backends can be found in pg_stat_activity.
func startServe(t *testing.T, bin, dbURL, schema, transport string) *serve {
	t.Helper()
	dir := t.TempDir()
	s := &serve{t: t, bin: bin, dir: dir, schema: schema, done: make(chan struct{}),
		appName: "attune-load-" + strings.ToLower(ulid.Make().String()[20:]), logPath: filepath.Join(dir, "serve.log")}
	u, err := url.Parse(dbURL)
	if err != nil {
		t.Fatal(err)
	}
	q := u.Query()
	q.Set("application_name", s.appName)
	u.RawQuery = q.Encode()
	s.dbURL = u.String()
	keyFile := filepath.Join(dir, "secret.key")
	key := make([]byte, 32)
	_, _ = rand.Read(key)
	if err := os.WriteFile(keyFile, []byte(base64.StdEncoding.EncodeToString(key)), 0o600); err != nil {
		t.Fatal(err)
	}
	addr := freeAddr(t)
	s.url = "http://" + addr
	cliConfig := filepath.Join(dir, "config.yaml")
	args := []string{"serve", "--allow-root-actions", "--config", cliConfig, "--database-url", s.dbURL, "--schema", schema,
		"--http-addr", addr, "--secret-key-file", keyFile, "--log-level", "warn"}
	if transport == "rabbitmq" {
		prefix := "load-" + strings.ToLower(ulid.Make().String()) + "."
		bustest.CleanupPrefix(t, prefix) // registered first: runs after the server stops
		args = append(args, "--amqp-url", bustest.URL(), "--bus-prefix", prefix, "--bus-queue-expiry", bustest.QueueExpiry.String())
	}
	logFile, err := os.Create(s.logPath)
	if err != nil {
		t.Fatal(err)
	}
	s.cmd = exec.Command(bin, args...)
	s.cmd.Env = []string{"HOME=" + dir, "PATH=" + os.Getenv("PATH"), "ATTUNE_CONFIG=" + cliConfig, "LC_ALL=C"}
	s.cmd.Stdout, s.cmd.Stderr = logFile, logFile
	s.cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := s.cmd.Start(); err != nil {
		t.Fatalf("start attune serve: %v", err)
	}
	go func() {
		_ = s.cmd.Wait()
		_ = logFile.Close()
		close(s.done)
	}()
	t.Cleanup(s.stop)
	deadline := time.Now().Add(5 * time.Minute) // a long log is read once at start (the catalogue)
	for !s.ready() {
		select {
		case <-s.done:
			t.Fatalf("attune serve exited before it was ready:\n%s", s.tail())
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("attune serve not ready after 5 minutes:\n%s", s.tail())
		}
		time.Sleep(100 * time.Millisecond)
	}
	file, err := clientconfig.Load(cliConfig)
	if err != nil || file.Token == "" {
		t.Fatalf("serve wrote no admin token to %s: %v", cliConfig, err)
	}
	s.token = file.Token
	return s
}

func (s *serve) pid() int { return s.cmd.Process.Pid }

func (s *serve) ready() bool {
	resp, err := http.Get(s.url + "/readyz")
	if err != nil {
		return false
	}
	resp.Body.Close()
	return resp.StatusCode == http.StatusOK
}

// stop ends the server with SIGTERM, and SIGKILL if it has not stopped within 30 s.
func (s *serve) stop() {
	select {
	case <-s.done:
		return
	default:
	}
	_ = s.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-s.done:
	case <-time.After(30 * time.Second):
		_ = s.cmd.Process.Kill()
		<-s.done
	}
}

// tail is the end of the server's log.
func (s *serve) tail() string {
	b, _ := os.ReadFile(s.logPath)
	if len(b) > 4000 {
		b = b[len(b)-4000:]
	}
	return string(b)
}

// audit runs `attune audit verify` on the server's schema while it runs, and returns its
// output and whether it passed.
func (s *serve) audit(ctx context.Context) (string, error) {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, s.bin, "audit", "verify", "--database-url", s.dbURL, "--schema", s.schema)
	cmd.Env = []string{"HOME=" + s.dir, "PATH=" + os.Getenv("PATH"), "ATTUNE_CONFIG=" + filepath.Join(s.dir, "audit-config.yaml")}
	out, err := cmd.CombinedOutput()
	if err != nil {
		return string(out), fmt.Errorf("attune audit verify: %w", err)
	}
	return string(out), nil
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
