// Package postgres connects to PostgreSQL and applies the embedded migrations. Everything
// that speaks pgx lives under adapters/; this package is the shared edge.
package postgres

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"hash/fnv"
	"io/fs"
	"net/url"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/jackc/pgx/v5/stdlib"
	"github.com/pressly/goose/v3"
	"github.com/pressly/goose/v3/lock"

	"github.com/attune-go/attune/schemas"
)

// DefaultURL is the local PostgreSQL of a development machine.
const DefaultURL = "postgres://postgres@127.0.0.1:5432/test?sslmode=disable"

// DefaultMaxConns is the pool size of a process unless configured (--db-max-conns,
// ATTUNE_DB_MAX_CONNS, or pool_max_conns in the URL). Handlers, projector batches, the relay
// and the API hold a connection only for one short statement or transaction and queue for the
// rest, so a few connections serve a whole `attune serve` (measured: the end-to-end suite runs
// no slower with 8 than with 32); three servers and a test suite then fit in PostgreSQL's
// default max_connections of 100. The sessions that hold leader locks and LISTEN are not
// taken from the pool (see Lead and pgstore's notifier): they add to it.
const DefaultMaxConns = 8

// MinMaxConns is the smallest pool that cannot deadlock: migrations hold the migration lock
// on one connection while they run on another.
const MinMaxConns = 2

// PoolOptions tunes a pool beyond the URL.
type PoolOptions struct {
	// MaxConns caps the pool; 0 keeps pool_max_conns from the URL, else DefaultMaxConns.
	MaxConns int
	// AppName is the pool's application_name (pg_stat_activity shows who holds what:
	// attune-serve, attune-worker …); an application_name in the URL wins.
	AppName string
}

// Connect opens a pool and checks that the server answers, so bad configuration fails at
// start-up with one clear error rather than on the first query. schema, when set, becomes the
// pool's search_path (tests and replays use their own schema).
func Connect(ctx context.Context, databaseURL, schema string) (*pgxpool.Pool, error) {
	return ConnectWith(ctx, databaseURL, schema, PoolOptions{})
}

// ConnectWith is Connect with a pool size and an application name.
func ConnectWith(ctx context.Context, databaseURL, schema string, o PoolOptions) (*pgxpool.Pool, error) {
	cfg, err := pgxpool.ParseConfig(databaseURL)
	if err != nil {
		return nil, fmt.Errorf("database URL %q: %w", redact(databaseURL), err)
	}
	if schema != "" {
		cfg.ConnConfig.RuntimeParams["search_path"] = schema
	}
	if _, set := cfg.ConnConfig.RuntimeParams["application_name"]; !set {
		cfg.ConnConfig.RuntimeParams["application_name"] = cmp.Or(o.AppName, "attune")
	}
	switch {
	case o.MaxConns > 0:
		cfg.MaxConns = int32(max(o.MaxConns, MinMaxConns))
	case !strings.Contains(databaseURL, "pool_max_conns"):
		cfg.MaxConns = DefaultMaxConns
	}
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("connect to %s: %w", redact(databaseURL), err)
	}
	pingCtx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	if err := pool.Ping(pingCtx); err != nil {
		pool.Close()
		return nil, fmt.Errorf("connect to %s: %w", redact(databaseURL), oneLine{err})
	}
	return pool, nil
}

// Migrate applies every pending embedded migration. It is idempotent and safe to run from
// several processes at once (a session advisory lock serialises them).
func Migrate(ctx context.Context, pool *pgxpool.Pool) ([]string, error) {
	migrations, err := fs.Sub(schemas.Migrations, "migrations")
	if err != nil {
		return nil, fmt.Errorf("open embedded migrations: %w", err)
	}
	// One lock per schema: migrations of different schemas (tests, replays) never wait for
	// each other, and two processes migrating the same schema still take turns.
	var schema string
	if err := pool.QueryRow(ctx, "SELECT current_schema()").Scan(&schema); err != nil {
		return nil, fmt.Errorf("read current schema: %w", err)
	}
	h := fnv.New64a()
	h.Write([]byte("attune-migrate/" + schema))
	locker, err := lock.NewPostgresSessionLocker(lock.WithLockID(int64(h.Sum64()>>1)), lock.WithLockTimeout(1, 300))
	if err != nil {
		return nil, fmt.Errorf("create migration lock: %w", err)
	}
	db := stdlib.OpenDBFromPool(pool)
	defer db.Close()
	provider, err := goose.NewProvider(goose.DialectPostgres, db, migrations, goose.WithSessionLocker(locker))
	if err != nil {
		return nil, fmt.Errorf("load migrations: %w", err)
	}
	results, err := provider.Up(ctx)
	if err != nil {
		var partial *goose.PartialError
		if errors.As(err, &partial) && partial.Failed != nil {
			return nil, fmt.Errorf("apply migration %s: %w", partial.Failed.Source.Path, partial.Err)
		}
		return nil, fmt.Errorf("apply migrations: %w", err)
	}
	applied := make([]string, 0, len(results))
	for _, r := range results {
		applied = append(applied, r.Source.Path)
	}
	return applied, nil
}

// redact hides a password in a URL before it reaches an error or a log.
func redact(raw string) string {
	u, err := url.Parse(raw)
	if err != nil || u.User == nil {
		if strings.Contains(raw, "password=") {
			return "(connection string with password)"
		}
		return raw
	}
	if _, ok := u.User.Password(); ok {
		u.User = url.UserPassword(u.User.Username(), "xxxxx")
	}
	return u.String()
}

// oneLine folds pgx's multi-line connect errors (one line per address tried, often the same
// twice) into one line, so a start-up failure reads as one clear sentence.
type oneLine struct{ err error }

func (o oneLine) Unwrap() error { return o.err }

func (o oneLine) Error() string {
	var parts []string
	seen := map[string]bool{}
	for _, l := range strings.Split(o.err.Error(), "\n") {
		l = strings.TrimSpace(l)
		if l != "" && !seen[l] {
			seen[l] = true
			parts = append(parts, l)
		}
	}
	return strings.Join(parts, " ")
}

// EnsureSchema creates schema if it does not exist yet, so `attune migrate --schema NAME` and
// `attune serve --schema NAME` work on a fresh database.
func EnsureSchema(ctx context.Context, databaseURL, schema string) error {
	if schema == "" {
		return nil
	}
	pool, err := Connect(ctx, databaseURL, "")
	if err != nil {
		return err
	}
	defer pool.Close()
	if _, err := pool.Exec(ctx, "CREATE SCHEMA IF NOT EXISTS "+pgx.Identifier{schema}.Sanitize()); err != nil {
		return fmt.Errorf("create schema %s: %w", schema, err)
	}
	return nil
}
