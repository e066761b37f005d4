package request_test

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/attune-go/attune/adapters/eventstore"
	"github.com/attune-go/attune/adapters/memstore"
	"github.com/attune-go/attune/adapters/secret"
	"github.com/attune-go/attune/domain/event"
	"github.com/attune-go/attune/domain/execution"
	"github.com/attune-go/attune/domain/pack"
	"github.com/attune-go/attune/handlers/handlertest"
	"github.com/attune-go/attune/handlers/request"
	"github.com/attune-go/attune/projections/registry"
)

func raw(s string) json.RawMessage { return json.RawMessage(s) }

func examples() pack.PackRegistered {
	return pack.PackRegistered{
		Ref: "examples", Version: "1.0.0", Config: raw(`{"greeting":"hello"}`),
		Actions: []pack.Action{{
			Ref: "examples.shout", Name: "shout", RunnerType: pack.RunnerPython, EntryPoint: "shout.py",
			Parameters: pack.Params{
				"message": {Type: pack.ParamString, Required: true},
				"count":   {Type: pack.ParamInteger, Default: raw(`1`)},
				"token":   {Type: pack.ParamString, Secret: true},
			},
		}},
		Triggers: []pack.Trigger{{Ref: "examples.ping", Name: "ping", Type: pack.TriggerWebhook}},
		Rules: []pack.Rule{{
			Ref: "examples.on_error", Name: "on_error", Enabled: true, Trigger: "examples.ping", Action: "examples.shout",
			Criteria: map[string]pack.Criterion{
				"payload.level": {Type: "equals", Pattern: raw(`"error"`)},
				"payload.msg":   {Type: "startswith", Pattern: raw(`"disk"`)},
			},
			Parameters: raw(`{"message": "{{ event.payload.msg }} (via {{ config.greeting }})", "token": "{{ event.payload.token }}"}`),
		}},
	}
}

type env struct {
	store *memstore.Store
	reg   *registry.Registry
	box   *secret.Box
}

// setup registers the examples pack; the registry folds it unless lagging.
func setup(t *testing.T, lagging bool) *env {
	t.Helper()
	e := &env{store: memstore.New(memstore.Config{}), reg: registry.New(registry.Config{})}
	box, err := secret.New(make([]byte, 32))
	if err != nil {
		t.Fatal(err)
	}
	e.box = box
	p, err := eventstore.NewProposed(examples(), event.Metadata{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.store.Append(context.Background(), pack.StreamID("examples"), eventstore.NoStream, p); err != nil {
		t.Fatal(err)
	}
	if !lagging {
		all, _ := e.store.ReadAll(context.Background(), eventstore.Start, 100)
		e.reg.Apply(all...)
	}
	return e
}

// executions returns every execution event recorded.
func (e *env) executions(t *testing.T) []eventstore.Recorded {
	t.Helper()
	all, err := e.store.ReadAll(context.Background(), eventstore.Start, 1000)
	if err != nil {
		t.Fatal(err)
	}
	var out []eventstore.Recorded
	for _, r := range all {
		if strings.HasPrefix(r.StreamID, "execution-") {
			out = append(out, r)
		}
	}
	return out
}

func TestRequestRecordsAValidatedExecution(t *testing.T) {
	t.Parallel()
	for _, lagging := range []bool{false, true} {
		name := "catalogue current"
		if lagging {
			name = "catalogue behind the pack's registration"
		}
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			e := setup(t, lagging)
			id, err := request.Request(context.Background(), e.store, e.reg, e.box, request.Run{
				Action: "examples.shout", Parameters: raw(`{"message": "hi", "token": "hunter2"}`), Actor: "alice", TraceTag: "deploy-7",
			})
			if err != nil {
				t.Fatalf("Request: %v", err)
			}
			recs := e.executions(t)
			if len(recs) != 1 || recs[0].StreamID != execution.StreamID(id) {
				t.Fatalf("recorded:\n%s\nwant one ExecutionRequested on %s", handlertest.Script(recs), execution.StreamID(id))
			}
			if strings.Contains(string(recs[0].Data), "hunter2") {
				t.Errorf("the secret is recorded in plaintext: %s", recs[0].Data)
			}
			var req execution.ExecutionRequested
			if err := json.Unmarshal(recs[0].Data, &req); err != nil {
				t.Fatal(err)
			}
			if req.Action != "examples.shout" || req.RunnerType != "python" || req.ExecutionID != id {
				t.Errorf("recorded %+v", req)
			}
			if opened, err := e.box.OpenParams(req.Parameters, "examples.shout"); err != nil || string(opened) != `{"count":1,"message":"hi","token":"hunter2"}` {
				t.Errorf("parameters open to %s, %v; want the defaults applied and the secret back", opened, err)
			}
			if md := recs[0].Metadata; md.Actor != "alice" || md.TraceTag != "deploy-7" || md.CorrelationID != id {
				t.Errorf("metadata %+v, want actor, trace tag, and correlation with the execution", md)
			}
		})
	}
}

