// Package packenv builds the per-pack dependency environments of StackStorm-style packs on a
// worker's host: a Python virtualenv from the pack's requirements.txt and a node_modules
// directory from its package.json (issue #13, item 3).
//
// An environment is keyed by the pack and the SHA-256 of its dependency file, so a reload
// that does not change the file reuses what was built, and one that does builds anew beside
// the old one (the old one stays for executions already running). It is built into a
// temporary directory next to its final place and renamed into place only when the build
// succeeded: the rename is atomic, so a worker that crashes mid-build, or two workers on one
// host building the same environment at once, never leave a half-built one where actions
// would find it (the loser of the race discards its copy).
//
// A build runs with a short allow-listed environment (PATH, LANG, a scratch HOME inside the
// build directory): nothing of the worker's own environment (database URL, keys) reaches
// pip, npm or the package code they run, and a virtualenv gets no system site-packages.
// Every build is bounded by Config.Timeout and writes a log an operator can read; a failed
// build is remembered, and the actions of its pack fail with a reason naming the log rather
// than waiting for it.
package packenv

import (
	"cmp"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/attune-go/attune/adapters/runtime"
)

// Kind is the kind of a pack environment.
type Kind string

// The kinds, each with the file in the pack's root directory that declares it.
const (
	Python Kind = "python" // requirements.txt → a virtualenv
	Node   Kind = "node"   // package.json → node_modules
)

// Kinds lists every kind.
var Kinds = []Kind{Python, Node}

// File is the dependency file of the kind, relative to the pack's directory.
func (k Kind) File() string {
	if k == Node {
		return "package.json"
	}
	return "requirements.txt"
}

func (k Kind) subdir() string {
	if k == Node {
		return "node"
	}
	return "venvs"
}

// State is where a build is.
type State string

// The states of an environment.
const (
	Building State = "building"
	Ready    State = "ready"
	Failed   State = "failed"
)

// DefaultTimeout bounds one build.
const DefaultTimeout = 10 * time.Minute

// Env is one environment of one pack on this host.
type Env struct {
	Pack  string `json:"pack"`
	Kind  Kind   `json:"kind"`
	Hash  string `json:"sha256"` // of the dependency file
	State State  `json:"state"`
	// Dir is the environment: the virtualenv (its bin/python) or the directory holding
	// node_modules. It exists only once the build succeeded.
	Dir string `json:"dir"`
	// Log is the build's output: where the build writes while it runs, and where it stays.
	Log    string        `json:"log"`
	Reason string        `json:"reason,omitempty"` // why it failed
	Took   time.Duration `json:"-"`
	Reused bool          `json:"reused,omitempty"` // found built on disk, not built by this process
}

// Python is the interpreter of a ready virtualenv.
func (e Env) Python() string { return filepath.Join(e.Dir, "bin", "python") }

// NodePath is the NODE_PATH of a ready node environment.
func (e Env) NodePath() string { return filepath.Join(e.Dir, "node_modules") }

// Config wires a Manager.
type Config struct {
	// Dir is the root of every environment: <Dir>/venvs/<pack>-<sha256>/ and
	// <Dir>/node/<pack>-<sha256>/, each with its log beside it (<…>.log). Required.
	Dir string
	// Python is the interpreter virtualenvs are made with (python3 -m venv); NPM the npm
	// that installs node packages. Defaults: python3 and npm on PATH.
	Python, NPM string
	// Path is the PATH of a build; default the process's own.
	Path string
	// Timeout bounds one build; default DefaultTimeout.
	Timeout time.Duration
	Logger  *slog.Logger
	// OnChange, when set, is called (on the build's goroutine) when a build ends, so that
	// whoever waits for an environment (a sensor not started yet) can look again.
	OnChange func(Env)
}

// Manager builds and finds environments. Its methods may be called from any goroutine.
type Manager struct {
	cfg Config
	log *slog.Logger

	mu     sync.Mutex
	builds map[string]*build // by key(pack, kind, hash)
}

type build struct {
	env  Env
	done chan struct{}
}

