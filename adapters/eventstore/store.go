// Package eventstore is the port to the event log: the one wide interface that every adapter
// (Postgres, EventStoreDB, in-memory) implements and that eventstoretest verifies.
package eventstore

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/oklog/ulid/v2"

	"github.com/attune-go/attune/domain/event"
)

// Store is the event log.
type Store interface {
	// Append writes events to one stream atomically, after checking the stream's state against
	// expected. A mismatch returns a *VersionConflictError and writes nothing.
	Append(ctx context.Context, stream string, expected Expected, events ...Proposed) (AppendResult, error)
	// AppendMany appends to several streams in one request. Each entry is checked and written
	// as Append would write it (atomically for its stream, against its own expected state)
	// and gets its own verdict at the same index of the result: a conflict, an invalid entry
	// or a duplicate event id fails that entry alone, and the others are still written.
	// Entries naming the same stream apply in order, each seeing those before it. An error
	// for the whole request (the store unreachable, ctx ended) means no entry was written
	// (or, as with Append, that the commit's outcome is unknown); the results are then nil.
	// Adapters may write the entries in one transaction (Postgres, in-memory) or one after
	// another (EventStoreDB): a caller must not rely on them becoming visible together.
	AppendMany(ctx context.Context, appends []StreamAppend) ([]StreamResult, error)
	// ReadStream returns the events of one stream in version order; an unknown stream is empty.
	ReadStream(ctx context.Context, stream string) ([]Recorded, error)
	// ReadStreamFrom returns the events of one stream with a version above afterVersion, in
	// version order: what a caller that has folded the stream up to afterVersion lacks. An
	// unknown stream, or one no longer than afterVersion, is empty.
	ReadStreamFrom(ctx context.Context, stream string, afterVersion int64) ([]Recorded, error)
	// ReadAll returns up to limit events of the global log strictly after the cursor, in cursor
	// order. It never returns an event while an event before it may still commit.
	ReadAll(ctx context.Context, after Position, limit int) ([]Recorded, error)
	// Subscribe delivers the log after the cursor in order, batch by batch: first what is
	// stored, then new events as they commit. It returns when ctx ends (nil) or fn fails.
	Subscribe(ctx context.Context, after Position, fn func(context.Context, []Recorded) error) error
}

// Proposed is an event about to be appended.
type Proposed struct {
	ID            ulid.ULID
	Type          string
	SchemaVersion int
	Data          json.RawMessage
	Metadata      event.Metadata
}

// NewProposed encodes a payload with a fresh id.
func NewProposed(e event.Event, md event.Metadata) (Proposed, error) {
	data, err := json.Marshal(e)
	if err != nil {
		return Proposed{}, fmt.Errorf("encode %s: %w", e.EventType(), err)
	}
	return Proposed{
		ID:            ulid.Make(),
		Type:          e.EventType(),
		SchemaVersion: event.SchemaVersionOf(e),
		Data:          data,
		Metadata:      md,
	}, nil
}

// Recorded is an event as the log holds it: the envelope of design §2.
type Recorded struct {
	ID            ulid.ULID
	StreamID      string
	StreamVersion int64 // 1 for the first event of a stream
	Type          string
	SchemaVersion int
	Data          json.RawMessage
	Metadata      event.Metadata
	RecordedAt    time.Time
	Position      Position
	PrevHash      []byte // Hash of the previous event of the stream; empty for version 1
	Hash          []byte

	shared *sharedPayload // set by Shared: the payload decoded once for every copy
}

// Decode returns the typed payload: a fresh value, or for a Recorded made Shared the one
// value decoded for all its copies (shared.go).
func (r Recorded) Decode() (event.Event, error) {
	if p := r.shared; p != nil {
		p.once.Do(func() { p.e, p.err = r.decode() })
		return p.e, p.err
	}
	return r.decode()
}

// StreamAppend is one entry of AppendMany: what Append takes.
type StreamAppend struct {
	Stream   string
	Expected Expected
	Events   []Proposed
}

// StreamResult is the verdict on one entry of AppendMany: what Append returns.
type StreamResult struct {
	AppendResult
	// Err is this entry's own failure (a *VersionConflictError, ErrInvalidAppend …); nil
	// when its events were written.
	Err error
}

// AppendResult reports where an append landed.
type AppendResult struct {
	// NextExpected is the stream's version after the append: pass Exact(NextExpected) to append
	// again without a concurrent writer slipping in between.
	NextExpected int64
}
