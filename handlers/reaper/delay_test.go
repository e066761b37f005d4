package reaper_test

import (
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/oklog/ulid/v2"

	"github.com/attune-go/attune/adapters/bus/bustest"
	"github.com/attune-go/attune/domain/execution"
	"github.com/attune-go/attune/handlers/reaper"
	hworker "github.com/attune-go/attune/handlers/worker"
	"github.com/attune-go/attune/handlers/worker/workertest"
)

func TestADelayedExecutionIsReleasedAtItsNotBeforeAndRuns(t *testing.T) {
	t.Parallel()
	env := workertest.New(t, workertest.Options{Transport: bustest.InProcess})
	w := env.AddWorker(hworker.Config{Runtimes: []string{"builtin"}, Runner: &workertest.Runner{}})
	env.Start()
	env.StartWorker(w)
	env.StartReaper(reaper.Config{})
	env.RegisterPack(testPack())

	id := ulid.Make().String()
	notBefore := time.Now().Add(time.Second)
	env.Append(execution.StreamID(id), execution.ExecutionRequested{
		ExecutionID: id, Action: "test.builtin", RunnerType: "builtin", NotBefore: notBefore,
	})
	done := env.WaitStatus(id, execution.Completed, execution.Failed, execution.Abandoned)
	if done.To != execution.Completed {
		t.Fatalf("ended %s (%s), want completed", done.To, done.Reason)
	}

	_, recorded := env.Execution(id)
	var history []string
	var released time.Time
	for _, r := range recorded {
		e, err := r.Decode()
		if err != nil {
			t.Fatal(err)
		}
		switch e := e.(type) {
		case *execution.ExecutionStatusChanged:
			history = append(history, string(e.From)+" → "+string(e.To))
			if e.From == execution.Delayed {
				released = r.RecordedAt
			}
		default:
			history = append(history, r.Type)
		}
	}
	want := []string{
		"ExecutionRequested",
		"ExecutionDelayed", "requested → delayed",
		"delayed → scheduling",
		"ExecutionScheduled", "scheduling → scheduled",
		"scheduled → running", "running → completed",
	}
	if !slices.Equal(history, want) {
		t.Fatalf("history:\n\t%s\nwant:\n\t%s", strings.Join(history, "\n\t"), strings.Join(want, "\n\t"))
	}
	if released.Before(notBefore) {
		t.Fatalf("released at %s, before its not_before %s", released.Format(time.RFC3339Nano), notBefore.Format(time.RFC3339Nano))
	}
}