// New returns a Manager.
func New(cfg Config) (*Manager, error) {
	if cfg.Dir == "" {
		return nil, errors.New("packenv: no directory for the pack environments")
	}
	if !filepath.IsAbs(cfg.Dir) {
		abs, err := filepath.Abs(cfg.Dir)
		if err != nil {
			return nil, fmt.Errorf("packenv: %w", err)
		}
		cfg.Dir = abs
	}
	if cfg.Timeout < 0 {
		return nil, fmt.Errorf("packenv: timeout %s, want >= 0 (0: default)", cfg.Timeout)
	}
	cfg.Timeout = cmp.Or(cfg.Timeout, DefaultTimeout)
	cfg.Path = cmp.Or(cfg.Path, os.Getenv("PATH"), "/usr/local/bin:/usr/bin:/bin")
	cfg.Python = cmp.Or(cfg.Python, "python3")
	cfg.NPM = cmp.Or(cfg.NPM, "npm")
	return &Manager{cfg: cfg, log: cmp.Or(cfg.Logger, slog.Default()), builds: map[string]*build{}}, nil
}

// Dir is the root of the environments (Config.Dir, made absolute).
func (m *Manager) Dir() string { return m.cfg.Dir }

// DefaultDir is where a worker keeps pack environments when told nothing:
// $XDG_STATE_HOME/attune/packenv, or ~/.local/state/attune/packenv.
func DefaultDir() string { return runtime.StateDir("packenv") }

// Needs reports the kinds of environment the pack in packDir declares, with the hash of each
// dependency file.
func Needs(packDir string) (map[Kind]string, error) {
	out := map[Kind]string{}
	for _, k := range Kinds {
		data, err := os.ReadFile(filepath.Join(packDir, k.File()))
		if errors.Is(err, fs.ErrNotExist) {
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("read %s: %w", k.File(), err)
		}
		sum := sha256.Sum256(data)
		out[k] = hex.EncodeToString(sum[:])
	}
	return out, nil
}

// Ensure starts, in the background, the builds the pack in packDir needs and this host does
// not have yet. It returns at once; a build already done, under way or failed for the same
// file is not started again.
func (m *Manager) Ensure(packRef, packDir string) error {
	needs, err := Needs(packDir)
	if err != nil {
		return fmt.Errorf("pack %s: %w", packRef, err)
	}
	for k, hash := range needs {
		m.start(packRef, packDir, k, hash)
	}
	return nil
}

// Wait returns the pack's environment of kind k once it is ready, starting its build if
// nobody has. ok is false when the pack declares no such environment. A failed build is an
// error naming its log; so is ctx ending first.
func (m *Manager) Wait(ctx context.Context, packRef, packDir string, k Kind) (env Env, ok bool, err error) {
	needs, err := Needs(packDir)
	if err != nil {
		return Env{}, false, fmt.Errorf("pack %s: %w", packRef, err)
	}
	hash, ok := needs[k]
	if !ok {
		return Env{}, false, nil
	}
	b := m.start(packRef, packDir, k, hash)
	select {
	case <-b.done:
	case <-ctx.Done():
		return Env{}, true, fmt.Errorf("pack %s: its %s environment is still building (log %s): %w", packRef, k, b.env.Log, context.Cause(ctx))
	}
	if b.env.State != Ready {
		return b.env, true, fmt.Errorf("pack %s: its %s environment (%s) failed to build: %s; see %s", packRef, k, k.File(), b.env.Reason, b.env.Log)
	}
	return b.env, true, nil
}

