package httpapi

import (
	"encoding/json"
	"fmt"
	"time"

	"github.com/attune-go/attune/adapters/secret"
	"github.com/attune-go/attune/domain/pack"
	"github.com/attune-go/attune/domain/trigger"
	"github.com/attune-go/attune/projections/catalog"
	"github.com/attune-go/attune/projections/causality"
	"github.com/attune-go/attune/projections/enforcements"
	"github.com/attune-go/attune/projections/events"
	"github.com/attune-go/attune/projections/workers"
)

// The API's views of the catalogue and pipeline read models: times in UTC, absent times
// null, secrets redacted.

// Pack is a pack's latest registration, its components by kind.
type Pack struct {
	Ref           string          `json:"ref"`
	Version       string          `json:"version"`
	Description   string          `json:"description,omitempty"`
	Config        json.RawMessage `json:"config"`
	Digest        string          `json:"digest,omitempty"`
	Path          string          `json:"path,omitempty"`
	Actions       []string        `json:"actions"`
	Triggers      []string        `json:"triggers"`
	Sensors       []string        `json:"sensors"`
	Rules         []string        `json:"rules"`
	Policies      []string        `json:"policies"`
	CreatedAt     time.Time       `json:"created_at"`
	UpdatedAt     time.Time       `json:"updated_at"`
	RetiredAt     *time.Time      `json:"retired_at"`
	RetiredReason string          `json:"retired_reason,omitempty"`
}

// PackView converts a read-model row for the API.
func PackView(p catalog.Pack) Pack {
	v := Pack{
		Ref: p.Ref, Version: p.Version, Description: p.Description, Config: orJSON(p.Config, `null`),
		Digest: p.Digest, Path: p.Path, CreatedAt: p.CreatedAt.UTC(), UpdatedAt: p.UpdatedAt.UTC(),
		RetiredAt: optTime(p.RetiredAt), RetiredReason: p.RetiredReason,
		Actions: []string{}, Triggers: []string{}, Sensors: []string{}, Rules: []string{}, Policies: []string{},
	}
	for _, c := range p.Components {
		switch c.Kind {
		case pack.KindAction:
			v.Actions = append(v.Actions, c.Ref)
		case pack.KindTrigger:
			v.Triggers = append(v.Triggers, c.Ref)
		case pack.KindSensor:
			v.Sensors = append(v.Sensors, c.Ref)
		case pack.KindRule:
			v.Rules = append(v.Rules, c.Ref)
		case pack.KindPolicy:
			v.Policies = append(v.Policies, c.Ref)
		}
	}
	return v
}

// Registration is what every component view adds to the definition: its pack and history.
type Registration struct {
	Pack      string     `json:"pack"`
	CreatedAt time.Time  `json:"created_at"`
	UpdatedAt time.Time  `json:"updated_at"`
	RetiredAt *time.Time `json:"retired_at"`
}

func registrationOf(c catalog.Component) Registration {
	return Registration{Pack: c.Pack, CreatedAt: c.CreatedAt.UTC(), UpdatedAt: c.UpdatedAt.UTC(), RetiredAt: optTime(c.RetiredAt)}
}

// Action is an action as registered.
type Action struct {
	pack.Action
	Registration
}

// Trigger is a trigger as registered.
type Trigger struct {
	pack.Trigger
	Registration
}

// Rule is a rule as registered, with its effective state: Enabled is what the rule matcher
// goes by, EnabledInFile what its file says, and Switched the operator's switch when that
// is what decides.
type Rule struct {
	pack.Rule
	Enabled       bool        `json:"enabled"`
	EnabledInFile bool        `json:"enabled_in_file"`
	Switched      *RuleSwitch `json:"switched,omitempty"`
	Registration
}

// RuleSwitch is an operator's RuleEnabled or RuleDisabled.
type RuleSwitch struct {
	Enabled bool      `json:"enabled"`
	Actor   string    `json:"actor,omitempty"`
	Reason  string    `json:"reason,omitempty"`
	At      time.Time `json:"at"`
}

