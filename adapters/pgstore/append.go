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

// A request that lost the race for a stream's next version retries on freshly read heads, up
// to maxAnyAttempts times, pausing from the second loss on for a random time of up to
// maxAnyBackoff (doubling from 1ms): each loss means another writer committed, so the stream is
// moving, not stuck, and the pause lets a writer that keeps winning (its head is cached) finish
// instead of starving the others. Only Any appends can lose more than once: an Exact or
// NoStream append whose stream moved gets its conflict from the fresh head.
const (
	maxAnyAttempts = 30
	maxAnyBackoff  = 50 * time.Millisecond
)

const (
	pgUniqueViolation       = "23505"
	constraintStreamVersion = "events_stream_id_stream_version_key"
	constraintEventID       = "events_event_id_key"
	selectHeadSQL           = `SELECT stream_version, hash FROM events WHERE stream_id = $1 ORDER BY stream_version DESC LIMIT 1`
	// selectHeadsSQL reads the heads of several streams, one backward index step each; a
	// stream without events has no row.
	selectHeadsSQL = `SELECT s.stream_id, h.stream_version, h.hash FROM unnest($1::text[]) AS s(stream_id)
CROSS JOIN LATERAL (SELECT stream_version, hash FROM events WHERE events.stream_id = s.stream_id
    ORDER BY stream_version DESC LIMIT 1) AS h`
	// insertSQL writes every event of a request, of any number of streams, in one statement:
	// one transaction, one transaction id for all its rows, global positions in array order
	// (each stream's versions ascending), and one NOTIFY from the statement trigger.
	insertSQL = `
INSERT INTO events (event_id, stream_id, stream_version, event_type, schema_version, data, metadata, recorded_at, prev_hash, hash)
SELECT e.id, e.stream, e.version, e.type, e.schema_version, e.data::json, e.metadata::json, $1, e.prev_hash, e.hash
FROM unnest($2::uuid[], $3::text[], $4::bigint[], $5::text[], $6::int[], $7::text[], $8::text[], $9::bytea[], $10::bytea[])
    WITH ORDINALITY AS e(id, stream, version, type, schema_version, data, metadata, prev_hash, hash, n)
ORDER BY e.n`
)

// errLostRace says another writer took a stream's next version between our read of the head
// and our insert.
var errLostRace = errors.New("lost the race for the next stream version")

// Append implements eventstore.Store: AppendMany of one entry. The batch goes in with one
// INSERT statement, which is atomic on its own and commits at once, keeping the transaction
// as short as it can be. The stream's head (for the expectation and the hash chain) is read
// first unless this process already knows it: a new stream (NoStream) or a head in the cache.
// Either way the unique key on (stream_id, stream_version) settles races: whoever inserts
// version head+1 first wins.
func (s *Store) Append(ctx context.Context, stream string, expected eventstore.Expected, events ...eventstore.Proposed) (eventstore.AppendResult, error) {
	if err := eventstore.CheckAppend(stream, events); err != nil {
		return eventstore.AppendResult{}, err
	}
	rows, err := encodeBatch(events)
	if err != nil {
		return eventstore.AppendResult{}, fmt.Errorf("append %d events to %s: %w", len(events), stream, err)
	}
	out := make([]eventstore.StreamResult, 1)
	a := eventstore.StreamAppend{Stream: stream, Expected: expected, Events: events}
	if err := s.write(ctx, []entry{{i: 0, StreamAppend: a, rows: rows}}, out); err != nil {
		return eventstore.AppendResult{}, err
	}
	return out[0].AppendResult, out[0].Err
}

// AppendMany implements eventstore.Store. Every entry that passes its own checks goes into
// one INSERT … unnest statement: one transaction, one NOTIFY, however many streams. Each
// entry's expectation is checked against its stream's head (read in one statement for the
// streams this process does not know) and against the entries before it in the request; an
// entry that fails it gets its *VersionConflictError and the others are still written. If
// the statement fails on an entry's fault (a duplicate event id, data the server refuses),
// each entry is retried alone so that the fault is reported to its entry only. An outage or
// the end of ctx fails the whole request, with nothing written.
func (s *Store) AppendMany(ctx context.Context, appends []eventstore.StreamAppend) ([]eventstore.StreamResult, error) {
	out := make([]eventstore.StreamResult, len(appends))
	entries := make([]entry, 0, len(appends))
	for i, a := range appends {
		if err := eventstore.CheckAppend(a.Stream, a.Events); err != nil {
			out[i].Err = err
			continue
		}
		rows, err := encodeBatch(a.Events)
		if err != nil {
			out[i].Err = fmt.Errorf("append %d events to %s: %w", len(a.Events), a.Stream, err)
			continue
		}
		entries = append(entries, entry{i: i, StreamAppend: a, rows: rows})
	}
	if len(entries) == 0 {
		return out, nil
	}
	if err := s.write(ctx, entries, out); err != nil {
		return nil, err
	}
	return out, nil
}

