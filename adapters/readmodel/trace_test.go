package readmodel_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/oklog/ulid/v2"

	"github.com/attune-go/attune/adapters/eventstore"
	"github.com/attune-go/attune/adapters/memstore"
	"github.com/attune-go/attune/domain/enforcement"
	"github.com/attune-go/attune/domain/event"
	"github.com/attune-go/attune/domain/execution"
	"github.com/attune-go/attune/domain/trigger"
	"github.com/attune-go/attune/projections"
	"github.com/attune-go/attune/projections/causality"
	"github.com/attune-go/attune/projections/enforcements"
	"github.com/attune-go/attune/projections/events"
	"github.com/attune-go/attune/projections/workers"
)

// pipeline appends what the handlers append for one trigger event, with the metadata they
// give it: each event caused by the one before, all correlated with the trigger event.
type pipeline struct {
	t     *testing.T
	store eventstore.Store
	last  event.Metadata
	cause string
}

func (p *pipeline) append(stream string, es ...event.Event) {
	p.t.Helper()
	md := p.last
	if p.cause != "" {
		md = md.Caused(p.cause)
	}
	var ps []eventstore.Proposed
	for _, e := range es {
		pr, err := eventstore.NewProposed(e, md)
		if err != nil {
			p.t.Fatal(err)
		}
		ps = append(ps, pr)
	}
	if _, err := p.store.Append(context.Background(), stream, eventstore.Any, ps...); err != nil {
		p.t.Fatal(err)
	}
	p.cause = ps[len(ps)-1].ID.String()
}

func TestTraceShowsTheCausalTreeOfATriggerEvent(t *testing.T) {
	t.Parallel()
	db, _ := setup(t)
	ctx := context.Background()
	store := memstore.New(memstore.Config{})

	ev := ulid.Make()
	evID := ev.String()
	p := &pipeline{t: t, store: store, last: event.Metadata{CorrelationID: evID, Actor: "webhook"}}
	p.append(trigger.StreamID(evID), &trigger.EventFired{EventID: evID, Trigger: "examples.ping", Source: trigger.Webhook, Payload: json.RawMessage(`{"msg":"disk full"}`)})
	fired := p.cause
	enf := enforcement.ID(ev, "examples.deploy_on_ping")
	p.append(enforcement.StreamID(enf.String()), &enforcement.EnforcementCreated{EnforcementID: enf.String(), Rule: "examples.deploy_on_ping",
		Trigger: "examples.ping", EventID: evID, Action: "examples.deploy", Parameters: json.RawMessage(`{}`)})
	wf := execution.IDForEnforcement(enf).String()
	p.append(execution.StreamID(wf), &execution.ExecutionRequested{ExecutionID: wf, Action: "examples.deploy", RunnerType: "workflow",
		EnforcementID: enf.String(), Rule: "examples.deploy_on_ping", Trigger: "examples.ping", EventID: evID})
	p.append(enforcement.StreamID(enf.String()), &enforcement.EnforcementProcessed{EnforcementID: enf.String(), ExecutionID: wf})
	p.append(execution.StreamID(wf), &execution.ExecutionStatusChanged{ExecutionID: wf, From: execution.Requested, To: execution.Running})
	child := ulid.Make().String()
	p.append(execution.StreamID(child), &execution.ExecutionRequested{ExecutionID: child, Action: "core.echo", ParentID: wf, WorkflowTask: "say"})
	p.cause = fired
	skipped := enforcement.ID(ev, "examples.shout_on_ping")
	p.append(enforcement.StreamID(skipped.String()),
		&enforcement.EnforcementCreated{EnforcementID: skipped.String(), Rule: "examples.shout_on_ping", Trigger: "examples.ping", EventID: evID, Action: "examples.shout"},
		&enforcement.EnforcementSkipped{EnforcementID: skipped.String(), Reason: "rendering failed"})
	// Another trigger event's work must not leak into this trace.
	other := ulid.Make().String()
	(&pipeline{t: t, store: store, last: event.Metadata{CorrelationID: other}}).append(trigger.StreamID(other),
		&trigger.EventFired{EventID: other, Trigger: "examples.ping", Source: trigger.API})

	if err := projections.Replay(ctx, store, db, eventstore.Start); err != nil {
		t.Fatal(err)
	}
	tr, err := db.Trace(ctx, evID)
	if err != nil {
		t.Fatal(err)
	}
	var b strings.Builder
	var walk func(n causality.Node, depth int)
	walk = func(n causality.Node, depth int) {
		var types []string
		for _, e := range n.Log {
			types = append(types, e.Type)
		}
		label := ""
		switch {
		case n.Enforcement != nil:
			label = n.Enforcement.Rule + " " + string(n.Enforcement.Status)
		case n.Execution != nil:
			label = n.Execution.Action + " " + string(n.Execution.Status)
		case n.Event != nil:
			label = n.Event.Trigger
		}
		fmt.Fprintf(&b, "%s%s %s [%s]\n", strings.Repeat("  ", depth), n.Kind, label, strings.Join(types, " "))
		for _, c := range n.Children {
			walk(c, depth+1)
		}
	}
	walk(tr.Root, 0)
	want := `event examples.ping [EventFired]
  enforcement examples.deploy_on_ping processed [EnforcementCreated EnforcementProcessed]
    execution examples.deploy running [ExecutionRequested ExecutionStatusChanged]
      execution core.echo requested [ExecutionRequested]
  enforcement examples.shout_on_ping skipped [EnforcementCreated EnforcementSkipped]
`
	if got := b.String(); got != want || len(tr.Other) != 0 {
		t.Errorf("trace of %s:\n%s(+%d other)\nwant:\n%s", evID, got, len(tr.Other), want)
	}
	if got := tr.Root.Children[0].Log[0].CausationID; got != fired {
		t.Errorf("the enforcement's cause = %q, want the EventFired %s", got, fired)
	}

	if _, err := db.Trace(ctx, "01JNOTANEVENT"); !errors.Is(err, causality.ErrNotFound) {
		t.Errorf("trace of an unknown event: %v, want ErrNotFound", err)
	}
	page, err := db.ListEnforcements(ctx, enforcements.Filter{Event: evID, Status: []enforcements.Status{enforcements.Skipped}})
	if err != nil || len(page.Items) != 1 || page.Items[0].ID != skipped.String() || page.Items[0].Reason != "rendering failed" {
		t.Errorf("skipped enforcements of %s: %+v (%v)", evID, page.Items, err)
	}
	if x, err := db.GetEnforcement(ctx, enf.String()); err != nil || x.ExecutionID != wf || x.Status != enforcements.Processed {
		t.Errorf("get enforcement %s = %+v, %v", enf, x, err)
	}
	if _, err := db.GetEnforcement(ctx, "nope"); !errors.Is(err, enforcements.ErrNotFound) {
		t.Errorf("get an absent enforcement: %v", err)
	}
}

