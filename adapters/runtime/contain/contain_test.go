package contain_test

import (
	"bytes"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/attune-go/attune/adapters/runtime/contain"
)

// asNobody is a sandbox running actions as nobody; the tests that need it run as root.
func asNobody(t *testing.T, cfg contain.Config) *contain.Sandbox {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("switching users needs a root worker; this test runs as uid " + strconv.Itoa(os.Geteuid()))
	}
	cfg.RunAs = "nobody"
	cfg.ScratchRoot = scratchRoot(t)
	s, err := contain.New(cfg)
	if err != nil {
		t.Fatalf("sandbox: %v", err)
	}
	return s
}

func run(t *testing.T, s *contain.Sandbox, script string) (*contain.Cell, string, string, error) {
	t.Helper()
	cell, err := s.Prepare("test")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cell.Close)
	cmd := exec.Command("/bin/sh", "-c", script)
	cmd.Env = []string{"PATH=/usr/bin:/bin", "HOME=" + cell.Home}
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cell.Apply(cmd)
	var out, errOut bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errOut
	err = cmd.Run()
	return cell, out.String(), errOut.String(), err
}

func TestARootWorkerMustNameAUserOrBeToldToRunActionsAsRoot(t *testing.T) {
	t.Parallel()
	if os.Geteuid() != 0 {
		t.Skip("the refusal is for root workers; this test runs as uid " + strconv.Itoa(os.Geteuid()))
	}
	if _, err := contain.New(contain.Config{ScratchRoot: t.TempDir()}); !errors.Is(err, contain.ErrRootActions) || !strings.Contains(err.Error(), "--run-as") || !strings.Contains(err.Error(), "--allow-root-actions") {
		t.Fatalf("New as root without --run-as: %v, want ErrRootActions naming both flags", err)
	}
	if _, err := contain.New(contain.Config{ScratchRoot: t.TempDir(), AllowRoot: true}); err != nil {
		t.Fatalf("New with AllowRoot: %v", err)
	}
	if _, err := contain.New(contain.Config{ScratchRoot: t.TempDir(), RunAs: "no-such-user-attune"}); err == nil {
		t.Fatal("New with an unknown user succeeded")
	}
}

// The escapes an operator tried from inside core.local: the worker's environment through
// /proc, the 0600 key file, another user's home. Each must fail.
func TestAnActionCannotReadTheWorkersSecrets(t *testing.T) {
	t.Parallel()
	s := asNobody(t, contain.Config{})
	key := filepath.Join(scratchRoot(t), "secret.key")
	if err := os.WriteFile(key, []byte("the-sealing-key"), 0o600); err != nil {
		t.Fatal(err)
	}
	cell, out, stderr, _ := run(t, s, `id -u; cat /proc/`+strconv.Itoa(os.Getpid())+`/environ; cat `+key+`; echo home=$HOME; touch "$HOME/x" && echo wrote-home`)
	if !strings.HasPrefix(out, "65534\n") {
		t.Errorf("the action runs as %q, want nobody (65534)", strings.SplitN(out, "\n", 2)[0])
	}
	if strings.Contains(out, "the-sealing-key") || strings.Contains(out, "PATH=") && strings.Contains(out, os.Getenv("PATH")+"\x00") {
		t.Errorf("the action read the worker's secrets:\n%s", out)
	}
	if strings.Count(stderr, "Permission denied") != 2 {
		t.Errorf("stderr %q, want permission denied twice (environ, key)", stderr)
	}
	if !strings.Contains(out, "home="+cell.Home) || !strings.Contains(out, "wrote-home") {
		t.Errorf("the action's HOME: %q, want its own writable scratch directory %s", out, cell.Home)
	}
	cell.Close()
	if _, err := os.Stat(cell.Home); !os.IsNotExist(err) {
		t.Errorf("the scratch HOME %s is still there after the run: %v", cell.Home, err)
	}
}

// A child that left the process group and the session (setsid) is still in the cell, and
// dies with it.
func TestADescendantThatCalledSetsidDiesWithTheCell(t *testing.T) {
	t.Parallel()
	s, err := contain.New(contain.Config{ScratchRoot: t.TempDir(), AllowRoot: true})
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(s.Describe(), "cgroup") || strings.Contains(s.Describe(), "no writable cgroup") {
		t.Skip("no writable cgroup v2 here: " + s.Describe())
	}
	cell, out, _, err := run(t, s, `setsid sleep 300 </dev/null >/dev/null 2>&1 & echo $!`)
	if err != nil {
		t.Fatal(err)
	}
	pid, _ := strconv.Atoi(strings.TrimSpace(out))
	if pid == 0 || syscall.Kill(pid, 0) != nil {
		t.Fatalf("the setsid child %q is not running after its parent exited", out)
	}
	cell.Close()
	deadline := time.Now().Add(time.Second)
	for syscall.Kill(pid, 0) == nil && !zombie(pid) {
		if time.Now().After(deadline) {
			t.Fatalf("setsid child %d still alive a second after the cell closed", pid)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// A fork bomb stops at the process limit instead of taking the host.
func TestAForkBombStopsAtTheProcessLimit(t *testing.T) {
	t.Parallel()
	s := asNobody(t, contain.Config{MaxProcs: 16})
	if _, err := exec.LookPath("prlimit"); err != nil {
		t.Skip("no prlimit (util-linux) on this machine")
	}
	_, out, stderr, _ := run(t, s, `i=0; while [ $i -lt 64 ]; do sleep 2 & i=$((i+1)); done; echo all-64-started`)
	if strings.Contains(out, "all-64-started") || !strings.Contains(stderr, "fork") {
		t.Errorf("64 forks under a limit of 16: stdout %q stderr %q, want a fork refused", out, stderr)
	}
}

// scratchRoot is a directory the action's user can traverse (t.TempDir's parents are 0700).
func scratchRoot(t *testing.T) string {
	t.Helper()
	dir, err := os.MkdirTemp("", "attune-contain-test-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = os.RemoveAll(dir) })
	if err := os.Chmod(dir, 0o711); err != nil {
		t.Fatal(err)
	}
	return dir
}

func zombie(pid int) bool {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return true
	}
	s := string(b)
	return strings.Contains(s[strings.LastIndexByte(s, ')')+1:], " Z ")
}
