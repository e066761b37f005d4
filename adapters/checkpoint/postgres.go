package checkpoint

import (
	"context"
	"errors"
	"fmt"
	"math"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/attune-go/attune/adapters/eventstore"
)

var _ Store = (*Postgres)(nil)

// Postgres keeps checkpoints in the checkpoints table of the pool's schema.
type Postgres struct {
	pool *pgxpool.Pool
}

// NewPostgres returns a store on the pool (whose search_path selects the schema).
func NewPostgres(pool *pgxpool.Pool) *Postgres {
	if pool == nil {
		panic("checkpoint: nil pool") // wiring error
	}
	return &Postgres{pool: pool}
}

// Execer is what SaveIn needs: a pool, a connection or — the point — a transaction.
type Execer interface {
	Exec(ctx context.Context, sql string, args ...any) (pgconn.CommandTag, error)
}

const loadSQL = `SELECT position_major, position_minor FROM checkpoints WHERE name = $1`

const saveSQL = `
INSERT INTO checkpoints (name, position_major, position_minor, updated_at)
VALUES ($1, $2, $3, now())
ON CONFLICT (name) DO UPDATE
SET position_major = EXCLUDED.position_major,
    position_minor = EXCLUDED.position_minor,
    updated_at     = EXCLUDED.updated_at`

// Load implements Store.
func (p *Postgres) Load(ctx context.Context, name string) (eventstore.Position, error) {
	var major, minor int64
	err := p.pool.QueryRow(ctx, loadSQL, name).Scan(&major, &minor)
	if errors.Is(err, pgx.ErrNoRows) {
		return eventstore.Start, nil
	}
	if err != nil {
		return eventstore.Position{}, fmt.Errorf("load checkpoint %s: %w", name, err)
	}
	if major < 0 || minor < 0 {
		return eventstore.Position{}, fmt.Errorf("load checkpoint %s: negative position %d-%d", name, major, minor)
	}
	return eventstore.Position{Major: uint64(major), Minor: uint64(minor)}, nil
}

// Save implements Store.
func (p *Postgres) Save(ctx context.Context, name string, pos eventstore.Position) error {
	return SaveIn(ctx, p.pool, name, pos)
}

// SaveIn saves a checkpoint through q, so that a projector can commit its rows and its
// checkpoint in one transaction.
func SaveIn(ctx context.Context, q Execer, name string, pos eventstore.Position) error {
	if pos.Major > math.MaxInt64 || pos.Minor > math.MaxInt64 {
		return fmt.Errorf("save checkpoint %s at %s: position does not fit a bigint", name, pos)
	}
	if _, err := q.Exec(ctx, saveSQL, name, int64(pos.Major), int64(pos.Minor)); err != nil {
		return fmt.Errorf("save checkpoint %s at %s: %w", name, pos, err)
	}
	return nil
}
