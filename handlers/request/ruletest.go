package request

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/attune-go/attune/adapters/eventstore"
	"github.com/attune-go/attune/adapters/ruleeval"
	"github.com/attune-go/attune/adapters/secret"
	"github.com/attune-go/attune/domain/pack"
	"github.com/attune-go/attune/domain/trigger"
	"github.com/attune-go/attune/handlers/internal/kvscope"
)

// ErrUnknownRule says no live pack defines the rule (API: 404).
var ErrUnknownRule = errors.New("unknown rule")

// RuleCatalog is what TestRule needs of projections/registry.
type RuleCatalog interface {
	Rule(ref string) (pack.Rule, bool)
	Action(ref string) (pack.Action, bool)
	PackConfig(ref string) json.RawMessage
}

// Report is what `attune rule test RULE --event FILE.json` shows: whether the rule matches
// the event, the verdict of each criterion, and the parameters it would pass to its action
// (secret ones redacted). Nothing is recorded.
type Report struct {
	Rule    string `json:"rule"`
	Trigger string `json:"trigger"`
	Action  string `json:"action"`
	Enabled bool   `json:"enabled"`
	Matched bool   `json:"matched"`
	// Checks has one entry per criterion, in path order, or one for the expression.
	Checks []Check `json:"checks"`
	// Parameters are the rendered parameters when the rule matched.
	Parameters json.RawMessage `json:"parameters,omitempty"`
	// RenderError says why the parameters did not render (a template read a missing field).
	RenderError string `json:"render_error,omitempty"`
}

// Check is the verdict of one criterion.
type Check struct {
	Path   string `json:"path"`
	OK     bool   `json:"ok"`
	Reason string `json:"reason"`
	Error  string `json:"error,omitempty"`
}

// TestRule tries the rule on an event whose payload is eventPayload (a JSON object), as if it
// had fired now through the rule's trigger.
func TestRule(catalog RuleCatalog, ruleRef string, eventPayload json.RawMessage) (Report, error) {
	return testRule(catalog, ruleRef, eventPayload, time.Now(), nil, nil)
}

// TestRuleReading is TestRule for a rule that reads the key-value store: its keys are read
// from store as a real match would read them, under the same policy for secret keys (a
// secret key where it would leak is reported as the render error, and a secret parameter
// is redacted).
func TestRuleReading(ctx context.Context, catalog RuleCatalog, store kvscope.Reader, box *secret.Box, ruleRef string, eventPayload json.RawMessage) (Report, error) {
	load := func(refs []ruleeval.KVRef, pack string) (kvscope.Values, error) {
		return kvscope.Load(ctx, store, box, pack, refs, eventstore.Start, time.Now())
	}
	return testRule(catalog, ruleRef, eventPayload, time.Now(), load, box)
}

func testRule(catalog RuleCatalog, ruleRef string, eventPayload json.RawMessage, now time.Time,
	load func(refs []ruleeval.KVRef, pack string) (kvscope.Values, error), box *secret.Box) (Report, error) {
	r, ok := catalog.Rule(ruleRef)
	if !ok {
		return Report{}, fmt.Errorf("test rule %s: %w", ruleRef, ErrUnknownRule)
	}
	compiled, err := ruleeval.Compile(r)
	if err != nil {
		return Report{}, fmt.Errorf("test rule %s: %w", ruleRef, err)
	}
	ev, err := ruleeval.EventFrom(trigger.EventFired{
		EventID: "test", Trigger: r.Trigger, Payload: eventPayload, Source: trigger.API, Rule: r.Ref,
	}, now)
	if err != nil {
		return Report{}, &ValidationError{Field: "", Reason: fmt.Sprintf("event payload: %v", err)}
	}
	if _, isObject := ev.Payload.(map[string]any); !isObject {
		return Report{}, &ValidationError{Reason: "event payload must be a JSON object"}
	}
	cfg, err := ruleeval.DecodeConfig(catalog.PackConfig(r.Ref))
	if err != nil {
		return Report{}, fmt.Errorf("test rule %s: pack config: %w", ruleRef, err)
	}
	scope := &ruleeval.Scope{Event: ev, Config: cfg, Now: now}
	rep := Report{Rule: r.Ref, Trigger: r.Trigger, Action: r.Action, Enabled: r.Enabled, Checks: []Check{}}
	var store kvscope.Values
	if refs := compiled.KVRefs(); len(refs) > 0 && load != nil {
		pack, _, _ := strings.Cut(r.Ref, ".")
		store, err = load(refs, pack)
		var refusal *kvscope.Refusal
		if errors.As(err, &refusal) {
			rep.RenderError = refusal.Reason
			return rep, nil
		}
		if err != nil {
			return Report{}, fmt.Errorf("test rule %s: %w", ruleRef, err)
		}
		if err := store.Forbid(compiled.CriteriaKV(), "criteria"); err != nil {
			rep.RenderError = err.Error()
			return rep, nil
		}
		scope.KV = store.Vars
	}
	for _, c := range compiled.Explain(scope) {
		ck := Check{Path: c.Path, OK: c.OK, Reason: c.Reason}
		if c.Err != nil {
			ck.Error = c.Err.Error()
		}
		rep.Checks = append(rep.Checks, ck)
	}
	rep.Matched = compiled.Match(scope).Matched
	if !rep.Matched {
		return rep, nil
	}
	params, err := compiled.Render(scope)
	if err != nil {
		rep.RenderError = err.Error()
		return rep, nil
	}
	// The payload is the user's own, but a report is shown and pasted around: secret
	// values are redacted as everywhere else.
	if a, ok := catalog.Action(r.Action); ok {
		if r.Dialect == pack.DialectStackStorm { // as rulematch: cast to the action's types
			if params, err = ruleeval.CastParams(params, a.Parameters); err != nil {
				rep.RenderError = err.Error()
				return rep, nil
			}
		}
		if params, err = store.SealParams(box, params, compiled.ParamsKV(), r.Action, a.Parameters.IsSecret); err != nil {
			rep.RenderError = err.Error()
			return rep, nil
		}
		params = redact(params, a.Parameters)
	}
	rep.Parameters = params
	return rep, nil
}

func redact(params json.RawMessage, schema pack.Params) json.RawMessage {
	var m map[string]json.RawMessage
	if err := json.Unmarshal(params, &m); err != nil {
		return params
	}
	for k := range m {
		if schema.IsSecret(k) {
			m[k] = json.RawMessage(`"` + secret.Redacted + `"`)
		}
	}
	out, err := json.Marshal(m)
	if err != nil {
		return params
	}
	return out
}
