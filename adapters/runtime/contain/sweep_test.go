package contain

import (
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"testing"
	"time"
)

// A worker killed with SIGKILL leaves its cells behind, a setsid'd descendant still in one.
// The next worker on the host kills it and removes the dead worker's cells; a live worker's
// cells are left alone.
func TestANewWorkerSweepsTheCellsOfDeadWorkers(t *testing.T) {
	t.Parallel()
	mount, own := cgroup2Mount(), ownCgroup()
	if mount == "" || own == "" || os.Geteuid() != 0 {
		t.Skip("needs a writable cgroup v2 (root, cgroup2 mounted)")
	}
	base := filepath.Join(mount, own, "attune-sweep-test-"+strconv.Itoa(os.Getpid()))
	if err := os.MkdirAll(base, 0o755); err != nil {
		t.Skip("cgroup v2 not writable here: " + err.Error())
	}
	t.Cleanup(func() {
		sweepCells(base)
		_ = os.Remove(filepath.Join(base, strconv.Itoa(os.Getpid()))) // this test's own
		_ = os.Remove(base)
	})

	// A pid no process has: one that has exited and been reaped.
	gone := exec.Command("true")
	if err := gone.Run(); err != nil {
		t.Fatal(err)
	}
	deadCell := filepath.Join(base, strconv.Itoa(gone.Process.Pid), "run-1")
	liveCell := filepath.Join(base, strconv.Itoa(os.Getppid()), "run-2") // the go tool: alive
	for _, d := range []string{deadCell, liveCell} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	t.Cleanup(func() { removeCell(liveCell); _ = os.Remove(filepath.Dir(liveCell)) })
	orphan := exec.Command("sleep", "300")
	if err := orphan.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = orphan.Process.Kill(); _ = orphan.Wait() })
	if err := os.WriteFile(filepath.Join(deadCell, "cgroup.procs"), []byte(strconv.Itoa(orphan.Process.Pid)), 0o644); err != nil {
		t.Fatal(err)
	}

	s, err := New(Config{AllowRoot: true, Cgroup: base, ScratchRoot: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- orphan.Wait() }()
	select {
	case <-exited:
	case <-time.After(5 * time.Second):
		t.Fatal("the dead worker's leftover process still runs after a new worker started")
	}
	if _, err := os.Stat(filepath.Dir(deadCell)); !os.IsNotExist(err) {
		t.Errorf("the dead worker's cells are still there: %v", err)
	}
	if _, err := os.Stat(liveCell); err != nil {
		t.Errorf("a live worker's cell was removed: %v", err)
	}
	if s.cgroup != filepath.Join(base, strconv.Itoa(os.Getpid())) {
		t.Errorf("the new worker's cells go to %q, want its own directory", s.cgroup)
	}
}
