package httpapi_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strings"
	"testing"

	"github.com/oklog/ulid/v2"

	"github.com/attune-go/attune/adapters/eventstore"
	"github.com/attune-go/attune/adapters/httpapi"
	"github.com/attune-go/attune/adapters/memstore"
	"github.com/attune-go/attune/adapters/postgres/pgtest"
	"github.com/attune-go/attune/adapters/readmodel"
	"github.com/attune-go/attune/domain/enforcement"
	"github.com/attune-go/attune/domain/event"
	"github.com/attune-go/attune/domain/execution"
	"github.com/attune-go/attune/domain/pack"
	"github.com/attune-go/attune/domain/rule"
	"github.com/attune-go/attune/domain/trigger"
	"github.com/attune-go/attune/domain/worker"
	"github.com/attune-go/attune/projections"
)

// catalogAPI is a server whose read models were projected from a small log: packs, a rule an
// operator disabled, two trigger events (one enforced and run, one skipped) and two workers.
type catalogAPI struct {
	url              string
	fired, timerTick string // trigger event ids
	processed        string // the enforcement that ran
}

func newCatalogAPI(t *testing.T) catalogAPI {
	t.Helper()
	ctx := context.Background()
	store := memstore.New(memstore.Config{})
	add := func(stream string, md event.Metadata, es ...event.Event) string {
		t.Helper()
		var ps []eventstore.Proposed
		for _, e := range es {
			p, err := eventstore.NewProposed(e, md)
			if err != nil {
				t.Fatal(err)
			}
			ps = append(ps, p)
		}
		if _, err := store.Append(ctx, stream, eventstore.Any, ps...); err != nil {
			t.Fatal(err)
		}
		return ps[len(ps)-1].ID.String()
	}
	ops := event.Metadata{Actor: "alice"}
	onPing := func(name string, enabled bool) pack.Rule {
		return pack.Rule{Ref: "examples." + name, Name: name, Enabled: enabled, Trigger: "examples.ping", Action: "examples.shout",
			Parameters: json.RawMessage(`{"message":"{{ event.payload.msg }}"}`)}
	}
	add(pack.StreamID("core"), ops, &pack.PackRegistered{Ref: "core", Version: "1.0.0",
		Actions:  []pack.Action{{Ref: "core.echo", Name: "echo", RunnerType: pack.RunnerBuiltin}, {Ref: "core.noop", Name: "noop", RunnerType: pack.RunnerBuiltin}},
		Triggers: []pack.Trigger{{Ref: "core.intervaltimer", Name: "intervaltimer", Type: pack.TriggerTimer}},
		Rules:    []pack.Rule{{Ref: "core.tick", Name: "tick", Enabled: true, Trigger: "core.intervaltimer", Action: "core.echo"}},
	})
	add(pack.StreamID("examples"), ops, &pack.PackRegistered{Ref: "examples", Version: "1.2.0", Config: json.RawMessage(`{"greeting":"hi"}`),
		Actions: []pack.Action{{Ref: "examples.shout", Name: "shout", RunnerType: pack.RunnerPython, EntryPoint: "shout.py",
			Parameters: pack.Params{"message": {Type: pack.ParamString, Required: true}}}},
		Triggers: []pack.Trigger{{Ref: "examples.ping", Name: "ping", Type: pack.TriggerWebhook}},
		Rules:    []pack.Rule{onPing("on_error", true), onPing("nightly", false), onPing("loud", true)},
	})
	add(pack.StreamID("legacy"), ops, &pack.PackRegistered{Ref: "legacy", Version: "0.1.0"})
	add(pack.StreamID("legacy"), ops, &pack.PackRetired{Ref: "legacy", Reason: "unused"})
	add(rule.StreamID("examples.on_error"), ops, &rule.RuleDisabled{Rule: "examples.on_error", Reason: "noisy"})

	api := catalogAPI{}
	ev := ulid.Make()
	api.fired = ev.String()
	md := event.Metadata{CorrelationID: api.fired, Actor: "webhook"}
	cause := add(trigger.StreamID(api.fired), md, &trigger.EventFired{EventID: api.fired, Trigger: "examples.ping", Source: trigger.Webhook,
		Payload: json.RawMessage(`{"msg":"disk full"}`)})
	enf := enforcement.ID(ev, "examples.loud")
	api.processed = enf.String()
	exec := execution.IDForEnforcement(enf).String()
	cause = add(enforcement.StreamID(api.processed), md.Caused(cause), &enforcement.EnforcementCreated{EnforcementID: api.processed,
		Rule: "examples.loud", Trigger: "examples.ping", EventID: api.fired, Action: "examples.shout",
		Parameters: json.RawMessage(`{"message":"disk full","token":{"$secret":"v1:abc"}}`)})
	add(execution.StreamID(exec), md.Caused(cause), &execution.ExecutionRequested{ExecutionID: exec, Action: "examples.shout",
		EnforcementID: api.processed, EventID: api.fired, Rule: "examples.loud", Trigger: "examples.ping"})
	add(enforcement.StreamID(api.processed), md.Caused(cause), &enforcement.EnforcementProcessed{EnforcementID: api.processed, ExecutionID: exec})
	skipped := enforcement.ID(ev, "examples.nightly").String()
	add(enforcement.StreamID(skipped), md, &enforcement.EnforcementCreated{EnforcementID: skipped, Rule: "examples.nightly",
		Trigger: "examples.ping", EventID: api.fired, Action: "examples.shout"},
		&enforcement.EnforcementSkipped{EnforcementID: skipped, Reason: "rule disabled"})
	api.timerTick = ulid.Make().String()
	add(trigger.StreamID(api.timerTick), event.Metadata{CorrelationID: api.timerTick}, &trigger.EventFired{EventID: api.timerTick,
		Trigger: "core.intervaltimer", Source: trigger.Timer, Rule: "core.tick", Payload: json.RawMessage(`{}`)})
	for i, id := range []string{"w1", "w2"} {
		add(worker.StreamID(id), event.Metadata{}, &worker.WorkerRegistered{WorkerID: id, Name: id, Host: "h",
			Capabilities: worker.Capabilities{Runtimes: []string{"shell"}}, MaxConcurrency: 2 + i})
	}
	add(worker.StreamID("w2"), event.Metadata{}, &worker.WorkerDeregistered{WorkerID: "w2", Reason: "shutdown"})

	db := readmodel.New(pgtest.New(t).Pool)
	if err := projections.Replay(ctx, store, db, eventstore.Start); err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(httpapi.New(httpapi.Config{
		GetExecution: db.GetExecution, ListExecutions: db.ListExecutions,
		GetPack: db.GetPack, ListPacks: db.ListPacks, GetComponent: db.GetComponent, ListComponents: db.ListComponents,
		GetTriggerEvent: db.GetTriggerEvent, ListTriggerEvents: db.ListTriggerEvents,
		GetEnforcement: db.GetEnforcement, ListEnforcements: db.ListEnforcements,
		ListWorkers: db.ListWorkers, Trace: db.Trace,
	}))
	t.Cleanup(srv.Close)
	api.url = srv.URL
	return api
}

