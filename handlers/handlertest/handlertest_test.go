package handlertest_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"runtime"
	"strings"
	"sync"
	"testing"

	"github.com/attune-go/attune/adapters/bus"
	"github.com/attune-go/attune/adapters/eventstore"
	"github.com/attune-go/attune/domain/event"
	"github.com/attune-go/attune/domain/execution"
	"github.com/attune-go/attune/handlers/handlertest"
)

func TestSummary(t *testing.T) {
	t.Parallel()
	zero := 0
	cases := []struct {
		name string
		e    event.Event
		want string
	}{
		{
			"fields in declaration order, _id dropped, empty skipped",
			execution.ExecutionScheduled{ExecutionID: "e1", WorkerID: "w1", Runtime: "shell"},
			"ExecutionScheduled execution=e1 worker=w1 runtime=shell",
		},
		{
			"zero numbers kept, objects compact, strings with spaces quoted",
			execution.ExecutionStatusChanged{
				ExecutionID: "e1", From: execution.Running, To: execution.Completed,
				Result: json.RawMessage(`{ "ok": true }`), ExitCode: &zero, Stdout: "hello world\n",
			},
			`ExecutionStatusChanged execution=e1 from=running to=completed result={"ok":true} exit_code=0 stdout="hello world\n"`,
		},
		{
			"long values cut",
			execution.ExecutionStatusChanged{ExecutionID: "e1", From: execution.Running, To: execution.Failed, Stderr: strings.Repeat("x", 150)},
			"ExecutionStatusChanged execution=e1 from=running to=failed stderr=" + strings.Repeat("x", 99) + "…",
		},
		{
			"a value with = is quoted, so the line still parses",
			execution.ExecutionRequested{ExecutionID: "e1", Action: "core.echo", Rule: "a=b"},
			`ExecutionRequested execution=e1 action=core.echo rule="a=b"`,
		},
	}
	for _, tc := range cases {
		p, err := eventstore.NewProposed(tc.e, event.Metadata{})
		if err != nil {
			t.Fatal(err)
		}
		got := handlertest.Summary(eventstore.Recorded{Type: p.Type, Data: p.Data})
		if got != tc.want {
			t.Errorf("%s:\n got %s\nwant %s", tc.name, got, tc.want)
		}
	}
	if got := handlertest.Summary(eventstore.Recorded{Type: "Odd", Data: json.RawMessage(`[1, 2]`)}); got != "Odd data=[1,2]" {
		t.Errorf("non-object payload: got %q", got)
	}
}

// admit is a toy handler: a requested execution moves to scheduling. Its flaws are switches,
// so the tests can show the kit catching each.
type admit struct {
	log         eventstore.Store
	skipCheck   bool // append without looking at the status: not idempotent
	noCausation bool // forget metadata.Caused
	fail        error
}

func (a admit) handle(ctx context.Context, e eventstore.Recorded) error {
	if a.fail != nil {
		return a.fail
	}
	if e.Type != "ExecutionRequested" {
		return nil
	}
	history, err := a.log.ReadStream(ctx, e.StreamID)
	if err != nil {
		return err
	}
	var events []event.Event
	for _, r := range history {
		p, err := r.Decode()
		if err != nil {
			return err
		}
		events = append(events, p)
	}
	x, err := execution.FromEvents(events)
	if err != nil {
		return err
	}
	if x.Status() != execution.Requested && !a.skipCheck {
		return nil
	}
	next := execution.ExecutionStatusChanged{ExecutionID: x.ID(), From: execution.Requested, To: execution.Scheduling}
	md := e.Metadata.Caused(e.ID.String())
	if a.noCausation {
		md = event.Metadata{}
	}
	p, err := eventstore.NewProposed(next, md)
	if err != nil {
		return err
	}
	_, err = a.log.Append(ctx, e.StreamID, eventstore.Any, p)
	return err
}

func requested(id string) execution.ExecutionRequested {
	return execution.ExecutionRequested{ExecutionID: id, Action: "core.echo"}
}

func TestAnIdempotentHandlerPasses(t *testing.T) {
	t.Parallel()
	fx := handlertest.New(t)
	e1 := fx.Given(execution.StreamID("e1"), requested("e1"))
	e2 := fx.Given(execution.StreamID("e2"), requested("e2"))
	fx.WhenRedelivered(admit{log: fx.Store()}.handle, e1[0], e2[0])

	// What is appended follows the shuffled deliveries, hence ThenInAnyOrder.
	fx.ThenInAnyOrder(`
		ExecutionStatusChanged execution=e2 from=requested to=scheduling
		ExecutionStatusChanged execution=e1 from=requested to=scheduling
	`)
	if recorded := fx.Appended()[0].RecordedAt; !recorded.Equal(fx.Now()) {
		t.Errorf("recorded at %s, want the fixture's clock %s", recorded, fx.Now())
	}
}

