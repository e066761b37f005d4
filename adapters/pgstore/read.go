package pgstore

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/attune-go/attune/adapters/eventstore"
)

const (
	columns = `transaction_id, global_position, event_id, stream_id, stream_version, event_type,
schema_version, data, metadata, recorded_at, prev_hash, hash`

	readStreamSQL = `SELECT ` + columns + ` FROM events WHERE stream_id = $1 AND stream_version > $2 ORDER BY stream_version`

	// Only rows below the oldest running transaction are final: every transaction that may
	// still commit has an id at or above it, so it can only add rows after what we return.
	readAllSQL = `SELECT ` + columns + ` FROM events
WHERE (transaction_id, global_position) > ($1::xid8, $2::bigint)
  AND transaction_id < pg_snapshot_xmin(pg_current_snapshot())
ORDER BY transaction_id, global_position
LIMIT $3`

	// pendingAfterSQL tells a subscriber that rows exist past its cursor which it could not
	// read yet: committed behind an older open transaction, or committed just now. It compares
	// the cursor with the last row of the cursor index (one backward index step) rather than
	// asking EXISTS(… > cursor): under a generic plan — what pgx's statement cache gets after
	// five runs — PostgreSQL estimated the EXISTS form as a scan of all of `events`, 25 ms per
	// call at 97k events and linear in the log's size.
	pendingAfterSQL = `SELECT COALESCE((SELECT (transaction_id, global_position) > ($1::xid8, $2::bigint) FROM events
ORDER BY transaction_id DESC, global_position DESC LIMIT 1), false)`

	// firstAfterSQL finds the next event a reader has to handle, visible or not: an event
	// held behind a long transaction elsewhere on the server is lag too.
	firstAfterSQL = `SELECT recorded_at FROM events WHERE (transaction_id, global_position) > ($1::xid8, $2::bigint)
ORDER BY transaction_id, global_position LIMIT 1`
)

// FirstAfter returns when the first committed event after a reader's cursor was recorded,
// whether or not readers may see it yet (found is false when the reader is at the head):
// its age is how far the reader is behind, including the time a long transaction anywhere
// on the server (holding pg_snapshot_xmin back) keeps it from reading.
func (s *Store) FirstAfter(ctx context.Context, after eventstore.Position) (recordedAt time.Time, found bool, err error) {
	err = s.pool.QueryRow(ctx, firstAfterSQL, after.Major, int64(after.Minor)).Scan(&recordedAt)
	if errors.Is(err, pgx.ErrNoRows) {
		return time.Time{}, false, nil
	}
	if err != nil {
		return time.Time{}, false, fmt.Errorf("find the first event after %s: %w", after, describe(err))
	}
	return recordedAt, true, nil
}

// ReadStream implements eventstore.Store.
func (s *Store) ReadStream(ctx context.Context, stream string) ([]eventstore.Recorded, error) {
	return s.ReadStreamFrom(ctx, stream, 0)
}

// ReadStreamFrom implements eventstore.Store.
func (s *Store) ReadStreamFrom(ctx context.Context, stream string, afterVersion int64) ([]eventstore.Recorded, error) {
	rows, err := s.pool.Query(ctx, readStreamSQL, stream, afterVersion)
	if err != nil {
		return nil, fmt.Errorf("read stream %s after version %d: %w", stream, afterVersion, describe(err))
	}
	out, err := scanEvents(rows, 0)
	if err != nil {
		return nil, fmt.Errorf("read stream %s after version %d: %w", stream, afterVersion, err)
	}
	if n := len(out); n > 0 {
		// Loading a stream usually precedes appending to it with Exact(its version).
		s.heads.put(stream, head{version: out[n-1].StreamVersion, hash: out[n-1].Hash})
	}
	return out, nil
}

// ReadAll implements eventstore.Store.
func (s *Store) ReadAll(ctx context.Context, after eventstore.Position, limit int) ([]eventstore.Recorded, error) {
	if limit <= 0 {
		return nil, fmt.Errorf("read log after %s: limit %d, want > 0", after, limit)
	}
	rows, err := s.pool.Query(ctx, readAllSQL, after.Major, int64(after.Minor), limit)
	if err != nil {
		return nil, fmt.Errorf("read log after %s: %w", after, describe(err))
	}
	out, err := scanEvents(rows, limit)
	if err != nil {
		return nil, fmt.Errorf("read log after %s: %w", after, err)
	}
	return out, nil
}

// pendingAfter reports whether the table holds rows after the cursor, visible or not.
func (s *Store) pendingAfter(ctx context.Context, after eventstore.Position) (bool, error) {
	var pending bool
	if err := s.pool.QueryRow(ctx, pendingAfterSQL, after.Major, int64(after.Minor)).Scan(&pending); err != nil {
		return false, fmt.Errorf("look for events after %s: %w", after, describe(err))
	}
	return pending, nil
}

func scanEvents(rows pgx.Rows, capacity int) ([]eventstore.Recorded, error) {
	defer rows.Close()
	out := make([]eventstore.Recorded, 0, capacity)
	var (
		xid      uint64
		global   int64
		id       [16]byte
		metadata []byte
		at       time.Time
	)
	for rows.Next() {
		var r eventstore.Recorded
		var data []byte // not json.RawMessage: pgx would re-validate it through UnmarshalJSON
		if err := rows.Scan(&xid, &global, &id, &r.StreamID, &r.StreamVersion, &r.Type,
			&r.SchemaVersion, &data, &metadata, &at, &r.PrevHash, &r.Hash); err != nil {
			return nil, fmt.Errorf("scan event: %w", describe(err))
		}
		if err := json.Unmarshal(metadata, &r.Metadata); err != nil {
			return nil, fmt.Errorf("decode metadata of event %x: %w", id, err)
		}
		r.ID, r.Data = id, data
		r.RecordedAt = at.UTC()
		r.Position = eventstore.Position{Major: xid, Minor: uint64(global)}
		out = append(out, r)
	}
	if err := rows.Err(); err != nil {
		return nil, describe(err)
	}
	return out, nil
}
