// Package pgstore is the PostgreSQL event store, the default of every deployment.
//
// Global order: each row carries the id of the transaction that wrote it, and readers only
// see rows below the oldest transaction still running (pg_snapshot_xmin), ordered by
// (transaction_id, global_position). An event that commits late therefore becomes visible
// after, never before, a reader has moved past its position: no reader skips it (design §2).
// Subscribers wake on LISTEN/NOTIFY and fall back to a slow poll.
package pgstore

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/attune-go/attune/adapters/eventstore"
)

var _ eventstore.Store = (*Store)(nil)

// Config tunes a Store. The zero value is valid.
type Config struct {
	// Now stamps RecordedAt (truncated to microseconds, what timestamptz keeps); default time.Now.
	Now func() time.Time
	// BatchSize is how many events a subscriber reads and hands to its fn at once; default 500.
	BatchSize int
	// PollInterval is how often an idle subscriber reads even without a notification; default
	// 1s. It covers what NOTIFY cannot: an event hidden behind an older transaction that
	// commits without writing events, and the time the listener connection is down.
	PollInterval time.Duration
	// Logger receives listener reconnects and retried read failures; default slog.Default().
	Logger *slog.Logger

	// beforeCommit runs inside every append transaction just before COMMIT. Tests set it
	// (export_test.go) to hold transactions open and make commits arrive out of order.
	beforeCommit func(ctx context.Context) error
}

// Validate reports every invalid setting.
func (c Config) Validate() error {
	var errs []error
	if c.BatchSize < 0 {
		errs = append(errs, fmt.Errorf("BatchSize %d: want >= 0 (0: default)", c.BatchSize))
	}
	if c.PollInterval < 0 {
		errs = append(errs, fmt.Errorf("PollInterval %s: want >= 0 (0: default)", c.PollInterval))
	}
	return errors.Join(errs...)
}

func (c Config) withDefaults() Config {
	if c.Now == nil {
		c.Now = time.Now
	}
	if c.BatchSize == 0 {
		c.BatchSize = 500
	}
	if c.PollInterval == 0 {
		c.PollInterval = time.Second
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	return c
}

// Store is the event log in the events table of the pool's current schema.
type Store struct {
	pool     *pgxpool.Pool
	cfg      Config
	schema   string
	notifier *notifier
	heads    headCache
}

// New returns a store on pool's events table. It asks the server once for the current schema,
// which names the NOTIFY channel (the table's trigger uses the same name).
func New(ctx context.Context, pool *pgxpool.Pool, cfg Config) (*Store, error) {
	if pool == nil {
		return nil, errors.New("pgstore: nil pool")
	}
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("pgstore config: %w", err)
	}
	cfg = cfg.withDefaults()
	var schema *string
	if err := pool.QueryRow(ctx, "SELECT current_schema()").Scan(&schema); err != nil {
		return nil, fmt.Errorf("pgstore: read current schema: %w", err)
	}
	if schema == nil {
		return nil, errors.New("pgstore: no current schema (search_path names no existing schema)")
	}
	s := &Store{pool: pool, cfg: cfg, schema: *schema}
	s.notifier = newNotifier(pool, "attune_events_"+*schema, cfg.PollInterval, cfg.Logger)
	return s, nil
}