// entry is one valid StreamAppend of a request and its encoded rows.
type entry struct {
	i int // index into the request and its results
	eventstore.StreamAppend
	rows batchRows
}

// write appends the entries, setting out[e.i] for each. It returns an error only for a
// failure of the whole request (an outage, ctx), which wrote nothing.
func (s *Store) write(ctx context.Context, entries []entry, out []eventstore.StreamResult) error {
	for attempt := 1; ; attempt++ {
		// After a lost race no cached or assumed head is trusted: read them all.
		heads, err := s.headsOf(ctx, entries, attempt > 1)
		if err != nil {
			return fmt.Errorf("%s: %w", describeRequest(entries), err)
		}
		plan := s.plan(entries, heads)
		if len(plan.rows.ids) == 0 {
			copyResults(plan.results, out)
			return nil
		}
		err = s.insert(ctx, plan.rows, len(entries))
		if err == nil {
			copyResults(plan.results, out)
			for stream, h := range plan.written {
				s.heads.put(stream, h)
			}
			return nil
		}
		for _, e := range entries {
			s.heads.forget(e.Stream)
		}
		switch {
		case errors.Is(err, errLostRace):
			if attempt < maxAnyAttempts {
				if attempt > 1 {
					if err := pause(ctx, attempt-1); err != nil {
						return fmt.Errorf("%s: %w", describeRequest(entries), err)
					}
				}
				continue
			}
			if len(entries) > 1 {
				// Which stream keeps losing is unknown: let each entry fight on alone.
				s.writeEach(ctx, entries, out)
				return nil
			}
			e := entries[0]
			out[e.i].Err = fmt.Errorf("append %d events to %s: %d concurrent writers in a row took the next version: %w",
				len(e.Events), e.Stream, attempt, err)
			return nil
		case wholeRequest(err):
			return err
		case len(entries) > 1:
			// One entry's fault must not fail the others.
			s.writeEach(ctx, entries, out)
			return nil
		default:
			out[entries[0].i].Err = err
			return nil
		}
	}
}

// writeEach writes each entry alone, in order, each with its own verdict (even an outage's:
// the entries before it may be written).
func (s *Store) writeEach(ctx context.Context, entries []entry, out []eventstore.StreamResult) {
	for _, e := range entries {
		if err := s.write(ctx, []entry{e}, out); err != nil {
			out[e.i].Err = err
		}
	}
}

// wholeRequest reports whether an insert error says nothing about the entries: the database
// is away or the caller gave up.
func wholeRequest(err error) bool {
	return errors.Is(err, ErrUnavailable) || errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded)
}

func copyResults(from map[int]eventstore.StreamResult, out []eventstore.StreamResult) {
	for i, r := range from {
		out[i] = r
	}
}

