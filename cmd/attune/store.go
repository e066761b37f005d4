package main

import (
	"context"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/attune-go/attune/adapters/pgstore"
)

// openStore connects to the database and returns the Postgres event store on it.
func openStore(ctx context.Context, cfg config) (*pgxpool.Pool, *pgstore.Store, error) {
	pool, err := openDatabase(ctx, cfg)
	if err != nil {
		return nil, nil, err
	}
	store, err := pgstore.New(ctx, pool, pgstore.Config{})
	if err != nil {
		pool.Close()
		return nil, nil, err
	}
	return pool, store, nil
}
