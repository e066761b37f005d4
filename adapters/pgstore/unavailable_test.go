package pgstore_test

import (
	"context"
	"errors"
	"testing"

	"github.com/attune-go/attune/adapters/pgstore"
	"github.com/attune-go/attune/adapters/postgres"
	"github.com/attune-go/attune/adapters/postgres/pgtest"
)

// The store hides pgx's types, but not the fact that the database is away: the bus must
// tell an outage (retry, never poison) from a bad request.
func TestAStoreErrorDuringAnOutageIsTransient(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	c := pgtest.StartCluster(t)
	pool, err := postgres.Connect(ctx, c.URL(), "")
	if err != nil {
		t.Fatal(err)
	}
	defer pool.Close()
	if _, err := postgres.Migrate(ctx, pool); err != nil {
		t.Fatal(err)
	}
	store, err := pgstore.New(ctx, pool, pgstore.Config{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := store.ReadStream(ctx, "execution-1"); err != nil {
		t.Fatal(err)
	}
	if _, err := store.ReadStream(ctx, "'; broken"); pgstore.IsTransient(err) {
		t.Errorf("a healthy database's answer %v counts as transient", err)
	}

	c.Kill()
	_, err = store.ReadStream(ctx, "execution-1")
	if err == nil {
		t.Fatal("read on a killed database succeeded")
	}
	if !errors.Is(err, pgstore.ErrUnavailable) || !pgstore.IsTransient(err) {
		t.Errorf("read during the outage: %v, want it marked ErrUnavailable", err)
	}
}
