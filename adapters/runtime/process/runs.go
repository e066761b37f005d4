package process

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"

	"github.com/attune-go/attune/adapters/runtime"
)

// Run records: what a worker killed with SIGKILL left running on its host.
//
// The parent-death signal (groupAttr) kills an action's direct child with its worker, but
// not the rest of the child's process group, nor a descendant that left the group (setsid).
// So each run under way is recorded in a per-host directory (Config.RunsDir), one file per
// run: the group id, the start time of its leader (field 22 of /proc/<pid>/stat, so that a
// recycled pid is never taken for it), the execution id (which every descendant inherits as
// ATTUNE_EXECUTION_ID unless it clears its environment), and the worker process that owns
// the run (pid and start time). The file goes once the run's group is dead. When a worker
// starts, ReapLeftovers kills what the records of dead owners name and removes the records;
// the records of live owners (another worker on the host) are left alone.

// runRecord is one run under way, as written in the runs directory.
type runRecord struct {
	PGID        int    `json:"pgid"`
	LeaderStart uint64 `json:"leader_start"`
	ExecutionID string `json:"execution_id"`
	OwnerPID    int    `json:"owner_pid"`
	OwnerStart  uint64 `json:"owner_start"`
}

// DefaultRunsDir is where the runs of this user are recorded: $XDG_STATE_HOME/attune/runs,
// else ~/.local/state/attune/runs, else attune-runs-<uid> in the temporary directory.
func DefaultRunsDir() string { return runtime.StateDir("runs") }

// runs keeps the records of one executor.
type runs struct {
	dir        string
	ownerPID   int
	ownerStart uint64
	log        *slog.Logger
}

func newRuns(dir string, log *slog.Logger) (*runs, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("make the runs directory: %w", err)
	}
	pid := os.Getpid()
	start, _ := startTime(pid) // 0 where /proc is missing: the record then never matches a live owner
	return &runs{dir: dir, ownerPID: pid, ownerStart: start, log: log}, nil
}

// record writes the record of a run whose group leader is pgid and returns its path ("" when
// it could not be written: the run goes on, without the guarantee, and the log says so).
func (r *runs) record(executionID string, pgid int) string {
	start, err := startTime(pgid)
	if err != nil {
		r.log.Warn("cannot record the run: a worker killed now would leave it running", "execution_id", executionID, "error", err.Error())
		return ""
	}
	data, _ := json.Marshal(runRecord{PGID: pgid, LeaderStart: start, ExecutionID: executionID, OwnerPID: r.ownerPID, OwnerStart: r.ownerStart})
	path := filepath.Join(r.dir, fmt.Sprintf("%d-%d.json", r.ownerPID, pgid))
	// Written beside and renamed, so that a reaper never reads half a record.
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, data, 0o600); err != nil {
		r.log.Warn("cannot record the run: a worker killed now would leave it running", "execution_id", executionID, "error", err.Error())
		return ""
	}
	if err := os.Rename(tmp, path); err != nil {
		_ = os.Remove(tmp)
		r.log.Warn("cannot record the run: a worker killed now would leave it running", "execution_id", executionID, "error", err.Error())
		return ""
	}
	return path
}

// forget removes a run's record once its group is dead.
func (r *runs) forget(path string) {
	if path == "" {
		return
	}
	if err := os.Remove(path); err != nil && !errors.Is(err, os.ErrNotExist) {
		r.log.Warn("remove the record of a finished run", "path", path, "error", err.Error())
	}
}

// Leftover is a run a dead worker left behind, killed by ReapLeftovers.
type Leftover struct {
	ExecutionID string
	PGID        int
	Killed      []int // the pids signalled besides the group (descendants found by their environment)
}

// ReapLeftovers kills the runs that workers which are no longer alive left on this host, and
// removes their records. Call it when a worker starts, before it takes work. A group is
// killed only if its leader still runs with the recorded start time; a descendant (in the
// group or out of it) only if it carries the run's ATTUNE_EXECUTION_ID and started after the
// leader. What cleared its environment and whose leader is gone is beyond its reach.
func (e *Executor) ReapLeftovers() ([]Leftover, error) {
	entries, err := os.ReadDir(e.runs.dir)
	if err != nil {
		return nil, fmt.Errorf("read the runs directory: %w", err)
	}
	var out []Leftover
	var errs []error
	for _, entry := range entries {
		if !strings.HasSuffix(entry.Name(), ".json") {
			continue
		}
		path := filepath.Join(e.runs.dir, entry.Name())
		data, err := os.ReadFile(path)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		var rec runRecord
		if err := json.Unmarshal(data, &rec); err != nil || rec.PGID <= 1 {
			errs = append(errs, fmt.Errorf("run record %s: not a record (%v); removed", path, err))
			_ = os.Remove(path)
			continue
		}
		if rec.OwnerPID == e.runs.ownerPID && rec.OwnerStart == e.runs.ownerStart {
			continue // this process's own run
		}
		if s, err := startTime(rec.OwnerPID); err == nil && s == rec.OwnerStart {
			continue // its worker still runs: the run is its own business
		}
		left := Leftover{ExecutionID: rec.ExecutionID, PGID: rec.PGID}
		if s, err := startTime(rec.PGID); err == nil && s == rec.LeaderStart {
			_ = syscall.Kill(-rec.PGID, syscall.SIGKILL)
		}
		left.Killed = killMarked(rec)
		out = append(out, left)
		if err := os.Remove(path); err != nil && !errors.Is(err, os.ErrNotExist) {
			errs = append(errs, fmt.Errorf("remove run record: %w", err))
		}
	}
	return out, errors.Join(errs...)
}

// killMarked SIGKILLs every process that carries the run's execution id in its environment
// and started no earlier than the run's leader, and returns their pids. Processes of other
// users cannot be read, and are not this worker's to kill anyway.
func killMarked(rec runRecord) []int {
	if rec.ExecutionID == "" {
		return nil
	}
	marker := []byte("ATTUNE_EXECUTION_ID=" + rec.ExecutionID)
	procs, err := os.ReadDir("/proc")
	if err != nil {
		return nil
	}
	self := os.Getpid()
	var killed []int
	for _, p := range procs {
		pid, err := strconv.Atoi(p.Name())
		if err != nil || pid == self {
			continue
		}
		start, err := startTime(pid)
		if err != nil || start < rec.LeaderStart {
			continue
		}
		env, err := os.ReadFile("/proc/" + p.Name() + "/environ")
		if err != nil {
			continue
		}
		for _, kv := range bytes.Split(env, []byte{0}) {
			if bytes.Equal(kv, marker) {
				if syscall.Kill(pid, syscall.SIGKILL) == nil {
					killed = append(killed, pid)
				}
				break
			}
		}
	}
	return killed
}

// startTime is field 22 of /proc/<pid>/stat: when the process started, in clock ticks since
// boot. With the pid it names one process for good: a recycled pid starts later.
func startTime(pid int) (uint64, error) {
	stat, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return 0, err
	}
	// "pid (comm) state ppid …": comm may hold spaces and parentheses, so fields are
	// counted from the last ')'; the state is field 3.
	i := bytes.LastIndexByte(stat, ')')
	if i < 0 {
		return 0, fmt.Errorf("/proc/%d/stat: no command name", pid)
	}
	fields := strings.Fields(string(stat[i+1:]))
	const startField = 22 - 3
	if len(fields) <= startField {
		return 0, fmt.Errorf("/proc/%d/stat: %d fields", pid, len(fields)+2)
	}
	return strconv.ParseUint(fields[startField], 10, 64)
}