// definition decodes a component's registered definition into v.
func definition(c catalog.Component, v any) error {
	if len(c.Definition) == 0 {
		return nil
	}
	if err := json.Unmarshal(c.Definition, v); err != nil {
		return fmt.Errorf("decode %s %s as registered: %w", c.Kind, c.Ref, err)
	}
	return nil
}

// ActionView converts a read-model row for the API.
func ActionView(c catalog.Component) (Action, error) {
	v := Action{Registration: registrationOf(c)}
	return v, definition(c, &v.Action)
}

// TriggerView converts a read-model row for the API.
func TriggerView(c catalog.Component) (Trigger, error) {
	v := Trigger{Registration: registrationOf(c)}
	return v, definition(c, &v.Trigger)
}

// RuleView converts a read-model row for the API.
func RuleView(c catalog.Component) (Rule, error) {
	v := Rule{Registration: registrationOf(c), Enabled: c.Enabled, EnabledInFile: c.FileEnabled}
	if c.Switch != nil {
		v.Switched = &RuleSwitch{Enabled: c.Switch.Enabled, Actor: c.Switch.Actor, Reason: c.Switch.Reason, At: c.Switch.At.UTC()}
	}
	err := definition(c, &v.Rule)
	v.Rule.Enabled = c.FileEnabled // shadowed by Enabled in JSON; keep the Go field honest
	return v, err
}

// TriggerEvent is a trigger event as fired.
type TriggerEvent struct {
	ID         string          `json:"id"`
	Trigger    string          `json:"trigger"`
	Source     trigger.Source  `json:"source"`
	Rule       string          `json:"rule,omitempty"`
	Sensor     string          `json:"sensor,omitempty"`
	Payload    json.RawMessage `json:"payload"`
	OccurredAt *time.Time      `json:"occurred_at"`
	Actor      string          `json:"actor,omitempty"`
	TraceTag   string          `json:"trace_tag,omitempty"`
	CreatedAt  time.Time       `json:"created_at"`
}

// TriggerEventView converts a read-model row for the API.
func TriggerEventView(e events.Event) TriggerEvent {
	return TriggerEvent{
		ID: e.ID, Trigger: e.Trigger, Source: e.Source, Rule: e.Rule, Sensor: e.Sensor, Payload: orJSON(e.Payload, `{}`),
		OccurredAt: optTime(e.OccurredAt), Actor: e.Actor, TraceTag: e.TraceTag, CreatedAt: e.CreatedAt.UTC(),
	}
}

// Enforcement is a rule's match of a trigger event.
type Enforcement struct {
	ID          string              `json:"id"`
	Rule        string              `json:"rule"`
	Trigger     string              `json:"trigger"`
	EventID     string              `json:"event_id"`
	Action      string              `json:"action"`
	Parameters  json.RawMessage     `json:"parameters"`
	Status      enforcements.Status `json:"status"`
	ExecutionID string              `json:"execution_id,omitempty"`
	Reason      string              `json:"reason,omitempty"`
	CreatedAt   time.Time           `json:"created_at"`
	UpdatedAt   time.Time           `json:"updated_at"`
}

// EnforcementView converts a read-model row for the API, its sealed parameters redacted.
func EnforcementView(x enforcements.Enforcement) Enforcement {
	return Enforcement{
		ID: x.ID, Rule: x.Rule, Trigger: x.Trigger, EventID: x.EventID, Action: x.Action,
		Parameters: secret.RedactParams(orJSON(x.Parameters, `{}`)), Status: x.Status, ExecutionID: x.ExecutionID,
		Reason: x.Reason, CreatedAt: x.CreatedAt.UTC(), UpdatedAt: x.UpdatedAt.UTC(),
	}
}

// Worker is a worker's lifecycle, with its last heartbeat when it has one.
type Worker struct {
	ID             string         `json:"id"`
	Name           string         `json:"name"`
	Host           string         `json:"host"`
	Runtimes       []string       `json:"runtimes"`
	MaxConcurrency int            `json:"max_concurrency"`
	Version        string         `json:"version,omitempty"`
	Status         workers.Status `json:"status"`
	Reason         string         `json:"reason,omitempty"`
	Lost           bool           `json:"lost,omitempty"`
	RegisteredAt   time.Time      `json:"registered_at"`
	DeregisteredAt *time.Time     `json:"deregistered_at"`
	LastSeen       *time.Time     `json:"last_seen"`
	Running        *int           `json:"running"`
	// PackEnvs are the pack dependency environments on the worker's host, as its last beat
	// reported them.
	PackEnvs []workers.PackEnv `json:"pack_envs,omitempty"`
}

