package postgres_test

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/attune-go/attune/adapters/postgres"
	"github.com/attune-go/attune/adapters/postgres/pgtest"
)

// clusterPool connects to a private cluster, which the test may crash and restart.
func clusterPool(t *testing.T, c *pgtest.Cluster) *pgxpool.Pool {
	t.Helper()
	pool, err := postgres.Connect(context.Background(), c.URL(), "")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pool.Close)
	return pool
}

func TestLeadershipIsLostWithTheDatabaseAndTakenAgainWhenItReturns(t *testing.T) {
	t.Parallel()
	c := pgtest.StartCluster(t)
	pool := clusterPool(t, c)
	a := startLeader(t, pool, "relay")
	wait(t, a.leading, "the instance to lead")

	c.Kill()
	if cause := wait(t, a.fnCtx, "the leader's work to be cancelled"); !errors.Is(cause, postgres.ErrLeadershipLost) {
		t.Fatalf("work cancelled with cause %v, want ErrLeadershipLost", cause)
	}
	if err := wait(t, a.result, "Lead to return"); !errors.Is(err, postgres.ErrLeadershipLost) {
		t.Fatalf("Lead = %v, want ErrLeadershipLost", err)
	}

	c.Start()
	b := startLeader(t, pool, "relay") // what leadForever does after its backoff
	wait(t, b.leading, "leadership to be taken again on the restarted database")
}

type syncBuf struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuf) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuf) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func TestGuardIsTakenAgainAfterADatabaseRestart(t *testing.T) {
	t.Parallel()
	c := pgtest.StartCluster(t)
	pool := clusterPool(t, c)
	var logs syncBuf
	release, err := postgres.Guard(context.Background(), pool, "serve-inprocess", slog.New(slog.NewTextHandler(&logs, nil)))
	if err != nil {
		t.Fatal(err)
	}
	defer release()

	c.Kill()
	c.Start()

	// Another process probes the guard until the restarted database says it is held again.
	other := clusterPool(t, c)
	deadline := time.Now().Add(30 * time.Second)
	for {
		probe, err := postgres.Hold(context.Background(), other, "serve-inprocess")
		if errors.Is(err, postgres.ErrHeld) {
			break
		}
		if err == nil {
			probe() // the guard has not noticed the restart yet (it pings every 2s)
		}
		if time.Now().After(deadline) {
			t.Fatalf("the guard was not taken again within 30s of the restart (last probe: %v)\n%s", err, logs.String())
		}
		time.Sleep(50 * time.Millisecond) // polling the server
	}
	if got := logs.String(); !strings.Contains(got, "guard lost") || !strings.Contains(got, "taken again") {
		t.Errorf("log does not tell the loss and the retake:\n%s", got)
	}
}

func TestGuardSaysSoWhenAnotherProcessTookItDuringARestart(t *testing.T) {
	t.Parallel()
	c := pgtest.StartCluster(t)
	pool := clusterPool(t, c)
	var logs syncBuf
	release, err := postgres.Guard(context.Background(), pool, "serve-inprocess", slog.New(slog.NewTextHandler(&logs, nil)))
	if err != nil {
		t.Fatal(err)
	}
	defer release()

	c.Kill()
	c.Start()
	// Another process starts at once, before the guard notices its session is gone.
	other := clusterPool(t, c)
	taken, err := postgres.Hold(context.Background(), other, "serve-inprocess")
	if errors.Is(err, postgres.ErrHeld) {
		t.Skip("the guard took the lock back before the other process could (a race this test cannot arrange)")
	}
	if err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(30 * time.Second)
	for !strings.Contains(logs.String(), "another process took the single-process guard") {
		if time.Now().After(deadline) {
			t.Fatalf("no error names the situation within 30s:\n%s", logs.String())
		}
		time.Sleep(50 * time.Millisecond)
	}
	taken() // the other process stops: the guard is whole again
	for !strings.Contains(logs.String(), "taken again") {
		if time.Now().After(deadline) {
			t.Fatalf("the guard was not taken again once the other process stopped:\n%s", logs.String())
		}
		time.Sleep(50 * time.Millisecond)
	}
}
