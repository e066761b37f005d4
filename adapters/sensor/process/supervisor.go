// Package process runs a pack's sensors: each enabled sensor's entry point is a child process
// (python3, node or bash by runner type, in its own process group) that prints one JSON
// object per line on stdout, {"trigger": "pack.name", "payload": {...}}, and each valid line
// becomes an EventFired. A sensor that dies is restarted with exponential backoff.
//
// The sensor reads its settings as one JSON document on stdin, then EOF:
//
//	{"sensor": "examples.watch", "triggers": ["examples.ping"], "poll_interval": 30, "config": {...}}
//
// config is the pack's config. It never travels in argv or the environment, which other
// users of the host can read (ps, /proc), and the environment is a short allow-list so the
// server's own secrets (database URL, webhook secrets) do not leak into pack code.
package process

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"github.com/attune-go/attune/adapters/runtime/contain"
	"log/slog"
	"os"
	"slices"
	"sync"
	"time"

	"github.com/attune-go/attune/adapters/eventstore"
	"github.com/attune-go/attune/domain/pack"
)

// Actor is the metadata actor of sensor events.
const Actor = "sensor"

// TriggerLookup finds a registered trigger by ref (a read model of the packs).
type TriggerLookup interface {
	Trigger(ctx context.Context, ref string) (t pack.Trigger, found bool, err error)
}

// TriggerLookupFunc adapts a function to TriggerLookup.
type TriggerLookupFunc func(ctx context.Context, ref string) (pack.Trigger, bool, error)

// Trigger implements TriggerLookup.
func (f TriggerLookupFunc) Trigger(ctx context.Context, ref string) (pack.Trigger, bool, error) {
	return f(ctx, ref)
}

// Sensor is one enabled sensor to run.
type Sensor struct {
	Sensor pack.Sensor
	// Script is the path of the entry point on this host: the pack directory's
	// sensors/<entry_point>. When Sensor.EntryPointSHA256 is set the file must still hash to
	// it: the log says which code the sensor runs, and a file edited since then is refused
	// until the pack is loaded again.
	Script string
	// Config is the pack's config (a JSON object), handed to the process on stdin.
	Config json.RawMessage
	// Interpreter, when set, is the absolute path of the interpreter that runs the sensor
	// instead of its runner type's (the python of its pack's virtualenv); the runner type's
	// arguments (-u) still apply.
	Interpreter string
	// Wrapper, when set, is the program the interpreter runs instead of Script: the
	// st2reactor stand-in that loads a StackStorm sensor class (Sensor.ClassName) from
	// Script, named on stdin as entry_point with class_name (adapters/runtime/st2py).
	Wrapper string
	// Env is added to the process's environment (NODE_PATH of its pack's node_modules).
	// Never a secret: a process's environment is readable in /proc.
	Env []string
	// Instances are the rules that pass parameters to one of the sensor's triggers (a
	// StackStorm trigger type with a parameters_schema): the wrapper hands each to the
	// sensor's add_trigger, and an event the sensor dispatches for one is for that rule
	// alone (EventFired.Rule).
	Instances []Instance
}

// Instance is one rule's use of a parameterised trigger of a sensor.
type Instance struct {
	Rule       string          `json:"rule"`
	Trigger    string          `json:"trigger"`
	Parameters json.RawMessage `json:"parameters"`
}

// Config wires a Supervisor.
type Config struct {
	Store    eventstore.Store // required
	Triggers TriggerLookup    // required
	Logger   *slog.Logger     // default slog.Default()

	MinBackoff  time.Duration // first pause before a restart; default 1s
	MaxBackoff  time.Duration // the pause doubles up to this; default 60s
	StableAfter time.Duration // a run this long resets the pause to MinBackoff; default 60s
	StopGrace   time.Duration // SIGTERM, then SIGKILL after this; default 5s
	MaxLine     int           // longest stdout line kept, in bytes; default 1 MiB

	// Interpreters runs each runner type; default python3 -u, node, bash. The script's path
	// is appended.
	Interpreters map[pack.RunnerType][]string
	// Env is the processes' whole environment; default DefaultEnv(), or with a Sandbox that
	// runs them as another user, SandboxEnv().
	Env []string
	// Sandbox, when set, runs every sensor process in a cell, as actions run
	// (adapters/runtime/contain): its user, a scratch HOME, a cgroup, limits. A sensor is pack
	// code like an action: it must not read the server's keys or environment either.
	Sandbox *contain.Sandbox
}