func TestARefusedRequestRecordsNothing(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name        string
		run         request.Run
		field, want string // want: the error message
		unknown     bool
	}{
		{name: "unknown action", run: request.Run{Action: "examples.nope"}, unknown: true},
		{name: "unknown pack", run: request.Run{Action: "nope.shout"}, unknown: true},
		{name: "not a ref", run: request.Run{Action: "shout"}, unknown: true},
		{name: "missing required", run: request.Run{Action: "examples.shout", Parameters: raw(`{}`)},
			field: "message", want: `parameter "message": is required`},
		{name: "wrong type", run: request.Run{Action: "examples.shout", Parameters: raw(`{"message": "m", "count": "abc"}`)},
			field: "count", want: `parameter "count": want integer, got "abc"`},
		{name: "not an object", run: request.Run{Action: "examples.shout", Parameters: raw(`"m"`)},
			field: "", want: `parameters must be a JSON object`},
		{name: "two problems", run: request.Run{Action: "examples.shout", Parameters: raw(`{"count": "abc", "colour": 1}`)},
			field: "colour", want: `parameter "colour": not a parameter of the action (it takes count, message, token); parameter "count": want integer, got "abc"; parameter "message": is required`},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			e := setup(t, false)
			_, err := request.Request(context.Background(), e.store, e.reg, e.box, tc.run)
			if tc.unknown {
				if !errors.Is(err, request.ErrUnknownAction) {
					t.Errorf("Request = %v, want ErrUnknownAction", err)
				}
			} else {
				var ve *request.ValidationError
				if !errors.As(err, &ve) {
					t.Fatalf("Request = %v, want a *ValidationError", err)
				}
				if ve.Field != tc.field || err.Error() != tc.want {
					t.Errorf("field %q, error %q\nwant field %q, error %q", ve.Field, err, tc.field, tc.want)
				}
			}
			if recs := e.executions(t); len(recs) != 0 {
				t.Errorf("recorded:\n%s", handlertest.Script(recs))
			}
		})
	}
}

func TestRerunRequestsANewExecutionWithTheSameParameters(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	e := setup(t, false)
	first, err := request.Request(ctx, e.store, e.reg, e.box, request.Run{
		Action: "examples.shout", Parameters: raw(`{"message": "hi", "count": 3, "token": "hunter2"}`), Actor: "alice",
	})
	if err != nil {
		t.Fatal(err)
	}
	second, err := request.Rerun(ctx, e.store, e.reg, e.box, first, raw(`{"message": "again"}`), "bob")
	if err != nil {
		t.Fatalf("Rerun: %v", err)
	}
	recs, err := e.store.ReadStream(ctx, execution.StreamID(second))
	if err != nil || len(recs) != 1 {
		t.Fatalf("re-run stream: %d events, %v", len(recs), err)
	}
	var req execution.ExecutionRequested
	if err := json.Unmarshal(recs[0].Data, &req); err != nil {
		t.Fatal(err)
	}
	if req.RerunOf != first || recs[0].Metadata.Actor != "bob" {
		t.Errorf("re-run %+v by %q, want rerun_of %s by bob", req, recs[0].Metadata.Actor, first)
	}
	if opened, err := e.box.OpenParams(req.Parameters, "examples.shout"); err != nil || string(opened) != `{"count":3,"message":"again","token":"hunter2"}` {
		t.Errorf("re-run parameters open to %s, %v", opened, err)
	}
	if strings.Contains(string(recs[0].Data), "hunter2") {
		t.Error("the re-run recorded the secret in plaintext")
	}

	if _, err := request.Rerun(ctx, e.store, e.reg, e.box, "01J00000000000000000000000", nil, "bob"); !errors.Is(err, request.ErrUnknownExecution) {
		t.Errorf("re-run of nothing = %v, want ErrUnknownExecution", err)
	}
}

