package enforcements_test

import (
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/attune-go/attune/adapters/eventstore"
	"github.com/attune-go/attune/domain/enforcement"
	"github.com/attune-go/attune/domain/event"
	"github.com/attune-go/attune/projections/enforcements"
	"github.com/attune-go/attune/projections/internal/memtx"
)

var t0 = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

func logOf(t *testing.T, es ...event.Event) []eventstore.Recorded {
	t.Helper()
	var out []eventstore.Recorded
	versions := map[string]int64{}
	for i, e := range es {
		p, err := eventstore.NewProposed(e, event.Metadata{})
		if err != nil {
			t.Fatal(err)
		}
		var raw struct {
			ID string `json:"enforcement_id"`
		}
		_ = json.Unmarshal(p.Data, &raw)
		stream := enforcement.StreamID(raw.ID)
		versions[stream]++
		out = append(out, eventstore.Recorded{ID: p.ID, StreamID: stream, StreamVersion: versions[stream], Type: p.Type, Data: p.Data,
			RecordedAt: t0.Add(time.Duration(i+1) * time.Minute), Position: eventstore.Position{Minor: uint64(i + 1)}})
	}
	return out
}

func TestApply(t *testing.T) {
	t.Parallel()
	created := func(id, rule string) *enforcement.EnforcementCreated {
		return &enforcement.EnforcementCreated{EnforcementID: id, Rule: rule, Trigger: "examples.ping", EventID: "ev-" + id,
			Action: "examples.shout", Parameters: json.RawMessage(`{"message":"hi"}`)}
	}
	log := logOf(t,
		created("a", "examples.r1"),
		created("b", "examples.r2"),
		&enforcement.EnforcementProcessed{EnforcementID: "a", ExecutionID: "x1"},
		&enforcement.EnforcementSkipped{EnforcementID: "b", Reason: "action examples.shout is not registered"},
		created("c", "examples.r1"),
	)
	want := `a rule=examples.r1 event=ev-a status=processed execution=x1 reason= created=+1m updated=+3m v=2
b rule=examples.r2 event=ev-b status=skipped execution= reason=action examples.shout is not registered created=+2m updated=+4m v=2
c rule=examples.r1 event=ev-c status=created execution= reason= created=+5m updated=+5m v=1`
	for _, size := range []int{1, 2, len(log)} {
		m := memtx.New()
		for b := range slices.Chunk(log, size) {
			if err := enforcements.Apply(context.Background(), m, b); err != nil {
				t.Fatal(err)
			}
		}
		var lines []string
		for _, id := range slices.Sorted(maps.Keys(m.Enforcements)) {
			x := m.Enforcements[id]
			lines = append(lines, fmt.Sprintf("%s rule=%s event=%s status=%s execution=%s reason=%s created=+%dm updated=+%dm v=%d",
				x.ID, x.Rule, x.EventID, x.Status, x.ExecutionID, x.Reason,
				int(x.CreatedAt.Sub(t0).Minutes()), int(x.UpdatedAt.Sub(t0).Minutes()), x.Version))
		}
		if got := strings.Join(lines, "\n"); got != want {
			t.Errorf("batches of %d:\n got:\n%s\nwant:\n%s", size, got, want)
		}
	}
}

func TestFilterValidateReportsEveryProblem(t *testing.T) {
	t.Parallel()
	err := enforcements.Filter{Status: []enforcements.Status{"done"}, Limit: enforcements.MaxLimit + 1, Cursor: "!"}.Validate()
	for _, want := range []string{`"done"`, "limit 1001", "cursor"} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("error %v does not mention %s", err, want)
		}
	}
	if err := (enforcements.Filter{Status: []enforcements.Status{enforcements.Skipped}}).Validate(); err != nil {
		t.Errorf("a valid filter: %v", err)
	}
}
