package eventschema_test

import (
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"strconv"
	"time"

	"github.com/attune-go/attune/domain/enforcement"
	"github.com/attune-go/attune/domain/event"
	"github.com/attune-go/attune/domain/execution"
	"github.com/attune-go/attune/domain/ident"
	"github.com/attune-go/attune/domain/inquiry"
	"github.com/attune-go/attune/domain/kv"
	"github.com/attune-go/attune/domain/pack"
	"github.com/attune-go/attune/domain/policy"
	"github.com/attune-go/attune/domain/rule"
	"github.com/attune-go/attune/domain/trigger"
	"github.com/attune-go/attune/domain/worker"
	"github.com/attune-go/attune/domain/workflow"
)

var sampleTime = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

// id returns the n-th sample ULID, the same on every run.
func id(n int) string { return ident.At(sampleTime, strconv.Itoa(n)).String() }

func ptr[T any](v T) *T { return &v }

func raw(s string) json.RawMessage { return json.RawMessage(s) }

// samples holds one representative payload per catalogue type with every field set (a test
// proves it), so marshalling it exercises the whole schema.
func samples() []event.Event {
	params := pack.Params{
		"message": {Type: pack.ParamString, Description: "what to say", Required: true, Pattern: "^.+$",
			MinLength: ptr(1), MaxLength: ptr(200), Default: raw(`"hi"`), Immutable: true},
		"level": {Type: pack.ParamString, Enum: []json.RawMessage{raw(`"info"`), raw(`"error"`)}},
		"count": {Type: pack.ParamInteger, Minimum: ptr(0.0), Maximum: ptr(10.0)},
		"tags":  {Type: pack.ParamArray, Items: raw(`{"type":"string"}`)},
		"token": {Type: pack.ParamString, Secret: true},
		"hosts": {Type: pack.ParamArray, MinItems: ptr(1), MaxItems: ptr(3), Position: ptr(0), Schema: raw(`{"uniqueItems":true}`)},
	}
	return []event.Event{
		pack.PackRegistered{
			Ref: "examples", Version: "1.2.0", Description: "Example automations",
			Config: raw(`{"greeting":"hello"}`), Digest: sha("pack"), Path: "/srv/attune/packs/examples",
			Dialect: pack.DialectStackStorm,
			StackStorm: &pack.StackStormPack{
				Name: "examples", Author: "Ops", Email: "ops@example.com", Keywords: []string{"demo"},
				Contributors: []string{"A <a@example.com>"}, StackStormVersion: ">=3.0.0", PythonVersions: []string{"3"},
				Dependencies: []string{"core"}, System: map[string]any{"os": "linux"},
			},
			Actions: []pack.Action{{
				Ref: "examples.shout", Name: "shout", Description: "Shouts", RunnerType: pack.RunnerPython,
				EntryPoint: "shout.py", EntryPointSHA256: sha("shout.py"), Parameters: params, TimeoutSeconds: 30,
				Workflow: raw(`{"tasks":{"a":{"action":"core.echo"}}}`),
				Disabled: true, OutputSchema: json.RawMessage(`{"type":"object"}`), Tags: []pack.Tag{{Name: "team", Value: "ops"}},
			}},
			Triggers: []pack.Trigger{{
				Ref: "examples.ping", Name: "ping", Description: "A ping", Type: pack.TriggerWebhook,
				PayloadSchema: params, ParametersSchema: params,
				RateLimit: &pack.RateLimit{Requests: 10, Seconds: 60}, AllowFrom: []string{"10.0.0.0/8"},
			}},
			Sensors: []pack.Sensor{{
				Ref: "examples.watch", Name: "watch", Description: "Watches", Enabled: true,
				RunnerType: pack.RunnerShell, EntryPoint: "watch.sh", EntryPointSHA256: sha("watch.sh"),
				Triggers: []string{"examples.ping"}, PollIntervalSeconds: 60, ClassName: "WatchSensor",
			}},
			Rules: []pack.Rule{
				{
					Ref: "examples.on_error_ping", Name: "on_error_ping", Description: "Errors only", Enabled: true,
					Trigger: "examples.ping", TriggerParams: raw(`{"delta":2}`),
					Criteria: map[string]pack.Criterion{
						"payload.level": {Type: "equals", Pattern: raw(`"error"`)},
						"payload.msg":   {Type: "exists"},
					},
					Action: "examples.shout", Parameters: raw(`{"message":"{{ event.payload.msg }}"}`),
				},
				{
					Ref: "examples.on_hook", Name: "on_hook", Enabled: true, Dialect: pack.DialectStackStorm,
					Trigger: "core.st2.webhook", TriggerParams: raw(`{"url":"hook"}`),
					Criteria: map[string]pack.Criterion{"payload.body.n#2": {Type: "lessthan", Pattern: raw(`3`)}},
					Action:   "examples.shout", Parameters: raw(`{"message":"{{ trigger.body.msg }}"}`),
				},
				{
					Ref: "examples.on_many", Name: "on_many", Enabled: false, Trigger: "examples.ping",
					Expression: "{{ event.payload.count > 3 }}", Action: "core.echo", File: "rules/on_many.yaml",
				},
			},
			Policies: []pack.Policy{
				{
					Ref: "examples.one_at_a_time", Name: "one_at_a_time", Description: "Serialise", Enabled: true,
					Action: "examples.shout", Type: policy.Concurrency,
					Concurrency: &policy.ConcurrencySpec{Threshold: 1, Mode: policy.Enqueue, Attributes: []string{"level"}},
				},
				{
					Ref: "examples.ten_a_minute", Name: "ten_a_minute", Enabled: true, Action: "examples.shout",
					Type:      policy.RateLimit,
					RateLimit: &policy.RateLimitSpec{Limit: 10, WindowSeconds: 60, Mode: policy.Cancel, Attributes: []string{"level"}},
				},
				{
					Ref: "examples.retry_shout", Name: "retry_shout", Enabled: true, Action: "examples.shout", File: "policies/retry_shout.yaml",
					Type: policy.Retry,
					Retry: &policy.RetrySpec{On: []execution.Status{execution.Failed, execution.Timeout}, MaxRetries: 3,
						DelaySeconds: 2, Backoff: policy.Exponential, MaxDelaySeconds: 60},
				},
			},
			Retired: []pack.Component{{Kind: pack.KindRule, Ref: "examples.old_rule"}},
		},
		pack.PackRetired{Ref: "examples", Reason: "removed from disk", Retired: []pack.Component{{Kind: pack.KindAction, Ref: "examples.shout"}}},
		rule.RuleEnabled{Rule: "examples.on_error_ping", Reason: "incident over"},
		rule.RuleDisabled{Rule: "examples.on_error_ping", Reason: "maintenance"},
		trigger.EventFired{
			EventID: id(1), Trigger: "core.intervaltimer", Payload: raw(`{"executed_at":"2026-03-01T12:00:00Z"}`),
			Source: trigger.Timer, Rule: "core.every_two_seconds", Sensor: "core.timers", OccurredAt: sampleTime, URL: "hook",
		},
		enforcement.EnforcementCreated{
			EnforcementID: id(2), Rule: "examples.on_error_ping", Trigger: "examples.ping", EventID: id(1),
			Action: "examples.shout", Parameters: raw(`{"message":"disk full"}`),
			Failure: "rule examples.on_error_ping (rules/on_error_ping.yaml): parameters.message: event.payload.msg does not exist",
		},
		enforcement.EnforcementProcessed{EnforcementID: id(2), ExecutionID: id(3)},
		enforcement.EnforcementSkipped{EnforcementID: id(2), Reason: "rule disabled"},
		execution.ExecutionRequested{
			ExecutionID: id(3), Action: "examples.shout", RunnerType: "python", Parameters: raw(`{"message":"disk full"}`),
			EnforcementID: id(2), Rule: "examples.on_error_ping", Trigger: "examples.ping", EventID: id(1),
			ParentID: id(4), WorkflowTask: "notify", RerunOf: id(5), RetryOf: id(6), RetryAttempt: 2, RerunFromTask: "notify", RerunFailedItems: true,
			NotBefore: sampleTime.Add(5 * time.Second), TimeoutSeconds: 30,
		},
		execution.ExecutionScheduled{ExecutionID: id(3), WorkerID: "worker-a", Runtime: "python3"},
		execution.ExecutionStatusChanged{
			ExecutionID: id(3), From: execution.Running, To: execution.Completed, Reason: "exit 0", WorkerID: "worker-a",
			Result: raw(`{"ok":true}`), ExitCode: ptr(0), Stdout: "DISK FULL\n", Stderr: "warning\n", OutputTruncated: true,
			ParentID: ptr(id(4)),
		},
		policy.ExecutionDelayed{
			ExecutionID: id(3), Policy: "examples.one_at_a_time", PolicyType: policy.Concurrency, Reason: "1 running",
			Key: "level=error", Until: sampleTime.Add(time.Minute), Deadline: sampleTime.Add(time.Hour),
		},
		policy.ExecutionRefused{ExecutionID: id(3), Policy: "examples.ten_a_minute", PolicyType: policy.RateLimit, Reason: "10 in the last minute", Key: "level=error"},
		policy.ExecutionRetryScheduled{
			ExecutionID: id(3), RetryExecutionID: id(7), Policy: "examples.retry_shout", Attempt: 1,
			Reason: "failed", NotBefore: sampleTime.Add(2 * time.Second),
		},
		policy.ExecutionReleased{ExecutionID: id(3), Policy: "examples.one_at_a_time", PolicyType: policy.Concurrency, Key: `["error"]`, Reason: "a slot freed"},
		policy.SlotClaimed{Policy: "examples.one_at_a_time", PolicyType: policy.Concurrency, Key: `["error"]`, ExecutionID: id(3), FromQueue: true, At: sampleTime},
		policy.QueueJoined{Policy: "examples.one_at_a_time", PolicyType: policy.Concurrency, Key: `["error"]`, ExecutionID: id(3)},
		policy.SlotReleased{Policy: "examples.one_at_a_time", PolicyType: policy.Concurrency, Key: `["error"]`, ExecutionID: id(3), Status: execution.Cancelled},
		worker.WorkerRegistered{
			WorkerID: "worker-a", Name: "worker a", Host: "host-1", Capabilities: worker.Capabilities{Runtimes: []string{"shell", "python3"}},
			MaxConcurrency: 8, Version: "0.1.0",
		},
		worker.WorkerDeregistered{WorkerID: "worker-a", Reason: "no heartbeat for 30s", Lost: true},
		workflow.WorkflowStarted{
			ExecutionID: id(4), Action: "examples.deploy", Definition: raw(`{"tasks":{}}`),
			Input: raw(`{"hosts":["a","b"]}`), Vars: raw(`{"attempts":0}`),
		},
		workflow.WorkflowTaskScheduled{
			ExecutionID: id(4), Task: "notify", Activation: 1, Item: &workflow.Item{Index: 1, Count: 2}, Attempt: 2,
			ChildExecutionID: id(3), Action: "examples.shout", Input: raw(`{"message":"b"}`), NotBefore: sampleTime,
			Held: true, ReusedFrom: id(5),
		},
		workflow.WorkflowTaskCompleted{
			ExecutionID: id(4), Task: "notify", Activation: 1, Item: &workflow.Item{Index: 1, Count: 2}, Attempt: 2,
			ChildExecutionID: id(3), Status: execution.Completed, Result: raw(`{"ok":true}`),
		},
		workflow.WorkflowTaskRetried{
			ExecutionID: id(4), Task: "notify", Activation: 1, Item: &workflow.Item{Index: 1, Count: 2}, Attempt: 1,
			Reason: "failed", NotBefore: sampleTime.Add(time.Second),
		},
		workflow.WorkflowTaskTransitioned{
			ExecutionID: id(4), Task: "notify", Activation: 1, Status: execution.Completed,
			Published: raw(`{"notified":2}`), Next: []string{"done"},
		},
		workflow.WorkflowCompleted{ExecutionID: id(4), Status: execution.Failed, Output: raw(`{"notified":2}`), Error: "task done failed"},
		workflow.WorkflowPaused{ExecutionID: id(4), Reason: "paused by alice"},
		workflow.WorkflowResumed{ExecutionID: id(4), Reason: "resumed by alice"},
		workflow.WorkflowTaskWaiting{
			ExecutionID: id(4), Task: "approve", Activation: 1, Item: &workflow.Item{Index: 0, Count: 1}, Attempt: 1,
			ChildExecutionID: id(8), Status: execution.Pending,
		},
		workflow.WorkflowTaskContinued{
			ExecutionID: id(4), Task: "approve", Activation: 1, Item: &workflow.Item{Index: 0, Count: 1}, Attempt: 1, ChildExecutionID: id(8),
		},
		inquiry.InquiryCreated{
			InquiryID: id(8), ExecutionID: id(8), ParentExecutionID: id(4), Task: "approve", Route: "ops-oncall",
			Schema:     raw(`{"type":"object","properties":{"approved":{"type":"boolean"}}}`),
			SchemaKind: inquiry.SchemaJSON, Roles: []string{"operator"}, Tokens: []string{"alice"},
			TTLSeconds: 3600, ExpiresAt: sampleTime.Add(time.Hour),
		},
		inquiry.InquiryResponded{InquiryID: id(8), Responder: "alice", Response: raw(`{"approved":true}`)},
		inquiry.InquiryTimedOut{InquiryID: id(8), ExpiresAt: sampleTime.Add(time.Hour)},
		inquiry.InquiryCancelled{InquiryID: id(8), Reason: "execution cancelled by alice"},
		kv.KeySet{Scope: kv.Pack, Pack: "examples", Name: "api.token", Value: raw(`{"$secret":"v2:a3Y:dG9rZW4:AAAA"}`), Secret: true, ExpiresAt: sampleTime.Add(time.Hour)},
		kv.KeyDeleted{Scope: kv.Pack, Pack: "examples", Name: "api.token"},
		kv.KeyExpired{Scope: kv.Pack, Pack: "examples", Name: "api.token", ExpiresAt: sampleTime.Add(time.Hour)},
	}
}

func sha(s string) string { return fmt.Sprintf("%x", sha256.Sum256([]byte(s))) }
