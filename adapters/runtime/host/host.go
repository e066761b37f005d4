// Package host builds a worker's runtime registry from what its machine has: the builtins
// always, and shell, python and node only where an interpreter is found and answers. A worker
// registers the registry's Supported() as its capabilities.runtimes, so executions of a
// runtime it lacks are never scheduled on it.
package host

import (
	"bytes"
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	"github.com/attune-go/attune/adapters/runtime"
	"github.com/attune-go/attune/adapters/runtime/builtin"
	"github.com/attune-go/attune/adapters/runtime/contain"
	"github.com/attune-go/attune/adapters/runtime/process"
	"github.com/attune-go/attune/adapters/runtime/st2"
	"github.com/attune-go/attune/adapters/runtime/st2py"
	"github.com/attune-go/attune/domain/pack"
)

// probeTimeout bounds each interpreter's probe.
const probeTimeout = 10 * time.Second

// Config configures Detect.
type Config struct {
	Process process.Config
	// Builtin configures the builtins; its Executor and Shell are filled in by Detect.
	Builtin builtin.Config
	// Shell, Python and Node are the program names (or paths) tried, in order, for each
	// interpreter. Defaults: bash; python3; node, nodejs.
	Shell, Python, Node []string
	// StackStorm configures StackStorm's runners (adapters/runtime/st2); Detect fills in the
	// executor, bash, python and the stand-in package. StandInBase is where that package is
	// written; default <temp>/attune-st2py.
	StackStorm  st2.Config
	StandInBase string
	Logger      *slog.Logger
}

// Interpreter is an interpreter found on the machine.
type Interpreter struct {
	Runtime pack.RunnerType
	Path    string // the binary scripts run with, symlinks and shims (pyenv) resolved
}

// probes ask each interpreter where its binary is: the answer proves it runs, and running
// that binary directly skips a shim's start-up on every execution.
var probes = map[pack.RunnerType][]string{
	pack.RunnerShell:  {"-c", `printf %s "$BASH"`},
	pack.RunnerPython: {"-c", "import sys; sys.stdout.write(sys.executable)"},
	pack.RunnerNode:   {"-e", "process.stdout.write(process.execPath)"},
}

// Detect finds the interpreters and returns the registry of the runtimes they allow, the
// builtins always among them, with what it found.
func Detect(ctx context.Context, cfg Config) (*runtime.Registry, []Interpreter, error) {
	log := cmp.Or(cfg.Logger, slog.New(slog.DiscardHandler))
	if cfg.Process.Logger == nil {
		cfg.Process.Logger = log
	}
	if cfg.Builtin.Logger == nil {
		cfg.Builtin.Logger = log
	}
	exe, err := process.New(cfg.Process)
	if err != nil {
		return nil, nil, fmt.Errorf("detect runtimes: %w", err)
	}
	// A worker killed on this host may have left action processes behind: they go before
	// this one takes work.
	leftovers, err := exe.ReapLeftovers()
	for _, l := range leftovers {
		log.Warn("killed what a dead worker's run left behind", "execution_id", l.ExecutionID, "pgid", l.PGID, "pids", l.Killed)
	}
	if err != nil {
		log.Warn("reap leftover runs", "error", err.Error())
	}
	candidates := map[pack.RunnerType][]string{
		pack.RunnerShell:  orDefault(cfg.Shell, "bash"),
		pack.RunnerPython: orDefault(cfg.Python, "python3"),
		pack.RunnerNode:   orDefault(cfg.Node, "node", "nodejs"),
	}
	// Actions that run as another user find their interpreters on the system's PATH: the
	// worker's own may lead into its home (a pyenv under /root) where that user cannot go.
	searchPath := os.Getenv("PATH")
	if cfg.Process.Sandbox != nil && cfg.Process.Sandbox.OtherUser() {
		searchPath = contain.SystemPath
	}
	runners := map[string]runtime.Runner{}
	var found []Interpreter
	for _, rt := range []pack.RunnerType{pack.RunnerShell, pack.RunnerPython, pack.RunnerNode} {
		path, err := find(ctx, rt, candidates[rt], searchPath)
		if err != nil {
			log.Info("runtime not offered", "runtime", rt, "error", err)
			continue
		}
		log.Info("runtime offered", "runtime", rt, "interpreter", path)
		found = append(found, Interpreter{Runtime: rt, Path: path})
		runners[string(rt)] = exe.Script(path)
	}
	bcfg := cfg.Builtin
	bcfg.Executor = exe
	for _, in := range found {
		if in.Runtime == pack.RunnerShell && bcfg.Shell == "" {
			bcfg.Shell = in.Path
		}
	}
	b, err := builtin.New(bcfg)
	if err != nil {
		return nil, nil, fmt.Errorf("detect runtimes: %w", err)
	}
	runners[string(pack.RunnerBuiltin)] = b
	maps.Copy(runners, stackStorm(cfg, exe, found, log))
	return runtime.NewRegistry(runners), found, nil
}