// get answers path as status and decoded JSON.
func (a catalogAPI) get(t *testing.T, path string) (int, map[string]any) {
	t.Helper()
	resp, err := http.Get(a.url + path)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	var body map[string]any
	if err := json.Unmarshal(raw, &body); err != nil {
		t.Fatalf("GET %s: %d %s: not a JSON object: %v", path, resp.StatusCode, raw, err)
	}
	return resp.StatusCode, body
}

// all pages through a list and returns field of every item, in order.
func (a catalogAPI) all(t *testing.T, path, field string) []string {
	t.Helper()
	var out []string
	next := ""
	for range 20 {
		p := path
		if next != "" {
			sep := "?"
			if strings.Contains(p, "?") {
				sep = "&"
			}
			p += sep + "cursor=" + url.QueryEscape(next)
		}
		status, body := a.get(t, p)
		if status != http.StatusOK {
			t.Fatalf("GET %s: %d %v", p, status, body)
		}
		items, _ := body["items"].([]any)
		for _, it := range items {
			out = append(out, fmt.Sprint(it.(map[string]any)[field]))
		}
		c, ok := body["next_cursor"].(string)
		if !ok {
			return out
		}
		next = c
	}
	t.Fatalf("GET %s: more than 20 pages", path)
	return nil
}

