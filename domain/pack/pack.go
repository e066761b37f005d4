// Package pack is the model of a pack (design §5) as the log records it: every component a pack
// directory defines, validated, in one PackRegistered event. Read models of packs, actions,
// triggers, sensors, rules and policies are projected from these events alone; nothing
// downstream reads the pack's YAML files.
package pack

import (
	"encoding/json"
	"fmt"
	"net/netip"
	"slices"
	"time"

	"github.com/attune-go/attune/domain/policy"
)

// RunnerType is how an action or sensor runs.
type RunnerType string

// The runner types of design §5.
const (
	RunnerShell    RunnerType = "shell"
	RunnerPython   RunnerType = "python"
	RunnerNode     RunnerType = "node"
	RunnerBuiltin  RunnerType = "builtin"  // Go code inside the worker (core.echo, core.http …)
	RunnerWorkflow RunnerType = "workflow" // a graph of tasks run by the workflow engine
)

// AttuneRunnerTypes lists the runner types of Attune's own dialect.
var AttuneRunnerTypes = []RunnerType{RunnerShell, RunnerPython, RunnerNode, RunnerBuiltin, RunnerWorkflow}

// RunnerTypes lists every runner type the log may record: Attune's and StackStorm's.
var RunnerTypes = slices.Concat(AttuneRunnerTypes, StackStormRunnerTypes)

// ParseRunnerType accepts exactly the names of AttuneRunnerTypes: Attune's dialect knows no
// other (StackStorm's are read by ParseStackStormRunnerType).
func ParseRunnerType(s string) (RunnerType, error) {
	if r := RunnerType(s); slices.Contains(AttuneRunnerTypes, r) {
		return r, nil
	}
	return "", fmt.Errorf("unknown runner type %q (want one of %v)", s, AttuneRunnerTypes)
}

// TriggerType is where a trigger's events come from.
type TriggerType string

// The trigger types of design §5.
const (
	TriggerWebhook TriggerType = "webhook" // POST /api/v1/webhooks/{trigger}
	TriggerTimer   TriggerType = "timer"   // run by the engine per enabled rule, from trigger_params
	TriggerSensor  TriggerType = "sensor"  // posted by a sensor process
	// TriggerInternal is fired by the engine itself from what the log records (StackStorm's
	// core.st2.generic.actiontrigger when an execution ends). Only the core pack declares
	// one: no webhook, sensor or pack can post it.
	TriggerInternal TriggerType = "internal"
)

// TriggerTypes lists every trigger type.
var TriggerTypes = []TriggerType{TriggerWebhook, TriggerTimer, TriggerSensor, TriggerInternal}

// DeclarableTriggerTypes are the types a pack's trigger file may declare: all but internal.
var DeclarableTriggerTypes = []TriggerType{TriggerWebhook, TriggerTimer, TriggerSensor}

// ParseTriggerType accepts exactly the names of DeclarableTriggerTypes.
func ParseTriggerType(s string) (TriggerType, error) {
	if t := TriggerType(s); slices.Contains(DeclarableTriggerTypes, t) {
		return t, nil
	}
	return "", fmt.Errorf("unknown trigger type %q (want one of %v)", s, DeclarableTriggerTypes)
}

// ParamType is the JSON type of a parameter or payload field.
type ParamType string

// The parameter types (JSON Schema's).
const (
	ParamString  ParamType = "string"
	ParamInteger ParamType = "integer"
	ParamNumber  ParamType = "number"
	ParamBoolean ParamType = "boolean"
	ParamObject  ParamType = "object"
	ParamArray   ParamType = "array"
	ParamNull    ParamType = "null"
)

// ParamTypes lists every parameter type.
var ParamTypes = []ParamType{ParamString, ParamInteger, ParamNumber, ParamBoolean, ParamObject, ParamArray, ParamNull}

// ParseParamType accepts exactly the names of ParamTypes.
func ParseParamType(s string) (ParamType, error) {
	if t := ParamType(s); slices.Contains(ParamTypes, t) {
		return t, nil
	}
	return "", fmt.Errorf("unknown parameter type %q (want one of %v)", s, ParamTypes)
}

// Params is a flat parameter (or payload) schema: name → spec.
type Params map[string]Param

