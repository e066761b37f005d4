// Package contain runs each action process in a cell of its own: a scratch HOME made for the
// run and removed after it, an unprivileged user, a cgroup (v2) that is killed whole on
// timeout, cancel or exit — descendants that called setsid or double-forked included — and
// limits on processes and open files, so a fork bomb stays inside its cell.
//
// What an action can see: its own parameters (stdin), PATH, HOME (its scratch directory),
// LANG and the documented ATTUNE_* values. It runs as another user than the worker, so it can
// read neither the worker's environment (/proc/<pid>/environ is readable by its owner only)
// nor the 0600 sealing key and CLI config.
package contain

import (
	"bufio"
	"cmp"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// Defaults of Config.
const (
	DefaultMaxProcs     = 512
	DefaultMaxOpenFiles = 1024
)

// ErrRootActions is returned by New for a worker that would run actions as root unasked.
var ErrRootActions = errors.New("this worker runs as root and would run every action as root: name an unprivileged user with --run-as USER (ATTUNE_RUN_AS; scripts/services.sh creates the user attune-run), or pass --allow-root-actions on a throw-away machine")

// Config configures a Sandbox.
type Config struct {
	// RunAs is the user (name or uid) actions run as; empty: the worker's own user.
	RunAs string
	// AllowRoot lets a root worker run actions as root (RunAs empty or root).
	AllowRoot bool
	// ScratchRoot holds the per-run HOME directories; default <os temp dir>/attune-runs.
	ScratchRoot string
	// Cgroup is the cgroup v2 directory the cells are made under: "" finds the worker's own
	// cgroup on a writable cgroup2 mount; "off" uses none (process groups only).
	Cgroup string
	// MaxProcs and MaxOpenFiles are the RLIMIT_NPROC and RLIMIT_NOFILE of an action (and
	// pids.max of its cell where the pids controller is delegated). RLIMIT_NPROC counts every
	// process of the action's user, so it bounds all actions of that user together.
	MaxProcs, MaxOpenFiles int
}

// Sandbox makes cells.
type Sandbox struct {
	cfg     Config
	cred    *syscall.Credential // nil: run as the worker's user
	uid     int
	gid     int
	cgroup  string // "" when no cgroup is used
	pids    bool   // the cells get pids.max
	prlimit string // path of util-linux prlimit, "" when missing
}

// New checks cfg against the machine: the user exists, a root worker names one (or is told
// it may run actions as root), and finds the cgroup to use.
func New(cfg Config) (*Sandbox, error) {
	cfg.MaxProcs = cmp.Or(cfg.MaxProcs, DefaultMaxProcs)
	cfg.MaxOpenFiles = cmp.Or(cfg.MaxOpenFiles, DefaultMaxOpenFiles)
	cfg.ScratchRoot = cmp.Or(cfg.ScratchRoot, filepath.Join(os.TempDir(), "attune-runs"))
	s := &Sandbox{cfg: cfg, uid: os.Getuid(), gid: os.Getgid()}
	if cfg.RunAs != "" {
		u, err := lookup(cfg.RunAs)
		if err != nil {
			return nil, fmt.Errorf("--run-as %s: %w", cfg.RunAs, err)
		}
		uid, _ := strconv.Atoi(u.Uid)
		gid, _ := strconv.Atoi(u.Gid)
		if uid != os.Getuid() {
			if os.Geteuid() != 0 {
				return nil, fmt.Errorf("--run-as %s: only a worker running as root can run actions as another user", cfg.RunAs)
			}
			s.cred = &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid), Groups: []uint32{}}
		}
		s.uid, s.gid = uid, gid
	}
	if s.uid == 0 && !cfg.AllowRoot {
		return nil, ErrRootActions
	}
	if err := os.MkdirAll(cfg.ScratchRoot, 0o711); err != nil {
		return nil, fmt.Errorf("scratch directory root %s: %w", cfg.ScratchRoot, err)
	}
	if cfg.Cgroup != "off" {
		var base string
		if base, s.pids = findCgroup(cfg.Cgroup); base != "" {
			// Cells live under a directory of this process: a worker killed with SIGKILL
			// cannot remove its cells, and the next one on the host can tell whose are whose.
			sweepCells(base)
			own := filepath.Join(base, strconv.Itoa(os.Getpid()))
			if err := os.Mkdir(own, 0o755); err == nil || errors.Is(err, os.ErrExist) {
				s.cgroup = own
				if s.pids {
					_ = os.WriteFile(filepath.Join(own, "cgroup.subtree_control"), []byte("+pids"), 0o644)
				}
			}
		}
	}
	s.prlimit, _ = exec.LookPath("prlimit")
	return s, nil
}

// SystemPath is the PATH of actions that run as another user than the worker.
const SystemPath = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