// WorkerView converts a read-model row for the API.
func WorkerView(w workers.Worker) Worker {
	v := Worker{
		ID: w.ID, Name: w.Name, Host: w.Host, Runtimes: w.Runtimes, MaxConcurrency: w.MaxConcurrency, Version: w.Version,
		Status: w.Status, Reason: w.Reason, Lost: w.Lost, RegisteredAt: w.RegisteredAt.UTC(), DeregisteredAt: optTime(w.DeregisteredAt),
	}
	if v.Runtimes == nil {
		v.Runtimes = []string{}
	}
	if w.Heartbeat != nil {
		running := w.Heartbeat.Running
		v.LastSeen, v.Running = optTime(w.Heartbeat.LastSeen), &running
		v.PackEnvs = w.Heartbeat.PackEnvs
	}
	return v
}

// Trace is the causal tree of one trigger event.
type Trace struct {
	EventID string       `json:"event_id"`
	Root    TraceNode    `json:"root"`
	Other   []TraceEntry `json:"other"` // correlated events on none of the tree's streams
}

// TraceNode is one stream of a trace: kind says which of event, enforcement and execution
// is set.
type TraceNode struct {
	Kind        causality.Kind `json:"kind"`
	ID          string         `json:"id"`
	Event       *TriggerEvent  `json:"event,omitempty"`
	Enforcement *Enforcement   `json:"enforcement,omitempty"`
	Execution   *Execution     `json:"execution,omitempty"`
	Log         []TraceEntry   `json:"log"`
	Children    []TraceNode    `json:"children"`
}

// TraceEntry is one event of the log in a trace.
type TraceEntry struct {
	EventID       string    `json:"event_id"`
	StreamID      string    `json:"stream_id"`
	StreamVersion int64     `json:"stream_version"`
	Type          string    `json:"type"`
	CorrelationID string    `json:"correlation_id,omitempty"`
	CausationID   string    `json:"causation_id,omitempty"`
	Actor         string    `json:"actor,omitempty"`
	RecordedAt    time.Time `json:"recorded_at"`
	Position      string    `json:"position"`
}

// TraceView converts a trace for the API.
func TraceView(t causality.Trace) Trace {
	return Trace{EventID: t.Root.ID, Root: traceNodeView(t.Root), Other: traceEntries(t.Other)}
}

func traceNodeView(n causality.Node) TraceNode {
	v := TraceNode{Kind: n.Kind, ID: n.ID, Log: traceEntries(n.Log), Children: []TraceNode{}}
	switch {
	case n.Event != nil:
		e := TriggerEventView(*n.Event)
		v.Event = &e
	case n.Enforcement != nil:
		x := EnforcementView(*n.Enforcement)
		v.Enforcement = &x
	case n.Execution != nil:
		x := ExecutionView(*n.Execution)
		v.Execution = &x
	}
	for _, c := range n.Children {
		v.Children = append(v.Children, traceNodeView(c))
	}
	return v
}

func traceEntries(es []causality.Entry) []TraceEntry {
	out := make([]TraceEntry, 0, len(es))
	for _, e := range es {
		out = append(out, TraceEntry{
			EventID: e.EventID, StreamID: e.StreamID, StreamVersion: e.StreamVersion, Type: e.Type,
			CorrelationID: e.CorrelationID, CausationID: e.CausationID, Actor: e.Actor,
			RecordedAt: e.RecordedAt.UTC(), Position: e.Position.String(),
		})
	}
	return out
}

// orJSON is raw, or def when raw is empty.
func orJSON(raw json.RawMessage, def string) json.RawMessage {
	if len(raw) == 0 {
		return json.RawMessage(def)
	}
	return raw
}
