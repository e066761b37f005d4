package readmodel

import (
	"context"
	"fmt"
	"github.com/attune-go/attune/adapters/postgres"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/oklog/ulid/v2"

	"github.com/attune-go/attune/adapters/eventstore"
	"github.com/attune-go/attune/projections"
)

// upsertCheckpointSQL sets a checkpoint wherever it was: the swap replaces the live build.
const upsertCheckpointSQL = `INSERT INTO checkpoints (name, position_major, position_minor, updated_at)
VALUES ($1, $2, $3, now())
ON CONFLICT (name) DO UPDATE SET position_major = $2, position_minor = $3, updated_at = now()`

// Beside implements projections.Target. The scratch tables live in a schema of their own,
// made LIKE the live ones (columns, defaults, constraints, indexes) on one session of the pool
// whose search_path points at it — no extra pool, no extra connection — and dropped at the
// end whatever happens, so the live tables serve untouched while build runs and stay as they
// were if it fails. The swap copies the scratch rows into the live tables rather than
// renaming tables, so the live tables keep their names, indexes and grants, and the copy, the
// truncate and the checkpoint commit together or not at all.
// rebuildScratchPrefix starts the name of a rebuild's scratch schema; a ULID follows.
const rebuildScratchPrefix = "attune_rebuild_"

func (d *DB) Beside(ctx context.Context, name string, build func(context.Context, projections.Target) error) (err error) {
	ts, ok := tables[name]
	if !ok {
		return fmt.Errorf("rebuild projection %q: no tables known for it", name)
	}
	var live string
	if err := d.q.QueryRow(ctx, "SELECT current_schema()").Scan(&live); err != nil {
		return fmt.Errorf("rebuild %s: read the live schema: %w", name, err)
	}
	// A rebuild killed before its deferred drop leaves its scratch schema behind; the next
	// one drops those older than a day (far longer than a rebuild runs).
	_, _ = postgres.DropStaleSchemas(ctx, d.pool, rebuildScratchPrefix, 24*time.Hour, time.Now())
	scratch := rebuildScratchPrefix + strings.ToLower(ulid.Make().String())
	session, err := d.pool.Acquire(ctx)
	if err != nil {
		return fmt.Errorf("rebuild %s: acquire a connection: %w", name, err)
	}
	defer func() {
		dctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
		defer cancel()
		_, derr := session.Exec(dctx, "DROP SCHEMA IF EXISTS "+pgx.Identifier{scratch}.Sanitize()+" CASCADE")
		if _, rerr := session.Exec(dctx, "RESET search_path"); rerr != nil || derr != nil {
			_ = session.Conn().Close(dctx) // never hand the pool a session pointing elsewhere
		}
		session.Release()
		if derr != nil && err == nil {
			err = fmt.Errorf("rebuild %s: drop the scratch schema %s: %w", name, scratch, derr)
		}
	}()
	if err := makeScratch(ctx, session, live, scratch, ts); err != nil {
		return fmt.Errorf("rebuild %s: %w", name, err)
	}
	sdb := &DB{pool: d.pool, q: session, session: session}
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

// makeScratch creates schema with empty copies of the projection's tables and of the
// checkpoints table, and points session's search_path at it.
func makeScratch(ctx context.Context, session *pgxpool.Conn, live, scratch string, ts []struct{ name, key string }) error {
	stmts := []string{"CREATE SCHEMA " + pgx.Identifier{scratch}.Sanitize()}
	for _, t := range append(ts, struct{ name, key string }{"checkpoints", "name"}) {
		stmts = append(stmts, "CREATE TABLE "+pgx.Identifier{scratch, t.name}.Sanitize()+
			" (LIKE "+pgx.Identifier{live, t.name}.Sanitize()+" INCLUDING ALL)")
	}
	stmts = append(stmts, "SET search_path TO "+pgx.Identifier{scratch}.Sanitize())
	for _, s := range stmts {
		if _, err := session.Exec(ctx, s); err != nil {
			return fmt.Errorf("make scratch schema %s: %w", scratch, err)
		}
	}
	return nil
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
