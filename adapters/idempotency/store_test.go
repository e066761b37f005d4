package idempotency_test

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"

	"github.com/oklog/ulid/v2"

	"github.com/attune-go/attune/adapters/idempotency"
	"github.com/attune-go/attune/adapters/postgres/pgtest"
)

func TestAKeyClaimsOneIdForEveryRetryWithTheSameBody(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	keys := idempotency.New(pgtest.New(t).Pool)

	first, err := keys.Claim(ctx, "executions/core.echo/tok1", "k1", "h1", "A")
	if err != nil || first != "A" {
		t.Fatalf("first claim = %q, %v; want the fresh id A", first, err)
	}
	again, err := keys.Claim(ctx, "executions/core.echo/tok1", "k1", "h1", "B")
	if err != nil || again != "A" {
		t.Errorf("retry = %q, %v; want the first id A", again, err)
	}
	if _, err := keys.Claim(ctx, "executions/core.echo/tok1", "k1", "h2", "C"); !errors.Is(err, idempotency.ErrKeyReused) {
		t.Errorf("same key, other body: err = %v, want ErrKeyReused", err)
	}
	other, err := keys.Claim(ctx, "executions/core.echo/tok2", "k1", "h2", "D")
	if err != nil || other != "D" {
		t.Errorf("same key, another caller = %q, %v; want its own fresh id D", other, err)
	}
}

func TestConcurrentFirstRequestsWithOneKeyAgreeOnOneId(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	keys := idempotency.New(pgtest.New(t).Pool)
	ids := make([]string, 10)
	var wg sync.WaitGroup
	for i := range ids {
		wg.Add(1)
		go func() {
			defer wg.Done()
			id, err := keys.Claim(ctx, "s", "k", "h", ulid.Make().String())
			if err != nil {
				t.Errorf("claim %d: %v", i, err)
			}
			ids[i] = id
		}()
	}
	wg.Wait()
	for i, id := range ids {
		if id != ids[0] {
			t.Fatalf("claim %d got %s, claim 0 got %s: want one id for every request", i, id, ids[0])
		}
	}
}

func TestAnExpiredKeyClaimsAFreshIdAndTheSweepDeletesIt(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s := pgtest.New(t)
	keys := idempotency.New(s.Pool)
	for _, k := range []string{"old1", "old2", "new"} {
		if _, err := keys.Claim(ctx, "s", k, "h", "id-"+k); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := s.Pool.Exec(ctx, `UPDATE idempotency_keys SET created_at = now() - interval '25 hours' WHERE key LIKE 'old%'`); err != nil {
		t.Fatal(err)
	}
	if id, err := keys.Claim(ctx, "s", "old1", "other body", "fresh"); err != nil || id != "fresh" {
		t.Errorf("claim of an expired key = %q, %v; want the fresh id (a key is remembered 24 h)", id, err)
	}
	n, err := keys.Sweep(ctx)
	if err != nil || n != 1 {
		t.Errorf("sweep deleted %d, %v; want 1 (old2; old1 was claimed again, new is live)", n, err)
	}
	if id, err := keys.Claim(ctx, "s", "new", "h", "x"); err != nil || id != "id-new" {
		t.Errorf("a live key after the sweep = %q, %v; want id-new", id, err)
	}
}

func TestCheckKeyRefusesEmptyLongAndNonPrintableKeys(t *testing.T) {
	t.Parallel()
	for key, want := range map[string]string{
		"":                       "empty",
		strings.Repeat("k", 256): "256 bytes",
		"a\x00b":                 "0x00 at offset 1",
		"tab\there":              "0x09",
		"é":                      "non-ASCII",
	} {
		err := idempotency.CheckKey(key)
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("CheckKey(%q) = %v, want an error naming %q", key, err, want)
		}
	}
	for _, key := range []string{"k", "0c7e7a1e-7f43-4b7b-9c7e-1c2d3e4f5a6b", strings.Repeat("k", 255), "a b~"} {
		if err := idempotency.CheckKey(key); err != nil {
			t.Errorf("CheckKey(%q) = %v, want nil", key, err)
		}
	}
}

func TestHashSeparatesItsParts(t *testing.T) {
	t.Parallel()
	if idempotency.Hash([]byte("ab"), []byte("c")) == idempotency.Hash([]byte("a"), []byte("bc")) {
		t.Error("Hash(ab, c) == Hash(a, bc): parts must not run into each other")
	}
}
