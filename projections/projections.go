// Package projections turns the log into Postgres read models and keeps them current.
//
// The seam between logic and SQL: a projection (projections/executions, projections/streams,
// …) is pure Go. Its Apply reads a batch of recorded events in log order, decodes the types
// it cares about, loads the rows they touch through its own small Store interface
// (LoadExecutions/SaveExecutions …), folds the events into those rows in memory and saves each
// changed row once. adapters/readmodel implements every such Store on one Postgres
// transaction (the Tx of this package) and owns all the SQL: the DDL in
// schemas/migrations/00002_projections.sql, the multi-row upserts and the queries. The Runner
// here owns the control flow: it follows the log in cursor order straight from the event store
// (not the bus), and for each batch asks its Target for one transaction that checks and
// advances the projection's checkpoint, then lets the projection write its rows — rows and
// checkpoint commit together, so every event is applied exactly once. The checkpoint update is
// a compare-and-set on the position the batch started from, which fences off a second writer
// even if the leadership lock were ever lost. Leadership is a session advisory lock per
// projection (Target.Lead); a rebuild takes a second, "pause" lock that every batch
// transaction takes shared, so a live runner simply waits while a rebuild truncates and
// replays, then notices the moved checkpoint and resumes from it. Because the target is just a
// pool (a search_path) and catch-up takes an optional end position, the same code builds read
// models into a separate schema as of a past position, for audits (Replay).
//
// A server runs every projection through one Group (group.go) rather than one Runner each:
// one cursor, one leadership lock, and one transaction per batch for every read model and
// every checkpoint (Target.UpdateGroup). A member that cannot go along — it stalls on an
// event, a rebuild pauses it — catches up alone with the Runner's own code and rejoins.
package projections

import (
	"context"
	"errors"
	"strings"

	"github.com/attune-go/attune/adapters/eventstore"
	"github.com/attune-go/attune/projections/catalog"
	"github.com/attune-go/attune/projections/causality"
	"github.com/attune-go/attune/projections/enforcements"
	"github.com/attune-go/attune/projections/events"
	"github.com/attune-go/attune/projections/executions"
	"github.com/attune-go/attune/projections/inquiries"
	"github.com/attune-go/attune/projections/keys"
	"github.com/attune-go/attune/projections/policies"
	"github.com/attune-go/attune/projections/streams"
	"github.com/attune-go/attune/projections/workers"
	"github.com/attune-go/attune/projections/workflows"
)

// ErrCheckpointMoved says a batch found the projection's checkpoint elsewhere than where the
// batch started: another writer (a rebuild, or a runner that took over) moved it. The batch
// is rolled back; the runner resumes from the stored checkpoint.
var ErrCheckpointMoved = errors.New("projection checkpoint moved")

// Tx is every read model's store, bound to one transaction of the target.
type Tx interface {
	executions.Store
	streams.Store
	catalog.Store
	events.Store
	enforcements.Store
	workers.Store
	causality.Store
	workflows.Store
	policies.Store
	inquiries.Store
	keys.Store
}

// Projection is one read model: a persisted name and the fold that applies a batch.
type Projection struct {
	Name  string
	Apply func(ctx context.Context, tx Tx, batch []eventstore.Recorded) error
}

// Target is where read models live: a Postgres schema (adapters/readmodel).
type Target interface {
	// Checkpoint returns the last position applied by the projection (Start if none).
	Checkpoint(ctx context.Context, name string) (eventstore.Position, error)
	// Update runs fn in one transaction that first waits out a rebuild of the projection,
	// then moves its checkpoint from `from` to `to` (ErrCheckpointMoved if it is not at from).
	Update(ctx context.Context, name string, from, to eventstore.Position, fn func(Tx) error) error
	// UpdateGroup runs the moves of several projections in one transaction. For each move it
	// takes the projection's pause lock shared without waiting and moves its checkpoint from
	// From to To; a move that finds a rebuild (or an audit) holding the projection, or its
	// checkpoint elsewhere, writes nothing and is returned in skipped. Without isolate, any
	// Apply that fails fails the whole transaction. With isolate, each move runs in a
	// savepoint of its own: one that fails is rolled back alone and returned in failed, and
	// the others commit.
	UpdateGroup(ctx context.Context, moves []Move, isolate bool) (skipped map[string]bool, failed map[string]error, err error)
	// Reset empties the projection's tables and deletes its checkpoint, in one transaction.
	Reset(ctx context.Context, name string) error
	// Beside builds the projection into empty scratch tables beside the live ones with build
	// (which catches a Target up from its checkpoint), then, with the live projection paused,
	// runs build again to catch up and swaps the rows and the checkpoint into the live tables
	// in one transaction. If build fails the live tables are untouched.
	Beside(ctx context.Context, name string, build func(context.Context, Target) error) error
	// Lead waits until this caller is the projection's only live runner, then runs fn with
	// the Target to write through; fn's context ends if the leadership is lost.
	Lead(ctx context.Context, name string, fn func(context.Context, Target) error) error
	// Pause waits until no batch of the projection is being applied and holds every later one
	// back while fn runs with a Target bound to the pausing session.
	Pause(ctx context.Context, name string, fn func(context.Context, Target) error) error
}

