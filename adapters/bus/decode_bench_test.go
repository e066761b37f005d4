package bus_test

import (
	"context"
	"encoding/json"
	"strings"
	"testing"

	"github.com/oklog/ulid/v2"

	"github.com/attune-go/attune/adapters/bus/bustest"
	"github.com/attune-go/attune/adapters/eventstore"
	"github.com/attune-go/attune/domain/execution"
)

// BenchmarkFiveHandlersOfOneEvent delivers one ExecutionStatusChanged (a run's end, 2 KiB of
// output) per iteration on the in-process bus to five handlers that each decode it, as
// serve's five handlers of that type do: what one event costs the process in decoding.
//
//	go test ./adapters/bus/ -run '^$' -bench FiveHandlers -benchmem
func BenchmarkFiveHandlersOfOneEvent(b *testing.B) {
	bs := bustest.New(b, bustest.InProcess)
	r := bs.NewRouter()
	for _, name := range []string{"canceler", "retry_schedule", "inquiry_closed", "workflow_advance", "admission"} {
		r.AddHandler(name, "ExecutionStatusChanged", func(_ context.Context, e eventstore.Recorded) error {
			p, err := e.Decode()
			if err != nil {
				return err
			}
			if ch, ok := p.(*execution.ExecutionStatusChanged); !ok || ch.To != execution.Completed {
				b.Errorf("decoded %T %+v", p, p)
			}
			return nil
		})
	}
	if err := r.Start(context.Background()); err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = r.Close() })
	exit := 0
	e := record(b, execution.ExecutionStatusChanged{ExecutionID: "01J00000000000000000000000", From: execution.Running,
		To: execution.Completed, WorkerID: "w1", Result: json.RawMessage(`{"ok":true}`), ExitCode: &exit, Stdout: strings.Repeat("output line\n", 170)})[0]
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		e.ID = ulid.Make() // a new event each time, as the relay publishes
		if err := bs.Publish(ctx, e); err != nil {
			b.Fatal(err)
		}
	}
}
