// Package workflow is the workflow engine: it runs the actions of runner type workflow. A
// workflow's whole state is its parent execution's stream (domain/workflow events beside the
// parent's own); every task run is a child execution, requested with ParentID and
// WorkflowTask and run by the ordinary scheduler and workers.
//
// Two handlers drive it. Start reacts to the parent's ExecutionRequested: the parent goes
// running, WorkflowStarted pins the definition, and the start tasks are scheduled. Advance
// reacts to a child's terminal ExecutionStatusChanged: it records WorkflowTaskCompleted and
// decides what follows (a retry, the next items, the task's transitions, joins, the end of
// the workflow). Both fold the parent stream, decide, and append with Exact(version): of two
// concurrent completions only one appends on a version, and the other, retried by the router,
// decides again on the stream that includes the first. Children are appended afterwards with
// NoStream under ids derived from (parent, task, activation, item, attempt), so a redelivery
// or a crash between the two appends never runs a task twice: the redelivered message finds
// the run recorded and only requests the children that are still missing. An error no retry
// can fix (fail.go) ends the workflow failed with its reason instead of poisoning the message.
package workflow

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"github.com/attune-go/attune/adapters/secret"
	"github.com/attune-go/attune/handlers/internal/kvscope"
	"slices"
	"time"

	"github.com/attune-go/attune/adapters/bus"
	"github.com/attune-go/attune/adapters/eventstore"
	"github.com/attune-go/attune/domain/event"
	"github.com/attune-go/attune/domain/execution"
	"github.com/attune-go/attune/domain/pack"
	wf "github.com/attune-go/attune/domain/workflow"
)

// The handlers' persisted names: they name their queues (ExecutionRequested.workflow_start,
// ExecutionStatusChanged.workflow_advance). Renaming one is a migration.
const (
	StartName   = "workflow_start"
	AdvanceName = "workflow_advance"
)

// Log is what the engine needs of the event store.
type Log interface {
	ReadStream(ctx context.Context, stream string) ([]eventstore.Recorded, error)
	ReadStreamFrom(ctx context.Context, stream string, afterVersion int64) ([]eventstore.Recorded, error)
	Append(ctx context.Context, stream string, expected eventstore.Expected, events ...eventstore.Proposed) (eventstore.AppendResult, error)
}

// Catalog is what the engine needs of projections/registry: the workflow's definition and
// the runner type of each task's action.
type Catalog interface {
	WaitFor(ctx context.Context, pos eventstore.Position) error
	Action(ref string) (pack.Action, bool)
}

// Config holds the engine's dependencies.
type Config struct {
	Log     Log
	Catalog Catalog
	Now     func() time.Time // stamps delays and retry backoffs; time.Now by default
	// CachedFlows is how many running workflows are kept folded in memory between messages
	// (DefaultCachedFlows when 0; none when negative): a message then folds only the events
	// appended since, which keeps the cost of a child's completion flat in the workflow's size.
	CachedFlows int
	// Box opens and seals secret parameters while a child's input is checked against its
	// action's schema (nil: inputs holding a sealed value fail the child).
	Box *secret.Box
	// KV reads the keys of the key-value store a workflow's templates name, once per
	// decision (nil: every key is missing).
	KV kvscope.Reader
}

// Validate lists every missing dependency.
func (c Config) Validate() error {
	var errs []error
	if c.Log == nil {
		errs = append(errs, errors.New("workflow: nil Log"))
	}
	if c.Catalog == nil {
		errs = append(errs, errors.New("workflow: nil Catalog"))
	}
	return errors.Join(errs...)
}

// Engine holds the dependencies; Start and Advance are its bus.HandlerFuncs.
type Engine struct {
	log     Log
	catalog Catalog
	now     func() time.Time
	flows   *flowCache
	box     *secret.Box
	kv      kvscope.Reader
}

// New returns the engine; it panics on a missing dependency (a wiring error).
func New(cfg Config) *Engine {
	if err := cfg.Validate(); err != nil {
		panic(err)
	}
	now := cfg.Now
	if now == nil {
		now = time.Now
	}
	return &Engine{log: cfg.Log, catalog: cfg.Catalog, now: now, box: cfg.Box, kv: cfg.KV, flows: newFlowCache(cmp.Or(cfg.CachedFlows, DefaultCachedFlows))}
}

// AdvanceKeys bind Advance's queue: what it acts on, a move to canceling, a child moving
// into or out of a wait, the end of a task (or of what may be one).
var AdvanceKeys = slices.Concat(bus.StatusKeys(execution.Canceling, execution.Pending, execution.Paused),
	bus.FromKeys(execution.Pending, execution.Paused), bus.TaskKeys(bus.Ends()...))

// StartKeys bind Start's queue: the requests of workflows (bus.RequestedKey).
var StartKeys = []string{bus.RequestedWorkflow}

// Register subscribes both handlers.
func Register(r *bus.Router, cfg Config) {
	e := New(cfg)
	r.AddKeyedHandler(StartName, execution.ExecutionRequested{}.EventType(), StartKeys, e.Start)
	r.AddStatusHandler(AdvanceName, AdvanceKeys, e.Advance)
	r.AddHandler(PauseName, wf.WorkflowPaused{}.EventType(), e.Paused)
	r.AddHandler(ResumeName, wf.WorkflowResumed{}.EventType(), e.Resumed)
}

func (en *Engine) read(ctx context.Context, stream string) ([]event.Event, error) {
	recorded, err := en.log.ReadStream(ctx, stream)
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", stream, err)
	}
	return decodeAll(recorded)
}

func decodeAll(recorded []eventstore.Recorded) ([]event.Event, error) {
	out := make([]event.Event, 0, len(recorded))
	for _, r := range recorded {
		e, err := r.Decode()
		if err != nil {
			return nil, bus.Permanent(err)
		}
		out = append(out, e)
	}
	return out, nil
}