func TestThenIgnoresIndentationAndBlankLines(t *testing.T) {
	t.Parallel()
	fx := handlertest.New(t)
	rec := fx.Given(execution.StreamID("e1"), requested("e1"))
	fx.When(admit{log: fx.Store()}.handle, rec...)
	fx.Then(`

		ExecutionStatusChanged execution=e1 from=requested to=scheduling

	`)
}

func TestWhenRedeliveredDeliversEachEventTwice(t *testing.T) {
	t.Parallel()
	fx := handlertest.New(t)
	rec := fx.Given(execution.StreamID("e1"), requested("e1"), execution.ExecutionStatusChanged{ExecutionID: "e1", From: execution.Requested, To: execution.Failed})
	count := map[string]int{}
	fx.WhenRedelivered(func(_ context.Context, e eventstore.Recorded) error {
		count[e.ID.String()]++
		return nil
	}, rec...)
	for _, r := range rec {
		if count[r.ID.String()] != 2 {
			t.Errorf("%s delivered %d times, want 2", r.Type, count[r.ID.String()])
		}
	}
	fx.Then("")
}

// spy stands in for *testing.T to watch the kit fail a test.
type spy struct {
	testing.TB
	mu     sync.Mutex
	errors []string
}

func (s *spy) Helper() {}

func (s *spy) Errorf(format string, args ...any) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.errors = append(s.errors, fmt.Sprintf(format, args...))
}

func (s *spy) Fatalf(format string, args ...any) {
	s.Errorf(format, args...)
	runtime.Goexit()
}

func (s *spy) Failed() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.errors) > 0
}

// failures runs a scenario against a spy (on its own goroutine, as Fatalf ends it) and
// returns what it reported.
func failures(t *testing.T, scenario func(tb testing.TB)) string {
	t.Helper()
	s := &spy{TB: t}
	done := make(chan struct{})
	go func() {
		defer close(done)
		scenario(s)
	}()
	<-done
	return strings.Join(s.errors, "\n")
}

func TestTheKitCatchesFaultyHandlers(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name     string
		scenario func(tb testing.TB)
		want     string // in the failure message
	}{
		{"not idempotent: a redelivery appends again", func(tb testing.TB) {
			fx := handlertest.New(tb)
			rec := fx.Given(execution.StreamID("e1"), requested("e1"))
			fx.WhenRedelivered(admit{log: fx.Store(), skipCheck: true}.handle, rec...)
			fx.Then("ExecutionStatusChanged execution=e1 from=requested to=scheduling")
		}, "handler appended:\n\tExecutionStatusChanged execution=e1 from=requested to=scheduling\n\tExecutionStatusChanged execution=e1 from=requested to=scheduling"},
		{"appended something else", func(tb testing.TB) {
			fx := handlertest.New(tb)
			rec := fx.Given(execution.StreamID("e1"), requested("e1"))
			fx.When(admit{log: fx.Store()}.handle, rec...)
			fx.Then("ExecutionStatusChanged execution=e1 from=requested to=failed")
		}, "want:\n\tExecutionStatusChanged execution=e1 from=requested to=failed"},
		{"appended where nothing was expected", func(tb testing.TB) {
			fx := handlertest.New(tb)
			rec := fx.Given(execution.StreamID("e1"), requested("e1"))
			fx.When(admit{log: fx.Store()}.handle, rec...)
			fx.Then("")
		}, "want:\n\t(nothing)"},
		{"lost the causal link", func(tb testing.TB) {
			fx := handlertest.New(tb)
			rec := fx.Given(execution.StreamID("e1"), requested("e1"))
			fx.When(admit{log: fx.Store(), noCausation: true}.handle, rec...)
			fx.Then("ExecutionStatusChanged execution=e1 from=requested to=scheduling")
		}, `with causation ""`},
		{"the handler fails", func(tb testing.TB) {
			fx := handlertest.New(tb)
			rec := fx.Given(execution.StreamID("e1"), requested("e1"))
			fx.When(admit{log: fx.Store(), fail: bus.Permanent(errors.New("bad input"))}.handle, rec...)
			fx.Then("")
		}, "handler failed on delivery 1 (ExecutionRequested"},
		{"history written after delivery", func(tb testing.TB) {
			fx := handlertest.New(tb)
			rec := fx.Given(execution.StreamID("e1"), requested("e1"))
			fx.When(admit{log: fx.Store()}.handle, rec...)
			fx.Given(execution.StreamID("e2"), requested("e2"))
		}, "Given after When"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			got := failures(t, tc.scenario)
			if !strings.Contains(got, tc.want) {
				t.Errorf("kit reported:\n%s\nwant it to mention:\n%s", got, tc.want)
			}
		})
	}
}
