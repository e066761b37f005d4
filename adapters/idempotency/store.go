package idempotency

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
)

// Store keeps the keys in the idempotency_keys table (schemas/migrations/00012).
type Store struct {
	pool *pgxpool.Pool
	ttl  time.Duration
}

// New returns the store on pool; keys live for TTL.
func New(pool *pgxpool.Pool) *Store { return &Store{pool: pool, ttl: TTL} }

// claimSQL inserts the key with the fresh id, or takes over a row that has expired (a sweep
// may not have run yet); a live row is left alone and nothing is returned. The unique key
// decides concurrent first requests: the losers wait for the winner's commit, then read its row.
const claimSQL = `
INSERT INTO idempotency_keys (scope, key, request_hash, resource_id) VALUES ($1, $2, $3, $4)
ON CONFLICT (scope, key) DO UPDATE
   SET request_hash = EXCLUDED.request_hash, resource_id = EXCLUDED.resource_id, created_at = now()
 WHERE idempotency_keys.created_at < now() - make_interval(secs => $5)
RETURNING resource_id`

// Claim returns the id the request with key in scope creates: fresh when the key is new (or
// expired), the first request's id when the key was used within the TTL with the same hash.
// The same key with another hash fails with ErrKeyReused.
func (s *Store) Claim(ctx context.Context, scope, key, hash, fresh string) (string, error) {
	for attempt := 0; attempt < 3; attempt++ {
		var id string
		err := s.pool.QueryRow(ctx, claimSQL, scope, key, hash, fresh, s.ttl.Seconds()).Scan(&id)
		if err == nil {
			return id, nil
		}
		if !errors.Is(err, pgx.ErrNoRows) {
			return "", fmt.Errorf("claim idempotency key: %w", err)
		}
		var firstHash string
		err = s.pool.QueryRow(ctx, `SELECT request_hash, resource_id FROM idempotency_keys WHERE scope = $1 AND key = $2`, scope, key).Scan(&firstHash, &id)
		if errors.Is(err, pgx.ErrNoRows) {
			continue // swept between the two statements: claim it afresh
		}
		if err != nil {
			return "", fmt.Errorf("read idempotency key: %w", err)
		}
		if firstHash != hash {
			return "", ErrKeyReused
		}
		return id, nil
	}
	return "", fmt.Errorf("claim idempotency key: the row kept vanishing (a sweep racing the claim)")
}

// Sweep deletes the keys older than the TTL and returns how many.
func (s *Store) Sweep(ctx context.Context) (int64, error) {
	tag, err := s.pool.Exec(ctx, `DELETE FROM idempotency_keys WHERE created_at < now() - make_interval(secs => $1)`, s.ttl.Seconds())
	if err != nil {
		return 0, fmt.Errorf("sweep idempotency keys: %w", err)
	}
	return tag.RowsAffected(), nil
}

// SweepEvery sweeps at every interval until ctx ends; a failed sweep is logged by the caller's
// report function and tried again at the next tick (the claim ignores expired rows anyway).
func (s *Store) SweepEvery(ctx context.Context, interval time.Duration, report func(deleted int64, err error)) {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		n, err := s.Sweep(ctx)
		if report != nil && ctx.Err() == nil {
			report(n, err)
		}
	}
}