func describeRequest(entries []entry) string {
	if len(entries) == 1 {
		return fmt.Sprintf("append %d events to %s", len(entries[0].Events), entries[0].Stream)
	}
	return fmt.Sprintf("append to %d streams", len(entries))
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

// headsOf returns the head of every stream of the request before it: from what this process
// knows when the first entry of a stream lets it (see knownHead), else read from the server
// in one statement. fresh reads every one.
func (s *Store) headsOf(ctx context.Context, entries []entry, fresh bool) (map[string]head, error) {
	heads := make(map[string]head, len(entries))
	var unknown []string
	decided := make(map[string]bool, len(entries))
	for _, e := range entries {
		if decided[e.Stream] {
			continue
		}
		decided[e.Stream] = true
		if !fresh {
			if h, ok := s.knownHead(e.Stream, e.Expected); ok {
				heads[e.Stream] = h
				continue
			}
		}
		unknown = append(unknown, e.Stream)
	}
	switch len(unknown) {
	case 0:
	case 1:
		h, err := s.readHead(ctx, unknown[0])
		if err != nil {
			return nil, err
		}
		heads[unknown[0]] = h
	default:
		if err := s.readHeads(ctx, unknown, heads); err != nil {
			return nil, err
		}
	}
	return heads, nil
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

// readHeads reads the heads of several streams into heads; a stream without events gets the
// zero head.
func (s *Store) readHeads(ctx context.Context, streams []string, heads map[string]head) error {
	rows, err := s.pool.Query(ctx, selectHeadsSQL, streams)
	if err != nil {
		return fmt.Errorf("read heads of %d streams: %w", len(streams), describe(err))
	}
	defer rows.Close()
	for _, stream := range streams {
		heads[stream] = head{}
	}
	for rows.Next() {
		var (
			stream string
			h      head
		)
		if err := rows.Scan(&stream, &h.version, &h.hash); err != nil {
			return fmt.Errorf("read heads of %d streams: %w", len(streams), describe(err))
		}
		heads[stream] = h
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("read heads of %d streams: %w", len(streams), describe(err))
	}
	return nil
}

// plan is what one attempt will write, and what each entry will be told once it is written.
type plan struct {
	rows    insertRows
	results map[int]eventstore.StreamResult // by request index
	written map[string]head                 // each written stream's new head
}

// insertRows holds the columns of insertSQL.
type insertRows struct {
	at        time.Time
	ids       [][16]byte
	streams   []string
	versions  []int64
	types     []string
	schemas   []int
	datas     []string
	metadatas []string
	prevs     [][]byte
	hashes    [][]byte
}

// plan checks each entry's expectation against its stream as the entries before it leave it,
// and stamps and chains the events of those that pass. A conflict found here holds only if
// the rows are then written: a request that fails as a whole reports nothing per entry.
func (s *Store) plan(entries []entry, heads map[string]head) plan {
	p := plan{results: make(map[int]eventstore.StreamResult, len(entries)), written: map[string]head{}}
	p.rows.at = s.cfg.Now().UTC().Truncate(time.Microsecond)
	for _, e := range entries {
		h := heads[e.Stream]
		if !e.Expected.Check(h.version) {
			p.results[e.i] = eventstore.StreamResult{Err: &eventstore.VersionConflictError{Stream: e.Stream, Expected: e.Expected, Actual: h.version}}
			continue
		}
		prev := h.hash
		for j, ev := range e.Events {
			r := eventstore.Recorded{
				ID: ev.ID, StreamID: e.Stream, StreamVersion: h.version + int64(j) + 1, Type: ev.Type,
				SchemaVersion: ev.SchemaVersion, Data: ev.Data, Metadata: ev.Metadata, RecordedAt: p.rows.at,
			}
			hash := eventstore.Chain(prev, r)
			p.rows.ids = append(p.rows.ids, e.rows.ids[j])
			p.rows.streams = append(p.rows.streams, e.Stream)
			p.rows.versions = append(p.rows.versions, r.StreamVersion)
			p.rows.types = append(p.rows.types, e.rows.types[j])
			p.rows.schemas = append(p.rows.schemas, e.rows.versions[j])
			p.rows.datas = append(p.rows.datas, e.rows.datas[j])
			p.rows.metadatas = append(p.rows.metadatas, e.rows.metadatas[j])
			p.rows.prevs = append(p.rows.prevs, prev)
			p.rows.hashes = append(p.rows.hashes, hash)
			prev = hash
		}
		h = head{version: h.version + int64(len(e.Events)), hash: prev}
		heads[e.Stream] = h
		p.written[e.Stream] = h
		p.results[e.i] = eventstore.StreamResult{AppendResult: eventstore.AppendResult{NextExpected: h.version}}
	}
	return p
}

// batchRows holds the columns of one entry that do not depend on the stream's head.
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

// insert writes the planned rows in one statement.
func (s *Store) insert(ctx context.Context, rows insertRows, entries int) error {
	args := []any{rows.at, rows.ids, rows.streams, rows.versions, rows.types, rows.schemas, rows.datas, rows.metadatas, rows.prevs, rows.hashes}
	what := rows.streams[0]
	if entries > 1 {
		what = fmt.Sprintf("%d streams", entries)
	}
	if s.cfg.beforeCommit == nil {
		if _, err := s.pool.Exec(ctx, insertSQL, args...); err != nil {
			return translateInsertError(err, what, len(rows.ids))
		}
		return nil
	}
	// Tests only: the same statement in an explicit transaction held open by the hook.
	return pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, insertSQL, args...); err != nil {
			return translateInsertError(err, what, len(rows.ids))
		}
		return s.cfg.beforeCommit(ctx)
	})
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