// Validate reports every invalid setting.
func (c Config) Validate() error {
	var errs []error
	if c.Store == nil {
		errs = append(errs, errors.New("a Store is required"))
	}
	if c.Triggers == nil {
		errs = append(errs, errors.New("a Triggers lookup is required"))
	}
	for name, d := range map[string]time.Duration{"MinBackoff": c.MinBackoff, "MaxBackoff": c.MaxBackoff, "StableAfter": c.StableAfter, "StopGrace": c.StopGrace} {
		if d < 0 {
			errs = append(errs, fmt.Errorf("%s %s: want >= 0 (0: default)", name, d))
		}
	}
	if c.MaxLine < 0 {
		errs = append(errs, fmt.Errorf("MaxLine %d: want >= 0 (0: default)", c.MaxLine))
	}
	return errors.Join(errs...)
}

// DefaultEnv is the environment sensors get: the host's PATH, locale, home and temp dir,
// nothing else, plus unbuffered Python output so each line arrives when it is printed.
func DefaultEnv() []string {
	env := []string{"PYTHONUNBUFFERED=1"}
	for _, k := range []string{"PATH", "HOME", "LANG", "LC_ALL", "TZ", "TMPDIR"} {
		if v, ok := os.LookupEnv(k); ok {
			env = append(env, k+"="+v)
		}
	}
	return env
}

// SandboxEnv is the environment of sensors that run as another user than the server: the
// system's PATH (the server's may lead into its home), the locale; HOME is the cell's.
func SandboxEnv() []string {
	env := []string{"PYTHONUNBUFFERED=1", "PATH=" + contain.SystemPath}
	for _, k := range []string{"LANG", "LC_ALL", "TZ"} {
		if v, ok := os.LookupEnv(k); ok {
			env = append(env, k+"="+v)
		}
	}
	return env
}

// Status is what the supervisor knows of one sensor.
type Status struct {
	Ref       string
	Running   bool
	PID       int // of the current process, 0 when none runs
	Starts    int // how many times a process was started
	LastError string
	LastExit  time.Time
}

// Supervisor runs the sensors. Set replaces the set at any time; Run drives them until its
// context ends.
type Supervisor struct {
	cfg Config
	log *slog.Logger

	mu      sync.Mutex
	desired map[string]Sensor
	running map[string]*supervised
	runCtx  context.Context

	statusMu sync.Mutex
	status   map[string]*Status
}

type supervised struct {
	key    string
	cancel context.CancelFunc
	done   chan struct{}
}

// New returns a Supervisor with no sensors. It panics on an invalid Config (a wiring error).
func New(cfg Config) *Supervisor {
	if err := cfg.Validate(); err != nil {
		panic(fmt.Sprintf("process.New: %v", err))
	}
	cfg.MinBackoff = cmp.Or(cfg.MinBackoff, time.Second)
	cfg.MaxBackoff = max(cmp.Or(cfg.MaxBackoff, time.Minute), cfg.MinBackoff)
	cfg.StableAfter = cmp.Or(cfg.StableAfter, time.Minute)
	cfg.StopGrace = cmp.Or(cfg.StopGrace, 5*time.Second)
	cfg.MaxLine = cmp.Or(cfg.MaxLine, 1<<20)
	if cfg.Interpreters == nil {
		cfg.Interpreters = map[pack.RunnerType][]string{
			pack.RunnerPython: {"python3", "-u"},
			pack.RunnerNode:   {"node"},
			pack.RunnerShell:  {"bash"},
		}
	}
	if cfg.Env == nil {
		cfg.Env = DefaultEnv()
		if cfg.Sandbox != nil && cfg.Sandbox.OtherUser() {
			cfg.Env = SandboxEnv()
		}
	}
	return &Supervisor{
		cfg:     cfg,
		log:     cmp.Or(cfg.Logger, slog.Default()),
		desired: map[string]Sensor{},
		running: map[string]*supervised{},
		status:  map[string]*Status{},
	}
}