// Param describes one parameter. A Secret parameter never carries a Default: the log is
// immutable and replayed, so a secret written here could never be taken back.
type Param struct {
	Type        ParamType         `json:"type,omitempty"` // empty: any JSON value
	Description string            `json:"description,omitempty"`
	Required    bool              `json:"required,omitempty"`
	Secret      bool              `json:"secret,omitempty"`
	Immutable   bool              `json:"immutable,omitempty"` // the default cannot be overridden
	Default     json.RawMessage   `json:"default,omitempty"`
	Enum        []json.RawMessage `json:"enum,omitempty"`
	Pattern     string            `json:"pattern,omitempty"` // a regular expression strings must match
	Minimum     *float64          `json:"minimum,omitempty"`
	Maximum     *float64          `json:"maximum,omitempty"`
	MinLength   *int              `json:"min_length,omitempty"`
	MaxLength   *int              `json:"max_length,omitempty"`
	Items       json.RawMessage   `json:"items,omitempty"` // schema of an array's elements
	MinItems    *int              `json:"min_items,omitempty"`
	MaxItems    *int              `json:"max_items,omitempty"`
	// Position places the parameter on a StackStorm local-shell-script's command line
	// (0-based); nil for a named (--name=value) one.
	Position *int `json:"position,omitempty"`
	// Schema is the rest of a StackStorm parameter's JSON Schema (draft 4: properties,
	// additionalProperties, uniqueItems, a list of types, …), which the worker checks the
	// value against once rendered; nil when the keywords above say it all.
	Schema json.RawMessage `json:"schema,omitempty"`
}

// Action is a runnable unit: actions/<name>.yaml (+ its script), or a workflow.
type Action struct {
	Ref         string     `json:"ref"` // <pack>.<name>
	Name        string     `json:"name"`
	Description string     `json:"description,omitempty"`
	RunnerType  RunnerType `json:"runner_type"`
	// EntryPoint is the script, relative to the pack's actions directory; empty for builtins.
	EntryPoint string `json:"entry_point,omitempty"`
	// EntryPointSHA256 is the hex digest of the script as loaded, so an audit can tell which
	// code an execution ran.
	EntryPointSHA256 string `json:"entry_point_sha256,omitempty"`
	Parameters       Params `json:"parameters,omitempty"`
	TimeoutSeconds   int    `json:"timeout,omitempty"` // 0: the engine's default
	// Workflow is the validated workflow definition (runner type workflow), as JSON. It is
	// recorded here, not read from disk, so the engine runs what the log says was registered.
	Workflow json.RawMessage `json:"workflow,omitempty"`
	// Disabled refuses every run (a StackStorm action with enabled: false).
	Disabled bool `json:"disabled,omitempty"`
	// OutputSchema is a StackStorm action's output_schema, as a draft 4 JSON Schema of the
	// runner's output (RunnerType.OutputKey of the result): a run whose output breaks it
	// fails, as in StackStorm.
	OutputSchema json.RawMessage `json:"output_schema,omitempty"`
	// Tags are a StackStorm action's tags, shown by `attune action get`.
	Tags []Tag `json:"tags,omitempty"`
}

// Tag is a name and a value a StackStorm action is labelled with.
type Tag struct {
	Name  string `json:"name"`
	Value string `json:"value,omitempty"`
}

// Trigger is a kind of event rules can match: triggers/<name>.yaml.
type Trigger struct {
	Ref           string      `json:"ref"`
	Name          string      `json:"name"`
	Description   string      `json:"description,omitempty"`
	Type          TriggerType `json:"type"`
	PayloadSchema Params      `json:"payload_schema,omitempty"`
	// ParametersSchema describes the trigger_params a rule passes (a timer's interval).
	ParametersSchema Params `json:"parameters_schema,omitempty"`
	// RateLimit caps the calls a webhook trigger accepts (per API process); nil: the
	// server's default.
	RateLimit *RateLimit `json:"rate_limit,omitempty"`
	// AllowFrom lists the networks (CIDR) a webhook trigger accepts calls from; empty: any.
	AllowFrom []string `json:"allow_from,omitempty"`
}

// ParseNetwork reads an allow_from entry: a CIDR prefix (10.0.0.0/8) or one address.
func ParseNetwork(s string) (netip.Prefix, error) {
	if p, err := netip.ParsePrefix(s); err == nil {
		return p.Masked(), nil
	}
	if a, err := netip.ParseAddr(s); err == nil {
		return netip.PrefixFrom(a, a.BitLen()), nil
	}
	return netip.Prefix{}, fmt.Errorf("%q is not a network: want CIDR like 10.0.0.0/8 or one address like 192.0.2.7", s)
}

// RateLimit is Requests per Seconds.
type RateLimit struct {
	Requests int `json:"requests"`
	Seconds  int `json:"per"`
}