func TestTestRuleExplainsEveryCriterion(t *testing.T) {
	t.Parallel()
	e := setup(t, false)
	now := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)

	rep, err := request.TestRuleAt(e.reg, "examples.on_error", raw(`{"level": "error", "msg": "disk full", "token": "hunter2"}`), now)
	if err != nil {
		t.Fatal(err)
	}
	if !rep.Matched || len(rep.Checks) != 2 || !rep.Checks[0].OK || !rep.Checks[1].OK || rep.Checks[0].Path != "payload.level" {
		t.Errorf("report %+v, want matched with two passing checks", rep)
	}
	if got := string(rep.Parameters); got != `{"message":"disk full (via hello)","token":"********"}` {
		t.Errorf("parameters %s, want rendered with the secret redacted", got)
	}

	rep, err = request.TestRuleAt(e.reg, "examples.on_error", raw(`{"level": "info", "msg": "cpu hot"}`), now)
	if err != nil {
		t.Fatal(err)
	}
	if rep.Matched || rep.Parameters != nil || len(rep.Checks) != 2 || rep.Checks[0].OK || rep.Checks[1].OK {
		t.Errorf("report %+v, want not matched, both checks failing, no parameters", rep)
	}
	for _, c := range rep.Checks {
		if !strings.Contains(c.Reason, "but got") {
			t.Errorf("check %s: reason %q does not say what it got", c.Path, c.Reason)
		}
	}

	rep, err = request.TestRuleAt(e.reg, "examples.on_error", raw(`{"level": "error", "msg": "disk"}`), now)
	if err != nil {
		t.Fatal(err)
	}
	if !rep.Matched || !strings.Contains(rep.RenderError, "event.payload.token") {
		t.Errorf("report %+v, want matched with a render error naming the missing field", rep)
	}

	if _, err := request.TestRule(e.reg, "examples.nope", raw(`{}`)); !errors.Is(err, request.ErrUnknownRule) {
		t.Errorf("unknown rule = %v, want ErrUnknownRule", err)
	}
	var ve *request.ValidationError
	if _, err := request.TestRule(e.reg, "examples.on_error", raw(`[1]`)); !errors.As(err, &ve) {
		t.Errorf("a payload that is not an object = %v, want a *ValidationError", err)
	}
}

// A viewer can copy any sealed value from the log; an operator who passes one as a secret
// parameter of another action must not get it opened there (the action could echo it).
func TestASealedValueCopiedFromElsewhereIsRefused(t *testing.T) {
	t.Parallel()
	e := setup(t, false)
	elsewhere, err := e.box.Seal(raw(`"hunter2"`), secret.Binding{Action: "other.deploy", Param: "token"})
	if err != nil {
		t.Fatal(err)
	}
	here, err := e.box.Seal(raw(`"hunter2"`), secret.Binding{Action: "examples.shout", Param: "token"})
	if err != nil {
		t.Fatal(err)
	}
	_, err = request.Request(context.Background(), e.store, e.reg, e.box, request.Run{
		Action: "examples.shout", Parameters: raw(`{"message": "hi", "token": ` + string(elsewhere) + `}`), Actor: "mallory",
	})
	var ve *request.ValidationError
	if !errors.As(err, &ve) || ve.Field != "token" || !strings.Contains(ve.Reason, "sealed for other.deploy.token and opens only there") {
		t.Fatalf("Request with another action's sealed value: %v, want a validation error on token naming other.deploy.token", err)
	}
	if recs := e.executions(t); len(recs) != 0 {
		t.Fatalf("recorded:\n%s\nwant nothing", handlertest.Script(recs))
	}
	// Sealed for this very parameter (a client that kept it from an earlier request): fine.
	if _, err := request.Request(context.Background(), e.store, e.reg, e.box, request.Run{
		Action: "examples.shout", Parameters: raw(`{"message": "hi", "token": ` + string(here) + `}`), Actor: "alice",
	}); err != nil {
		t.Fatalf("Request with the value sealed for examples.shout.token: %v", err)
	}
}

