package process_test

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/attune-go/attune/adapters/runtime/process"
)

// The worker's death is simulated by a helper process: this test binary run again with
// helperEnv set, which runs one action through an executor and blocks, and which the test
// then kills with SIGKILL, as a worker's process would be.
const helperEnv = "ATTUNE_TEST_EXECUTOR_HELPER"

func TestMain(m *testing.M) {
	if dir := os.Getenv(helperEnv); dir != "" {
		os.Exit(runHelper(dir))
	}
	os.Exit(m.Run())
}

// runHelper runs the action of TestAnActionDiesWithItsWorker, recording in dir/runs.
func runHelper(dir string) int {
	e, err := process.New(process.Config{RunsDir: filepath.Join(dir, "runs")})
	if err != nil {
		return 2
	}
	// The shell is the direct child; "sleep 302" stays in its group; "setsid sleep 300"
	// leaves the group and the session. Each pid is written down for the test.
	body := `sleep 302 & member=$!
setsid sleep 300 </dev/null >/dev/null 2>&1 & escaped=$!
echo "$$ $member $escaped" > "` + filepath.Join(dir, "pids") + `"
wait
`
	e.Exec(context.Background(), process.Command{ExecutionID: "01LEFTOVER", Action: "test.leftover", Path: "/bin/sh", Args: []string{"-c", body}})
	return 0
}

func TestAnActionDiesWithItsWorkerAndTheNextWorkerKillsWhatItLeft(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	helper := exec.Command(os.Args[0], "-test.run=^$")
	helper.Env = append(os.Environ(), helperEnv+"="+dir)
	if err := helper.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = helper.Process.Kill(); _ = helper.Wait() })
	pids := strings.Fields(waitFile(t, filepath.Join(dir, "pids")))
	if len(pids) != 3 {
		t.Fatalf("pids %v, want the shell's, its group member's and the escaped one's", pids)
	}
	shell, member, escaped := pidOf(t, pids[0]), pidOf(t, pids[1]), pidOf(t, pids[2])
	t.Cleanup(func() {
		for _, pid := range []int{shell, member, escaped} {
			_ = syscall.Kill(pid, syscall.SIGKILL) // if the test fails half way
		}
	})
	records := waitRecords(t, filepath.Join(dir, "runs"), 1)

	if err := helper.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	_ = helper.Wait()

	// The direct child dies with its worker (parent-death signal)…
	waitGone(t, shell)
	// …the rest lives on until a worker starts on the host: the record is all that tells of it.
	for name, pid := range map[string]int{"group member": member, "escaped descendant": escaped} {
		if err := syscall.Kill(pid, 0); err != nil || zombie(pid) {
			t.Fatalf("the %s %d is gone before any worker reaped it (kill 0: %v): the test proves nothing", name, pid, err)
		}
	}
	next, _ := setup(t, process.Config{RunsDir: filepath.Join(dir, "runs")})
	left, err := next.ReapLeftovers()
	if err != nil {
		t.Fatal(err)
	}
	if len(left) != 1 || left[0].ExecutionID != "01LEFTOVER" || left[0].PGID != shell {
		t.Fatalf("reaped %+v, want the run of 01LEFTOVER, group %d", left, shell)
	}
	waitGone(t, member)
	waitGone(t, escaped)
	if after := waitRecords(t, filepath.Join(dir, "runs"), 0); len(after) != 0 || len(records) != 1 {
		t.Fatalf("records before %v, after %v; want one, then none", records, after)
	}
}

func TestReapLeavesTheRunsOfALiveWorkerAlone(t *testing.T) {
	t.Parallel()
	runs := t.TempDir()
	live, _ := setup(t, process.Config{RunsDir: runs})
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan struct{})
	go func() {
		defer close(done)
		live.Exec(ctx, process.Command{ExecutionID: "01LIVE", Path: "/bin/sh", Args: []string{"-c", "sleep 300"}})
	}()
	waitRecords(t, runs, 1)
	// Another executor of the same process (as a second worker in one test binary) and one
	// that is this process's restart look alike here: the owner is alive, so nothing goes.
	other, _ := setup(t, process.Config{RunsDir: runs})
	left, err := other.ReapLeftovers()
	if err != nil || len(left) != 0 {
		t.Fatalf("reaped %+v (%v) while their worker runs, want nothing", left, err)
	}
	cancel()
	<-done
	waitRecords(t, runs, 0) // the run's end removes its record
}

// waitRecords polls until the runs directory holds n records, and returns them.
func waitRecords(t *testing.T, dir string, n int) []string {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		names, _ := filepath.Glob(filepath.Join(dir, "*.json"))
		if len(names) == n {
			return names
		}
		if time.Now().After(deadline) {
			t.Fatalf("run records %v, want %d", names, n)
		}
		time.Sleep(10 * time.Millisecond) // polling the directory
	}
}
