package readmodel

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/oklog/ulid/v2"

	"github.com/attune-go/attune/adapters/eventstore"
	"github.com/attune-go/attune/adapters/postgres"
	"github.com/attune-go/attune/projections"
)

// upsertCheckpointSQL sets a checkpoint wherever it was: the swap replaces the live build.
const upsertCheckpointSQL = `INSERT INTO checkpoints (name, position_major, position_minor, updated_at)
VALUES ($1, $2, $3, now())
ON CONFLICT (name) DO UPDATE SET position_major = $2, position_minor = $3, updated_at = now()`

// Beside implements projections.Target. The scratch tables are a fresh, migrated schema of
// their own (dropped at the end, whatever happens), so the live tables serve untouched while
// build runs and stay as they were if it fails. The swap copies the scratch rows into the
// live tables — same migrations, same columns — rather than renaming tables, so the live
// tables keep their names, indexes and grants, and the copy, the truncate and the checkpoint
// commit together or not at all.
func (d *DB) Beside(ctx context.Context, name string, build func(context.Context, projections.Target) error) (err error) {
	ts, ok := tables[name]
	if !ok {
		return fmt.Errorf("rebuild projection %q: no tables known for it", name)
	}
	var live string
	if err := d.q.QueryRow(ctx, "SELECT current_schema()").Scan(&live); err != nil {
		return fmt.Errorf("rebuild %s: read the live schema: %w", name, err)
	}
	scratch := "attune_rebuild_" + strings.ToLower(ulid.Make().String())
	spool, err := d.scratch(ctx, scratch)
	if err != nil {
		return fmt.Errorf("rebuild %s: %w", name, err)
	}
	defer func() {
		spool.Close()
		dctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
		defer cancel()
		if _, derr := d.pool.Exec(dctx, "DROP SCHEMA IF EXISTS "+pgx.Identifier{scratch}.Sanitize()+" CASCADE"); derr != nil && err == nil {
			err = fmt.Errorf("rebuild %s: drop the scratch schema %s: %w", name, scratch, derr)
		}
	}()
	sdb := New(spool)
	// The long part runs while the live projection goes on; under the pause, build only
	// catches up with what was appended meanwhile.
	if err := build(ctx, sdb); err != nil {
		return err
	}
	return d.Pause(ctx, name, func(ctx context.Context, t projections.Target) error {
		if err := build(ctx, sdb); err != nil {
			return err
		}
		cp, err := sdb.Checkpoint(ctx, name)
		if err != nil {
			return err
		}
		return t.(*DB).swap(ctx, name, live, scratch, ts, cp)
	})
}

// scratch creates and migrates schema and returns a small pool whose search_path is it.
func (d *DB) scratch(ctx context.Context, schema string) (*pgxpool.Pool, error) {
	if _, err := d.pool.Exec(ctx, "CREATE SCHEMA "+pgx.Identifier{schema}.Sanitize()); err != nil {
		return nil, fmt.Errorf("create scratch schema %s: %w", schema, err)
	}
	cfg := d.pool.Config().Copy()
	cfg.ConnConfig.RuntimeParams["search_path"] = schema
	cfg.MaxConns, cfg.MinConns = 2, 0
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("connect to scratch schema %s: %w", schema, err)
	}
	if _, err := postgres.Migrate(ctx, pool); err != nil {
		pool.Close()
		return nil, fmt.Errorf("migrate scratch schema %s: %w", schema, err)
	}
	return pool, nil
}

// swap replaces the live rows of the projection's tables and its checkpoint with the
// scratch build's, in one transaction.
func (d *DB) swap(ctx context.Context, name, live, scratch string, ts []struct{ name, key string }, cp eventstore.Position) error {
	err := pgx.BeginFunc(ctx, d.q, func(tx pgx.Tx) error {
		for _, t := range ts {
			dst, src := pgx.Identifier{live, t.name}.Sanitize(), pgx.Identifier{scratch, t.name}.Sanitize()
			if _, err := tx.Exec(ctx, "TRUNCATE "+dst); err != nil {
				return err
			}
			if _, err := tx.Exec(ctx, "INSERT INTO "+dst+" SELECT * FROM "+src); err != nil {
				return err
			}
		}
		if cp == eventstore.Start {
			_, err := tx.Exec(ctx, deleteCheckpointSQL, name)
			return err
		}
		_, err := tx.Exec(ctx, upsertCheckpointSQL, name, int64(cp.Major), int64(cp.Minor))
		return err
	})
	if err != nil {
		return fmt.Errorf("swap the rebuilt %s into the live tables: %w", name, err)
	}
	return nil
}