func TestListTriggerEventsFiltersAndPagesNewestFirst(t *testing.T) {
	t.Parallel()
	db, _ := setup(t)
	ctx := context.Background()
	t0 := time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC)
	var rows []events.Event
	for i := range 20 {
		rows = append(rows, events.Event{
			ID: fmt.Sprintf("e%02d", i), Trigger: []string{"examples.ping", "core.intervaltimer"}[i%2],
			Source:    []trigger.Source{trigger.Webhook, trigger.Timer}[i%2],
			Payload:   json.RawMessage(`{"n": 1}`),
			CreatedAt: t0.Add(time.Duration(i/2) * time.Minute), // pairs share a time: the id breaks ties
		})
	}
	rows[3].OccurredAt, rows[3].Rule, rows[3].Sensor, rows[3].Actor, rows[3].TraceTag = t0, "core.r", "s", "timer", "tag"
	err := db.Update(ctx, events.Name, eventstore.Start, pos(1), func(tx projections.Tx) error { return tx.SaveTriggerEvents(ctx, rows) })
	if err != nil {
		t.Fatal(err)
	}
	got, err := db.GetTriggerEvent(ctx, "e03")
	if err != nil {
		t.Fatal(err)
	}
	got.Payload = canon(t, got.Payload)
	want := rows[3]
	want.Payload = canon(t, want.Payload)
	if !reflect.DeepEqual(got, want) {
		t.Errorf("get e03:\n got %+v\nwant %+v", got, want)
	}
	if _, err := db.GetTriggerEvent(ctx, "nope"); !errors.Is(err, events.ErrNotFound) {
		t.Errorf("get an absent trigger event: %v", err)
	}
	list := func(f events.Filter) []string {
		var ids []string
		for {
			page, err := db.ListTriggerEvents(ctx, f)
			if err != nil {
				t.Fatal(err)
			}
			for _, e := range page.Items {
				ids = append(ids, e.ID)
			}
			if f.Cursor = page.Next; f.Cursor == "" {
				return ids
			}
		}
	}
	if got, want := list(events.Filter{Source: trigger.Timer, Since: t0.Add(6 * time.Minute), Limit: 2}), []string{"e19", "e17", "e15", "e13"}; !slices.Equal(got, want) {
		t.Errorf("timer events since +6m = %v, want %v", got, want)
	}
	if got, want := list(events.Filter{Trigger: "examples.ping", Until: t0.Add(2 * time.Minute), Limit: 1}), []string{"e02", "e00"}; !slices.Equal(got, want) {
		t.Errorf("ping events before +2m = %v, want %v", got, want)
	}
	if got := list(events.Filter{Limit: 3}); len(got) != 20 || got[0] != "e19" || got[1] != "e18" {
		t.Errorf("every event, newest first: %v", got)
	}
}

