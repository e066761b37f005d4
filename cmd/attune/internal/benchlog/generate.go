// Package benchlog gives the benchmarks a log that is already long: a PostgreSQL database
// holding N events of executions exactly as the pipeline writes them (core.noop requested
// through the API: requested, scheduling, scheduled, running, completed — 6 events in 5
// appends), hash-chained, with every read model projected and the relay's checkpoint at the
// head, so a server started on it has nothing to catch up. It is built once per size into a
// template database (attune_bench_<events>_<fingerprint>) and cloned per run with CREATE
// DATABASE … TEMPLATE, which copies files instead of replaying a million inserts.
package benchlog

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/oklog/ulid/v2"

	"github.com/attune-go/attune/adapters/eventschema"
	"github.com/attune-go/attune/adapters/eventstore"
	"github.com/attune-go/attune/domain/event"
	"github.com/attune-go/attune/domain/execution"
	"github.com/attune-go/attune/domain/worker"
)

// EventsPerExecution is what one generated execution adds to the log.
const EventsPerExecution = 6

// interleave is how many executions are in flight at once in the generated log: the
// benchmark's 64 clients interleave their executions' appends the same way.
const interleave = 64

// copyRows is how many events go into one COPY, each its own transaction: the log's
// transaction ids then change every copyRows events (a live log has one per append; the
// cursor index orders them the same way).
const copyRows = 10_000

// span is how far back the generated history reaches.
const span = 30 * 24 * time.Hour

// writer is an eventstore.Store that only appends, computing each event's hash the way
// pgstore does and sending rows to the events table with COPY in big transactions. It sits
// behind eventschema.Guard, so every generated event passes the same checks as a live append.
type writer struct {
	pool  *pgxpool.Pool
	heads map[string]head
	rows  [][]any
	at    time.Time // recorded_at of the next append
	n     int       // events written
}

type head struct {
	version int64
	hash    []byte
}

var errAppendOnly = errors.New("benchlog: the generator's store only appends")

func (w *writer) Append(ctx context.Context, stream string, expected eventstore.Expected, events ...eventstore.Proposed) (eventstore.AppendResult, error) {
	h := w.heads[stream]
	if !expected.Check(h.version) {
		return eventstore.AppendResult{}, &eventstore.VersionConflictError{Stream: stream, Expected: expected, Actual: h.version}
	}
	at := w.at.UTC().Truncate(time.Microsecond)
	for _, e := range events {
		md, err := json.Marshal(e.Metadata)
		if err != nil {
			return eventstore.AppendResult{}, err
		}
		r := eventstore.Recorded{ID: e.ID, StreamID: stream, StreamVersion: h.version + 1, Type: e.Type,
			SchemaVersion: e.SchemaVersion, Data: e.Data, Metadata: e.Metadata, RecordedAt: at}
		hash := eventstore.Chain(h.hash, r)
		var prev []byte
		if h.version > 0 {
			prev = h.hash
		}
		w.rows = append(w.rows, []any{[16]byte(e.ID), stream, r.StreamVersion, e.Type, e.SchemaVersion,
			json.RawMessage(e.Data), json.RawMessage(md), at, prev, hash})
		h = head{version: r.StreamVersion, hash: hash}
	}
	w.heads[stream] = h
	w.n += len(events)
	if len(w.rows) >= copyRows {
		return eventstore.AppendResult{NextExpected: h.version}, w.flush(ctx)
	}
	return eventstore.AppendResult{NextExpected: h.version}, nil
}

func (w *writer) flush(ctx context.Context) error {
	if len(w.rows) == 0 {
		return nil
	}
	_, err := w.pool.CopyFrom(ctx, pgx.Identifier{"events"},
		[]string{"event_id", "stream_id", "stream_version", "event_type", "schema_version", "data", "metadata", "recorded_at", "prev_hash", "hash"},
		pgx.CopyFromRows(w.rows))
	if err != nil {
		return fmt.Errorf("copy %d events into the log: %w", len(w.rows), err)
	}
	w.rows = w.rows[:0]
	return nil
}

func (w *writer) ReadStream(context.Context, string) ([]eventstore.Recorded, error) {
	return nil, errAppendOnly
}

func (w *writer) ReadStreamFrom(context.Context, string, int64) ([]eventstore.Recorded, error) {
	return nil, errAppendOnly
}

func (w *writer) ReadAll(context.Context, eventstore.Position, int) ([]eventstore.Recorded, error) {
	return nil, errAppendOnly
}

func (w *writer) Subscribe(context.Context, eventstore.Position, func(context.Context, []eventstore.Recorded) error) error {
	return errAppendOnly
}