func TestARequestWithAClaimedIdIsRecordedOnceHoweverOftenItIsRetried(t *testing.T) {
	t.Parallel()
	e := setup(t, false)
	claims := 0
	run := request.Run{
		Action: "examples.shout", Parameters: raw(`{"message": "hi"}`),
		// Every retry gets the id of the first request, as an idempotency key gives it.
		ClaimID: func(_ context.Context, fresh string) (string, error) {
			claims++
			return "01KEYFIRSTREQUEST000000000", nil
		},
	}
	for i := range 3 {
		id, err := request.Request(context.Background(), e.store, e.reg, e.box, run)
		if err != nil || id != "01KEYFIRSTREQUEST000000000" {
			t.Fatalf("attempt %d = %q, %v; want the claimed id and no error", i, id, err)
		}
	}
	if recs := e.executions(t); len(recs) != 1 {
		t.Errorf("recorded:\n%s\nwant one ExecutionRequested", handlertest.Script(recs))
	}

	invalid := run
	invalid.Parameters = raw(`{}`)
	claims = 0
	if _, err := request.Request(context.Background(), e.store, e.reg, e.box, invalid); err == nil || claims != 0 {
		t.Errorf("an invalid request: err %v, %d claims; want a validation error before any claim", err, claims)
	}
}

func TestSubmitAnswersWithWhatItAppendedAndAReplayWithTheLog(t *testing.T) {
	t.Parallel()
	e := setup(t, false)
	ctx := context.Background()
	first := ""
	claim := func(_ context.Context, fresh string) (string, error) {
		if first == "" {
			first = fresh
		}
		return first, nil
	}
	run := request.Run{Action: "examples.shout", Parameters: raw(`{"message": "hi", "token": "hunter2"}`), Actor: "alice", TraceTag: "deploy-7", ClaimID: claim}
	r, err := request.Submit(ctx, e.store, e.reg, e.box, run)
	if err != nil {
		t.Fatal(err)
	}
	recs := e.executions(t)
	if len(recs) != 1 || r.ID != first || !r.New || r.Status != execution.Requested {
		t.Fatalf("Submit = %+v with %d events recorded; want the new execution %s, requested", r, len(recs), first)
	}
	var logged execution.ExecutionRequested
	if err := json.Unmarshal(recs[0].Data, &logged); err != nil {
		t.Fatal(err)
	}
	if string(r.Event.Parameters) != string(logged.Parameters) || r.Event.Action != logged.Action || r.Metadata != recs[0].Metadata {
		t.Errorf("answered %+v %+v; want the request as the log has it: %+v %+v", r.Event, r.Metadata, logged, recs[0].Metadata)
	}
	if d := recs[0].RecordedAt.Sub(r.CreatedAt); d < 0 || d > time.Minute {
		t.Errorf("created at %s, recorded at %s: want the time of the append", r.CreatedAt, recs[0].RecordedAt)
	}

	// The execution moves on; a retry with the same key appends nothing and answers with
	// the execution as the log has it now.
	p, err := eventstore.NewProposed(execution.ExecutionStatusChanged{ExecutionID: r.ID, From: execution.Requested, To: execution.Scheduling}, event.Metadata{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.store.Append(ctx, execution.StreamID(r.ID), eventstore.Exact(1), p); err != nil {
		t.Fatal(err)
	}
	again, err := request.Submit(ctx, e.store, e.reg, e.box, run)
	if err != nil {
		t.Fatal(err)
	}
	if again.ID != r.ID || again.New || again.Status != execution.Scheduling || !again.CreatedAt.Equal(recs[0].RecordedAt) || again.Event.Action != "examples.shout" {
		t.Errorf("replay = %+v; want execution %s as the log has it (scheduling, created when first recorded)", again, r.ID)
	}
	if n := len(e.executions(t)); n != 2 {
		t.Errorf("%d execution events after the replay, want 2 (nothing appended)", n)
	}
}