func TestListWorkersJoinsTheirHeartbeat(t *testing.T) {
	t.Parallel()
	db, b := setup(t)
	ctx := context.Background()
	at := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	rows := []workers.Worker{
		{ID: "w1", Name: "one", Host: "h", Runtimes: []string{"shell", "python"}, MaxConcurrency: 4, Version: "1.0",
			Status: workers.Registered, RegisteredAt: at, UpdatedAt: at, StreamVersion: 1, Position: pos(1)},
		{ID: "w2", Name: "two", Host: "h", MaxConcurrency: 1, Status: workers.Deregistered, Reason: "lost", Lost: true,
			RegisteredAt: at, DeregisteredAt: at.Add(time.Minute), UpdatedAt: at.Add(time.Minute), StreamVersion: 2, Position: pos(2)},
	}
	err := db.Update(ctx, workers.Name, eventstore.Start, pos(2), func(tx projections.Tx) error { return tx.SaveWorkers(ctx, rows) })
	if err != nil {
		t.Fatal(err)
	}
	seen := at.Add(2 * time.Minute)
	_, err = b.schema.Pool.Exec(ctx, `INSERT INTO workers_live (worker_id, name, host, runtimes, max_concurrency, running, last_seen, started_at, pack_envs)
VALUES ('w1', 'one', 'h', '{shell}', 4, 3, $1, $1,
    '[{"pack": "mon", "kind": "python", "sha256": "ab", "state": "failed", "dir": "/e/venvs/mon-ab", "log": "/e/venvs/mon-ab.log", "reason": "pip: exit status 1"}]')`, seen)
	if err != nil {
		t.Fatal(err)
	}
	page, err := db.ListWorkers(ctx, workers.Filter{})
	if err != nil {
		t.Fatal(err)
	}
	want := slices.Clone(rows)
	want[0].Heartbeat = &workers.Heartbeat{LastSeen: seen, Running: 3, PackEnvs: []workers.PackEnv{{Pack: "mon", Kind: "python", SHA256: "ab",
		State: "failed", Dir: "/e/venvs/mon-ab", Log: "/e/venvs/mon-ab.log", Reason: "pip: exit status 1"}}}
	if !reflect.DeepEqual(page.Items, want) {
		t.Errorf("workers:\n got %+v\nwant %+v", page.Items, want)
	}
	page, err = db.ListWorkers(ctx, workers.Filter{Status: workers.Deregistered})
	if err != nil || len(page.Items) != 1 || page.Items[0].ID != "w2" {
		t.Errorf("deregistered workers = %+v (%v), want w2", page.Items, err)
	}
	page, err = db.ListWorkers(ctx, workers.Filter{Limit: 1})
	if err != nil || len(page.Items) != 1 || page.Next == "" {
		t.Fatalf("first page of 1: %+v next %q (%v)", page.Items, page.Next, err)
	}
	page, err = db.ListWorkers(ctx, workers.Filter{Limit: 1, Cursor: page.Next})
	if err != nil || len(page.Items) != 1 || page.Items[0].ID != "w2" || page.Next != "" {
		t.Errorf("second page of 1: %+v next %q (%v), want w2 and no more", page.Items, page.Next, err)
	}
}