// Executions is the executions read model.
var Executions = Projection{
	Name:  executions.Name,
	Apply: func(ctx context.Context, tx Tx, b []eventstore.Recorded) error { return executions.Apply(ctx, tx, b) },
}

// Streams is the streams read model.
var Streams = Projection{
	Name:  streams.Name,
	Apply: func(ctx context.Context, tx Tx, b []eventstore.Recorded) error { return streams.Apply(ctx, tx, b) },
}

// Catalog is the packs and pack components read model.
var Catalog = Projection{
	Name:  catalog.Name,
	Apply: func(ctx context.Context, tx Tx, b []eventstore.Recorded) error { return catalog.Apply(ctx, tx, b) },
}

// Events is the trigger events read model.
var Events = Projection{
	Name:  events.Name,
	Apply: func(ctx context.Context, tx Tx, b []eventstore.Recorded) error { return events.Apply(ctx, tx, b) },
}

// Enforcements is the enforcements read model.
var Enforcements = Projection{
	Name:  enforcements.Name,
	Apply: func(ctx context.Context, tx Tx, b []eventstore.Recorded) error { return enforcements.Apply(ctx, tx, b) },
}

// Workers is the workers read model.
var Workers = Projection{
	Name:  workers.Name,
	Apply: func(ctx context.Context, tx Tx, b []eventstore.Recorded) error { return workers.Apply(ctx, tx, b) },
}

// Causality is the trace index: every event with its correlation and causation.
var Causality = Projection{
	Name:  causality.Name,
	Apply: func(ctx context.Context, tx Tx, b []eventstore.Recorded) error { return causality.Apply(ctx, tx, b) },
}

// Workflows is the workflow tree read model: workflow runs and their task runs.
var Workflows = Projection{
	Name:  workflows.Name,
	Apply: func(ctx context.Context, tx Tx, b []eventstore.Recorded) error { return workflows.Apply(ctx, tx, b) },
}

// Policies is the policies read model: each policy with the executions it holds now.
var Policies = Projection{
	Name:  policies.Name,
	Apply: func(ctx context.Context, tx Tx, b []eventstore.Recorded) error { return policies.Apply(ctx, tx, b) },
}

// Inquiries is the inquiries read model: one row per question core.ask waits on.
var Inquiries = Projection{
	Name:  inquiries.Name,
	Apply: func(ctx context.Context, tx Tx, b []eventstore.Recorded) error { return inquiries.Apply(ctx, tx, b) },
}

// KV is the key-value store's read model.
var KV = Projection{
	Name:  keys.Name,
	Apply: func(ctx context.Context, tx Tx, b []eventstore.Recorded) error { return keys.Apply(ctx, tx, b) },
}

// All lists every projection, in the order the server starts them.
func All() []Projection {
	return []Projection{Executions, Streams, Catalog, Events, Enforcements, Workers, Causality, Workflows, Policies, Inquiries, KV}
}

// Lookup finds a projection by its name, with or without the "projection:" prefix (the CLI
// accepts `attune projections rebuild executions`).
func Lookup(name string) (Projection, bool) {
	for _, p := range All() {
		if p.Name == name || strings.TrimPrefix(p.Name, "projection:") == name {
			return p, true
		}
	}
	return Projection{}, false
}
