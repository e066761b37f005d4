package main

import (
	"context"
	"encoding/json"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/attune-go/attune/adapters/eventstore"
	"github.com/attune-go/attune/adapters/httpapi"
	"github.com/attune-go/attune/domain/execution"
	"github.com/attune-go/attune/domain/pack"
	"github.com/attune-go/attune/domain/trigger"
	"github.com/attune-go/attune/projections/catalog"
	"github.com/attune-go/attune/projections/causality"
	"github.com/attune-go/attune/projections/enforcements"
	"github.com/attune-go/attune/projections/events"
	"github.com/attune-go/attune/projections/executions"
	"github.com/attune-go/attune/projections/workers"
)

// catalogServer is an API over fixed read-model rows; it records the filters it was asked.
type catalogServer struct {
	url string
	mu  sync.Mutex
	got []any // filters, in order
}

func (s *catalogServer) asked(f any) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.got = append(s.got, f)
}

func (s *catalogServer) last() any {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.got[len(s.got)-1]
}

func newCatalogServer(t *testing.T) *catalogServer {
	t.Helper()
	at := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	def := func(v any) json.RawMessage { b, _ := json.Marshal(v); return b }
	rules := []catalog.Component{
		{Kind: pack.KindRule, Ref: "examples.on_error", Pack: "examples", Enabled: false, FileEnabled: true, Trigger: "examples.ping", Action: "examples.shout",
			Definition: def(pack.Rule{Ref: "examples.on_error", Name: "on_error", Enabled: true, Trigger: "examples.ping", Action: "examples.shout",
				Criteria: map[string]pack.Criterion{"payload.level": {Type: "equals", Pattern: json.RawMessage(`"error"`)}}}),
			Switch:    &catalog.Switch{Enabled: false, Actor: "alice", Reason: "noisy", At: at},
			CreatedAt: at, UpdatedAt: at},
		{Kind: pack.KindRule, Ref: "core.tick", Pack: "core", Enabled: true, FileEnabled: true, Trigger: "core.intervaltimer", Action: "core.echo",
			Definition: def(pack.Rule{Ref: "core.tick", Enabled: true, Trigger: "core.intervaltimer", Action: "core.echo"}), CreatedAt: at, UpdatedAt: at},
	}
	echo := catalog.Component{Kind: pack.KindAction, Ref: "core.echo", Pack: "core", Enabled: true, CreatedAt: at, UpdatedAt: at,
		Definition: def(pack.Action{Ref: "core.echo", Name: "echo", RunnerType: pack.RunnerBuiltin, TimeoutSeconds: 10,
			Parameters: pack.Params{"message": {Type: pack.ParamString, Required: true}, "token": {Type: pack.ParamString, Secret: true}}})}
	fired := events.Event{ID: "01JEVENT", Trigger: "examples.ping", Source: trigger.Webhook, Payload: json.RawMessage(`{"msg":"disk full"}`), CreatedAt: at}
	exit := 0
	s := &catalogServer{}
	srv := httptest.NewServer(httpapi.New(httpapi.Config{
		ListPacks: func(_ context.Context, f catalog.PackFilter) (catalog.PackPage, error) {
			s.asked(f)
			return catalog.PackPage{Items: []catalog.Pack{
				{Ref: "core", Version: "1.0.0", CreatedAt: at, UpdatedAt: at, Components: []pack.Component{{Kind: pack.KindAction, Ref: "core.echo"}}},
				{Ref: "legacy", Version: "0.1.0", CreatedAt: at, UpdatedAt: at, RetiredAt: at.Add(time.Hour)},
			}, Next: "CURSOR2"}, nil
		},
		GetPack: func(_ context.Context, ref string) (catalog.Pack, error) {
			if ref != "examples" {
				return catalog.Pack{}, catalog.ErrNotFound
			}
			return catalog.Pack{Ref: "examples", Version: "1.2.0", Path: "/srv/packs/examples", Config: json.RawMessage(`{"greeting":"hi"}`),
				Components: []pack.Component{{Kind: pack.KindRule, Ref: "examples.on_error"}, {Kind: pack.KindTrigger, Ref: "examples.ping"}},
				CreatedAt:  at, UpdatedAt: at}, nil
		},
		ListComponents: func(_ context.Context, f catalog.ComponentFilter) (catalog.ComponentPage, error) {
			s.asked(f)
			if f.Kind == pack.KindAction {
				return catalog.ComponentPage{Items: []catalog.Component{echo}}, nil
			}
			return catalog.ComponentPage{Items: rules}, nil
		},
		GetComponent: func(_ context.Context, kind pack.Kind, ref string) (catalog.Component, error) {
			for _, c := range append(rules, echo) {
				if c.Kind == kind && c.Ref == ref {
					return c, nil
				}
			}
			return catalog.Component{}, catalog.ErrNotFound
		},
		ListTriggerEvents: func(_ context.Context, f events.Filter) (events.Page, error) {
			s.asked(f)
			return events.Page{Items: []events.Event{fired}}, nil
		},
		GetTriggerEvent: func(_ context.Context, id string) (events.Event, error) {
			if id != fired.ID {
				return events.Event{}, events.ErrNotFound
			}
			return fired, nil
		},
		ListWorkers: func(_ context.Context, f workers.Filter) (workers.Page, error) {
			s.asked(f)
			return workers.Page{Items: []workers.Worker{
				{ID: "w1", Host: "h1", Runtimes: []string{"shell", "python"}, MaxConcurrency: 4, Status: workers.Registered, RegisteredAt: at,
					Heartbeat: &workers.Heartbeat{LastSeen: at.Add(time.Minute), Running: 3}},
				{ID: "w2", Host: "h2", Runtimes: []string{"node"}, MaxConcurrency: 2, Status: workers.Deregistered, Reason: "shutdown", RegisteredAt: at},
			}}, nil
		},
		Trace: func(_ context.Context, id string) (causality.Trace, error) {
			if id != fired.ID {
				return causality.Trace{}, causality.ErrNotFound
			}
			wf := executions.Execution{ID: "X1", Action: "examples.deploy", Status: execution.Completed, CreatedAt: at, StartedAt: at, FinishedAt: at.Add(1500 * time.Millisecond), ExitCode: &exit}
			task := executions.Execution{ID: "X2", Action: "core.echo", WorkflowTask: "say", Status: execution.Failed, Reason: "exit status 2", CreatedAt: at}
			log := []causality.Entry{{EventID: "L1", StreamID: "execution-X1", StreamVersion: 1, Type: "ExecutionRequested", RecordedAt: at, Position: eventstore.Position{Minor: 3}}}
			return causality.Trace{Root: causality.Node{Kind: causality.KindEvent, ID: fired.ID, Event: &fired, Children: []causality.Node{
				{Kind: causality.KindEnforcement, ID: "N1", Enforcement: &enforcements.Enforcement{ID: "N1", Rule: "examples.deploy_on_ping", Status: enforcements.Processed},
					Children: []causality.Node{{Kind: causality.KindExecution, ID: "X1", Execution: &wf, Log: log,
						Children: []causality.Node{{Kind: causality.KindExecution, ID: "X2", Execution: &task}}}}},
				{Kind: causality.KindEnforcement, ID: "N2", Enforcement: &enforcements.Enforcement{ID: "N2", Rule: "examples.nightly", Status: enforcements.Skipped, Reason: "rule disabled"}},
			}}}, nil
		},
	}))
	t.Cleanup(srv.Close)
	s.url = srv.URL
	return s
}

