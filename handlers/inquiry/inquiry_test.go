package inquiry_test

import (
	"context"
	"encoding/json"
	"errors"
	"testing"
	"time"

	"github.com/attune-go/attune/adapters/answerschema"
	"github.com/attune-go/attune/adapters/eventstore"
	"github.com/attune-go/attune/domain/execution"
	"github.com/attune-go/attune/domain/inquiry"
	"github.com/attune-go/attune/handlers/handlertest"
	handler "github.com/attune-go/attune/handlers/inquiry"
)

const params = `{"schema":{"approved":{"type":"boolean","required":true}},"tokens":["alice"],"roles":["admin"],"ttl":60,"route":"ops"}`

func asked(id string) execution.ExecutionRequested {
	return execution.ExecutionRequested{ExecutionID: id, Action: inquiry.AskAction, RunnerType: "builtin",
		Parameters: json.RawMessage(params), ParentID: "wf1", WorkflowTask: "approve"}
}

func created(fx *handlertest.Fixture, id string) inquiry.InquiryCreated {
	return inquiry.InquiryCreated{InquiryID: id, ExecutionID: id, ParentExecutionID: "wf1", Task: "approve", Route: "ops",
		Schema: json.RawMessage(`{"approved":{"type":"boolean","required":true}}`), SchemaKind: inquiry.SchemaFlat,
		Roles: []string{"admin"}, Tokens: []string{"alice"}, TTLSeconds: 60, ExpiresAt: fx.Now().Add(time.Minute)}
}

func change(id string, from, to execution.Status) execution.ExecutionStatusChanged {
	return execution.ExecutionStatusChanged{ExecutionID: id, From: from, To: to}
}

type clock struct{ t time.Time }

func (c *clock) now() time.Time { return c.t }

func engine(fx *handlertest.Fixture) (*handler.Engine, *clock) {
	c := &clock{t: fx.Now()}
	return handler.New(handler.Config{Log: fx.Store(), Now: c.now}), c
}

func byRole(have string) func(string) bool {
	rank := map[string]int{"viewer": 1, "operator": 2, "admin": 3}
	return func(least string) bool { return rank[have] >= rank[least] }
}

func TestAskCreatesTheInquiryAndWaits(t *testing.T) {
	t.Parallel()
	fx := handlertest.New(t)
	en, _ := engine(fx)
	rec := fx.Given(execution.StreamID("e1"), asked("e1"))
	fx.WhenRedelivered(en.Ask, rec...)
	fx.Then(`
		InquiryCreated inquiry=e1 execution=e1 parent_execution=wf1 task=approve route=ops schema={"approved":{"type":"boolean","required":true}} schema_kind=flat roles=["admin"] tokens=["alice"] ttl=60 expires_at=2026-01-02T03:05:05Z
		ExecutionStatusChanged execution=e1 from=requested to=pending reason="waiting for an answer until 2026-01-02T03:05:05Z" parent=wf1`)
}

func TestAskAfterACrashBetweenItsAppendsOnlyMovesTheExecution(t *testing.T) {
	t.Parallel()
	fx := handlertest.New(t)
	en, _ := engine(fx)
	rec := fx.Given(execution.StreamID("e1"), asked("e1"))
	fx.Given(inquiry.StreamID("e1"), created(fx, "e1"))
	fx.WhenRedelivered(en.Ask, rec...)
	fx.Then(`ExecutionStatusChanged execution=e1 from=requested to=pending reason="waiting for an answer until 2026-01-02T03:05:05Z" parent=wf1`)
}

func TestAskWithABadSchemaFailsTheExecution(t *testing.T) {
	t.Parallel()
	fx := handlertest.New(t)
	en, _ := engine(fx)
	req := asked("e1")
	req.Parameters = json.RawMessage(`{"schema":{"type":"string"}}`)
	rec := fx.Given(execution.StreamID("e1"), req)
	fx.WhenRedelivered(en.Ask, rec...)
	fx.Then(`ExecutionStatusChanged execution=e1 from=requested to=failed reason="core.ask: JSON Schema: its top level must say \"type\": \"object\" (an answer is an object, read as tas…" parent=wf1`)
}

