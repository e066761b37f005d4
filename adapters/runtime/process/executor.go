// Package process runs actions as child processes: shell, python and node scripts (Script) and
// the command lines of core.local (Executor.Exec). Each child runs in its own process group
// with a minimal environment, takes its parameters as JSON on stdin, and has its output
// captured up to a cap. Nothing it starts outlives it: when the child exits, times out or is
// cancelled, its whole group is killed; when its worker is killed, the child dies with it
// (parent-death signal) and the next worker on the host kills the rest (runs.go).
package process

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"time"

	"github.com/attune-go/attune/adapters/runtime"
	"github.com/attune-go/attune/adapters/runtime/contain"
	"github.com/attune-go/attune/domain/execution"
)

// Defaults of Config.
const (
	DefaultMaxOutputBytes = 1 << 20
	DefaultKillGrace      = 5 * time.Second
	DefaultLang           = "C.UTF-8"
)

// drainTimeout bounds the wait for the output pipes to close once the process group is dead.
// Only a process that left the group (setsid) can hold them open that long; its output is
// given up rather than letting it hold the run.
const drainTimeout = 2 * time.Second

// reasonTail is how much of the end of stderr a failure's reason quotes.
const reasonTail = 512

// Config configures an Executor.
type Config struct {
	// MaxOutputBytes caps each of stdout and stderr; the rest is read and dropped, and the
	// outcome is marked truncated. Default 1 MiB.
	MaxOutputBytes int
	// KillGrace is how long a timed out or cancelled process group has between SIGTERM and
	// SIGKILL. Default 5s.
	KillGrace time.Duration
	// Path, Home and Lang are the PATH, HOME and LANG of every child: its whole environment
	// besides ATTUNE_EXECUTION_ID and ATTUNE_ACTION. Defaults: the worker's own PATH and
	// HOME, and C.UTF-8.
	Path, Home, Lang string
	// RunsDir is where this host records the runs under way, so that a worker started after
	// one was killed kills what it left (runs.go); DefaultRunsDir() if empty.
	RunsDir string
	// Sandbox, when set, runs every child in a cell of its own (adapters/runtime/contain): a
	// scratch HOME, the sandbox's user, a cgroup killed whole, process and file limits.
	Sandbox *contain.Sandbox
	Logger  *slog.Logger
}

// Validate reports every invalid setting.
func (c Config) Validate() error {
	var errs []error
	if c.MaxOutputBytes < 0 {
		errs = append(errs, fmt.Errorf("max output bytes %d, want >= 0", c.MaxOutputBytes))
	}
	if c.KillGrace < 0 {
		errs = append(errs, fmt.Errorf("kill grace %s, want >= 0", c.KillGrace))
	}
	return errors.Join(errs...)
}

// Executor starts child processes with the limits of its Config.
type Executor struct {
	cfg  Config
	log  *slog.Logger
	runs *runs
}

// New returns an executor.
func New(cfg Config) (*Executor, error) {
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("process executor config: %w", err)
	}
	cfg.MaxOutputBytes = cmp.Or(cfg.MaxOutputBytes, DefaultMaxOutputBytes)
	cfg.KillGrace = cmp.Or(cfg.KillGrace, DefaultKillGrace)
	if cfg.Sandbox != nil && cfg.Sandbox.OtherUser() {
		// The worker's own PATH may lead into its home, where the action's user cannot go.
		cfg.Path = cmp.Or(cfg.Path, contain.SystemPath)
	}
	cfg.Path = cmp.Or(cfg.Path, os.Getenv("PATH"), "/usr/local/bin:/usr/bin:/bin")
	home, _ := os.UserHomeDir() // "" when unknown: the child then has HOME=/
	cfg.Home = cmp.Or(cfg.Home, home, "/")
	cfg.Lang = cmp.Or(cfg.Lang, DefaultLang)
	cfg.RunsDir = cmp.Or(cfg.RunsDir, DefaultRunsDir())
	log := cmp.Or(cfg.Logger, slog.New(slog.DiscardHandler))
	runs, err := newRuns(cfg.RunsDir, log)
	if err != nil {
		return nil, fmt.Errorf("process executor: %w", err)
	}
	return &Executor{cfg: cfg, log: log, runs: runs}, nil
}