func TestCatalogListsFilterAndPage(t *testing.T) {
	t.Parallel()
	api := newCatalogAPI(t)
	for _, tc := range []struct {
		path, field string
		want        []string
	}{
		{"/api/v1/packs", "ref", []string{"core", "examples"}},
		{"/api/v1/packs?limit=1&include_retired=true", "ref", []string{"core", "examples", "legacy"}},
		{"/api/v1/actions", "ref", []string{"core.echo", "core.noop", "examples.shout"}},
		{"/api/v1/actions?pack=core&limit=1", "ref", []string{"core.echo", "core.noop"}},
		{"/api/v1/triggers", "type", []string{"timer", "webhook"}},
		{"/api/v1/rules", "ref", []string{"core.tick", "examples.loud", "examples.nightly", "examples.on_error"}},
		{"/api/v1/rules?enabled=false", "ref", []string{"examples.nightly", "examples.on_error"}},
		{"/api/v1/rules?enabled=true&trigger=examples.ping", "ref", []string{"examples.loud"}},
		{"/api/v1/rules?pack=examples&limit=2", "ref", []string{"examples.loud", "examples.nightly", "examples.on_error"}},
		{"/api/v1/events", "id", []string{api.timerTick, api.fired}},
		{"/api/v1/events?source=webhook", "trigger", []string{"examples.ping"}},
		{"/api/v1/events?trigger=core.intervaltimer", "rule", []string{"core.tick"}},
		{"/api/v1/events?since=2000-01-01T00:00:00Z&until=2001-01-01T00:00:00Z", "id", nil},
		{"/api/v1/enforcements?limit=1", "rule", []string{"examples.nightly", "examples.loud"}},
		{"/api/v1/enforcements?status=processed", "execution_id", []string{execution.IDForEnforcement(ulid.MustParse(api.processed)).String()}},
		{"/api/v1/enforcements?status=skipped,created&event=" + api.fired, "reason", []string{"rule disabled"}},
		{"/api/v1/enforcements?rule=examples.nope", "id", nil},
		{"/api/v1/workers", "status", []string{"registered", "deregistered"}},
		{"/api/v1/workers?status=deregistered", "reason", []string{"shutdown"}},
	} {
		if got := api.all(t, tc.path, tc.field); !slices.Equal(got, tc.want) {
			t.Errorf("GET %s: %s = %v, want %v", tc.path, tc.field, got, tc.want)
		}
	}
}

func TestCatalogItemsShowWhatAUserAsksAbout(t *testing.T) {
	t.Parallel()
	api := newCatalogAPI(t)
	for _, tc := range []struct {
		path string
		want map[string]any // top-level fields, compared as JSON text
	}{
		{"/api/v1/packs/examples", map[string]any{"version": "1.2.0", "config": map[string]any{"greeting": "hi"},
			"rules": []any{"examples.loud", "examples.nightly", "examples.on_error"}, "actions": []any{"examples.shout"}, "retired_at": nil}},
		{"/api/v1/rules/examples.on_error", map[string]any{"enabled": false, "enabled_in_file": true, "pack": "examples",
			"trigger": "examples.ping", "action": "examples.shout", "parameters": map[string]any{"message": "{{ event.payload.msg }}"}}},
		{"/api/v1/rules/examples.loud", map[string]any{"enabled": true, "enabled_in_file": true}},
		{"/api/v1/actions/examples.shout", map[string]any{"runner_type": "python", "entry_point": "shout.py",
			"parameters": map[string]any{"message": map[string]any{"type": "string", "required": true}}}},
		{"/api/v1/triggers/examples.ping", map[string]any{"type": "webhook", "pack": "examples"}},
		{"/api/v1/events/" + api.fired, map[string]any{"trigger": "examples.ping", "source": "webhook", "payload": map[string]any{"msg": "disk full"}}},
		{"/api/v1/enforcements/" + api.processed, map[string]any{"status": "processed", "event_id": api.fired,
			"parameters": map[string]any{"message": "disk full", "token": "********"}}},
	} {
		status, body := api.get(t, tc.path)
		if status != http.StatusOK {
			t.Errorf("GET %s: %d %v", tc.path, status, body)
			continue
		}
		for k, want := range tc.want {
			g, _ := json.Marshal(body[k])
			w, _ := json.Marshal(want)
			if string(g) != string(w) {
				t.Errorf("GET %s: %s = %s, want %s", tc.path, k, g, w)
			}
		}
	}
	_, rule := api.get(t, "/api/v1/rules/examples.on_error")
	if sw, _ := rule["switched"].(map[string]any); sw["actor"] != "alice" || sw["reason"] != "noisy" || sw["enabled"] != false {
		t.Errorf("the disabled rule does not say who disabled it and why: switched = %v", rule["switched"])
	}
}

