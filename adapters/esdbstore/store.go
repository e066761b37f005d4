// Package esdbstore is the EventStoreDB (KurrentDB) adapter of the event store port. It is a
// thin translation onto the gRPC client: ESDB already has streams with optimistic
// concurrency, a global $all log and catch-up subscriptions, so what this package adds is our
// envelope (in the ESDB event metadata) and the hash chain. Only this file and codec.go
// import the client, so moving to github.com/kurrent-io/KurrentDB-Client-Go (same API) is a
// change of import path.
//
// The store reads $all, which needs a user allowed to (the default admin): for example
// esdb://admin:changeit@127.0.0.1:2113?tls=false. Events in $all not written by attune
// (non-system events without our metadata) make ReadAll and Subscribe fail, so give attune a
// server, or a database, of its own.
package esdbstore

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math"
	"time"

	"github.com/EventStore/EventStore-Client-Go/v4/esdb"

	"github.com/attune-go/attune/adapters/eventstore"
)

var _ eventstore.Store = (*Store)(nil)

// Config says which server to use.
type Config struct {
	// URL is an ESDB connection string, esdb://user:password@host:2113?tls=false.
	URL string
	// Now stamps RecordedAt; defaults to time.Now.
	Now func() time.Time
	// BatchSize caps the events handed to a subscriber at once; defaults to 500.
	BatchSize int
	// Logger receives the client's own log lines; defaults to slog.Default().
	Logger *slog.Logger
}

// Validate reports every problem of the configuration.
func (c Config) Validate() error {
	var errs []error
	if c.URL == "" {
		errs = append(errs, errors.New("empty URL"))
	}
	if c.BatchSize < 0 {
		errs = append(errs, fmt.Errorf("batch size %d, want >= 0", c.BatchSize))
	}
	return errors.Join(errs...)
}

// Store is the event log on EventStoreDB. It is safe for concurrent use.
type Store struct {
	client    *esdb.Client
	now       func() time.Time
	batchSize int
}

// readAllCount asks a read for "everything": the server streams it and we stop reading when
// we have enough. math.MaxInt64 because the server reads the count as a signed 64-bit number.
const readAllCount = math.MaxInt64

// New connects to the server and checks that it answers a read of $all, so a wrong URL or
// missing permission fails at start-up rather than at the first append.
func New(ctx context.Context, cfg Config) (*Store, error) {
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("eventstoredb config: %w", err)
	}
	conf, err := esdb.ParseConnectionString(cfg.URL)
	if err != nil {
		return nil, fmt.Errorf("parse eventstoredb url: %w", err)
	}
	conf.Logger = clientLog(cmp.Or(cfg.Logger, slog.Default()))
	client, err := esdb.NewClient(conf)
	if err != nil {
		return nil, fmt.Errorf("connect to eventstoredb: %w", err)
	}
	s := &Store{client: client, now: cfg.Now, batchSize: cfg.BatchSize}
	if s.now == nil {
		s.now = time.Now
	}
	if s.batchSize == 0 {
		s.batchSize = 500
	}
	rs, err := client.ReadAll(ctx, esdb.ReadAllOptions{Direction: esdb.Backwards, From: esdb.End{}}, 1)
	if err == nil {
		_, err = rs.Recv()
		rs.Close()
	}
	if err != nil && !errors.Is(err, io.EOF) {
		_ = client.Close()
		return nil, fmt.Errorf("connect to eventstoredb: read $all: %w", err)
	}
	return s, nil
}

// clientLog routes the client's printf-style log to slog. The client reports every discovery
// attempt at info level; those are debug detail to us, so only its warnings and errors are
// raised above debug.
func clientLog(log *slog.Logger) esdb.LoggingFunc {
	return func(level esdb.LogLevel, format string, args ...any) {
		l := slog.LevelDebug
		switch level {
		case esdb.LogWarn:
			l = slog.LevelWarn
		case esdb.LogError:
			l = slog.LevelError
		}
		log.Log(context.Background(), l, fmt.Sprintf(format, args...), "component", "eventstoredb_client")
	}
}

// Close releases the connection.
func (s *Store) Close() error { return s.client.Close() }

// head is what an append needs to know of a stream: its version and last hash.
type head struct {
	version int64 // 0: no stream
	hash    []byte
}