// MaxOutputBytes is the cap on each output stream.
func (e *Executor) MaxOutputBytes() int { return e.cfg.MaxOutputBytes }

// Command is one child process to run.
type Command struct {
	ExecutionID, Action string // exported to the child as ATTUNE_EXECUTION_ID, ATTUNE_ACTION
	Path                string // the program, absolute
	Args                []string
	Dir                 string
	// Env is added to the minimal environment (KEY=VALUE). Never put a secret here: a
	// process's environment is readable in /proc by its user.
	Env []string
	// Output, when set, receives stdout and stderr as the child writes them, besides the
	// capture (runtime.Request.Output).
	Output runtime.OutputSink
	// Stdin is written to the child's stdin, which is then closed.
	Stdin []byte
	// Script, when set, is readable by the child as /dev/fd/3 (a pipe): a program text that
	// never touches the disk, so no file has to be readable by the action's user.
	Script []byte
	// Files are more open files for the child, after the script's pipe (from fd 3 without
	// one): the ends of pipes a runtime talks to the child on while it runs. Exec closes
	// them once the child has its copies, so the other ends see the child's end.
	Files []*os.File
}

// Exec runs c and reports how it ended. Exit code 0 completes and any other fails with the
// tail of stderr as the reason. When ctx ends first the group gets SIGTERM, then SIGKILL after
// the grace period, and the run ends in timeout or cancelled as runtime.Interrupted says.
// Exec sets no Result: that is the caller's reading of the output.
func (e *Executor) Exec(ctx context.Context, c Command) runtime.Outcome {
	if ctx.Err() != nil {
		status, reason := runtime.Interrupted(ctx)
		return runtime.Outcome{Status: status, Reason: reason + " before it started"}
	}
	var cell *contain.Cell
	if e.cfg.Sandbox != nil {
		var err error
		if cell, err = e.cfg.Sandbox.Prepare(c.ExecutionID); err != nil {
			return runtime.Failed("contain the action: %v", err)
		}
		defer cell.Close()
	}
	p, err := e.start(c, cell)
	if err != nil {
		return runtime.Failed("%v", err)
	}
	record := e.runs.record(c.ExecutionID, p.pgid)
	log := e.log.With("execution_id", c.ExecutionID, "action", c.Action, "pid", p.cmd.Process.Pid)
	log.Debug("action process started", "program", c.Path)

	ended := make(chan error, 1)
	go func() { ended <- p.cmd.Wait() }()
	var (
		waitErr     error
		interrupted bool
		how         string
	)
	select {
	case waitErr = <-ended:
	case <-ctx.Done():
		select {
		case waitErr = <-ended: // it ended on its own as the context did
		default:
			interrupted = true
			how, waitErr = p.stop(ended, e.cfg.KillGrace, cell)
		}
	}
	// The action is over. Whatever it left running in its group (`sleep 300 &`) goes too, or
	// it would live on unsupervised and hold the output pipes open.
	p.signal(syscall.SIGKILL)
	if cell != nil {
		// What left the group (setsid, a double fork) is still in the cell: it goes too, and
		// with it the last holders of the output pipes.
		cell.Kill()
	}
	e.runs.forget(record)
	stdout, stderr, drained := p.drain(drainTimeout)

	o := runtime.Outcome{
		Stdout:    stdout.String(),
		Stderr:    stderr.String(),
		Truncated: stdout.truncated || stderr.truncated,
	}
	code, signalled, exitErr := exitCode(p.cmd, waitErr)
	o.ExitCode = &code
	switch {
	case interrupted:
		o.Status, o.Reason = runtime.Interrupted(ctx)
		o.Reason += ": " + how
	case exitErr != nil:
		o.Status, o.ExitCode, o.Reason = execution.Failed, nil, fmt.Sprintf("wait for %s: %v", c.Path, exitErr)
	case code == 0:
		o.Status = execution.Completed
	case signalled:
		o.Status, o.Reason = execution.Failed, fmt.Sprintf("killed by signal %s", syscall.Signal(-code))
	default:
		o.Status, o.Reason = execution.Failed, fmt.Sprintf("exit code %d", code)
	}
	if o.Status == execution.Failed {
		if tail := stderr.tailString(); tail != "" {
			o.Reason += ": " + tail
		}
	}
	if !drained {
		o.Reason = strings.TrimPrefix(o.Reason+"; output cut off: a process outside the group kept the pipes open", "; ")
	}
	log.Debug("action process ended", "status", o.Status, "exit_code", code, "truncated", o.Truncated)
	return o
}

