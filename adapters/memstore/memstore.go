// Package memstore is an in-memory event store for fast unit tests. It implements the same
// semantics as the Postgres adapter (eventstoretest proves it) but keeps nothing on disk.
package memstore

import (
	"bytes"
	"cmp"
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/oklog/ulid/v2"

	"github.com/attune-go/attune/adapters/eventstore"
)

var _ eventstore.Store = (*Store)(nil)

// Config tunes a Store. The zero value is ready to use.
type Config struct {
	// Now stamps RecordedAt; defaults to time.Now. Tests inject a fixed clock.
	Now func() time.Time
	// BatchSize caps the events handed to a subscriber at once; defaults to 500.
	BatchSize int
}

// Store holds the log in memory. It is safe for concurrent use.
type Store struct {
	now       func() time.Time
	batchSize int

	mu      sync.Mutex
	log     []eventstore.Recorded // global order; Position.Minor == index+1
	streams map[string][]int      // stream id → indices into log, in version order
	ids     map[ulid.ULID]struct{}
	// changed is closed and replaced on every append, waking every subscriber at once.
	changed chan struct{}
}

// New returns an empty store.
func New(cfg Config) *Store {
	if cfg.BatchSize < 0 {
		panic("memstore: negative BatchSize") // wiring error, not a runtime condition
	}
	now := cfg.Now
	if now == nil {
		now = time.Now
	}
	return &Store{
		now:       now,
		batchSize: cmp.Or(cfg.BatchSize, 500),
		streams:   map[string][]int{},
		ids:       map[ulid.ULID]struct{}{},
		changed:   make(chan struct{}),
	}
}

// Append implements eventstore.Store.
func (s *Store) Append(ctx context.Context, stream string, expected eventstore.Expected, events ...eventstore.Proposed) (eventstore.AppendResult, error) {
	if err := eventstore.CheckAppend(stream, events); err != nil {
		return eventstore.AppendResult{}, err
	}
	if err := ctx.Err(); err != nil {
		return eventstore.AppendResult{}, fmt.Errorf("append %d events to %s: %w", len(events), stream, err)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	res, err := s.appendLocked(stream, expected, events)
	if err == nil {
		s.wakeLocked()
	}
	return res, err
}

// AppendMany implements eventstore.Store: every entry under one lock, in order, so they
// become visible together, with one wake-up for the subscribers.
func (s *Store) AppendMany(ctx context.Context, appends []eventstore.StreamAppend) ([]eventstore.StreamResult, error) {
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("append to %d streams: %w", len(appends), err)
	}
	out := make([]eventstore.StreamResult, len(appends))
	s.mu.Lock()
	defer s.mu.Unlock()
	wrote := false
	for i, a := range appends {
		if err := eventstore.CheckAppend(a.Stream, a.Events); err != nil {
			out[i].Err = err
			continue
		}
		out[i].AppendResult, out[i].Err = s.appendLocked(a.Stream, a.Expected, a.Events)
		wrote = wrote || out[i].Err == nil
	}
	if wrote {
		s.wakeLocked()
	}
	return out, nil
}

// appendLocked checks and writes one stream's batch; s.mu is held.
func (s *Store) appendLocked(stream string, expected eventstore.Expected, events []eventstore.Proposed) (eventstore.AppendResult, error) {
	idx := s.streams[stream]
	version := int64(len(idx))
	if !expected.Check(version) {
		return eventstore.AppendResult{}, &eventstore.VersionConflictError{Stream: stream, Expected: expected, Actual: version}
	}
	seen := make(map[ulid.ULID]struct{}, len(events))
	for _, e := range events {
		_, stored := s.ids[e.ID]
		_, twice := seen[e.ID]
		if stored || twice {
			return eventstore.AppendResult{}, fmt.Errorf("append %d events to %s: event id %s already recorded", len(events), stream, e.ID)
		}
		seen[e.ID] = struct{}{}
	}
	var prev []byte
	if version > 0 {
		prev = s.log[idx[len(idx)-1]].Hash
	}
	at := s.now().UTC().Truncate(time.Microsecond) // what Postgres keeps, so hashes agree after a round trip
	for _, e := range events {
		version++
		r := eventstore.Recorded{
			ID:            e.ID,
			StreamID:      stream,
			StreamVersion: version,
			Type:          e.Type,
			SchemaVersion: e.SchemaVersion,
			Data:          bytes.Clone(e.Data), // the caller may reuse its buffer
			Metadata:      e.Metadata,
			RecordedAt:    at,
			Position:      eventstore.Position{Minor: uint64(len(s.log) + 1)},
			PrevHash:      prev,
		}
		r.Hash = eventstore.Chain(prev, r)
		prev = r.Hash
		s.streams[stream] = append(s.streams[stream], len(s.log))
		s.ids[e.ID] = struct{}{}
		s.log = append(s.log, r)
	}
	return eventstore.AppendResult{NextExpected: version}, nil
}