// Lookup returns the environment of kind k for the pack's current dependency file without
// starting or waiting for anything: found is false when none is known to this process.
func (m *Manager) Lookup(packRef, packDir string, k Kind) (env Env, declared, found bool) {
	needs, err := Needs(packDir)
	if err != nil {
		return Env{}, true, false
	}
	hash, declared := needs[k]
	if !declared {
		return Env{}, false, false
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	b, found := m.builds[key(packRef, k, hash)]
	if !found {
		return Env{}, true, false
	}
	return b.env, true, true // its State says whether it is still building
}

// Status lists every environment this process knows, by pack then kind.
func (m *Manager) Status() []Env {
	m.mu.Lock()
	defer m.mu.Unlock()
	out := make([]Env, 0, len(m.builds))
	for _, b := range m.builds {
		out = append(out, b.env)
	}
	slices.SortFunc(out, func(a, b Env) int {
		return cmp.Or(cmp.Compare(a.Pack, b.Pack), cmp.Compare(a.Kind, b.Kind), cmp.Compare(a.Hash, b.Hash))
	})
	return out
}

func key(packRef string, k Kind, hash string) string {
	return packRef + "\x00" + string(k) + "\x00" + hash
}

// start returns the build of (pack, kind, hash), starting it if there is none.
func (m *Manager) start(packRef, packDir string, k Kind, hash string) *build {
	m.mu.Lock()
	defer m.mu.Unlock()
	id := key(packRef, k, hash)
	if b, ok := m.builds[id]; ok {
		return b
	}
	final := filepath.Join(m.cfg.Dir, k.subdir(), packRef+"-"+hash)
	b := &build{env: Env{Pack: packRef, Kind: k, Hash: hash, State: Building, Dir: final, Log: final + ".log"}, done: make(chan struct{})}
	m.builds[id] = b
	if ready(final, k) {
		// Built before, by this worker in an earlier life or by another on this host.
		b.env.State, b.env.Reused = Ready, true
		close(b.done)
		m.log.Info("pack environment ready (reused)", "pack", packRef, "kind", string(k), "dir", final)
		return b
	}
	m.log.Info("pack environment building", "pack", packRef, "kind", string(k), "file", k.File(), "log", b.env.Log)
	go m.run(b, packDir)
	return b
}

func (m *Manager) run(b *build, packDir string) {
	started := time.Now()
	env := b.env
	reused, err := m.build(env, packDir)
	env.Took = time.Since(started).Round(time.Millisecond)
	if err != nil {
		env.State, env.Reason = Failed, err.Error()
		m.log.Error("pack environment failed", "pack", env.Pack, "kind", string(env.Kind), "reason", env.Reason, "log", env.Log)
	} else {
		env.State, env.Reused = Ready, reused
		m.log.Info("pack environment ready", "pack", env.Pack, "kind", string(env.Kind), "dir", env.Dir, "took", env.Took, "log", env.Log)
	}
	m.mu.Lock()
	b.env = env
	m.mu.Unlock()
	close(b.done)
	if m.cfg.OnChange != nil {
		m.cfg.OnChange(env)
	}
}

// ready tells a finished environment: only a complete build is ever renamed to dir.
func ready(dir string, k Kind) bool {
	probe := filepath.Join(dir, "bin", "python")
	if k == Node {
		probe = filepath.Join(dir, "package.json")
	}
	_, err := os.Stat(probe)
	return err == nil
}

// build makes env in a temporary directory beside env.Dir and renames it into place. reused
// is true when another process won the race and its environment is kept.
func (m *Manager) build(env Env, packDir string) (reused bool, err error) {
	parent := filepath.Dir(env.Dir)
	if err := os.MkdirAll(parent, 0o755); err != nil {
		return false, fmt.Errorf("create %s: %w", parent, err)
	}
	tmp, err := os.MkdirTemp(parent, "."+filepath.Base(env.Dir)+".build-")
	if err != nil {
		return false, fmt.Errorf("create a build directory: %w", err)
	}
	defer os.RemoveAll(tmp) // gone once renamed; what a failure left otherwise
	// Readable by the user actions run as when that is another one (--run-as).
	if err := os.Chmod(tmp, 0o755); err != nil {
		return false, fmt.Errorf("build directory: %w", err)
	}
	logFile, err := os.OpenFile(tmp+".log", os.O_CREATE|os.O_WRONLY|os.O_TRUNC, 0o644)
	if err != nil {
		return false, fmt.Errorf("create the build log: %w", err)
	}
	// The log is written under a name of its own and renamed over env.Log at the end, so two
	// builds never interleave in one file; meanwhile env.Log names where the last one is.
	defer func() {
		logFile.Close()
		if rerr := os.Rename(tmp+".log", env.Log); rerr != nil && err == nil {
			err = fmt.Errorf("keep the build log: %w", rerr)
		}
	}()
	ctx, cancel := context.WithTimeoutCause(context.Background(), m.cfg.Timeout,
		fmt.Errorf("the build took longer than %s", m.cfg.Timeout))
	defer cancel()
	r := runner{path: m.cfg.Path, home: filepath.Join(tmp, ".home"), log: logFile}
	if err := os.MkdirAll(r.home, 0o700); err != nil {
		return false, fmt.Errorf("build home: %w", err)
	}
	switch env.Kind {
	case Python:
		err = m.buildPython(ctx, r, tmp, packDir)
	case Node:
		err = m.buildNode(ctx, r, tmp, packDir)
	default:
		err = fmt.Errorf("unknown kind %q", env.Kind)
	}
	if err != nil {
		return false, err
	}
	if err := os.RemoveAll(r.home); err != nil {
		return false, fmt.Errorf("remove the build home: %w", err)
	}
	if err := os.Rename(tmp, env.Dir); err != nil {
		if ready(env.Dir, env.Kind) {
			fmt.Fprintf(logFile, "\n%s was built meanwhile by another process; this build is discarded\n", env.Dir)
			return true, nil
		}
		return false, fmt.Errorf("move the environment into place: %w", err)
	}
	fmt.Fprintf(logFile, "\nready: %s\n", env.Dir)
	return false, nil
}

// buildPython makes a virtualenv (no system site-packages) and installs requirements.txt
// into it with its own pip, run from the pack's directory so relative paths in the file
// (./deps/mylib, --find-links wheels) name the pack's files.
//
// A virtualenv records its location only in its scripts' shebangs and activate files, which
// nothing here uses: actions run its bin/python by path, and Python finds its prefix from
// that path (pyvenv.cfg beside it), so the rename does not break it.
func (m *Manager) buildPython(ctx context.Context, r runner, dir, packDir string) error {
	if err := r.run(ctx, packDir, m.cfg.Python, "-m", "venv", dir); err != nil {
		return err
	}
	return r.run(ctx, packDir, filepath.Join(dir, "bin", "python"), "-m", "pip", "install",
		"--no-input", "--disable-pip-version-check", "--no-cache-dir",
		"-r", filepath.Join(packDir, Python.File()))
}

// buildNode installs the production dependencies of package.json into dir/node_modules.
// package.json (and its lock file) is copied into dir, with relative file: dependencies made
// absolute so they still name the pack's files.
func (m *Manager) buildNode(ctx context.Context, r runner, dir, packDir string) error {
	manifest, err := os.ReadFile(filepath.Join(packDir, Node.File()))
	if err != nil {
		return fmt.Errorf("read package.json: %w", err)
	}
	manifest, err = absoluteFileDeps(manifest, packDir)
	if err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(dir, "package.json"), manifest, 0o644); err != nil {
		return fmt.Errorf("copy package.json: %w", err)
	}
	if lock, err := os.ReadFile(filepath.Join(packDir, "package-lock.json")); err == nil {
		if err := os.WriteFile(filepath.Join(dir, "package-lock.json"), lock, 0o644); err != nil {
			return fmt.Errorf("copy package-lock.json: %w", err)
		}
	}
	return r.run(ctx, dir, m.cfg.NPM, "install", "--omit=dev", "--no-audit", "--no-fund",
		"--install-links", "--cache", filepath.Join(r.home, ".npm"))
}

// describeExit words how a build step ended for the reason of a failure.
func describeExit(ctx context.Context, name string, err error) error {
	if ctx.Err() != nil {
		return fmt.Errorf("%s stopped: %w", name, context.Cause(ctx))
	}
	return fmt.Errorf("%s: %w", strings.TrimSpace(name), err)
}