// child is a started process and the parent's ends of its pipes.
type child struct {
	cmd            *exec.Cmd
	pgid           int
	stdin          *os.File
	stdout, stderr *os.File
	outDone        chan *capture
	errDone        chan *capture
}

func (e *Executor) start(c Command, cell *contain.Cell) (*child, error) {
	// The pipes are os.Files handed to the child directly, not io.Writers exec would copy
	// from: exec's copying would make Wait wait for every process holding the pipe, a
	// grandchild included, and we kill the group only once the child has exited.
	inR, inW, err := os.Pipe()
	if err != nil {
		return nil, fmt.Errorf("make stdin pipe: %w", err)
	}
	outR, outW, err := os.Pipe()
	if err != nil {
		closeAll(inR, inW)
		return nil, fmt.Errorf("make stdout pipe: %w", err)
	}
	errR, errW, err := os.Pipe()
	if err != nil {
		closeAll(inR, inW, outR, outW)
		return nil, fmt.Errorf("make stderr pipe: %w", err)
	}
	cmd := &exec.Cmd{
		Path:   c.Path,
		Args:   append([]string{c.Path}, c.Args...),
		Dir:    c.Dir,
		Env:    e.env(c, cell),
		Stdin:  inR,
		Stdout: outW,
		Stderr: errW,
		// Its own process group, so that a timeout or cancel reaches everything it started,
		// and killed with its worker (sysproc_linux.go).
		SysProcAttr: groupAttr(),
	}
	var scriptR, scriptW *os.File
	if c.Script != nil {
		if scriptR, scriptW, err = os.Pipe(); err != nil {
			closeAll(inR, inW, outR, outW, errR, errW)
			return nil, fmt.Errorf("make script pipe: %w", err)
		}
		cmd.ExtraFiles = []*os.File{scriptR} // fd 3
		if cell != nil {
			if err := cell.Give(scriptR); err != nil {
				closeAll(inR, inW, outR, outW, errR, errW, scriptR, scriptW)
				return nil, err
			}
		}
	}
	for _, f := range c.Files {
		if cell != nil {
			if err := cell.Give(f); err != nil {
				closeAll(inR, inW, outR, outW, errR, errW, scriptR, scriptW)
				closeAll(c.Files...)
				return nil, err
			}
		}
		cmd.ExtraFiles = append(cmd.ExtraFiles, f)
	}
	if cell != nil {
		cell.Apply(cmd)
	}
	err = cmd.Start()
	closeAll(inR, outW, errW, scriptR) // the child has its copies; ours would keep the pipes open
	closeAll(c.Files...)
	if err != nil {
		closeAll(inW, outR, errR, scriptW)
		return nil, fmt.Errorf("start %s: %w", c.Path, err)
	}
	if scriptW != nil {
		go func() {
			_, _ = scriptW.Write(c.Script) // EPIPE once a child that stopped reading is gone
			_ = scriptW.Close()
		}()
	}
	p := &child{
		cmd: cmd, pgid: cmd.Process.Pid, stdin: inW, stdout: outR, stderr: errR,
		outDone: make(chan *capture, 1), errDone: make(chan *capture, 1),
	}
	go func() {
		// A child that never reads its stdin fails this write with EPIPE once it is gone;
		// the error says nothing about the action.
		_, _ = inW.Write(c.Stdin)
		_ = inW.Close()
	}()
	go collect(outR, newCapture(e.cfg.MaxOutputBytes, 0), c.Output, runtime.Stdout, p.outDone)
	go collect(errR, newCapture(e.cfg.MaxOutputBytes, reasonTail), c.Output, runtime.Stderr, p.errDone)
	return p, nil
}

