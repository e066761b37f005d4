package workflowdef

import (
	"encoding/json"
	"fmt"
	"maps"
	"slices"
	"strings"

	"github.com/attune-go/attune/adapters/ruleeval"
	"github.com/attune-go/attune/domain/inquiry"
)

// StackStorm's inquirer runner (core.ask's: schema, roles, users, route, ttl in minutes) onto
// Attune's inquiries. An inquirer action of a StackStorm pack is registered as a workflow of
// one task asking core.ask with its parameters translated; and an Orquesta task running
// core.ask in StackStorm's shape has its input translated the same way. Either way the
// question waits for an answer (`attune inquiry respond`), and the result has StackStorm's
// shape: the answer is result().response.

// DialectInquirer is an inquirer action registered as a workflow.
const DialectInquirer = "inquirer"

const askTask = "ask"

// InquirerDefinition is the registered definition of an inquirer action.
func InquirerDefinition() json.RawMessage {
	raw, _ := Wrap(DialectInquirer, json.RawMessage(`{}`)) // a constant: it cannot fail
	return raw
}

func inquirerWorkflow() *Workflow {
	ask := &Task{Name: askTask, Action: inquiry.AskAction, input: askInput{inner: parametersValue{}}}
	return &Workflow{
		tasks:   map[string]*Task{askTask: ask},
		start:   []string{askTask},
		dialect: DialectInquirer,
		output:  inquirerOutput{},
	}
}

// parametersValue is the workflow's parameters.
type parametersValue struct{ noKV }

func (parametersValue) eval(s Scope) (any, error) { return orEmpty(s.Parameters), nil }

// asking wraps the input of a task running core.ask (none: no parameters) in askInput.
func asking(input expression, env func(Scope) st2Env) expression {
	if input == nil {
		input = &st2Value{kind: mapValue, env: env}
	}
	return askInput{inner: input}
}

// askInput translates StackStorm's core.ask parameters into Attune's: users are the names of
// the tokens that may answer, ttl is in minutes. An empty list of roles or users means no
// restriction in both.
type askInput struct{ inner expression }

func (a askInput) kvRefs() []ruleeval.KVRef { return kvRefsOf(a.inner) }

func (a askInput) eval(s Scope) (any, error) {
	v, err := a.inner.eval(s)
	if err != nil {
		return nil, err
	}
	in, ok := v.(map[string]any)
	if !ok {
		return v, nil // the schema check of core.ask says what is wrong
	}
	out := maps.Clone(in)
	if schema, ok := in["schema"].(map[string]any); ok {
		out["schema"] = draft3Required(schema)
	} else if _, given := in["schema"]; !given {
		out["schema"] = stackStormAskSchema()
	}
	delete(out, "users")
	if users, ok := in["users"].([]any); ok && len(users) > 0 {
		out["tokens"] = users
	}
	if roles, ok := in["roles"].([]any); ok && len(roles) == 0 {
		delete(out, "roles")
	}
	if route, ok := in["route"].(string); ok && route == "" {
		delete(out, "route")
	}
	if ttl, present := in["ttl"]; present {
		minutes, ok := number(ttl)
		if !ok {
			return nil, fmt.Errorf("core.ask ttl: want a number of minutes, got %v", ttl)
		}
		out["ttl"] = int64(minutes * 60)
	}
	return out, nil
}

// inquirerOutput is an inquirer action's result as StackStorm's: its parameters and the
// response.
type inquirerOutput struct{ noKV }

func (inquirerOutput) eval(s Scope) (any, error) {
	out := maps.Clone(orEmpty(s.Parameters))
	out["response"] = s.Results[askTask]
	return out, nil
}

// TaskResult is the result of a task as the workflow's dialect reads it: core.ask's answer
// is StackStorm's {response: answer} in Orquesta and action-chain, and a task without an
// action has none.
func (w *Workflow) TaskResult(task string, v any) any {
	if items, ok := v.(Items); ok {
		if w.dialect == DialectOrquesta {
			// Kept whole: result() in the task's own transitions reads the list of the
			// items' results, task(name).result StackStorm's {items: [{status, result}]}.
			return items
		}
		return items.results()
	}
	if w.dialect == DialectAttune || w.dialect == DialectInquirer {
		return v
	}
	t, ok := w.tasks[task]
	switch {
	case ok && t.Action == inquiry.AskAction:
		return map[string]any{"response": v}
	case ok && t.Action == "":
		return nil // an Orquesta task without an action has no result
	}
	return v
}

// draft3Required rewrites StackStorm's `required: true` inside a property (JSON Schema draft
// 3, which StackStorm's validator accepts and its examples write) into the object's required
// list, which the JSON Schema core.ask checks answers with understands.
func draft3Required(schema map[string]any) map[string]any {
	props, ok := schema["properties"].(map[string]any)
	if !ok {
		return schema
	}
	out := maps.Clone(schema)
	newProps := make(map[string]any, len(props))
	var required []any
	if list, ok := schema["required"].([]any); ok {
		required = slices.Clone(list)
	}
	for name, p := range props {
		pm, ok := p.(map[string]any)
		if !ok {
			newProps[name] = p
			continue
		}
		flag, isBool := pm["required"].(bool)
		if !isBool {
			newProps[name] = draft3Required(pm)
			continue
		}
		pm = maps.Clone(pm)
		delete(pm, "required")
		newProps[name] = draft3Required(pm)
		if flag && !slices.Contains(required, any(name)) {
			required = append(required, name)
		}
	}
	out["properties"] = newProps
	if len(required) > 0 {
		slices.SortFunc(required, func(a, b any) int { return strings.Compare(fmt.Sprint(a), fmt.Sprint(b)) })
		out["required"] = required
	}
	return out
}

// stackStormAskSchema is StackStorm's core.ask schema when none is given: may the workflow
// continue?
func stackStormAskSchema() map[string]any {
	return map[string]any{
		"type":     "object",
		"required": []any{"continue"},
		"properties": map[string]any{
			"continue": map[string]any{"type": "boolean", "description": "Would you like to continue the workflow?"},
		},
	}
}