// Sensor is a process that watches something and posts trigger events: sensors/<name>.yaml.
type Sensor struct {
	Ref                 string     `json:"ref"`
	Name                string     `json:"name"`
	Description         string     `json:"description,omitempty"`
	Enabled             bool       `json:"enabled"`
	RunnerType          RunnerType `json:"runner_type"`
	EntryPoint          string     `json:"entry_point"`
	EntryPointSHA256    string     `json:"entry_point_sha256,omitempty"`
	Triggers            []string   `json:"triggers"` // refs of the triggers it emits
	PollIntervalSeconds int        `json:"poll_interval,omitempty"`
	// ClassName is the Python class in EntryPoint that is the sensor, for a StackStorm
	// sensor (st2reactor.sensor.base.Sensor or PollingSensor), run by the stand-in in
	// adapters/runtime/st2py; empty for a sensor that speaks the protocol itself.
	ClassName string `json:"class_name,omitempty"`
}

// Criterion is one test on a path of the trigger event (StackStorm's operators: equals,
// regex, contains, timediff_lt …); the rule matcher owns the operator set.
type Criterion struct {
	Type    string          `json:"type"`
	Pattern json.RawMessage `json:"pattern,omitempty"` // absent for exists / nexists
}

// Rule maps a trigger to an action: rules/<name>.yaml. Either Criteria (all must hold) or
// Expression (one boolean expression), never both.
//
// Enabled is the state the files declare. A rule's effective state is the latest, in log
// order, of this value and the RuleEnabled/RuleDisabled events of its stream (rule-<ref>).
type Rule struct {
	Ref           string               `json:"ref"`
	Name          string               `json:"name"`
	Description   string               `json:"description,omitempty"`
	Enabled       bool                 `json:"enabled"`
	Trigger       string               `json:"trigger"`
	TriggerParams json.RawMessage      `json:"trigger_params,omitempty"`
	Criteria      map[string]Criterion `json:"criteria,omitempty"` // payload path → test
	Expression    string               `json:"expression,omitempty"`
	Action        string               `json:"action"`
	// Parameters are templates ({{ event.payload.x }}, {{ config.x }}), rendered into
	// EnforcementCreated.
	Parameters json.RawMessage `json:"parameters,omitempty"`
	// File is the rule's file in its pack (rules/on_ping.yaml), named by the reasons of the
	// enforcements it cannot render.
	File string `json:"file,omitempty"`
	// Dialect is the language of the rule's templates: "" for Attune's ({{ expr }} over
	// event, config, kv), DialectStackStorm for StackStorm's (Jinja over trigger and st2kv,
	// criteria keys that may end in a #tag, rendered values cast to the action's types).
	Dialect string `json:"dialect,omitempty"`
}

// HookURL is the url a rule listens on when its trigger is StackStorm's webhook
// (trigger_params {url: NAME}); "" for any other rule.
func HookURL(r Rule) string {
	var p struct {
		URL string `json:"url"`
	}
	if len(r.TriggerParams) == 0 || json.Unmarshal(r.TriggerParams, &p) != nil {
		return ""
	}
	return p.URL
}

// Policy applies flow control to one action: policies/<name>.yaml. Exactly the spec matching
// Type is set.
type Policy struct {
	Ref         string                  `json:"ref"`
	Name        string                  `json:"name"`
	Description string                  `json:"description,omitempty"`
	Enabled     bool                    `json:"enabled"`
	Action      string                  `json:"action"` // ref of the action it governs
	Type        policy.Type             `json:"type"`
	Concurrency *policy.ConcurrencySpec `json:"concurrency,omitempty"`
	RateLimit   *policy.RateLimitSpec   `json:"rate_limit,omitempty"`
	Retry       *policy.RetrySpec       `json:"retry,omitempty"`
	// File is the policy's file in its pack (policies/retry_flaky.yaml).
	File string `json:"file,omitempty"`
}

// Limit is the policy as admission applies it; false for a retry policy (or a malformed one).
func (p Policy) Limit() (policy.Limit, bool) {
	switch {
	case p.Type == policy.Concurrency && p.Concurrency != nil:
		c := p.Concurrency
		return policy.Limit{Ref: p.Ref, Type: p.Type, Mode: c.Mode, Attributes: c.Attributes, Threshold: c.Threshold}, true
	case p.Type == policy.RateLimit && p.RateLimit != nil:
		r := p.RateLimit
		return policy.Limit{Ref: p.Ref, Type: p.Type, Mode: r.Mode, Attributes: r.Attributes, Limit: r.Limit,
			Window: time.Duration(r.WindowSeconds) * time.Second}, true
	}
	return policy.Limit{}, false
}
