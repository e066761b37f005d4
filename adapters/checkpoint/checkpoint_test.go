package checkpoint_test

import (
	"context"
	"math"
	"testing"

	"github.com/attune-go/attune/adapters/checkpoint"
	"github.com/attune-go/attune/adapters/eventstore"
	"github.com/attune-go/attune/adapters/postgres/pgtest"
)

// Every implementation runs the same suite.
func TestMemory(t *testing.T) {
	t.Parallel()
	testStore(t, func(t *testing.T) checkpoint.Store { return checkpoint.NewMemory() })
}

func TestPostgres(t *testing.T) {
	t.Parallel()
	testStore(t, func(t *testing.T) checkpoint.Store { return checkpoint.NewPostgres(pgtest.New(t).Pool) })
}

func testStore(t *testing.T, newStore func(*testing.T) checkpoint.Store) {
	ctx := context.Background()

	t.Run("UnknownNameLoadsStart", func(t *testing.T) {
		t.Parallel()
		s := newStore(t)
		got, err := s.Load(ctx, "relay")
		if err != nil {
			t.Fatal(err)
		}
		if got != eventstore.Start {
			t.Fatalf("Load(unknown) = %s, want %s", got, eventstore.Start)
		}
	})

	t.Run("SaveThenLoadPerName", func(t *testing.T) {
		t.Parallel()
		s := newStore(t)
		steps := []struct {
			name string
			pos  eventstore.Position
		}{
			{"relay", eventstore.Position{Major: 7, Minor: 42}},
			{"projection.executions", eventstore.Position{Major: 3, Minor: 9}},
			{"relay", eventstore.Position{Major: 8, Minor: 43}}, // overwrite
			// A position near the top of the bigint range survives the round trip.
			{"projection.big", eventstore.Position{Major: math.MaxInt64, Minor: math.MaxInt64 - 1}},
		}
		for _, st := range steps {
			if err := s.Save(ctx, st.name, st.pos); err != nil {
				t.Fatalf("Save(%s, %s): %v", st.name, st.pos, err)
			}
		}
		want := map[string]eventstore.Position{
			"relay":                 {Major: 8, Minor: 43},
			"projection.executions": {Major: 3, Minor: 9},
			"projection.big":        {Major: math.MaxInt64, Minor: math.MaxInt64 - 1},
		}
		for name, w := range want {
			got, err := s.Load(ctx, name)
			if err != nil {
				t.Fatal(err)
			}
			if got != w {
				t.Errorf("Load(%s) = %s, want %s", name, got, w)
			}
		}
	})
}

func TestPostgresRejectsPositionBeyondBigint(t *testing.T) {
	t.Parallel()
	s := checkpoint.NewPostgres(pgtest.New(t).Pool)
	err := s.Save(context.Background(), "relay", eventstore.Position{Major: math.MaxInt64 + 1})
	if err == nil {
		t.Fatal("Save with a position beyond bigint succeeded, want an error")
	}
}

// A projector saves its checkpoint in its own transaction: a rollback must take it back.
func TestSaveInFollowsTheTransaction(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	db := pgtest.New(t)
	s := checkpoint.NewPostgres(db.Pool)

	for _, commit := range []bool{false, true} {
		tx, err := db.Pool.Begin(ctx)
		if err != nil {
			t.Fatal(err)
		}
		pos := eventstore.Position{Major: 1, Minor: 5}
		if err := checkpoint.SaveIn(ctx, tx, "projection.x", pos); err != nil {
			t.Fatal(err)
		}
		want := eventstore.Start
		if commit {
			err, want = tx.Commit(ctx), pos
		} else {
			err = tx.Rollback(ctx)
		}
		if err != nil {
			t.Fatal(err)
		}
		got, err := s.Load(ctx, "projection.x")
		if err != nil {
			t.Fatal(err)
		}
		if got != want {
			t.Errorf("commit=%v: Load = %s, want %s", commit, got, want)
		}
	}
}