// Set makes sensors the set that runs: it starts new ones, stops (SIGTERM, then SIGKILL)
// those missing, and restarts those whose definition, script or config changed. A sensor
// that cannot run (disabled, no interpreter for its runner type) is left out and reported in
// the returned error; the others are applied. When Set returns, stopped sensors have exited.
func (s *Supervisor) Set(sensors []Sensor) error {
	desired := make(map[string]Sensor, len(sensors))
	var errs []error
	for _, sn := range sensors {
		ref := sn.Sensor.Ref
		switch {
		case ref == "":
			errs = append(errs, errors.New("a sensor without a ref"))
		case !sn.Sensor.Enabled:
			errs = append(errs, fmt.Errorf("sensor %s is disabled", ref))
		case len(s.cfg.Interpreters[sn.Sensor.RunnerType]) == 0:
			errs = append(errs, fmt.Errorf("sensor %s: no interpreter for runner type %q", ref, sn.Sensor.RunnerType))
		case sn.Script == "":
			errs = append(errs, fmt.Errorf("sensor %s: no script path", ref))
		default:
			if _, dup := desired[ref]; dup {
				errs = append(errs, fmt.Errorf("sensor %s: listed twice", ref))
				continue
			}
			desired[ref] = sn
		}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.desired = desired
	if s.runCtx != nil {
		s.reconcile()
	}
	return errors.Join(errs...)
}

// Run supervises the sensors until ctx ends, then stops every process. It returns nil on a
// normal stop.
func (s *Supervisor) Run(ctx context.Context) error {
	s.mu.Lock()
	if s.runCtx != nil {
		s.mu.Unlock()
		return errors.New("process: Run called while already running")
	}
	s.runCtx = ctx
	s.reconcile()
	s.mu.Unlock()

	<-ctx.Done()

	s.mu.Lock()
	defer s.mu.Unlock()
	s.runCtx = nil
	var wg sync.WaitGroup
	for ref, r := range s.running {
		wg.Go(r.stop) // each may wait StopGrace: stop them together
		delete(s.running, ref)
	}
	wg.Wait()
	return nil
}

// Status lists every sensor the supervisor has run or runs, by ref.
func (s *Supervisor) Status() []Status {
	s.statusMu.Lock()
	defer s.statusMu.Unlock()
	out := make([]Status, 0, len(s.status))
	for _, st := range s.status {
		out = append(out, *st)
	}
	slices.SortFunc(out, func(a, b Status) int { return cmp.Compare(a.Ref, b.Ref) })
	return out
}

func (s *Supervisor) updateStatus(ref string, f func(*Status)) {
	s.statusMu.Lock()
	defer s.statusMu.Unlock()
	st, ok := s.status[ref]
	if !ok {
		st = &Status{Ref: ref}
		s.status[ref] = st
	}
	f(st)
}

// reconcile brings running in line with desired; the caller holds mu.
func (s *Supervisor) reconcile() {
	var stopping sync.WaitGroup
	for ref, r := range s.running {
		if sn, ok := s.desired[ref]; !ok || keyOf(sn) != r.key {
			stopping.Go(r.stop)
			delete(s.running, ref)
		}
	}
	stopping.Wait()
	for ref, sn := range s.desired {
		if _, ok := s.running[ref]; ok {
			continue
		}
		ctx, cancel := context.WithCancel(s.runCtx)
		r := &supervised{key: keyOf(sn), cancel: cancel, done: make(chan struct{})}
		s.running[ref] = r
		go func() {
			defer close(r.done)
			s.supervise(ctx, sn)
		}()
	}
}

func (r *supervised) stop() {
	r.cancel()
	<-r.done
}

// keyOf identifies what a process was started from: a change to any of it restarts it.
func keyOf(sn Sensor) string {
	b, err := json.Marshal(sn)
	if err != nil {
		return fmt.Sprintf("%+v", sn) // unreachable for these types; still a faithful key
	}
	return string(b)
}

// supervise runs the sensor again and again until ctx ends, pausing longer after each quick
// death so a crashing sensor costs little, and starting over after a stable run.
func (s *Supervisor) supervise(ctx context.Context, sn Sensor) {
	ref := sn.Sensor.Ref
	log := s.log.With(slog.String("sensor", ref))
	pause := s.cfg.MinBackoff
	for {
		started := time.Now()
		err := s.runOnce(ctx, sn, log)
		ran := time.Since(started)
		s.updateStatus(ref, func(st *Status) {
			st.Running, st.PID, st.LastExit = false, 0, time.Now()
			st.LastError = ""
			if err != nil {
				st.LastError = err.Error()
			}
		})
		if ctx.Err() != nil {
			log.Info("sensor stopped")
			return
		}
		if ran >= s.cfg.StableAfter {
			pause = s.cfg.MinBackoff
		}
		log.Warn("sensor exited; restarting", slog.Any("error", err), slog.Duration("ran", ran), slog.Duration("restart_in", pause))
		t := time.NewTimer(pause)
		select {
		case <-ctx.Done():
			t.Stop()
			log.Info("sensor stopped")
			return
		case <-t.C:
		}
		pause = min(2*pause, s.cfg.MaxBackoff)
	}
}
