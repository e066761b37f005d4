package lifecycle

import (
	"encoding/json"
	"fmt"
	"time"

	"github.com/oklog/ulid/v2"

	"github.com/attune-go/attune/domain/event"
	"github.com/attune-go/attune/domain/execution"
	"github.com/attune-go/attune/domain/kv"
	"github.com/attune-go/attune/domain/pack"
	"github.com/attune-go/attune/domain/policy"
	"github.com/attune-go/attune/domain/rule"
	"github.com/attune-go/attune/domain/worker"
)

// catalogActors are the packs' and workers' histories. The packs' is one actor, so its
// registrations, reloads, switches and retirement keep their order; each worker is another.
func (g *gen) catalogActors() []*actor {
	md := event.Metadata{Actor: "alice", TraceTag: g.tag}
	on, off := true, false
	examples := func(version string, nightly bool, withOld bool) *pack.PackRegistered {
		p := &pack.PackRegistered{
			Ref: "examples", Version: version, Description: "Example automations", Path: "/srv/packs/examples",
			Config: json.RawMessage(`{"greeting":"hello"}`),
			Actions: []pack.Action{
				{Ref: "examples.shout", Name: "shout", RunnerType: pack.RunnerPython, EntryPoint: "shout.py", TimeoutSeconds: 30,
					Parameters: pack.Params{"message": {Type: pack.ParamString, Required: true}, "api_token": {Type: pack.ParamString, Secret: true}}},
				{Ref: "examples.deploy", Name: "deploy", RunnerType: pack.RunnerWorkflow, Workflow: json.RawMessage(`{"tasks":{}}`)},
			},
			Triggers: []pack.Trigger{{Ref: "examples.ping", Name: "ping", Type: pack.TriggerWebhook,
				PayloadSchema: pack.Params{"level": {Type: pack.ParamString}, "msg": {Type: pack.ParamString, Required: true}}}},
			Sensors: []pack.Sensor{{Ref: "examples.watcher", Name: "watcher", Enabled: true, RunnerType: pack.RunnerPython,
				EntryPoint: "watcher.py", Triggers: []string{"examples.ping"}}},
			Rules: []pack.Rule{
				{Ref: "examples.on_error_ping", Name: "on_error_ping", Enabled: on, Trigger: "examples.ping", Action: "examples.shout",
					Criteria:   map[string]pack.Criterion{"payload.level": {Type: "equals", Pattern: json.RawMessage(`"error"`)}},
					Parameters: json.RawMessage(`{"message":"{{ event.payload.msg }}"}`)},
				{Ref: "examples.nightly", Name: "nightly", Enabled: nightly, Trigger: "examples.ping", Action: "examples.deploy"},
			},
		}
		if withOld {
			p.Rules = append(p.Rules, pack.Rule{Ref: "examples.old_rule", Name: "old_rule", Enabled: on, Trigger: "examples.ping", Action: "core.echo"})
		}
		return p
	}
	core := &pack.PackRegistered{
		Ref: "core", Version: "1.0.0", Description: "Built in",
		Actions: []pack.Action{
			{Ref: "core.echo", Name: "echo", RunnerType: pack.RunnerBuiltin},
			{Ref: "core.local", Name: "local", RunnerType: pack.RunnerShell, EntryPoint: "local.sh"},
			{Ref: "core.http", Name: "http", RunnerType: pack.RunnerBuiltin},
		},
		Triggers: []pack.Trigger{{Ref: "core.intervaltimer", Name: "intervaltimer", Type: pack.TriggerTimer}},
		Rules: []pack.Rule{{Ref: "core.every_two_seconds", Name: "every_two_seconds", Enabled: on, Trigger: "core.intervaltimer",
			TriggerParams: json.RawMessage(`{"unit":"seconds","delta":2}`), Action: "core.echo"}},
	}
	legacy := &pack.PackRegistered{
		Ref: "legacy", Version: "0.1.0",
		Actions: []pack.Action{{Ref: "legacy.run", Name: "run", RunnerType: pack.RunnerShell, EntryPoint: "run.sh"}},
		Rules:   []pack.Rule{{Ref: "legacy.cleanup", Name: "cleanup", Enabled: off, Trigger: "core.intervaltimer", Action: "legacy.run"}},
		Policies: []pack.Policy{{Ref: "legacy.one_at_a_time", Name: "one_at_a_time", Enabled: on, Action: "legacy.run",
			Type: "concurrency"}},
	}
	first := examples("1.0.0", off, true)
	reload := examples("1.1.0", on, false) // nightly's file now says enabled; old_rule dropped
	reload.Retired = []pack.Component{{Kind: pack.KindRule, Ref: "examples.old_rule"}}
	shared := func(stream string, e event.Event) step {
		return step{stream: stream, shared: true, events: []event.Event{e}}
	}
	packs := &actor{versions: map[string]int64{}, md: md, steps: []step{
		shared(pack.StreamID("core"), core),
		shared(pack.StreamID("examples"), first),
		shared(pack.StreamID("legacy"), legacy),
		shared(rule.StreamID("examples.on_error_ping"), &rule.RuleDisabled{Rule: "examples.on_error_ping", Reason: "noisy"}),
		shared(rule.StreamID("nope.ghost"), &rule.RuleEnabled{Rule: "nope.ghost"}), // no such rule: changes nothing
		shared(pack.StreamID("examples"), reload),                                  // the operator's switch outlives an unchanged file
		shared(rule.StreamID("legacy.cleanup"), &rule.RuleEnabled{Rule: "legacy.cleanup", Reason: "one last run"}),
		shared(pack.StreamID("legacy"), &pack.PackRetired{Ref: "legacy", Reason: "replaced by examples", Retired: []pack.Component{
			{Kind: pack.KindAction, Ref: "legacy.run"}, {Kind: pack.KindPolicy, Ref: "legacy.one_at_a_time"}, {Kind: pack.KindRule, Ref: "legacy.cleanup"},
		}}),
		shared(rule.StreamID("core.every_two_seconds"), &rule.RuleDisabled{Rule: "core.every_two_seconds"}),
	}}
	// A concurrency policy's queue at work: one admitted and done, one admitted from the queue
	// and running, one still waiting.
	key := `["prod"]`
	q := policy.QueueStreamID("legacy.one_at_a_time", key)
	slot := func(e event.Event) step { return shared(q, e) }
	ids := []string{ulid.Make().String(), ulid.Make().String(), ulid.Make().String()}
	base := policy.SlotClaimed{Policy: "legacy.one_at_a_time", PolicyType: policy.Concurrency, Key: key}
	claim := func(id string, fromQueue bool) *policy.SlotClaimed {
		c := base
		c.ExecutionID, c.FromQueue = id, fromQueue
		return &c
	}
	queues := &actor{versions: map[string]int64{}, md: md, steps: []step{
		slot(claim(ids[0], false)),
		slot(&policy.QueueJoined{Policy: base.Policy, PolicyType: base.PolicyType, Key: key, ExecutionID: ids[1]}),
		slot(&policy.QueueJoined{Policy: base.Policy, PolicyType: base.PolicyType, Key: key, ExecutionID: ids[2]}),
		slot(&policy.SlotReleased{Policy: base.Policy, PolicyType: base.PolicyType, Key: key, ExecutionID: ids[0], Status: execution.Completed}),
		slot(claim(ids[1], true)),
	}}
	out := []*actor{packs, queues, g.keysActor(md)}
	for i := range 4 {
		id := fmt.Sprintf("worker-%d", i)
		w := &actor{versions: map[string]int64{}, md: event.Metadata{CorrelationID: worker.StreamID(id), Actor: "worker:" + id}, steps: []step{
			shared(worker.StreamID(id), &worker.WorkerRegistered{WorkerID: id, Name: id, Host: fmt.Sprintf("host-%d", i%2),
				Capabilities: worker.Capabilities{Runtimes: []string{"shell", "python"}[:1+i%2]}, MaxConcurrency: 4 + i, Version: "dev"}),
		}}
		switch i {
		case 2:
			w.steps = append(w.steps, shared(worker.StreamID(id), &worker.WorkerDeregistered{WorkerID: id, Reason: "shutdown"}))
		case 3:
			w.steps = append(w.steps, shared(worker.StreamID(id), &worker.WorkerDeregistered{WorkerID: id, Reason: "no heartbeat for 30s", Lost: true}))
		}
		out = append(out, w)
	}
	return out
}

