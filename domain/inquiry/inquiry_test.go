package inquiry_test

import (
	"encoding/json"
	"errors"
	"testing"
	"time"

	"github.com/attune-go/attune/domain/event"
	"github.com/attune-go/attune/domain/inquiry"
)

var at = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)

func created(roles, tokens []string) inquiry.InquiryCreated {
	return inquiry.InquiryCreated{InquiryID: "q1", ExecutionID: "q1", Schema: json.RawMessage(`{}`), SchemaKind: inquiry.SchemaFlat,
		Roles: roles, Tokens: tokens, TTLSeconds: 60, ExpiresAt: at.Add(time.Minute)}
}

func rank(have string) func(string) bool {
	r := map[string]int{"viewer": 1, "operator": 2, "admin": 3}
	return func(least string) bool { return r[have] >= r[least] }
}

func TestWhoMayAnswer(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name          string
		roles, tokens []string
		token, role   string
		want          bool
	}{
		{"neither: an operator", nil, nil, "x", "operator", true},
		{"neither: an admin", nil, nil, "x", "admin", true},
		{"neither: not a viewer", nil, nil, "x", "viewer", false},
		{"a named token, whatever its role", nil, []string{"alice"}, "alice", "viewer", true},
		{"another token", nil, []string{"alice"}, "bob", "admin", false},
		{"a role or above", []string{"operator"}, nil, "bob", "admin", true},
		{"below the role", []string{"admin"}, nil, "bob", "operator", false},
		{"either list", []string{"admin"}, []string{"alice"}, "alice", "viewer", true},
	} {
		q, err := inquiry.FromEvents([]event.Event{created(tc.roles, tc.tokens)})
		if err != nil {
			t.Fatal(err)
		}
		_, err = q.Respond(tc.token, rank(tc.role), json.RawMessage(`{}`), at)
		if got := err == nil; got != tc.want {
			t.Errorf("%s: answered %v (%v), want %v", tc.name, got, err, tc.want)
		}
		if !tc.want && !errors.Is(err, inquiry.ErrNotAllowed) {
			t.Errorf("%s: %v, want ErrNotAllowed", tc.name, err)
		}
	}
}

func TestAnInquiryClosesOnce(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name   string
		then   event.Event
		status inquiry.Status
	}{
		{"answered", inquiry.InquiryResponded{InquiryID: "q1", Responder: "a", Response: json.RawMessage(`{}`)}, inquiry.Responded},
		{"timed out", inquiry.InquiryTimedOut{InquiryID: "q1", ExpiresAt: at.Add(time.Minute)}, inquiry.TimedOut},
		{"cancelled", inquiry.InquiryCancelled{InquiryID: "q1", Reason: "r"}, inquiry.Cancelled},
	} {
		q, err := inquiry.FromEvents([]event.Event{created(nil, nil), tc.then})
		if err != nil || q.Status() != tc.status || q.Version() != 2 {
			t.Fatalf("%s: %v, %v", tc.name, q, err)
		}
		var closed *inquiry.ClosedError
		if _, err := q.Respond("x", rank("admin"), nil, at); !errors.As(err, &closed) || closed.Status != tc.status {
			t.Errorf("%s: an answer: %v, want ClosedError %s", tc.name, err, tc.status)
		}
		if _, ok := q.TimeOut(at.Add(time.Hour)); ok {
			t.Errorf("%s: timed out again", tc.name)
		}
		if _, ok := q.Cancel("again"); ok {
			t.Errorf("%s: cancelled again", tc.name)
		}
		if _, err := inquiry.FromEvents([]event.Event{created(nil, nil), tc.then, tc.then}); err == nil {
			t.Errorf("%s: a stream closed twice folded", tc.name)
		}
	}
	q, _ := inquiry.FromEvents([]event.Event{created(nil, nil)})
	if _, ok := q.TimeOut(at.Add(59 * time.Second)); ok {
		t.Error("timed out before its deadline")
	}
	if _, ok := q.TimeOut(at.Add(time.Minute)); !ok {
		t.Error("not timed out at its deadline")
	}
	var closed *inquiry.ClosedError
	if _, err := q.Respond("x", rank("admin"), nil, at.Add(time.Minute)); !errors.As(err, &closed) || closed.Status != inquiry.TimedOut {
		t.Errorf("an answer at the deadline: %v, want ClosedError timed_out", err)
	}
}

func TestDetectSchemaKindAndAsk(t *testing.T) {
	t.Parallel()
	for schema, want := range map[string]inquiry.SchemaKind{
		`{"approved": {"type": "boolean"}}`:                    inquiry.SchemaFlat,
		`{"type": {"type": "string"}}`:                         inquiry.SchemaFlat, // a field named type
		`{"type": "object", "properties": {}}`:                 inquiry.SchemaJSON,
		`{"$schema": "https://json-schema.org/draft/2020-12"}`: inquiry.SchemaJSON,
	} {
		if got, err := inquiry.DetectSchemaKind(json.RawMessage(schema)); err != nil || got != want {
			t.Errorf("%s: %s, %v; want %s", schema, got, err, want)
		}
	}
	a, err := inquiry.ParseAsk(json.RawMessage(`{"schema": {"ok": {"type": "boolean"}}, "ttl": 600}`))
	if err != nil {
		t.Fatal(err)
	}
	if c := a.Created("q1", "", "", inquiry.SchemaFlat, 60, at); c.TTLSeconds != 60 || !c.ExpiresAt.Equal(at.Add(time.Minute)) {
		t.Errorf("a shorter task timeout: ttl %d, expires %s; want 60s", c.TTLSeconds, c.ExpiresAt)
	}
	if c := a.Created("q1", "", "", inquiry.SchemaFlat, 0, at); c.TTLSeconds != 600 {
		t.Errorf("no task timeout: ttl %d, want 600", c.TTLSeconds)
	}
	if a, _ := inquiry.ParseAsk(json.RawMessage(`{"schema": {"ok": {}}}`)); a.TTL != inquiry.DefaultTTLSeconds {
		t.Errorf("default ttl %d", a.TTL)
	}
}
