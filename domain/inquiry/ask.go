package inquiry

import (
	"bytes"
	"encoding/json"
	"fmt"
	"time"
)

// AskAction is the built-in action whose execution asks an inquiry. The engine runs it
// (handlers/inquiry), never a worker: the scheduler leaves it alone as it leaves workflows.
const AskAction = "core.ask"

// DefaultTTLSeconds is how long a question waits when core.ask is given no ttl: a day.
const DefaultTTLSeconds = 86400

// SchemaKind says how an answer's schema is read.
type SchemaKind string

// The schema kinds.
const (
	// SchemaFlat is Attune's flat parameter schema: name → {type, required, enum, default …},
	// as in an action's parameters. The answer is an object of those names, no others.
	SchemaFlat SchemaKind = "flat"
	// SchemaJSON is a JSON Schema (draft 2020-12) whose top level is an object schema.
	SchemaJSON SchemaKind = "json_schema"
)

// SchemaKinds lists every schema kind.
var SchemaKinds = []SchemaKind{SchemaFlat, SchemaJSON}

// DetectSchemaKind tells a JSON Schema from a flat schema. A JSON Schema says so: it has
// "$schema", or a "type" that is not a spec object — in a flat schema every value is a
// parameter's spec, so "type": "object" can only be JSON Schema's keyword. Anything else is
// read as flat (and then checked strictly as such, so a JSON Schema without "type" is refused
// with a message, never misread).
func DetectSchemaKind(schema json.RawMessage) (SchemaKind, error) {
	var top map[string]json.RawMessage
	if err := json.Unmarshal(schema, &top); err != nil || top == nil {
		return "", fmt.Errorf("the schema must be a JSON object (a flat schema name → {type, required …}, or a JSON Schema with \"type\": \"object\")")
	}
	if _, ok := top["$schema"]; ok {
		return SchemaJSON, nil
	}
	if v, ok := top["type"]; ok && !isObject(v) {
		return SchemaJSON, nil
	}
	return SchemaFlat, nil
}

func isObject(v json.RawMessage) bool {
	t := bytes.TrimSpace(v)
	return len(t) > 0 && t[0] == '{'
}

// Ask is what an execution of core.ask asks: its parameters, defaults applied.
type Ask struct {
	Schema json.RawMessage `json:"schema"`
	Roles  []string        `json:"roles,omitempty"`
	Tokens []string        `json:"tokens,omitempty"`
	TTL    int             `json:"ttl,omitempty"`
	Route  string          `json:"route,omitempty"`
}

// ParseAsk reads core.ask's parameters (already checked against the action's schema).
func ParseAsk(params json.RawMessage) (Ask, error) {
	var a Ask
	if len(bytes.TrimSpace(params)) > 0 {
		if err := json.Unmarshal(params, &a); err != nil {
			return Ask{}, fmt.Errorf("core.ask parameters: %w", err)
		}
	}
	if a.TTL == 0 {
		a.TTL = DefaultTTLSeconds
	}
	if a.TTL < 0 {
		return Ask{}, fmt.Errorf("core.ask parameter ttl: %d, want > 0 seconds", a.TTL)
	}
	if len(bytes.TrimSpace(a.Schema)) == 0 || string(bytes.TrimSpace(a.Schema)) == "null" {
		return Ask{}, fmt.Errorf("core.ask parameter schema: required")
	}
	return a, nil
}

// Created decides the InquiryCreated of execution id (of workflow parent's task, when set),
// asked at askedAt. kind is the schema's kind, as the caller compiled it. A timeout the
// request sets (a workflow task's timeout) shortens the ttl when it is shorter: both are
// deadlines, and the first one holds.
func (a Ask) Created(id, parent, task string, kind SchemaKind, timeoutSeconds int, askedAt time.Time) InquiryCreated {
	ttl := a.TTL
	if timeoutSeconds > 0 && timeoutSeconds < ttl {
		ttl = timeoutSeconds
	}
	return InquiryCreated{
		InquiryID: id, ExecutionID: id, ParentExecutionID: parent, Task: task, Route: a.Route,
		Schema: a.Schema, SchemaKind: kind, Roles: a.Roles, Tokens: a.Tokens,
		TTLSeconds: ttl, ExpiresAt: askedAt.Add(time.Duration(ttl) * time.Second).UTC(),
	}
}
