package main

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/attune-go/attune/domain/execution"
)

// The escapes an operator tried from inside core.local, through the real server with
// --run-as: read the server's environment through /proc, read the 0600 sealing key, leave a
// setsid'd child behind a cancel. Each fails, and the action sees only its documented
// environment.
func TestE2EAnActionRunsContained(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("running actions as another user needs a root server; this test runs as uid " + strconv.Itoa(os.Geteuid()))
	}
	t.Parallel()
	sys := prepareSystem(t, "inprocess")
	// The key sits where any user may look: only its mode and the user keep it.
	open, err := os.MkdirTemp("", "attune-contain-e2e-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = os.RemoveAll(open) })
	_ = os.Chmod(open, 0o711)
	key, _ := os.ReadFile(sys.keyFile)
	sys.keyFile = filepath.Join(open, "secret.key")
	if err := os.WriteFile(sys.keyFile, key, 0o600); err != nil {
		t.Fatal(err)
	}
	sys.runInBackground(sys.serveArgs(nil, "--run-as", "nobody"))
	sys.connect()
	ctx := context.Background()

	probe := `id -u; cat /proc/$PPID/environ /proc/` + strconv.Itoa(os.Getpid()) + `/environ; cat ` + sys.keyFile + `; env`
	x, err := sys.api.Run(ctx, "core.local", map[string]json.RawMessage{"cmd": jsonString(probe)})
	if err != nil {
		t.Fatal(err)
	}
	got := sys.waitTerminal(x.ID)
	lines := strings.Split(got.Stdout, "\n")
	if lines[0] != "65534" {
		t.Errorf("the action ran as uid %q, want nobody (65534); stdout %q", lines[0], got.Stdout)
	}
	if strings.Contains(got.Stdout, string(key)) || strings.Contains(got.Stdout, "ATTUNE_DATABASE") || strings.Contains(got.Stdout, "ATTUNE_SECRET") {
		t.Errorf("the action read the server's secrets:\n%s", got.Stdout)
	}
	if n := strings.Count(got.Stderr, "Permission denied"); n != 3 {
		t.Errorf("stderr %q: want the two environ files and the key refused", got.Stderr)
	}
	var names []string
	for _, l := range lines[1:] {
		if name, _, ok := strings.Cut(l, "="); ok {
			names = append(names, name)
		}
	}
	for _, name := range names {
		// bash sets PWD, SHLVL and _ itself; everything else must be the documented set.
		if !slices.Contains([]string{"PATH", "HOME", "LANG", "ATTUNE_EXECUTION_ID", "ATTUNE_ACTION", "PWD", "SHLVL", "_"}, name) {
			t.Errorf("the action's environment holds %s (all: %v)", name, names)
		}
	}

	// A cancel takes every descendant with the run, one that called setsid included.
	x, err = sys.api.Run(ctx, "core.local", map[string]json.RawMessage{"cmd": jsonString(`setsid sleep 300 </dev/null >/dev/null 2>&1 & echo $!; sleep 100`)})
	if err != nil {
		t.Fatal(err)
	}
	sys.eventually(30*time.Second, "the sleeper to run", func() bool {
		cur, err := sys.api.Execution(ctx, x.ID)
		return err == nil && cur.Status == execution.Running
	})
	// The run's own stdout is read only at its end: find the escaped sleep by its parent's
	// user and command line instead.
	var escaped int
	sys.eventually(30*time.Second, "the setsid'd sleep 300 to start", func() bool {
		escaped = findProcess("sleep\x00300\x00", 65534)
		return escaped != 0
	})
	if _, err := sys.api.Cancel(ctx, x.ID); err != nil {
		t.Fatal(err)
	}
	ended := sys.waitTerminal(x.ID)
	if ended.Status != execution.Cancelled {
		t.Fatalf("the cancelled run ended %s (%s)", ended.Status, ended.Reason)
	}
	deadline := time.Now().Add(time.Second)
	for syscall.Kill(escaped, 0) == nil && !zombie(escaped) {
		if time.Now().After(deadline) {
			t.Fatalf("the setsid'd sleep %d is alive a second after its run was cancelled", escaped)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func jsonString(s string) json.RawMessage {
	b, _ := json.Marshal(s)
	return b
}

// findProcess returns a pid whose command line is cmdline and whose real uid is uid, or 0.
func findProcess(cmdline string, uid int) int {
	dirs, _ := filepath.Glob("/proc/[0-9]*")
	for _, d := range dirs {
		b, err := os.ReadFile(filepath.Join(d, "cmdline"))
		if err != nil || string(b) != cmdline {
			continue
		}
		st, err := os.Stat(d)
		if err != nil {
			continue
		}
		if sys, ok := st.Sys().(*syscall.Stat_t); ok && int(sys.Uid) == uid {
			pid, _ := strconv.Atoi(filepath.Base(d))
			return pid
		}
	}
	return 0
}

func zombie(pid int) bool {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return true
	}
	s := string(b)
	return strings.Contains(s[strings.LastIndexByte(s, ')')+1:], " Z ")
}
