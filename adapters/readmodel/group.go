package readmodel

import (
	"context"
	"fmt"

	"github.com/jackc/pgx/v5"

	"github.com/attune-go/attune/adapters/eventstore"
	"github.com/attune-go/attune/projections"
)

// moveCheckpointsSQL moves every projection's checkpoint of a group batch in one statement,
// and returns the names it moved. Each move is a compare-and-set from where that projection
// stood (a first batch creates the checkpoint, and finds none there), guarded by the
// projection's pause lock taken shared without waiting: a rebuild or an audit holding it, or
// queued for it, leaves the projection out of the batch rather than holding the whole group
// back behind one projection's swap. A row passes the WHERE only when every condition holds,
// so a moved checkpoint always means its pause lock is held until the commit.
const moveCheckpointsSQL = `
WITH m AS (
  SELECT * FROM unnest($1::text[], $2::text[], $3::bigint[], $4::bigint[], $5::bigint[], $6::bigint[])
    AS m(name, pause_key, from_major, from_minor, to_major, to_minor)
), created AS (
  INSERT INTO checkpoints (name, position_major, position_minor, updated_at)
  SELECT name, to_major, to_minor, now() FROM m
  WHERE from_major = 0 AND from_minor = 0
    AND pg_try_advisory_xact_lock_shared(hashtextextended(current_schema() || '/' || pause_key, 0))
  ON CONFLICT (name) DO NOTHING
  RETURNING name
), moved AS (
  UPDATE checkpoints c SET position_major = m.to_major, position_minor = m.to_minor, updated_at = now()
  FROM m
  WHERE c.name = m.name AND c.position_major = m.from_major AND c.position_minor = m.from_minor
    AND (m.from_major, m.from_minor) <> (0, 0)
    AND pg_try_advisory_xact_lock_shared(hashtextextended(current_schema() || '/' || m.pause_key, 0))
  RETURNING c.name
)
SELECT name FROM created UNION ALL SELECT name FROM moved`

// UpdateGroup implements projections.Target: one transaction for a batch of the projection
// group. Without isolate it is BEGIN, one statement for every checkpoint, each projection's
// own statements, COMMIT. With isolate (the group's second try, after a projection refused
// the batch), each projection's checkpoint and rows go in a savepoint of their own. Errors
// are classified as Update's are, the failed projections' ones too.
func (d *DB) UpdateGroup(ctx context.Context, moves []projections.Move, isolate bool) (map[string]bool, map[string]error, error) {
	var (
		skipped map[string]bool
		failed  map[string]error
		err     error
	)
	if isolate {
		skipped, failed, err = d.updateIsolated(ctx, moves)
	} else {
		skipped, err = d.updateTogether(ctx, moves)
	}
	for name, ferr := range failed {
		failed[name] = classify(ferr)
	}
	return skipped, failed, classify(err)
}

func (d *DB) updateTogether(ctx context.Context, moves []projections.Move) (map[string]bool, error) {
	tx, err := d.q.Begin(ctx)
	if err != nil {
		return nil, fmt.Errorf("begin group batch: %w", err)
	}
	defer tx.Rollback(context.WithoutCancel(ctx)) // a no-op after Commit
	skipped, err := moveCheckpoints(ctx, tx, moves)
	if err != nil {
		return nil, err
	}
	for _, mv := range moves {
		if skipped[mv.Name] {
			continue
		}
		if err := mv.Apply(&txStore{tx: tx}); err != nil {
			return nil, fmt.Errorf("apply to %s up to %s: %w", mv.Name, mv.To, err)
		}
	}
	if err := tx.Commit(ctx); err != nil {
		return nil, fmt.Errorf("commit group batch up to %s: %w", last(moves), err)
	}
	return skipped, nil
}

func (d *DB) updateIsolated(ctx context.Context, moves []projections.Move) (map[string]bool, map[string]error, error) {
	tx, err := d.q.Begin(ctx)
	if err != nil {
		return nil, nil, fmt.Errorf("begin group batch: %w", err)
	}
	defer tx.Rollback(context.WithoutCancel(ctx))
	skipped, failed := map[string]bool{}, map[string]error{}
	for _, mv := range moves {
		sp, err := tx.Begin(ctx) // SAVEPOINT
		if err != nil {
			return nil, nil, fmt.Errorf("savepoint for %s: %w", mv.Name, err)
		}
		s, err := moveCheckpoints(ctx, sp, []projections.Move{mv})
		if err == nil && s[mv.Name] {
			skipped[mv.Name] = true
		} else if err == nil {
			if err = mv.Apply(&txStore{tx: sp}); err != nil {
				err = fmt.Errorf("apply to %s up to %s: %w", mv.Name, mv.To, err)
			}
		}
		if err != nil {
			failed[mv.Name] = err
			if rerr := sp.Rollback(ctx); rerr != nil { // ROLLBACK TO SAVEPOINT: the others' part stays
				return nil, nil, fmt.Errorf("roll back %s's part of a group batch: %w", mv.Name, rerr)
			}
			continue
		}
		if err := sp.Commit(ctx); err != nil { // RELEASE SAVEPOINT
			return nil, nil, fmt.Errorf("release savepoint of %s: %w", mv.Name, err)
		}
	}
	if err := tx.Commit(ctx); err != nil {
		return nil, nil, fmt.Errorf("commit group batch up to %s: %w", last(moves), err)
	}
	return skipped, failed, nil
}

// moveCheckpoints runs moveCheckpointsSQL for moves on tx and returns the moves it skipped.
func moveCheckpoints(ctx context.Context, tx pgx.Tx, moves []projections.Move) (map[string]bool, error) {
	n := len(moves)
	names, keys := make([]string, n), make([]string, n)
	fromMajor, fromMinor, toMajor, toMinor := make([]int64, n), make([]int64, n), make([]int64, n), make([]int64, n)
	skipped := make(map[string]bool, n)
	for i, mv := range moves {
		names[i], keys[i] = mv.Name, lockKey(pauseLock, mv.Name)
		fromMajor[i], fromMinor[i] = int64(mv.From.Major), int64(mv.From.Minor)
		toMajor[i], toMinor[i] = int64(mv.To.Major), int64(mv.To.Minor)
		skipped[mv.Name] = true
	}
	rows, err := tx.Query(ctx, moveCheckpointsSQL, names, keys, fromMajor, fromMinor, toMajor, toMinor)
	if err != nil {
		return nil, fmt.Errorf("move %d checkpoints up to %s: %w", n, last(moves), err)
	}
	moved, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return nil, fmt.Errorf("move %d checkpoints up to %s: %w", n, last(moves), err)
	}
	for _, name := range moved {
		delete(skipped, name)
	}
	return skipped, nil
}

func last(moves []projections.Move) eventstore.Position {
	if len(moves) == 0 {
		return eventstore.Start
	}
	return moves[len(moves)-1].To
}