// generate appends about events events to the log of pool's schema (empty, migrated) and
// returns how many it wrote: a worker that registers, then executions of core.noop, 64 at a
// time interleaved, then the worker leaves (so no server takes it for a live one).
func generate(ctx context.Context, pool *pgxpool.Pool, events int) (int, error) {
	validator, err := eventschema.New()
	if err != nil {
		return 0, err
	}
	executions := max(0, (events-2)/EventsPerExecution)
	groups := (executions + interleave - 1) / interleave
	w := &writer{pool: pool, heads: map[string]head{}, at: time.Now().Add(-span)}
	log := eventschema.Guard(w, validator)
	entropy := ulid.Monotonic(rand.NewChaCha8([32]byte{1}), 0)
	newID := func() ulid.ULID { return ulid.MustNew(ulid.Timestamp(w.at), entropy) }
	propose := func(e event.Event, md event.Metadata) (eventstore.Proposed, error) {
		p, err := eventstore.NewProposed(e, md)
		p.ID = newID()
		return p, err
	}

	workerID := newID().String()
	wmd := event.Metadata{CorrelationID: worker.StreamID(workerID), Actor: "worker:" + workerID}
	reg, err := propose(&worker.WorkerRegistered{WorkerID: workerID, Name: "bench-filler", Host: "bench",
		Capabilities: worker.Capabilities{Runtimes: []string{"builtin"}}, MaxConcurrency: interleave, Version: "bench"}, wmd)
	if err != nil {
		return 0, err
	}
	if _, err := log.Append(ctx, worker.StreamID(workerID), eventstore.NoStream, reg); err != nil {
		return 0, err
	}

	step := span / time.Duration(max(groups, 1))
	type run struct {
		id, stream string
		md         event.Metadata
		cause      string // id of the event the next append answers
	}
	for g := range groups {
		start := time.Now().Add(-span).Add(time.Duration(g) * step)
		n := min(interleave, executions-g*interleave)
		runs := make([]run, n)
		for i := range runs {
			w.at = start.Add(time.Duration(i) * time.Microsecond)
			id := newID().String()
			runs[i] = run{id: id, stream: execution.StreamID(id), md: event.Metadata{CorrelationID: id, Actor: "api"}}
		}
		// The five appends of each execution, in the pipeline's order, interleaved across the group.
		for s := range 5 {
			for i := range runs {
				r := &runs[i]
				w.at = start.Add(time.Duration(s)*time.Millisecond + time.Duration(i)*time.Microsecond)
				md := r.md
				if r.cause != "" {
					md = r.md.Caused(r.cause)
				}
				var batch []event.Event
				switch s {
				case 0:
					batch = []event.Event{&execution.ExecutionRequested{ExecutionID: r.id, Action: "core.noop", RunnerType: "builtin", Parameters: json.RawMessage(`{}`)}}
				case 1:
					batch = []event.Event{&execution.ExecutionStatusChanged{ExecutionID: r.id, From: execution.Requested, To: execution.Scheduling}}
				case 2:
					batch = []event.Event{
						&execution.ExecutionScheduled{ExecutionID: r.id, WorkerID: workerID, Runtime: "builtin"},
						&execution.ExecutionStatusChanged{ExecutionID: r.id, From: execution.Scheduling, To: execution.Scheduled},
					}
				case 3:
					batch = []event.Event{&execution.ExecutionStatusChanged{ExecutionID: r.id, From: execution.Scheduled, To: execution.Running, WorkerID: workerID}}
				case 4:
					batch = []event.Event{&execution.ExecutionStatusChanged{ExecutionID: r.id, From: execution.Running, To: execution.Completed, WorkerID: workerID, Result: json.RawMessage(`{}`)}}
				}
				proposed := make([]eventstore.Proposed, len(batch))
				for k, e := range batch {
					if proposed[k], err = propose(e, md); err != nil {
						return 0, err
					}
				}
				if _, err := log.Append(ctx, r.stream, eventstore.Exact(int64(versionBefore(s))), proposed...); err != nil {
					return 0, err
				}
				switch s {
				case 0, 2, 3: // scheduling answers the request too; running answers the scheduling
					r.cause = proposed[0].ID.String()
				}
			}
		}
	}
	w.at = time.Now().Add(-time.Minute)
	dereg, err := propose(&worker.WorkerDeregistered{WorkerID: workerID, Reason: "shutdown"}, wmd)
	if err != nil {
		return 0, err
	}
	if _, err := log.Append(ctx, worker.StreamID(workerID), eventstore.Exact(1), dereg); err != nil {
		return 0, err
	}
	if err := w.flush(ctx); err != nil {
		return 0, err
	}
	return w.n, nil
}

// versionBefore is the stream's version before append s of an execution (the third append
// holds two events).
func versionBefore(s int) int {
	return [...]int{0, 1, 2, 4, 5}[s]
}

// AppendMany appends each entry in turn: the generator writes one stream at a time, so it has
// nothing to gather.
func (w *writer) AppendMany(ctx context.Context, entries []eventstore.StreamAppend) ([]eventstore.StreamResult, error) {
	out := make([]eventstore.StreamResult, len(entries))
	for i, e := range entries {
		out[i].AppendResult, out[i].Err = w.Append(ctx, e.Stream, e.Expected, e.Events...)
	}
	return out, nil
}