// Append implements eventstore.Store. The hash chain needs the stream's last hash, so it reads
// the stream's last event first, then appends expecting exactly that revision: a writer
// slipping in between makes the append fail instead of forking the chain. For Any, that
// conflict is ours, not the caller's, and the append is retried on the new head.
func (s *Store) Append(ctx context.Context, stream string, expected eventstore.Expected, events ...eventstore.Proposed) (eventstore.AppendResult, error) {
	if err := eventstore.CheckAppend(stream, events); err != nil {
		return eventstore.AppendResult{}, err
	}
	for {
		h, err := s.head(ctx, stream)
		if err != nil {
			return eventstore.AppendResult{}, fmt.Errorf("append %d events to %s: %w", len(events), stream, err)
		}
		if !expected.Check(h.version) {
			return eventstore.AppendResult{}, &eventstore.VersionConflictError{Stream: stream, Expected: expected, Actual: h.version}
		}
		data, err := s.chain(stream, h, events)
		if err != nil {
			return eventstore.AppendResult{}, fmt.Errorf("append %d events to %s: %w", len(events), stream, err)
		}
		opts := esdb.AppendToStreamOptions{ExpectedRevision: expectedRevision(eventstore.Exact(h.version))}
		_, err = s.client.AppendToStream(ctx, stream, opts, data...)
		if err == nil {
			return eventstore.AppendResult{NextExpected: h.version + int64(len(events))}, nil
		}
		if !isCode(err, esdb.ErrorCodeWrongExpectedVersion) {
			return eventstore.AppendResult{}, fmt.Errorf("append %d events to %s: %w", len(events), stream, err)
		}
		if expected.IsAny() {
			continue
		}
		// The error carries the actual revision only as text; read it back instead.
		now, err := s.head(ctx, stream)
		if err != nil {
			return eventstore.AppendResult{}, fmt.Errorf("append %d events to %s: read version after conflict: %w", len(events), stream, err)
		}
		return eventstore.AppendResult{}, &eventstore.VersionConflictError{Stream: stream, Expected: expected, Actual: now.version}
	}
}

// AppendMany implements eventstore.Store. EventStoreDB has no transaction across streams
// (its only multi-event write is one stream's append), so the entries go one after another,
// each an ordinary Append with its own verdict: one stream's conflict leaves the others
// written, which is the port's promise anyway. What it does not give is the Postgres
// adapter's single commit: every entry's failure is its own, even an outage part way
// through (the entries before it stay written), and the request as a whole fails only when
// ctx has ended before the first write.
func (s *Store) AppendMany(ctx context.Context, appends []eventstore.StreamAppend) ([]eventstore.StreamResult, error) {
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("append to %d streams: %w", len(appends), err)
	}
	out := make([]eventstore.StreamResult, len(appends))
	for i, a := range appends {
		out[i].AppendResult, out[i].Err = s.Append(ctx, a.Stream, a.Expected, a.Events...)
	}
	return out, nil
}

// chain stamps and hashes events as the successors of h.
func (s *Store) chain(stream string, h head, events []eventstore.Proposed) ([]esdb.EventData, error) {
	// Microseconds, what Postgres keeps, so a log copied between stores hashes the same.
	at := s.now().UTC().Truncate(time.Microsecond)
	prev := h.hash
	out := make([]esdb.EventData, len(events))
	for i, e := range events {
		r := eventstore.Recorded{
			ID:            e.ID,
			StreamID:      stream,
			StreamVersion: h.version + int64(i) + 1,
			Type:          e.Type,
			SchemaVersion: e.SchemaVersion,
			Data:          e.Data,
			Metadata:      e.Metadata,
			RecordedAt:    at,
			PrevHash:      prev,
		}
		r.Hash = eventstore.Chain(prev, r)
		prev = r.Hash
		d, err := encode(r)
		if err != nil {
			return nil, err
		}
		out[i] = d
	}
	return out, nil
}

// head reads the last event of a stream.
func (s *Store) head(ctx context.Context, stream string) (head, error) {
	rs, err := s.client.ReadStream(ctx, stream, esdb.ReadStreamOptions{Direction: esdb.Backwards, From: esdb.End{}}, 1)
	if err != nil {
		return head{}, fmt.Errorf("read last event of %s: %w", stream, err)
	}
	defer rs.Close()
	ev, err := rs.Recv()
	switch {
	case errors.Is(err, io.EOF) || isCode(err, esdb.ErrorCodeResourceNotFound):
		return head{}, nil
	case err != nil:
		return head{}, fmt.Errorf("read last event of %s: %w", stream, err)
	}
	r, err := decode(ev.OriginalEvent())
	if err != nil {
		return head{}, err
	}
	return head{version: r.StreamVersion, hash: r.Hash}, nil
}

// ReadStream implements eventstore.Store.
func (s *Store) ReadStream(ctx context.Context, stream string) ([]eventstore.Recorded, error) {
	return s.ReadStreamFrom(ctx, stream, 0)
}

// ReadStreamFrom implements eventstore.Store. ESDB revisions count from 0 where our versions
// count from 1, so the event after version v is revision v.
func (s *Store) ReadStreamFrom(ctx context.Context, stream string, afterVersion int64) ([]eventstore.Recorded, error) {
	var from esdb.StreamPosition = esdb.Start{}
	if afterVersion > 0 {
		from = esdb.Revision(uint64(afterVersion))
	}
	rs, err := s.client.ReadStream(ctx, stream, esdb.ReadStreamOptions{From: from}, readAllCount)
	if err != nil {
		return nil, fmt.Errorf("read stream %s after version %d: %w", stream, afterVersion, err)
	}
	defer rs.Close()
	var out []eventstore.Recorded
	for {
		ev, err := rs.Recv()
		switch {
		case errors.Is(err, io.EOF) || isCode(err, esdb.ErrorCodeResourceNotFound):
			return out, nil
		case err != nil:
			return nil, fmt.Errorf("read stream %s after version %d: %w", stream, afterVersion, err)
		}
		r, err := decode(ev.OriginalEvent())
		if err != nil {
			return nil, fmt.Errorf("read stream %s after version %d: %w", stream, afterVersion, err)
		}
		out = append(out, r)
	}
}