func TestAskLeavesOtherActionsAndSettledExecutionsAlone(t *testing.T) {
	t.Parallel()
	fx := handlertest.New(t)
	en, _ := engine(fx)
	other := fx.Given(execution.StreamID("e1"), execution.ExecutionRequested{ExecutionID: "e1", Action: "core.echo", RunnerType: "builtin"})
	cancelled := fx.Given(execution.StreamID("e2"), asked("e2"), change("e2", execution.Requested, execution.Cancelled))
	fx.WhenRedelivered(en.Ask, other[0], cancelled[0])
	fx.Then("")
}

func pending(fx *handlertest.Fixture, id string) []eventstore.Recorded {
	x := fx.Given(execution.StreamID(id), asked(id), change(id, execution.Requested, execution.Pending))
	q := fx.Given(inquiry.StreamID(id), created(fx, id))
	return append(x, q...)
}

func TestRespondCompletesTheExecutionWithTheAnswerOnce(t *testing.T) {
	t.Parallel()
	fx := handlertest.New(t)
	en, _ := engine(fx)
	pending(fx, "e1")
	ctx := context.Background()
	got, err := en.Respond(ctx, "e1", handler.Responder{Name: "alice", Allows: byRole("viewer")}, json.RawMessage(`{"approved": true}`))
	if err != nil || string(got.Response) != `{"approved":true}` {
		t.Fatalf("respond: %+v, %v", got, err)
	}
	_, err = en.Respond(ctx, "e1", handler.Responder{Name: "root", Allows: byRole("admin")}, json.RawMessage(`{"approved": false}`))
	var closed *inquiry.ClosedError
	if !errors.As(err, &closed) || closed.Status != inquiry.Responded {
		t.Fatalf("second answer: %v, want a ClosedError responded", err)
	}
	// The answered handler, delivered afterwards (twice), finds nothing left to do.
	answered := fx.Appended()[0]
	if err := en.Answered(ctx, answered); err != nil {
		t.Fatal(err)
	}
	if err := en.Answered(ctx, answered); err != nil {
		t.Fatal(err)
	}
	if got := handlertest.Script(fx.Appended()); got != `InquiryResponded inquiry=e1 responder=alice response={"approved":true}
ExecutionStatusChanged execution=e1 from=pending to=completed reason="answered by alice" result={"approved":true} parent=wf1` {
		t.Fatalf("appended:\n%s", got)
	}
}

func TestRespondRefuses(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name   string
		who    handler.Responder
		answer string
		check  func(error) bool
	}{
		{"a token neither named nor of the role", handler.Responder{Name: "bob", Allows: byRole("operator")}, `{"approved":true}`,
			func(err error) bool { return errors.Is(err, inquiry.ErrNotAllowed) }},
		{"an answer the schema refuses", handler.Responder{Name: "bob", Allows: byRole("admin")}, `{"approved":"yes"}`,
			func(err error) bool {
				var fe *answerschema.FieldError
				return errors.As(err, &fe) && fe.Field == "/approved"
			}},
		{"an unknown field", handler.Responder{Name: "alice", Allows: byRole("viewer")}, `{"approved":true,"x":1}`,
			func(err error) bool {
				var fe *answerschema.FieldError
				return errors.As(err, &fe) && fe.Field == "/x"
			}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			fx := handlertest.New(t)
			en, _ := engine(fx)
			pending(fx, "e1")
			_, err := en.Respond(context.Background(), "e1", c.who, json.RawMessage(c.answer))
			if !c.check(err) {
				t.Fatalf("got %v", err)
			}
			fx.Then("")
		})
	}
	t.Run("an unknown inquiry", func(t *testing.T) {
		t.Parallel()
		fx := handlertest.New(t)
		en, _ := engine(fx)
		_, err := en.Respond(context.Background(), "nope", handler.Responder{Name: "a", Allows: byRole("admin")}, json.RawMessage(`{}`))
		if !errors.Is(err, handler.ErrNotFound) {
			t.Fatalf("got %v", err)
		}
	})
}