func TestCatalogCommands(t *testing.T) {
	t.Parallel()
	s := newCatalogServer(t)
	for _, tc := range []struct {
		args []string
		want []string // substrings of the output, in order
	}{
		{[]string{"pack", "list", "--retired", "--limit", "2"}, []string{
			"REF", "VERSION", "core", "1.0.0", "1", "registered", "legacy", "retired 2026-03-01T13:00:00Z", "more: --cursor CURSOR2"}},
		{[]string{"pack", "get", "examples"}, []string{"version", "1.2.0", "path", "/srv/packs/examples", `{"greeting":"hi"}`,
			"triggers", "examples.ping", "rules", "examples.on_error"}},
		{[]string{"rule", "list", "--enabled", "false", "--pack", "examples"}, []string{
			"REF", "STATE", "examples.on_error", "disabled by alice: noisy", "examples.ping", "core.tick", "enabled"}},
		{[]string{"rule", "get", "examples.on_error"}, []string{"state", "disabled by alice: noisy", "in its file", "enabled",
			"criteria", `"payload.level"`}},
		{[]string{"action", "list", "--pack", "core"}, []string{"REF", "RUNNER", "core.echo", "builtin"}},
		{[]string{"action", "get", "core.echo"}, []string{"timeout", "10s", "PARAMETER", "message", "string", "required", "token", "secret"}},
		{[]string{"event", "list", "--source", "webhook", "--since", "2026-03-01T00:00:00Z"}, []string{"01JEVENT", "examples.ping", "webhook"}},
		{[]string{"event", "get", "01JEVENT"}, []string{"trigger", "examples.ping", "payload", `{"msg":"disk full"}`}},
		{[]string{"worker", "list", "--status", "registered"}, []string{"w1", "shell,python", "registered", "3/4", "2026-03-01T12:01:00Z",
			"w2", "deregistered: shutdown", "-/2"}},
		{[]string{"trace", "01JEVENT", "--events"}, []string{
			"event 01JEVENT examples.ping (webhook)",
			"├─ enforcement N1 rule examples.deploy_on_ping: processed",
			"│  └─ execution X1 examples.deploy: completed in 1.5s",
			"#1 ExecutionRequested",
			"│     └─ execution X2 core.echo [task say]: failed: exit status 2",
			"└─ enforcement N2 rule examples.nightly: skipped (rule disabled)",
		}},
	} {
		out, stderr, err := attune(t, append(tc.args, "--url", s.url)...)
		if err != nil {
			t.Errorf("attune %s: %v\n%s", strings.Join(tc.args, " "), err, stderr)
			continue
		}
		rest := out
		for _, w := range tc.want {
			i := strings.Index(rest, w)
			if i < 0 {
				t.Errorf("attune %s: output lacks %q (in order):\n%s", strings.Join(tc.args, " "), w, out)
				break
			}
			rest = rest[i+len(w):]
		}
	}
}