// OtherUser reports whether actions run as another user than the worker.
func (s *Sandbox) OtherUser() bool { return s.cred != nil }

// Describe says what the sandbox enforces, for the worker's start-up log line.
func (s *Sandbox) Describe() string {
	var parts []string
	if s.cred != nil || s.cfg.RunAs != "" {
		parts = append(parts, fmt.Sprintf("user %d", s.uid))
	} else {
		parts = append(parts, "the worker's own user")
	}
	if s.cgroup != "" {
		parts = append(parts, "cgroup "+s.cgroup)
	} else {
		parts = append(parts, "process groups (no writable cgroup v2: descendants that leave the group are not tracked)")
	}
	if s.prlimit != "" || s.pids {
		parts = append(parts, fmt.Sprintf("at most %d processes and %d open files", s.cfg.MaxProcs, s.cfg.MaxOpenFiles))
	}
	return strings.Join(parts, ", ")
}

// Cell is one run's containment.
type Cell struct {
	s      *Sandbox
	Home   string
	cgroup string
	fd     *os.File // the cgroup directory, for clone3's CLONE_INTO_CGROUP
}

// Prepare makes the cell of run id: its scratch HOME (0700, owned by the action's user) and
// its cgroup.
func (s *Sandbox) Prepare(id string) (*Cell, error) {
	c := &Cell{s: s}
	home, err := os.MkdirTemp(s.cfg.ScratchRoot, sanitize(id)+"-")
	if err != nil {
		return nil, fmt.Errorf("make the run's home: %w", err)
	}
	c.Home = home
	if err := os.Chown(home, s.uid, s.gid); err != nil && s.cred != nil {
		c.Close()
		return nil, fmt.Errorf("give the run's home to user %d: %w", s.uid, err)
	}
	if s.cgroup != "" {
		dir, err := os.MkdirTemp(s.cgroup, sanitize(id)+"-")
		if err != nil {
			c.Close()
			return nil, fmt.Errorf("make the run's cgroup: %w", err)
		}
		c.cgroup = dir
		if s.pids {
			_ = os.WriteFile(filepath.Join(dir, "pids.max"), []byte(strconv.Itoa(s.cfg.MaxProcs)), 0o644)
		}
		if c.fd, err = os.Open(dir); err != nil {
			c.Close()
			return nil, fmt.Errorf("open the run's cgroup: %w", err)
		}
	}
	return c, nil
}

// Apply makes cmd start inside the cell: as the action's user, in the cell's cgroup, under
// prlimit's limits. Call it after cmd.Path, Args and SysProcAttr are set.
func (c *Cell) Apply(cmd *exec.Cmd) {
	if cmd.SysProcAttr == nil {
		cmd.SysProcAttr = &syscall.SysProcAttr{}
	}
	cmd.SysProcAttr.Credential = c.s.cred
	if c.fd != nil {
		cmd.SysProcAttr.UseCgroupFD = true
		cmd.SysProcAttr.CgroupFD = int(c.fd.Fd())
	}
	if c.s.prlimit != "" {
		// prlimit sets the limits on itself and execs the action, which keeps them: no window
		// in which the action runs unlimited.
		args := []string{c.s.prlimit, fmt.Sprintf("--nproc=%d", c.s.cfg.MaxProcs), fmt.Sprintf("--nofile=%d", c.s.cfg.MaxOpenFiles), "--"}
		cmd.Args = append(args, append([]string{cmd.Path}, cmd.Args[1:]...)...)
		cmd.Path = c.s.prlimit
	}
}

// Give makes f (a pipe the action reads by name, /dev/fd/N) the action's user's: reopening a
// pipe through /proc checks its owner, which is the worker's user.
func (c *Cell) Give(f *os.File) error {
	if c.s.cred == nil {
		return nil
	}
	if err := f.Chown(c.s.uid, c.s.gid); err != nil {
		return fmt.Errorf("give %s to user %d: %w", f.Name(), c.s.uid, err)
	}
	return nil
}

// Kill kills every process in the cell at once (cgroup.kill), and reports whether it could:
// without a cgroup the caller's process-group kill is all there is.
func (c *Cell) Kill() bool {
	if c.cgroup == "" {
		return false
	}
	return os.WriteFile(filepath.Join(c.cgroup, "cgroup.kill"), []byte("1"), 0o644) == nil
}

// Close kills what is left in the cell, waits (bounded) for the cgroup to empty, removes it
// and the scratch HOME.
func (c *Cell) Close() {
	if c.cgroup != "" {
		if c.fd != nil {
			_ = c.fd.Close()
		}
		removeCell(c.cgroup)
	}
	if c.Home != "" {
		_ = os.RemoveAll(c.Home)
	}
}