func TestTraceIsTheTreeOfOneTriggerEvent(t *testing.T) {
	t.Parallel()
	api := newCatalogAPI(t)
	status, body := api.get(t, "/api/v1/traces/"+api.fired)
	if status != http.StatusOK {
		t.Fatalf("GET trace: %d %v", status, body)
	}
	var tr httpapi.Trace
	raw, _ := json.Marshal(body)
	if err := json.Unmarshal(raw, &tr); err != nil {
		t.Fatal(err)
	}
	var lines []string
	var walk func(n httpapi.TraceNode, depth int)
	walk = func(n httpapi.TraceNode, depth int) {
		what := ""
		switch {
		case n.Event != nil:
			what = n.Event.Trigger
		case n.Enforcement != nil:
			what = n.Enforcement.Rule + " " + string(n.Enforcement.Status)
		case n.Execution != nil:
			what = n.Execution.Action + " " + string(n.Execution.Status)
		}
		lines = append(lines, fmt.Sprintf("%s%s %s (%d events)", strings.Repeat("  ", depth), n.Kind, what, len(n.Log)))
		for _, c := range n.Children {
			walk(c, depth+1)
		}
	}
	walk(tr.Root, 0)
	want := []string{
		"event examples.ping (1 events)",
		"  enforcement examples.loud processed (2 events)",
		"    execution examples.shout requested (1 events)",
		"  enforcement examples.nightly skipped (2 events)",
	}
	if !slices.Equal(lines, want) || tr.EventID != api.fired {
		t.Errorf("trace of %s:\n%s\nwant:\n%s", tr.EventID, strings.Join(lines, "\n"), strings.Join(want, "\n"))
	}
}

func TestCatalogAnswersUnknownIdsAndBadQueriesWithTheirCodes(t *testing.T) {
	t.Parallel()
	api := newCatalogAPI(t)
	for _, tc := range []struct {
		path          string
		status        int
		code, field   string
		messageSubstr string
	}{
		{"/api/v1/packs/nope", 404, httpapi.CodeNotFound, "", `pack "nope"`},
		{"/api/v1/rules/examples.shout", 404, httpapi.CodeNotFound, "", `rule "examples.shout"`}, // an action's ref
		{"/api/v1/actions/examples.loud", 404, httpapi.CodeNotFound, "", "action"},
		{"/api/v1/triggers/nope.t", 404, httpapi.CodeNotFound, "", "trigger"},
		{"/api/v1/events/nope", 404, httpapi.CodeNotFound, "", "event"},
		{"/api/v1/enforcements/nope", 404, httpapi.CodeNotFound, "", "enforcement"},
		{"/api/v1/traces/nope", 404, httpapi.CodeNotFound, "", "event"},
		{"/api/v1/rules?enabled=maybe", 400, httpapi.CodeBadRequest, "enabled", "true or false"},
		{"/api/v1/packs?limit=many", 400, httpapi.CodeBadRequest, "limit", "whole number"},
		{"/api/v1/actions?limit=5000", 400, httpapi.CodeBadRequest, "", "limit 5000"},
		{"/api/v1/events?since=yesterday", 400, httpapi.CodeBadRequest, "since", "RFC 3339"},
		{"/api/v1/events?source=pigeon", 400, httpapi.CodeBadRequest, "", "pigeon"},
		{"/api/v1/enforcements?status=done", 400, httpapi.CodeBadRequest, "status", "done"},
		{"/api/v1/workers?status=alive", 400, httpapi.CodeBadRequest, "", "alive"},
		{"/api/v1/rules?cursor=%21%21", 400, httpapi.CodeBadRequest, "", "cursor"},
	} {
		status, body := api.get(t, tc.path)
		if status != tc.status || body["code"] != tc.code || (tc.field != "" && body["field"] != tc.field) ||
			!strings.Contains(fmt.Sprint(body["message"]), tc.messageSubstr) {
			t.Errorf("GET %s: %d %v, want %d %s field %q mentioning %q", tc.path, status, body, tc.status, tc.code, tc.field, tc.messageSubstr)
		}
	}
}
