package worker

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"regexp"
	goruntime "runtime"
	"slices"
	"time"

	"github.com/oklog/ulid/v2"

	"github.com/attune-go/attune/adapters/eventstore"
	"github.com/attune-go/attune/adapters/heartbeat"
	"github.com/attune-go/attune/adapters/runtime"
	"github.com/attune-go/attune/adapters/runtime/packenv"
	"github.com/attune-go/attune/adapters/secret"
	"github.com/attune-go/attune/domain/pack"
)

// Defaults of Config.
const (
	DefaultHeartbeatInterval = 2 * time.Second
	DefaultDrainTimeout      = 30 * time.Second
	// DefaultQueueExpiry is how long RabbitMQ keeps a worker's queues once nothing consumes
	// them: well above the scheduler's and reaper's heartbeat TTL (6s by default), after
	// which whatever the queues held has been settled by the reaper.
	DefaultQueueExpiry = time.Minute
)

// Log is what the worker needs of the event store.
type Log interface {
	ReadStream(ctx context.Context, stream string) ([]eventstore.Recorded, error)
	Append(ctx context.Context, stream string, expected eventstore.Expected, events ...eventstore.Proposed) (eventstore.AppendResult, error)
}

// Heartbeats is the liveness table (adapters/heartbeat).
type Heartbeats interface {
	Beat(ctx context.Context, w heartbeat.Worker) (created bool, err error)
	Remove(ctx context.Context, workerID string) error
}

// Catalog is the registered packs and actions (projections/registry), which tell the worker
// an action's entry point, the digest it was registered with, its timeout and its secret
// parameters.
type Catalog interface {
	// WaitFor returns once the catalogue has folded the log up to pos.
	WaitFor(ctx context.Context, pos eventstore.Position) error
	Action(ref string) (pack.Action, bool)
	Pack(ref string) (pack.PackRegistered, bool)
}

// PackEnvs finds (building if need be) a pack's dependency environment on this host.
type PackEnvs interface {
	Wait(ctx context.Context, packRef, packDir string, k packenv.Kind) (env packenv.Env, declared bool, err error)
	// Status lists the environments of this host the worker knows, reported with each beat.
	Status() []packenv.Env
}

// Config configures a Worker.
type Config struct {
	// ID identifies this worker process; a fresh ULID by default. Every start is a new worker:
	// its queues, heartbeat row and stream (worker-<id>) are its own.
	ID   string
	Name string // shown to people; defaults to Host
	Host string // defaults to the machine's host name
	// Runtimes are the runner types (or aliases) this worker runs: its capabilities, what
	// the scheduler matches executions against. Normally the runtime registry's Supported().
	Runtimes []string
	// MaxConcurrency is how many executions run at once; defaults to the number of CPUs
	// (at least 2). What the scheduler sends beyond it waits in the worker, in order.
	MaxConcurrency int
	// HeartbeatInterval is how often the worker beats; DefaultHeartbeatInterval if 0. The
	// scheduler's and the reaper's TTL must be a few intervals.
	HeartbeatInterval time.Duration
	// DrainTimeout bounds how long Stop waits for runs to end before it kills them.
	DrainTimeout time.Duration
	// QueueExpiry is how long RabbitMQ keeps the worker's queues once nothing consumes them.
	QueueExpiry time.Duration
	// PacksDir, when set, is where this host keeps packs (<PacksDir>/<pack>/actions/…),
	// instead of the directory each pack was registered from.
	PacksDir string
	// Version is the attune build, recorded in WorkerRegistered.
	Version string

	Log        Log
	Heartbeats Heartbeats
	Runner     runtime.Runner // normally a *runtime.Registry
	Catalog    Catalog
	// LiveOutput, when set, opens where the output of a run goes while it runs
	// (adapters/liveoutput): the worker hands sink to the runner and calls end once the run
	// has returned, before it reports the outcome, so that the chunks are all written when
	// the execution is seen terminal. The outcome's final output is unchanged.
	LiveOutput func(executionID string) (sink runtime.OutputSink, end func(context.Context))
	// Box opens sealed (secret) parameters right before a run. Nil: an execution with a
	// sealed parameter fails.
	Box *secret.Box
	// PackEnvs, when set, gives the actions of a pack with a requirements.txt or package.json
	// its virtualenv's python or its node_modules (adapters/runtime/packenv). A run waits
	// for a build under way; a failed build fails it with a reason naming the build's log.
	PackEnvs PackEnvs
	Logger   *slog.Logger
}

// idPattern is what a handler name and the worker_id of the event schemas accept.
var idPattern = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._:-]{0,100}$`)

// Validate returns every problem of the configuration at once.
func (c Config) Validate() error {
	var errs []error
	if c.ID != "" && !idPattern.MatchString(c.ID) {
		errs = append(errs, fmt.Errorf("worker id %q: want letters, digits, '.', '_', ':' or '-'", c.ID))
	}
	if len(c.Runtimes) == 0 {
		errs = append(errs, errors.New("no runtimes: a worker must run at least one"))
	}
	for _, name := range c.Runtimes {
		switch rt, ok := runtime.Canonical(name); {
		case !ok:
			errs = append(errs, fmt.Errorf("unknown runtime %q", name))
		case rt == pack.RunnerWorkflow:
			errs = append(errs, errors.New("runtime workflow: workflows are run by the engine, not by a worker"))
		}
	}
	for name, d := range map[string]time.Duration{
		"max concurrency": time.Duration(c.MaxConcurrency), "heartbeat interval": c.HeartbeatInterval,
		"drain timeout": c.DrainTimeout, "queue expiry": c.QueueExpiry,
	} {
		if d < 0 {
			errs = append(errs, fmt.Errorf("%s is negative", name))
		}
	}
	if c.Log == nil {
		errs = append(errs, errors.New("no event log"))
	}
	if c.Heartbeats == nil {
		errs = append(errs, errors.New("no heartbeat table"))
	}
	if c.Runner == nil {
		errs = append(errs, errors.New("no runner"))
	}
	if c.Catalog == nil {
		errs = append(errs, errors.New("no action catalogue"))
	}
	return errors.Join(errs...)
}

// withDefaults fills the defaults and canonicalises the runtimes (sorted, no duplicates).
func (c Config) withDefaults() Config {
	c.ID = cmp.Or(c.ID, ulid.Make().String())
	if c.Host == "" {
		c.Host, _ = os.Hostname()
		c.Host = cmp.Or(c.Host, "unknown")
	}
	c.Name = cmp.Or(c.Name, c.Host)
	c.MaxConcurrency = cmp.Or(c.MaxConcurrency, max(2, goruntime.NumCPU()))
	c.HeartbeatInterval = cmp.Or(c.HeartbeatInterval, DefaultHeartbeatInterval)
	c.DrainTimeout = cmp.Or(c.DrainTimeout, DefaultDrainTimeout)
	c.QueueExpiry = cmp.Or(c.QueueExpiry, DefaultQueueExpiry)
	c.Logger = cmp.Or(c.Logger, slog.Default())
	runtimes := make([]string, 0, len(c.Runtimes))
	for _, name := range c.Runtimes {
		rt, _ := runtime.Canonical(name) // Validate has checked
		runtimes = append(runtimes, string(rt))
	}
	slices.Sort(runtimes)
	c.Runtimes = slices.Compact(runtimes)
	return c
}
