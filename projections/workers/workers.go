// Package workers is the workers read model: one row per worker, folded from its lifecycle
// events (WorkerRegistered, WorkerDeregistered). Liveness is not here: heartbeats are not
// events (design §2); queries join them from the heartbeat table into Heartbeat.
package workers

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/attune-go/attune/adapters/eventstore"
	"github.com/attune-go/attune/domain/event"
	"github.com/attune-go/attune/domain/worker"
	"github.com/attune-go/attune/projections/internal/keyset"
	"github.com/attune-go/attune/projections/internal/rowfold"
)

// Name keys the projection's checkpoint and lock: a persisted identifier.
const Name = "projection:workers"

// Status is where a worker stands in its lifecycle.
type Status string

// The statuses.
const (
	Registered   Status = "registered"
	Deregistered Status = "deregistered"
)

// Statuses lists every status.
var Statuses = []Status{Registered, Deregistered}

// ParseStatus accepts exactly the names of Statuses.
func ParseStatus(s string) (Status, error) {
	if st := Status(s); slices.Contains(Statuses, st) {
		return st, nil
	}
	return "", fmt.Errorf("unknown worker status %q (want one of %v)", s, Statuses)
}

// Worker is one row of the read model.
type Worker struct {
	ID             string
	Name           string
	Host           string
	Runtimes       []string
	MaxConcurrency int
	Version        string // the attune build it runs
	Status         Status
	Reason         string // why it deregistered
	Lost           bool   // it stopped answering (rather than stopping cleanly)
	RegisteredAt   time.Time
	DeregisteredAt time.Time // zero while registered
	UpdatedAt      time.Time
	StreamVersion  int64
	Position       eventstore.Position

	// Heartbeat is not part of the projection: queries fill it from the live table, where
	// the worker has beaten at least once. Apply leaves it nil and saving ignores it.
	Heartbeat *Heartbeat
}

// Heartbeat is a worker's liveness as its last beat reported it.
type Heartbeat struct {
	LastSeen time.Time
	Running  int
	// PackEnvs are the pack dependency environments the worker has on its host.
	PackEnvs []PackEnv
}

// PackEnv is one pack's virtualenv or node_modules on a worker's host, as the worker
// reports it (adapters/runtime/packenv.Env).
type PackEnv struct {
	Pack   string `json:"pack"`
	Kind   string `json:"kind"` // python, node
	SHA256 string `json:"sha256"`
	State  string `json:"state"` // building, ready, failed
	Dir    string `json:"dir"`
	Log    string `json:"log"`
	Reason string `json:"reason,omitempty"`
}

// Store loads and saves rows inside the projection's transaction (adapters/readmodel).
type Store interface {
	LoadWorkers(ctx context.Context, ids []string) (map[string]Worker, error)
	SaveWorkers(ctx context.Context, rows []Worker) error
}

// projected lists the wire types this projection reads.
var projected = map[string]bool{
	worker.WorkerRegistered{}.EventType():   true,
	worker.WorkerDeregistered{}.EventType(): true,
}

func workerID(e event.Event) string {
	switch e := e.(type) {
	case *worker.WorkerRegistered:
		return e.WorkerID
	case *worker.WorkerDeregistered:
		return e.WorkerID
	}
	return ""
}

// Apply folds one batch: one load and one save.
func Apply(ctx context.Context, s Store, batch []eventstore.Recorded) error {
	changes, ids, err := rowfold.Select(Name, "worker id", batch, projected, workerID)
	if err != nil || len(changes) == 0 {
		return err
	}
	rows, err := s.LoadWorkers(ctx, ids)
	if err != nil {
		return fmt.Errorf("project %s: load %d workers: %w", Name, len(ids), err)
	}
	for _, c := range changes {
		w, ok := rows[c.ID]
		if !ok {
			w = Worker{ID: c.ID, RegisteredAt: c.R.RecordedAt}
		}
		w.UpdatedAt, w.StreamVersion, w.Position = c.R.RecordedAt, c.R.StreamVersion, c.R.Position
		switch e := c.E.(type) {
		case *worker.WorkerRegistered:
			// A worker that comes back under its id starts a new life: the last one's end
			// no longer describes it.
			w.Name, w.Host, w.Runtimes = e.Name, e.Host, slices.Clone(e.Capabilities.Runtimes)
			w.MaxConcurrency, w.Version = e.MaxConcurrency, e.Version
			w.Status, w.RegisteredAt = Registered, c.R.RecordedAt
			w.Reason, w.Lost, w.DeregisteredAt = "", false, time.Time{}
		case *worker.WorkerDeregistered:
			w.Status, w.Reason, w.Lost, w.DeregisteredAt = Deregistered, e.Reason, e.Lost, c.R.RecordedAt
		}
		rows[c.ID] = w
	}
	out := make([]Worker, 0, len(ids))
	for _, id := range ids {
		out = append(out, rows[id])
	}
	if err := s.SaveWorkers(ctx, out); err != nil {
		return fmt.Errorf("project %s: save %d workers: %w", Name, len(out), err)
	}
	return nil
}

// Page sizes of the list.
const (
	DefaultLimit = 100
	MaxLimit     = 1000
)

// Filter selects workers in id order.
type Filter struct {
	Status Status // empty: every worker
	Limit  int    // 0: DefaultLimit
	Cursor string
}

// Validate returns every problem of the filter at once.
func (f Filter) Validate() error {
	var errs []error
	if f.Status != "" {
		if _, err := ParseStatus(string(f.Status)); err != nil {
			errs = append(errs, err)
		}
	}
	errs = append(errs, keyset.CheckLimit(f.Limit, MaxLimit))
	if _, _, err := keyset.DecodeString(f.Cursor); err != nil {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}

// PageSize is the number of items a page holds at most.
func (f Filter) PageSize() int { return keyset.PageSize(f.Limit, DefaultLimit) }

// Page is one page of workers. Next is empty on the last page.
type Page struct {
	Items []Worker
	Next  string
}

// Cursor returns the cursor of the page after w.
func Cursor(w Worker) string { return keyset.EncodeString(w.ID) }

// ParseCursor returns the worker id a cursor continues after; ok is false for the first page.
func ParseCursor(c string) (string, bool, error) { return keyset.DecodeString(c) }