// find returns the binary of the first candidate that is on searchPath and answers its probe.
func find(ctx context.Context, rt pack.RunnerType, names []string, searchPath string) (string, error) {
	var errs []error
	for _, name := range names {
		path, err := lookPath(name, searchPath)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		real, err := probe(ctx, path, probes[rt])
		if err != nil {
			errs = append(errs, fmt.Errorf("probe %s: %w", path, err))
			continue
		}
		return real, nil
	}
	return "", fmt.Errorf("no %s interpreter among %v: %w", rt, names, errors.Join(errs...))
}

// lookPath is exec.LookPath on a PATH other than the process's own.
func lookPath(name, searchPath string) (string, error) {
	if strings.Contains(name, "/") {
		return exec.LookPath(name)
	}
	for _, dir := range filepath.SplitList(searchPath) {
		candidate := filepath.Join(dir, name)
		if st, err := os.Stat(candidate); err == nil && st.Mode().IsRegular() && st.Mode()&0o111 != 0 {
			return candidate, nil
		}
	}
	return "", fmt.Errorf("%s: not found on %s", name, searchPath)
}

func probe(ctx context.Context, path string, args []string) (string, error) {
	ctx, cancel := context.WithTimeout(ctx, probeTimeout)
	defer cancel()
	out, err := exec.CommandContext(ctx, path, args...).Output()
	if err != nil {
		return "", err
	}
	real := string(bytes.TrimSpace(out))
	if !filepath.IsAbs(real) {
		return path, nil // it runs but does not say where it is; use what PATH found
	}
	return real, nil
}

func orDefault(names []string, def ...string) []string {
	if len(names) == 0 {
		return def
	}
	return names
}

// stackStorm builds StackStorm's runners on the interpreters found: the shell runners on
// bash, python-script on python with the st2common stand-in written to disk.
func stackStorm(cfg Config, exe *process.Executor, found []Interpreter, log *slog.Logger) map[string]runtime.Runner {
	scfg := cfg.StackStorm
	scfg.Executor = exe
	scfg.Logger = cmp.Or(scfg.Logger, log)
	for _, in := range found {
		switch in.Runtime {
		case pack.RunnerShell:
			scfg.Shell = cmp.Or(scfg.Shell, in.Path)
		case pack.RunnerPython:
			scfg.Python = cmp.Or(scfg.Python, in.Path)
		}
	}
	if scfg.Python != "" && scfg.StandIn == "" {
		dir, err := st2py.Materialize(cmp.Or(cfg.StandInBase, filepath.Join(os.TempDir(), "attune-st2py")))
		if err != nil {
			log.Warn("runtime not offered", "runtime", pack.RunnerPythonScript, "error", err)
		}
		scfg.StandIn = dir
	}
	return st2.Runners(scfg)
}