// Processes lists the pids in the cell (nil without a cgroup).
func (c *Cell) Processes() []int {
	if c.cgroup == "" {
		return nil
	}
	b, err := os.ReadFile(filepath.Join(c.cgroup, "cgroup.procs"))
	if err != nil {
		return nil
	}
	var pids []int
	for f := range strings.FieldsSeq(string(b)) {
		if pid, err := strconv.Atoi(f); err == nil {
			pids = append(pids, pid)
		}
	}
	return pids
}

// sweepCells removes what dead workers left under base: the directory of every worker
// process that no longer runs, after killing anything still in its cells (a run's setsid'd
// descendants outlive a SIGKILLed worker), and empty cells of the older flat layout. A live
// worker's directory is never touched, so two workers on one host never race.
func sweepCells(base string) {
	entries, err := os.ReadDir(base)
	if err != nil {
		return
	}
	for _, e := range entries {
		if !e.IsDir() {
			continue
		}
		dir := filepath.Join(base, e.Name())
		pid, err := strconv.Atoi(e.Name())
		switch {
		case err != nil: // a cell of the flat layout: only an empty one goes
			if populated(dir) {
				continue
			}
			_ = os.Remove(dir)
		case pid == os.Getpid() || syscall.Kill(pid, 0) == nil:
			continue // a live worker's (a recycled pid errs on the side of keeping)
		default:
			cells, _ := os.ReadDir(dir)
			for _, c := range cells {
				if c.IsDir() {
					removeCell(filepath.Join(dir, c.Name()))
				}
			}
			_ = os.Remove(dir)
		}
	}
}

// removeCell kills what is in a cell, waits (bounded) for it to empty and removes it.
func removeCell(dir string) {
	_ = os.WriteFile(filepath.Join(dir, "cgroup.kill"), []byte("1"), 0o644)
	deadline := time.Now().Add(5 * time.Second)
	for populated(dir) && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	_ = os.Remove(dir)
}

// populated reports whether a cgroup still holds a process.
func populated(dir string) bool {
	b, err := os.ReadFile(filepath.Join(dir, "cgroup.events"))
	return err == nil && strings.Contains(string(b), "populated 1")
}

// findCgroup returns the directory cells are made under and whether the pids controller can
// be used there: want when given, else an "attune" directory under the worker's own cgroup on
// the cgroup2 mount. "" when none is writable (a container without delegation).
func findCgroup(want string) (string, bool) {
	base := want
	if base == "" {
		mount := cgroup2Mount()
		own := ownCgroup()
		if mount == "" || own == "" {
			return "", false
		}
		base = filepath.Join(mount, own, "attune")
	}
	if err := os.MkdirAll(base, 0o755); err != nil {
		return "", false
	}
	probe, err := os.MkdirTemp(base, "probe-")
	if err != nil {
		return "", false
	}
	_, killErr := os.Stat(filepath.Join(probe, "cgroup.kill"))
	_ = os.Remove(probe)
	if killErr != nil {
		return "", false // before Linux 5.14: no cgroup.kill
	}
	pids := false
	if ctl, err := os.ReadFile(filepath.Join(filepath.Dir(base), "cgroup.controllers")); err == nil && strings.Contains(" "+string(ctl)+" ", " pids ") {
		pids = os.WriteFile(filepath.Join(base, "cgroup.subtree_control"), []byte("+pids"), 0o644) == nil
	}
	return base, pids
}

// cgroup2Mount finds where the cgroup2 hierarchy is mounted (/sys/fs/cgroup on a unified
// host, /sys/fs/cgroup/unified on a hybrid one).
func cgroup2Mount() string {
	f, err := os.Open("/proc/self/mountinfo")
	if err != nil {
		return ""
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		for i, fld := range fields {
			if fld == "-" && i+1 < len(fields) && fields[i+1] == "cgroup2" && len(fields) > 4 {
				return fields[4]
			}
		}
	}
	return ""
}

// ownCgroup is this process's cgroup v2 path ("0::/path" in /proc/self/cgroup).
func ownCgroup() string {
	b, err := os.ReadFile("/proc/self/cgroup")
	if err != nil {
		return ""
	}
	for line := range strings.SplitSeq(string(b), "\n") {
		if p, ok := strings.CutPrefix(line, "0::"); ok {
			return p
		}
	}
	return ""
}

func lookup(name string) (*user.User, error) {
	if _, err := strconv.Atoi(name); err == nil {
		return user.LookupId(name)
	}
	return user.Lookup(name)
}

// sanitize keeps an id usable as a path element.
func sanitize(id string) string {
	return strings.Map(func(r rune) rune {
		if r == '/' || r == 0 || r == '.' {
			return '_'
		}
		return r
	}, cmp.Or(id, "run"))
}
