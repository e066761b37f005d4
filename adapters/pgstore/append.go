package pgstore

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/attune-go/attune/adapters/eventstore"
	"github.com/attune-go/attune/adapters/postgres"
)

// An Any append that lost the race for the stream's next version retries, up to
// maxAnyAttempts times, after a random pause of up to maxAnyBackoff (doubling from 1ms): each
// loss means another writer committed, so the stream is moving, not stuck, and the pause lets
// a writer that keeps winning (its head is cached) finish instead of starving the others.
const (
	maxAnyAttempts = 30
	maxAnyBackoff  = 50 * time.Millisecond
)

const (
	pgUniqueViolation        = "23505"
	constraintStreamVersion  = "events_stream_id_stream_version_key"
	constraintEventID        = "events_event_id_key"
	selectHeadSQL            = `SELECT stream_version, hash FROM events WHERE stream_id = $1 ORDER BY stream_version DESC LIMIT 1`
	insertBatchFromArraysSQL = `
INSERT INTO events (event_id, stream_id, stream_version, event_type, schema_version, data, metadata, recorded_at, prev_hash, hash)
SELECT e.id, $1, e.version, e.type, e.schema_version, e.data::json, e.metadata::json, $2, e.prev_hash, e.hash
FROM unnest($3::uuid[], $4::bigint[], $5::text[], $6::int[], $7::text[], $8::text[], $9::bytea[], $10::bytea[])
    WITH ORDINALITY AS e(id, version, type, schema_version, data, metadata, prev_hash, hash, n)
ORDER BY e.n`
)

// errLostRace says another writer took the stream's next version between our read of the
// head and our insert.
var errLostRace = errors.New("lost the race for the next stream version")

// Append implements eventstore.Store. The batch goes in with one INSERT statement, which is
// atomic on its own and commits at once, keeping the transaction as short as it can be. The
// stream's head (for the expectation and the hash chain) is read first unless this process
// already knows it: a new stream (NoStream) or a head in the cache. Either way the unique key
// on (stream_id, stream_version) settles races: whoever inserts version head+1 first wins.
func (s *Store) Append(ctx context.Context, stream string, expected eventstore.Expected, events ...eventstore.Proposed) (eventstore.AppendResult, error) {
	if err := eventstore.CheckAppend(stream, events); err != nil {
		return eventstore.AppendResult{}, err
	}
	rows, err := encodeBatch(events)
	if err != nil {
		return eventstore.AppendResult{}, fmt.Errorf("append %d events to %s: %w", len(events), stream, err)
	}
	for attempt := 1; ; attempt++ {
		h, known := s.knownHead(stream, expected)
		if !known {
			if h, err = s.readHead(ctx, stream); err != nil {
				return eventstore.AppendResult{}, fmt.Errorf("append %d events to %s: %w", len(events), stream, err)
			}
		}
		if !expected.Check(h.version) {
			return eventstore.AppendResult{}, &eventstore.VersionConflictError{Stream: stream, Expected: expected, Actual: h.version}
		}
		last, err := s.insert(ctx, stream, h, events, rows)
		if err == nil {
			s.heads.put(stream, last)
			return eventstore.AppendResult{NextExpected: last.version}, nil
		}
		if !errors.Is(err, errLostRace) {
			return eventstore.AppendResult{}, err
		}
		s.heads.forget(stream)
		if expected.IsAny() && attempt < maxAnyAttempts {
			if err := pause(ctx, attempt); err != nil {
				return eventstore.AppendResult{}, fmt.Errorf("append %d events to %s: %w", len(events), stream, err)
			}
			continue
		}
		// The winner has committed (our insert waited for it), so this read sees it.
		actual, rerr := s.readHead(ctx, stream)
		if rerr != nil {
			return eventstore.AppendResult{}, fmt.Errorf("append %d events to %s after a conflict: %w", len(events), stream, rerr)
		}
		if expected.IsAny() {
			return eventstore.AppendResult{}, fmt.Errorf("append %d events to %s: %d concurrent writers in a row took the next version (now %d): %w",
				len(events), stream, attempt, actual.version, err)
		}
		return eventstore.AppendResult{}, &eventstore.VersionConflictError{Stream: stream, Expected: expected, Actual: actual.version}
	}
}