func (e *Executor) env(c Command, cell *contain.Cell) []string {
	home := e.cfg.Home
	if cell != nil {
		home = cell.Home // the run's own, removed after it
	}
	env := []string{"PATH=" + e.cfg.Path, "HOME=" + home, "LANG=" + e.cfg.Lang}
	env = append(env, c.Env...)
	// Last, so that Command.Env cannot pass for another execution.
	return append(env, "ATTUNE_EXECUTION_ID="+c.ExecutionID, "ATTUNE_ACTION="+c.Action)
}

func collect(r *os.File, c *capture, sink runtime.OutputSink, stream string, done chan<- *capture) {
	var w io.Writer = c
	if sink != nil {
		w = io.MultiWriter(c, streamWriter{sink, stream})
	}
	_, _ = io.Copy(w, r) // ends at EOF, or with an error once drain closes r
	done <- c
}

// streamWriter passes what one stream writes to the sink.
type streamWriter struct {
	sink   runtime.OutputSink
	stream string
}

func (s streamWriter) Write(p []byte) (int, error) {
	s.sink.Output(s.stream, p) // the sink copies what it keeps; io.Copy reuses p
	return len(p), nil
}

// stop sends SIGTERM to the group, then SIGKILL if the child has not exited after grace, and
// returns what it took and the child's wait error.
func (p *child) stop(ended <-chan error, grace time.Duration, cell *contain.Cell) (string, error) {
	p.signal(syscall.SIGTERM)
	t := time.NewTimer(grace)
	defer t.Stop()
	select {
	case err := <-ended:
		return "sent SIGTERM to the process group", err
	case <-t.C:
		p.signal(syscall.SIGKILL)
		if cell != nil && cell.Kill() {
			return fmt.Sprintf("killed the action's cgroup, %s after SIGTERM", grace), <-ended
		}
		return fmt.Sprintf("killed the process group with SIGKILL, %s after SIGTERM", grace), <-ended
	}
}

// signal signals the child's whole process group. ESRCH (the group is gone) is the usual
// answer once the child has exited and is not an error.
func (p *child) signal(sig syscall.Signal) {
	_ = syscall.Kill(-p.pgid, sig)
}

// drain waits for the output readers to reach EOF, for at most d; after that it closes the
// pipes and keeps what was read. It reports whether they ended on their own.
func (p *child) drain(d time.Duration) (stdout, stderr *capture, drained bool) {
	t := time.NewTimer(d)
	defer t.Stop()
	drained = true
	for stdout == nil || stderr == nil {
		select {
		case stdout = <-p.outDone:
		case stderr = <-p.errDone:
		case <-t.C:
			drained = false
			closeAll(p.stdout, p.stderr) // unblocks the readers
			t.Reset(time.Hour)
		}
	}
	closeAll(p.stdout, p.stderr, p.stdin)
	return stdout, stderr, drained
}

// exitCode reads the child's exit: its exit code, or -N when signal N killed it (Python's
// convention, and so StackStorm's). err is set when the wait itself failed.
func exitCode(cmd *exec.Cmd, waitErr error) (code int, signalled bool, err error) {
	var exitErr *exec.ExitError
	if waitErr != nil && !errors.As(waitErr, &exitErr) {
		return -1, false, waitErr
	}
	ws, ok := cmd.ProcessState.Sys().(syscall.WaitStatus)
	if !ok {
		return cmd.ProcessState.ExitCode(), false, nil
	}
	if ws.Signaled() {
		return -int(ws.Signal()), true, nil
	}
	return ws.ExitStatus(), false, nil
}

func closeAll(files ...*os.File) {
	for _, f := range files {
		if f != nil {
			_ = f.Close() // closing twice returns os.ErrClosed, harmlessly
		}
	}
}