func TestCatalogCommandsSendTheirFilters(t *testing.T) {
	t.Parallel()
	s := newCatalogServer(t)
	run := func(args ...string) {
		t.Helper()
		if _, stderr, err := attune(t, append(args, "--url", s.url)...); err != nil {
			t.Fatalf("attune %v: %v\n%s", args, err, stderr)
		}
	}
	run("rule", "list", "--enabled", "false", "--trigger", "examples.ping", "--limit", "5", "--cursor", "ZXhhbXBsZXMuYQ")
	off := false
	want := catalog.ComponentFilter{Kind: pack.KindRule, Trigger: "examples.ping", Enabled: &off, Limit: 5, Cursor: "ZXhhbXBsZXMuYQ"}
	if got, ok := s.last().(catalog.ComponentFilter); !ok || got.Kind != want.Kind || got.Trigger != want.Trigger || got.Enabled == nil ||
		*got.Enabled || got.Limit != 5 || got.Cursor != want.Cursor {
		t.Errorf("rule list asked %+v, want %+v", s.last(), want)
	}
	run("event", "list", "--source", "timer", "--trigger", "core.intervaltimer", "--until", "2026-03-02T00:00:00Z")
	if got, ok := s.last().(events.Filter); !ok || got.Source != trigger.Timer || got.Trigger != "core.intervaltimer" ||
		!got.Until.Equal(time.Date(2026, 3, 2, 0, 0, 0, 0, time.UTC)) {
		t.Errorf("event list asked %+v", s.last())
	}
	run("pack", "list", "--retired")
	if got, ok := s.last().(catalog.PackFilter); !ok || !got.IncludeRetired {
		t.Errorf("pack list --retired asked %+v", s.last())
	}
	run("worker", "list", "--status", "deregistered")
	if got, ok := s.last().(workers.Filter); !ok || got.Status != workers.Deregistered {
		t.Errorf("worker list asked %+v", s.last())
	}
}

func TestCatalogCommandsReportWhatIsMissing(t *testing.T) {
	t.Parallel()
	s := newCatalogServer(t)
	for _, args := range [][]string{
		{"rule", "get", "examples.nope"}, {"pack", "get", "nope"}, {"action", "get", "examples.on_error"},
		{"event", "get", "nope"}, {"trace", "nope"},
	} {
		_, _, err := attune(t, append(args, "--url", s.url)...)
		if err == nil || !strings.Contains(err.Error(), "not_found") || !strings.Contains(err.Error(), args[len(args)-1]) {
			t.Errorf("attune %s: err = %v, want not_found naming %s", strings.Join(args, " "), err, args[len(args)-1])
		}
	}
	out, _, err := attune(t, "trace", "01JEVENT", "--json", "--url", s.url)
	if err != nil {
		t.Fatal(err)
	}
	var tr httpapi.Trace
	if err := json.Unmarshal([]byte(out), &tr); err != nil || tr.EventID != "01JEVENT" || len(tr.Root.Children) != 2 {
		t.Errorf("trace --json = %+v (%v):\n%s", tr, err, out)
	}
}