// wakeLocked wakes every subscriber; s.mu is held.
func (s *Store) wakeLocked() {
	close(s.changed)
	s.changed = make(chan struct{})
}

// ReadStream implements eventstore.Store.
func (s *Store) ReadStream(ctx context.Context, stream string) ([]eventstore.Recorded, error) {
	return s.ReadStreamFrom(ctx, stream, 0)
}

// ReadStreamFrom implements eventstore.Store.
func (s *Store) ReadStreamFrom(ctx context.Context, stream string, afterVersion int64) ([]eventstore.Recorded, error) {
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("read stream %s after version %d: %w", stream, afterVersion, err)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	idx := s.streams[stream]
	// Versions start at 1 and have no gaps: version v is idx[v-1].
	idx = idx[min(max(afterVersion, 0), int64(len(idx))):]
	out := make([]eventstore.Recorded, 0, len(idx))
	for _, i := range idx {
		out = append(out, clone(s.log[i]))
	}
	return out, nil
}

// ReadAll implements eventstore.Store.
func (s *Store) ReadAll(ctx context.Context, after eventstore.Position, limit int) ([]eventstore.Recorded, error) {
	if limit <= 0 {
		return nil, fmt.Errorf("read log after %s: limit %d, want > 0", after, limit)
	}
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("read log after %s: %w", after, err)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	out, _ := s.readLocked(after, limit)
	return out, nil
}

// readLocked returns the events after the cursor and the channel that closes on the next
// append, taken under the same lock so no append can slip between the read and the wait.
func (s *Store) readLocked(after eventstore.Position, limit int) ([]eventstore.Recorded, <-chan struct{}) {
	start := 0
	switch {
	case after.Major > 0:
		start = len(s.log) // every in-memory position is (0, n): nothing is after this cursor
	case after.Minor < uint64(len(s.log)):
		start = int(after.Minor)
	default:
		start = len(s.log)
	}
	end := min(len(s.log), start+limit)
	out := make([]eventstore.Recorded, 0, end-start)
	for _, r := range s.log[start:end] {
		out = append(out, clone(r))
	}
	return out, s.changed
}

// Subscribe implements eventstore.Store.
func (s *Store) Subscribe(ctx context.Context, after eventstore.Position, fn func(context.Context, []eventstore.Recorded) error) error {
	cursor := after
	for {
		s.mu.Lock()
		batch, changed := s.readLocked(cursor, s.batchSize)
		s.mu.Unlock()
		if len(batch) == 0 {
			select {
			case <-ctx.Done():
				return nil
			case <-changed:
				continue
			}
		}
		if ctx.Err() != nil {
			return nil
		}
		if err := fn(ctx, batch); err != nil {
			if ctx.Err() != nil && errors.Is(err, ctx.Err()) {
				return nil
			}
			return fmt.Errorf("subscriber after %s: %w", cursor, err)
		}
		cursor = batch[len(batch)-1].Position
	}
}

// clone copies the slices of r so no caller can change what the store holds.
func clone(r eventstore.Recorded) eventstore.Recorded {
	r.Data = bytes.Clone(r.Data)
	r.PrevHash = bytes.Clone(r.PrevHash)
	r.Hash = bytes.Clone(r.Hash)
	return r
}
