package heartbeat_test

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/attune-go/attune/adapters/heartbeat"
	"github.com/attune-go/attune/adapters/postgres/pgtest"
)

func setup(t *testing.T) *heartbeat.Store {
	t.Helper()
	return heartbeat.New(pgtest.New(t).Pool)
}

func beat(t *testing.T, s *heartbeat.Store, w heartbeat.Worker) bool {
	t.Helper()
	created, err := s.Beat(context.Background(), w)
	if err != nil {
		t.Fatal(err)
	}
	return created
}

func ids(ws []heartbeat.Worker) []string {
	var out []string
	for _, w := range ws {
		out = append(out, w.ID)
	}
	return out
}

func TestBeatCreatesOnceThenUpdatesLoad(t *testing.T) {
	t.Parallel()
	s := setup(t)
	ctx := context.Background()
	w := heartbeat.Worker{ID: "w1", Name: "alpha", Host: "h1", Runtimes: []string{"python", "shell"}, MaxConcurrency: 4}

	if !beat(t, s, w) {
		t.Fatal("first beat did not create the row")
	}
	first, err := s.Live(ctx, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	w.Running = 3
	if beat(t, s, w) {
		t.Fatal("second beat created the row again")
	}
	live, err := s.Live(ctx, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	if len(live) != 1 {
		t.Fatalf("live = %+v, want one worker", live)
	}
	got := live[0]
	if got.ID != "w1" || got.Name != "alpha" || got.Host != "h1" || !slices.Equal(got.Runtimes, []string{"python", "shell"}) ||
		got.MaxConcurrency != 4 || got.Running != 3 {
		t.Fatalf("row = %+v, want the second beat's values", got)
	}
	if !got.StartedAt.Equal(first[0].StartedAt) {
		t.Errorf("started_at moved from %s to %s on a beat", first[0].StartedAt, got.StartedAt)
	}
	if got.LastSeen.Before(first[0].LastSeen) {
		t.Errorf("last_seen went back from %s to %s", first[0].LastSeen, got.LastSeen)
	}
	if got.Age < 0 || got.Age > time.Minute {
		t.Errorf("age %s of a row beaten just now", got.Age)
	}
}

func TestLiveAndLostSplitOnTheTTL(t *testing.T) {
	t.Parallel()
	s := setup(t)
	ctx := context.Background()
	beat(t, s, heartbeat.Worker{ID: "w1", Runtimes: []string{"shell"}, MaxConcurrency: 1})
	beat(t, s, heartbeat.Worker{ID: "w2", Runtimes: []string{"node"}, MaxConcurrency: 1})

	// Within an hour both beat; within a microsecond (by the time we ask) neither did.
	live, err := s.Live(ctx, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	lost, err := s.Lost(ctx, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(ids(live), []string{"w1", "w2"}) || len(lost) != 0 {
		t.Fatalf("ttl 1h: live %v lost %v, want both live", ids(live), ids(lost))
	}
	live, err = s.Live(ctx, time.Microsecond)
	if err != nil {
		t.Fatal(err)
	}
	lost, err = s.Lost(ctx, time.Microsecond)
	if err != nil {
		t.Fatal(err)
	}
	if len(live) != 0 || !slices.Equal(ids(lost), []string{"w1", "w2"}) {
		t.Fatalf("ttl 1µs: live %v lost %v, want both lost", ids(live), ids(lost))
	}
	if lost[0].Age <= 0 {
		t.Errorf("a lost worker's age is %s", lost[0].Age)
	}
}

func TestRemovedWorkerIsGoneAndItsNextBeatRecreatesIt(t *testing.T) {
	t.Parallel()
	s := setup(t)
	ctx := context.Background()
	w := heartbeat.Worker{ID: "w1", Runtimes: []string{"shell"}, MaxConcurrency: 2}
	beat(t, s, w)
	if err := s.Remove(ctx, "w1"); err != nil {
		t.Fatal(err)
	}
	if err := s.Remove(ctx, "w1"); err != nil {
		t.Fatalf("removing an absent row: %v", err)
	}
	for _, list := range []func(context.Context, time.Duration) ([]heartbeat.Worker, error){s.Live, s.Lost} {
		ws, err := list(ctx, time.Hour)
		if err != nil {
			t.Fatal(err)
		}
		if len(ws) != 0 {
			t.Fatalf("removed worker still listed: %v", ids(ws))
		}
	}
	// This is how a worker learns that the reaper declared it lost.
	if !beat(t, s, w) {
		t.Fatal("a beat after the row was removed did not report that it created it")
	}
}

func TestBeatRejectsARowTheSchedulerCouldNotUse(t *testing.T) {
	t.Parallel()
	s := setup(t)
	for _, w := range []heartbeat.Worker{
		{Runtimes: []string{"shell"}, MaxConcurrency: 1},
		{ID: "w1", Runtimes: []string{"shell"}},
		{ID: "w1", Runtimes: []string{"shell"}, MaxConcurrency: 1, Running: -1},
	} {
		if _, err := s.Beat(context.Background(), w); err == nil {
			t.Errorf("Beat(%+v) = nil, want an error", w)
		}
	}
	if _, err := s.Live(context.Background(), 0); err == nil {
		t.Error("Live with a zero ttl = nil error")
	}
}