func TestAtItsDeadlineTheInquiryTimesOut(t *testing.T) {
	t.Parallel()
	fx := handlertest.New(t)
	en, c := engine(fx)
	pending(fx, "e1")
	ctx := context.Background()
	if err := en.Settle(ctx, "e1", nil); err != nil {
		t.Fatal(err)
	}
	if n := len(fx.Appended()); n != 0 {
		t.Fatalf("before the deadline, %d events appended", n)
	}
	c.t = c.t.Add(time.Minute)
	_, err := en.Respond(ctx, "e1", handler.Responder{Name: "alice", Allows: byRole("admin")}, json.RawMessage(`{"approved":true}`))
	var closed *inquiry.ClosedError
	if !errors.As(err, &closed) || closed.Status != inquiry.TimedOut {
		t.Fatalf("an answer at the deadline: %v, want a ClosedError timed_out", err)
	}
	for range 2 {
		if err := en.Settle(ctx, "e1", nil); err != nil {
			t.Fatal(err)
		}
	}
	if got := handlertest.Script(fx.Appended()); got != `InquiryTimedOut inquiry=e1 expires_at=2026-01-02T03:05:05Z
ExecutionStatusChanged execution=e1 from=pending to=timeout reason="no answer by 2026-01-02T03:05:05Z" parent=wf1` {
		t.Fatalf("appended:\n%s", got)
	}
}

func TestACancelledExecutionCancelsItsInquiry(t *testing.T) {
	t.Parallel()
	fx := handlertest.New(t)
	en, _ := engine(fx)
	pending(fx, "e1")
	rec := fx.Given(execution.StreamID("e1"), change("e1", execution.Pending, execution.Cancelled))
	fx.WhenRedelivered(en.Closed, rec...)
	fx.Then(`InquiryCancelled inquiry=e1 reason="execution e1 ended cancelled before an answer"`)
}

func TestAnAnswerWhoseExecutionChangeWasLostIsCompletedByTheAnsweredHandler(t *testing.T) {
	t.Parallel()
	fx := handlertest.New(t)
	en, _ := engine(fx)
	pending(fx, "e1")
	rec := fx.Given(inquiry.StreamID("e1"), inquiry.InquiryResponded{InquiryID: "e1", Responder: "alice", Response: json.RawMessage(`{"approved":false}`)})
	fx.WhenRedelivered(en.Answered, rec...)
	fx.Then(`ExecutionStatusChanged execution=e1 from=pending to=completed reason="answered by alice" result={"approved":false} parent=wf1`)
}

func TestSweepSettlesWhatTheReadModelSaysIsDue(t *testing.T) {
	t.Parallel()
	fx := handlertest.New(t)
	c := &clock{t: fx.Now().Add(time.Hour)}
	var dueAt []time.Time
	en := handler.New(handler.Config{Log: fx.Store(), Now: c.now, Due: func(_ context.Context, now time.Time, _ int) ([]string, error) {
		dueAt = append(dueAt, now)
		return []string{"e1", "e2"}, nil
	}})
	pending(fx, "e1") // past its deadline
	fx.Given(execution.StreamID("e2"), asked("e2"), change("e2", execution.Requested, execution.Pending))
	fx.Given(inquiry.StreamID("e2"), created(fx, "e2"), inquiry.InquiryTimedOut{InquiryID: "e2", ExpiresAt: fx.Now().Add(time.Minute)})
	for range 2 {
		if err := en.Sweep(context.Background()); err != nil {
			t.Fatal(err)
		}
	}
	if len(dueAt) != 2 || !dueAt[0].Equal(c.t) {
		t.Fatalf("Due asked at %v, want the engine's clock", dueAt)
	}
	want := `InquiryTimedOut inquiry=e1 expires_at=2026-01-02T03:05:05Z
ExecutionStatusChanged execution=e1 from=pending to=timeout reason="no answer by 2026-01-02T03:05:05Z" parent=wf1
ExecutionStatusChanged execution=e2 from=pending to=timeout reason="no answer by 2026-01-02T03:05:05Z" parent=wf1`
	if got := handlertest.Script(fx.Appended()); got != want {
		t.Fatalf("appended:\n%s\nwant:\n%s", got, want)
	}
}