// pause waits a random time, longer after each lost race, or until ctx ends.
func pause(ctx context.Context, attempt int) error {
	limit := min(maxAnyBackoff, time.Millisecond<<min(attempt, 16))
	t := time.NewTimer(rand.N(limit) + 1)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

// knownHead returns the stream's head without asking the server, when it can: a stream
// expected not to exist has none, and an expected version the cache holds has its hash there.
// A wrong guess only costs a failed insert (see headCache).
func (s *Store) knownHead(stream string, expected eventstore.Expected) (head, bool) {
	if expected == eventstore.NoStream {
		return head{}, true
	}
	h, ok := s.heads.get(stream)
	if !ok || (!expected.IsAny() && h.version != expected.Version()) {
		return head{}, false
	}
	return h, true
}

// readHead reads the last version and hash of a stream (zero: no events).
func (s *Store) readHead(ctx context.Context, stream string) (head, error) {
	var h head
	err := s.pool.QueryRow(ctx, selectHeadSQL, stream).Scan(&h.version, &h.hash)
	if err != nil && !errors.Is(err, pgx.ErrNoRows) {
		return head{}, fmt.Errorf("read head of %s: %w", stream, describe(err))
	}
	return h, nil
}

// batchRows holds the columns that do not depend on the stream's head.
type batchRows struct {
	ids       [][16]byte
	types     []string
	versions  []int
	datas     []string
	metadatas []string
}

func encodeBatch(events []eventstore.Proposed) (batchRows, error) {
	b := batchRows{
		ids:       make([][16]byte, len(events)),
		types:     make([]string, len(events)),
		versions:  make([]int, len(events)),
		datas:     make([]string, len(events)),
		metadatas: make([]string, len(events)),
	}
	for i, e := range events {
		md, err := json.Marshal(e.Metadata)
		if err != nil {
			return batchRows{}, fmt.Errorf("encode metadata of event %s: %w", e.ID, err)
		}
		b.ids[i], b.types[i], b.versions[i] = e.ID, e.Type, e.SchemaVersion
		b.datas[i], b.metadatas[i] = string(e.Data), string(md)
	}
	return b, nil
}

// insert writes the batch after h, stamping times and hashes, and returns the new head.
func (s *Store) insert(ctx context.Context, stream string, h head, events []eventstore.Proposed, rows batchRows) (head, error) {
	at := s.cfg.Now().UTC().Truncate(time.Microsecond)
	versions := make([]int64, len(events))
	prevs := make([][]byte, len(events))
	hashes := make([][]byte, len(events))
	prev := h.hash
	for i, e := range events {
		r := eventstore.Recorded{
			ID: e.ID, StreamID: stream, StreamVersion: h.version + int64(i) + 1, Type: e.Type,
			SchemaVersion: e.SchemaVersion, Data: e.Data, Metadata: e.Metadata, RecordedAt: at,
		}
		versions[i], prevs[i] = r.StreamVersion, prev
		hashes[i] = eventstore.Chain(prev, r)
		prev = hashes[i]
	}
	args := []any{stream, at, rows.ids, versions, rows.types, rows.versions, rows.datas, rows.metadatas, prevs, hashes}
	last := head{version: versions[len(versions)-1], hash: prev}

	if s.cfg.beforeCommit == nil {
		if _, err := s.pool.Exec(ctx, insertBatchFromArraysSQL, args...); err != nil {
			return head{}, translateInsertError(err, stream, len(events))
		}
		return last, nil
	}
	// Tests only: the same statement in an explicit transaction held open by the hook.
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, insertBatchFromArraysSQL, args...); err != nil {
			return translateInsertError(err, stream, len(events))
		}
		return s.cfg.beforeCommit(ctx)
	})
	if err != nil {
		return head{}, err
	}
	return last, nil
}

// translateInsertError turns the unique violations an insert can hit into what Append means
// by them; no pgx type leaves this package.
func translateInsertError(err error, stream string, n int) error {
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) && pgErr.Code == pgUniqueViolation {
		switch pgErr.ConstraintName {
		case constraintStreamVersion:
			return errLostRace
		case constraintEventID:
			return fmt.Errorf("append %d events to %s: an event id is already recorded (%s)", n, stream, pgErr.Detail)
		}
	}
	return fmt.Errorf("append %d events to %s: insert: %w", n, stream, describe(err))
}

// describe renders a driver error as text so the pgx type does not leak through %w, keeping
// context errors and outages (ErrUnavailable) matchable.
func describe(err error) error {
	switch {
	case errors.Is(err, context.Canceled):
		return fmt.Errorf("%s: %w", err.Error(), context.Canceled)
	case errors.Is(err, context.DeadlineExceeded):
		return fmt.Errorf("%s: %w", err.Error(), context.DeadlineExceeded)
	case postgres.IsTransient(err):
		return fmt.Errorf("%s: %w", err.Error(), ErrUnavailable)
	}
	return errors.New(err.Error())
}

// ErrUnavailable marks a store error caused by the database being away or overloaded for a
// while (postgres.IsTransient): worth retrying for as long as it lasts.
var ErrUnavailable = errors.New("database unavailable")

// IsTransient reports whether err, from this store or straight from the driver, says the
// database is away for a while rather than that the request is wrong.
func IsTransient(err error) bool {
	return errors.Is(err, ErrUnavailable) || postgres.IsTransient(err)
}