// ReadAll implements eventstore.Store. ESDB reads $all from a position inclusively and
// interleaves its own system events, so both are skipped here.
func (s *Store) ReadAll(ctx context.Context, after eventstore.Position, limit int) ([]eventstore.Recorded, error) {
	if limit <= 0 {
		return nil, fmt.Errorf("read log after %s: limit %d, want > 0", after, limit)
	}
	rs, err := s.client.ReadAll(ctx, esdb.ReadAllOptions{From: fromPosition(after)}, readAllCount)
	if err != nil {
		return nil, fmt.Errorf("read log after %s: %w", after, err)
	}
	defer rs.Close() // stops the server streaming the rest
	var out []eventstore.Recorded
	for len(out) < limit {
		ev, err := rs.Recv()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, fmt.Errorf("read log after %s: %w", after, err)
		}
		r, ok, err := s.own(ev, after)
		if err != nil {
			return nil, fmt.Errorf("read log after %s: %w", after, err)
		}
		if ok {
			out = append(out, r)
		}
	}
	return out, nil
}

// own decodes an event of $all, or says it is not part of our log after the cursor.
func (s *Store) own(ev *esdb.ResolvedEvent, after eventstore.Position) (eventstore.Recorded, bool, error) {
	e := ev.OriginalEvent()
	if e == nil || isSystem(e) || !after.Less(toPosition(e.Position)) {
		return eventstore.Recorded{}, false, nil
	}
	r, err := decode(e)
	return r, err == nil, err
}

// Subscribe implements eventstore.Store with a catch-up subscription to $all, filtered on the
// server to non-system events. It hands fn one event, or as many as arrived meanwhile.
func (s *Store) Subscribe(ctx context.Context, after eventstore.Position, fn func(context.Context, []eventstore.Recorded) error) error {
	if ctx.Err() != nil {
		return nil
	}
	sub, err := s.client.SubscribeToAll(ctx, esdb.SubscribeToAllOptions{
		From:   fromPosition(after),
		Filter: esdb.ExcludeSystemEventsFilter(),
	})
	if err != nil {
		if ctx.Err() != nil {
			return nil
		}
		return fmt.Errorf("subscribe to log after %s: %w", after, err)
	}
	defer sub.Close()

	// Recv blocks with no context of its own, so it runs in a goroutine; the buffer is what
	// the next batch can take without waiting.
	type item struct {
		r   eventstore.Recorded
		err error
	}
	items := make(chan item, s.batchSize)
	done := make(chan struct{})
	defer close(done)
	go func() {
		for {
			se := sub.Recv()
			var it item
			switch {
			case se.SubscriptionDropped != nil:
				it.err = se.SubscriptionDropped.Error
			case se.EventAppeared != nil:
				r, ok, err := s.own(se.EventAppeared, after)
				if !ok && err == nil {
					continue
				}
				it = item{r: r, err: err}
			default:
				continue // checkpoints, caught up, fell behind: nothing to deliver
			}
			select {
			case items <- it:
			case <-done:
				return
			}
			if it.err != nil {
				return
			}
		}
	}()

	cursor := after
	for {
		var first item
		select {
		case <-ctx.Done():
			return nil
		case first = <-items:
		}
		if first.err != nil {
			return dropped(ctx, cursor, first.err)
		}
		batch := []eventstore.Recorded{first.r}
		var failed error
	drain:
		for len(batch) < s.batchSize {
			select {
			case it := <-items:
				if it.err != nil {
					failed = it.err
					break drain
				}
				batch = append(batch, it.r)
			default:
				break drain
			}
		}
		if err := fn(ctx, batch); err != nil {
			if ctx.Err() != nil && errors.Is(err, ctx.Err()) {
				return nil
			}
			return fmt.Errorf("subscriber after %s: %w", cursor, err)
		}
		cursor = batch[len(batch)-1].Position
		if failed != nil {
			return dropped(ctx, cursor, failed)
		}
	}
}

// dropped is what Subscribe returns when its subscription ended: nil if the caller cancelled
// it, else the reason, for the caller to resubscribe from its checkpoint.
func dropped(ctx context.Context, cursor eventstore.Position, err error) error {
	if ctx.Err() != nil {
		return nil
	}
	return fmt.Errorf("subscription to log after %s: %w", cursor, err)
}

// isCode reports whether err is an ESDB client error with the given code.
func isCode(err error, code esdb.ErrorCode) bool {
	var e *esdb.Error
	return errors.As(err, &e) && e.Code() == code
}
