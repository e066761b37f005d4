package ruleeval

import (
	"fmt"
	"time"

	"github.com/attune-go/attune/domain/trigger"
)

// Event is a trigger event as rules see it. Criteria paths start at its JSON names
// (payload.level, trigger, id, fired_at, source); expressions and templates read it as
// event.payload.level, event.trigger ….
type Event struct {
	ID      string
	Trigger string
	Source  string
	// Payload is the decoded payload (DecodeJSON's shapes).
	Payload any
	FiredAt time.Time
}

// EventFrom decodes a recorded EventFired once, for every rule it is matched against.
// recordedAt stands for fired_at when the source did not say when it happened.
func EventFrom(e trigger.EventFired, recordedAt time.Time) (Event, error) {
	payload, err := DecodeJSON(e.Payload)
	if err != nil {
		return Event{}, fmt.Errorf("decode payload of event %s: %w", e.EventID, err)
	}
	fired := e.OccurredAt
	if fired.IsZero() {
		fired = recordedAt
	}
	return Event{ID: e.EventID, Trigger: e.Trigger, Source: string(e.Source), Payload: payload, FiredAt: fired}, nil
}

// Scope is everything a rule reads while it is matched and rendered: the event, the config of
// the rule's pack and the system key-value scope. One Scope serves one goroutine: it builds
// its variables once, on first use.
type Scope struct {
	Event  Event
	Config map[string]any // {{ config.x }}: the pack's config (see DecodeConfig)
	System map[string]any // {{ system.x }}
	// KV is the {{ kv.system.x }} / {{ kv.pack.x }} scope: {"system": {…}, "pack": {…}} with
	// the keys the rule reads (Rule.KVRefs), fetched before it is matched. Nil: no key exists.
	KV map[string]any
	// Now is the instant timediff_lt / timediff_gt measure from; the caller's clock, so a
	// test (or `attune rule test --at`) can fix it. Zero means the wall clock.
	Now time.Time

	vars map[string]any
}

// DecodeConfig decodes a pack's config (PackRegistered.Config) for Scope.Config.
func DecodeConfig(raw []byte) (map[string]any, error) {
	return decodeObject(raw, "pack config")
}

// The names of the scope, as expressions and templates write them.
const (
	nameEvent  = "event"
	nameConfig = "config"
	nameSystem = "system"
)

// variables is the expression environment. Missing maps become empty ones so that
// config.x on a pack without config is "config.x does not exist", not a nil dereference.
func (s *Scope) variables() map[string]any {
	if s.vars == nil {
		s.vars = map[string]any{
			nameEvent:  s.eventView(),
			nameConfig: orEmpty(s.Config),
			nameSystem: orEmpty(s.System),
			nameKV:     kvOrEmpty(s.KV),
		}
	}
	return s.vars
}

// eventView is the event as a JSON-shaped object: criteria paths and expressions walk the
// same tree, so payload.level in criteria and event.payload.level in a template agree.
func (s *Scope) eventView() map[string]any {
	ev := map[string]any{
		"id":      s.Event.ID,
		"trigger": s.Event.Trigger,
		"source":  s.Event.Source,
		"payload": s.Event.Payload,
	}
	if !s.Event.FiredAt.IsZero() {
		ev["fired_at"] = s.Event.FiredAt.UTC().Format(time.RFC3339Nano)
	}
	return ev
}

func (s *Scope) now() time.Time {
	if s.Now.IsZero() {
		return time.Now()
	}
	return s.Now
}

func kvOrEmpty(m map[string]any) map[string]any {
	if m == nil {
		return emptyKV()
	}
	return m
}

func orEmpty(m map[string]any) map[string]any {
	if m == nil {
		return map[string]any{}
	}
	return m
}

// eventFields are the top-level names of the event view, which criteria paths start with.
var eventFields = []string{"id", "trigger", "source", "payload", "fired_at"}