// keysActor is the key-value store's history: keys set, overwritten, deleted and expired, in
// both scopes, one of them secret (sealed as the API records it) and one with a time to live.
func (g *gen) keysActor(md event.Metadata) *actor {
	sealed := json.RawMessage(`{"$secret":"v2:a3YvcGFjay9leGFtcGxlcw:dG9rZW4:AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"}`)
	expires := time.Date(2026, 3, 1, 13, 0, 0, 0, time.UTC)
	set := func(r kv.Ref, value string, secret bool, exp time.Time) step {
		v := json.RawMessage(value)
		if secret {
			v = sealed
		}
		return step{stream: r.StreamID(), shared: true, events: []event.Event{&kv.KeySet{Scope: r.Scope, Pack: r.Pack, Name: r.Name, Value: v, Secret: secret, ExpiresAt: exp}}}
	}
	gone := func(r kv.Ref, e event.Event) step {
		return step{stream: r.StreamID(), shared: true, events: []event.Event{e}}
	}
	greeting, token, old, session := kv.SystemKey("greeting"), kv.PackKey("examples", "token"), kv.SystemKey("old"), kv.PackKey("examples", "session")
	return &actor{versions: map[string]int64{}, md: md, steps: []step{
		set(greeting, `"hello"`, false, time.Time{}),
		set(token, "", true, time.Time{}),
		set(old, `{"a":[1,2]}`, false, time.Time{}),
		set(session, `"s-1"`, false, expires),
		set(greeting, `"hello, world"`, false, time.Time{}),
		gone(old, &kv.KeyDeleted{Scope: old.Scope, Name: old.Name}),
		gone(session, &kv.KeyExpired{Scope: session.Scope, Pack: session.Pack, Name: session.Name, ExpiresAt: expires}),
		set(kv.PackKey("examples", "threshold"), `1.10`, false, expires.Add(time.Hour)),
	}}
}
