package inquiries_test

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
	"github.com/attune-go/attune/domain/event"
	"github.com/attune-go/attune/domain/inquiry"
	"github.com/attune-go/attune/projections/inquiries"
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
			ID string `json:"inquiry_id"`
		}
		_ = json.Unmarshal(p.Data, &raw)
		stream := inquiry.StreamID(raw.ID)
		versions[stream]++
		out = append(out, eventstore.Recorded{ID: p.ID, StreamID: stream, StreamVersion: versions[stream], Type: p.Type, Data: p.Data,
			RecordedAt: t0.Add(time.Duration(i+1) * time.Minute), Position: eventstore.Position{Minor: uint64(i + 1)}})
	}
	return out
}

// TestApply folds every way an inquiry ends, in batches of every size: the rows are the same.
func TestApply(t *testing.T) {
	t.Parallel()
	created := func(id string) *inquiry.InquiryCreated {
		return &inquiry.InquiryCreated{InquiryID: id, ExecutionID: id, ParentExecutionID: "wf", Task: "approve", Route: "ops",
			Schema: json.RawMessage(`{"ok":{"type":"boolean"}}`), SchemaKind: inquiry.SchemaFlat, Tokens: []string{"alice"},
			TTLSeconds: 60, ExpiresAt: t0.Add(time.Hour)}
	}
	log := logOf(t, created("a"), created("b"), created("c"), created("d"),
		&inquiry.InquiryResponded{InquiryID: "a", Responder: "alice", Response: json.RawMessage(`{"ok":true}`)},
		&inquiry.InquiryTimedOut{InquiryID: "b", ExpiresAt: t0.Add(time.Hour)},
		&inquiry.InquiryCancelled{InquiryID: "c", Reason: "execution c ended cancelled before an answer"},
	)
	want := `a status=responded responder=alice response={"ok":true} reason= created=+1m responded=+5m updated=+5m v=2
b status=timed_out responder= response= reason= created=+2m responded=-- updated=+6m v=2
c status=cancelled responder= response= reason=execution c ended cancelled before an answer created=+3m responded=-- updated=+7m v=2
d status=pending responder= response= reason= created=+4m responded=-- updated=+4m v=1`
	for _, size := range []int{1, 2, len(log)} {
		m := memtx.New()
		for i := 0; i < len(log); i += size {
			if err := inquiries.Apply(context.Background(), m, log[i:min(i+size, len(log))]); err != nil {
				t.Fatal(err)
			}
		}
		var lines []string
		for _, id := range slices.Sorted(maps.Keys(m.Inquiries)) {
			x := m.Inquiries[id]
			responded := "--"
			if !x.RespondedAt.IsZero() {
				responded = "+" + x.RespondedAt.Sub(t0).String()
			}
			lines = append(lines, fmt.Sprintf("%s status=%s responder=%s response=%s reason=%s created=+%s responded=%s updated=+%s v=%d",
				id, x.Status, x.Responder, x.Response, x.Reason, x.CreatedAt.Sub(t0), responded, x.UpdatedAt.Sub(t0), x.Version))
			if x.ParentExecutionID != "wf" || x.Task != "approve" || x.Route != "ops" || !x.ExpiresAt.Equal(t0.Add(time.Hour)) || x.Tokens[0] != "alice" {
				t.Errorf("%s: the question as asked is lost: %+v", id, x)
			}
		}
		if got := strings.ReplaceAll(strings.Join(lines, "\n"), "m0s", "m"); got != want {
			t.Errorf("batches of %d:\n%s\nwant:\n%s", size, got, want)
		}
	}
}
