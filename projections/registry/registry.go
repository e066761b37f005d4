// Package registry is the in-memory catalogue of packs, actions, triggers, sensors and rules
// that the handlers consult: the rule matcher asks which enabled rules listen to a trigger,
// the enforcement processor asks for an action's parameter schema, the timers ask which timer
// rules are enabled. It folds PackRegistered, PackRetired, RuleEnabled and RuleDisabled from
// the log (Follow subscribes from the start; the catalogue is small, a fold takes
// milliseconds), and WaitFor lets a handler see it at least as of the event it handles.
//
// A rule's effective state is the latest, in log order, of two facts: what its file says
// (Rule.Enabled in the pack's registration) and what an operator said (RuleEnabled /
// RuleDisabled on rule-<ref>). The file's value counts as said when the rule first appears
// and whenever a reload changes it, not at every reload: an operator who disabled a noisy
// rule keeps it disabled through reloads of an unchanged file, and a pack author who edits
// `enabled:` in the file is heard, because that edit is newer than the operator's switch.
package registry

import (
	"bytes"
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"slices"
	"strings"
	"sync"

	"github.com/attune-go/attune/adapters/eventstore"
	"github.com/attune-go/attune/adapters/outage"
	"github.com/attune-go/attune/domain/event"
	"github.com/attune-go/attune/domain/pack"
	"github.com/attune-go/attune/domain/rule"
)

// Name identifies the registry in logs; it keeps no checkpoint (it folds from Start).
const Name = "registry"

// ErrStopped is returned by WaitFor once Follow has ended: the catalogue will not advance.
var ErrStopped = errors.New("registry is not following the log")

// Registry is the catalogue. The zero value is not ready: use New. It is safe for concurrent
// use; everything it returns is a copy the caller may keep.
type Registry struct {
	log *slog.Logger

	mu       sync.RWMutex
	pos      eventstore.Position
	packs    map[string]*pack.PackRegistered // live registrations by pack ref
	actions  map[string]pack.Action
	triggers map[string]pack.Trigger
	rules    map[string]*ruleState
	// switches are the operator's switches by rule ref, in log order, kept across
	// retirement: the whole history, so that an event is matched against a rule's state at
	// the event's position (RuleAt), not at whatever the catalogue has reached since.
	switches map[string][]ruleSwitch
	skipped  int
	stopped  bool

	advanced chan struct{} // closed and replaced when pos moves
	changed  chan struct{} // closed and replaced when the catalogue changes
}

type ruleState struct {
	rule pack.Rule
	// fileSaid is where the file's current `enabled` value was first registered.
	fileSaid eventstore.Position
}

type ruleSwitch struct {
	enabled bool
	at      eventstore.Position
}

func (s *ruleState) enabled(sw ruleSwitch, ok bool) bool {
	if ok && s.fileSaid.Less(sw.at) {
		return sw.enabled
	}
	return s.rule.Enabled
}

// Config configures a Registry.
type Config struct {
	// Logger reports events it cannot decode (skipped); default discards.
	Logger *slog.Logger
}

// New returns an empty catalogue at Start.
func New(cfg Config) *Registry {
	return &Registry{
		log:      cmp.Or(cfg.Logger, slog.New(slog.DiscardHandler)).With("projection", Name),
		packs:    map[string]*pack.PackRegistered{},
		actions:  map[string]pack.Action{},
		triggers: map[string]pack.Trigger{},
		rules:    map[string]*ruleState{},
		switches: map[string][]ruleSwitch{},
		advanced: make(chan struct{}),
		changed:  make(chan struct{}),
	}
}

// Follow folds the log from Start, then every event as it commits, until ctx ends (then
// nil). A store that fails (the database away) is waited out: Follow subscribes again from
// where it got to, with a capped backoff, so the catalogue never stops for an outage. Once
// it returns, WaitFor fails with ErrStopped, so handlers waiting on it are retried rather
// than left hanging.
func (r *Registry) Follow(ctx context.Context, store eventstore.Store) error {
	r.mu.Lock()
	r.stopped = false
	r.mu.Unlock()
	defer func() {
		r.mu.Lock()
		r.stopped = true
		close(r.advanced)
		r.advanced = make(chan struct{})
		r.mu.Unlock()
	}()
	var wait outage.Backoff
	down := outage.NewLog(r.log, "catalogue: follow the log")
	for {
		err := store.Subscribe(ctx, r.Position(), func(_ context.Context, batch []eventstore.Recorded) error {
			down.Recovered()
			wait.Reset()
			r.Apply(batch...)
			return nil
		})
		if ctx.Err() != nil {
			return nil
		}
		if err == nil {
			err = errors.New("subscription ended")
		}
		down.Failed(fmt.Errorf("registry: follow the log: %w", err))
		if !wait.Wait(ctx) {
			return nil
		}
	}
}

// Apply folds events, which must come in log order and after what was applied before;
// events of other types only move the position. An event of a catalogue type that cannot be
// decoded is logged and skipped: the log is schema-checked on append, so it cannot happen
// short of a bug, and refusing to fold past it would stop every rule for good.
func (r *Registry) Apply(events ...eventstore.Recorded) {
	if len(events) == 0 {
		return
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	changed := false
	for _, e := range events {
		if !r.pos.Less(e.Position) {
			continue // already folded (a caller feeding overlapping batches)
		}
		r.pos = e.Position
		switch e.Type {
		case pack.PackRegistered{}.EventType(), pack.PackRetired{}.EventType(),
			rule.RuleEnabled{}.EventType(), rule.RuleDisabled{}.EventType():
		default:
			continue
		}
		payload, err := e.Decode()
		if err != nil {
			r.skipped++
			r.log.Error("registry skipped an event it cannot decode", "event_id", e.ID.String(),
				"stream_id", e.StreamID, "event_type", e.Type, "error", err.Error())
			continue
		}
		r.apply(payload, e.Position)
		changed = true
	}
	close(r.advanced)
	r.advanced = make(chan struct{})
	if changed {
		close(r.changed)
		r.changed = make(chan struct{})
	}
}

func (r *Registry) apply(e event.Event, at eventstore.Position) {
	switch e := e.(type) {
	case *pack.PackRegistered:
		r.register(*e, at)
	case *pack.PackRetired:
		r.retire(e.Ref)
	case *rule.RuleEnabled:
		r.switches[e.Rule] = append(r.switches[e.Rule], ruleSwitch{enabled: true, at: at})
	case *rule.RuleDisabled:
		r.switches[e.Rule] = append(r.switches[e.Rule], ruleSwitch{enabled: false, at: at})
	}
}

// register replaces the pack's components with the snapshot's.
func (r *Registry) register(p pack.PackRegistered, at eventstore.Position) {
	before := map[string]*ruleState{}
	if old := r.packs[p.Ref]; old != nil {
		for _, ru := range old.Rules {
			before[ru.Ref] = r.rules[ru.Ref]
		}
		r.drop(old)
	}
	r.packs[p.Ref] = &p
	for _, a := range p.Actions {
		r.actions[a.Ref] = a
	}
	for _, t := range p.Triggers {
		r.triggers[t.Ref] = t
	}
	for _, ru := range p.Rules {
		said := at
		if prev := before[ru.Ref]; prev != nil && prev.rule.Enabled == ru.Enabled {
			said = prev.fileSaid // the file says what it said: an operator's later switch stands
		}
		r.rules[ru.Ref] = &ruleState{rule: ru, fileSaid: said}
	}
}

func (r *Registry) retire(ref string) {
	if old := r.packs[ref]; old != nil {
		r.drop(old)
		delete(r.packs, ref)
	}
}

// drop removes the components of a registration.
func (r *Registry) drop(p *pack.PackRegistered) {
	for _, a := range p.Actions {
		delete(r.actions, a.Ref)
	}
	for _, t := range p.Triggers {
		delete(r.triggers, t.Ref)
	}
	for _, ru := range p.Rules {
		delete(r.rules, ru.Ref)
	}
}

// Position is the position of the last event folded (Start before any).
func (r *Registry) Position() eventstore.Position {
	r.mu.RLock()
	defer r.mu.RUnlock()
	return r.pos
}

// WaitFor returns once the catalogue has folded the log up to pos, so that a handler of the
// event at pos sees every registration and switch before it. It fails when ctx ends, or with
// ErrStopped once Follow has returned.
func (r *Registry) WaitFor(ctx context.Context, pos eventstore.Position) error {
	for {
		r.mu.RLock()
		reached, stopped, advanced := !r.pos.Less(pos), r.stopped, r.advanced
		r.mu.RUnlock()
		switch {
		case reached:
			return nil
		case stopped:
			return fmt.Errorf("wait for the catalogue to reach %s: %w", pos, ErrStopped)
		}
		select {
		case <-advanced:
		case <-ctx.Done():
			return fmt.Errorf("wait for the catalogue to reach %s (it is at %s): %w", pos, r.Position(), ctx.Err())
		}
	}
}

// Changed returns a channel closed at the next change of the catalogue (a registration, a
// retirement, a rule switched). Take it before reading what it guards, so no change slips
// between the read and the wait:
//
//	for {
//		ch := reg.Changed()
//		timers.Set(timerRules(reg.TimerRules()))
//		select { case <-ch: case <-ctx.Done(): return }
//	}
func (r *Registry) Changed() <-chan struct{} {
	r.mu.RLock()
	defer r.mu.RUnlock()
	return r.changed
}

// Watch calls fn now and after every change, until ctx ends; changes that come while fn
// runs are folded into one more call. It returns nil when ctx ends.
func (r *Registry) Watch(ctx context.Context, fn func()) error {
	for {
		ch := r.Changed()
		fn()
		select {
		case <-ch:
		case <-ctx.Done():
			return nil
		}
	}
}

// Skipped counts the events it could not decode.
func (r *Registry) Skipped() int {
	r.mu.RLock()
	defer r.mu.RUnlock()
	return r.skipped
}

// Pack returns the live registration of a pack.
func (r *Registry) Pack(ref string) (pack.PackRegistered, bool) {
	r.mu.RLock()
	defer r.mu.RUnlock()
	p, ok := r.packs[ref]
	if !ok {
		return pack.PackRegistered{}, false
	}
	out := *p
	out.Config = bytes.Clone(p.Config)
	out.Actions = slices.Clone(p.Actions)
	out.Triggers = slices.Clone(p.Triggers)
	out.Sensors = slices.Clone(p.Sensors)
	out.Policies = slices.Clone(p.Policies)
	out.Retired = slices.Clone(p.Retired)
	out.Rules = make([]pack.Rule, len(p.Rules))
	for i, ru := range p.Rules {
		out.Rules[i] = r.effective(ru.Ref)
	}
	for i := range out.Actions {
		out.Actions[i] = cloneAction(out.Actions[i])
	}
	return out, true
}

// Packs lists the live registrations, sorted by ref.
func (r *Registry) Packs() []pack.PackRegistered {
	r.mu.RLock()
	refs := slices.Sorted(maps.Keys(r.packs))
	r.mu.RUnlock()
	out := make([]pack.PackRegistered, 0, len(refs))
	for _, ref := range refs {
		if p, ok := r.Pack(ref); ok {
			out = append(out, p)
		}
	}
	return out
}

// PackConfig returns the config of the pack that defines ref: a pack ref, or a component ref
// (<pack>.<name>). Nil when the pack has none or is not registered.
func (r *Registry) PackConfig(ref string) json.RawMessage {
	packRef, _, _ := strings.Cut(ref, ".")
	r.mu.RLock()
	defer r.mu.RUnlock()
	if p, ok := r.packs[packRef]; ok {
		return bytes.Clone(p.Config)
	}
	return nil
}

// Action returns a live action.
func (r *Registry) Action(ref string) (pack.Action, bool) {
	r.mu.RLock()
	defer r.mu.RUnlock()
	a, ok := r.actions[ref]
	if !ok {
		return pack.Action{}, false
	}
	return cloneAction(a), true
}

// Trigger returns a live trigger.
func (r *Registry) Trigger(ref string) (pack.Trigger, bool) {
	r.mu.RLock()
	defer r.mu.RUnlock()
	t, ok := r.triggers[ref]
	if !ok {
		return pack.Trigger{}, false
	}
	t.PayloadSchema = cloneParams(t.PayloadSchema)
	t.ParametersSchema = cloneParams(t.ParametersSchema)
	return t, true
}

// Rule returns a live rule, its Enabled set to its effective state.
func (r *Registry) Rule(ref string) (pack.Rule, bool) {
	r.mu.RLock()
	defer r.mu.RUnlock()
	if _, ok := r.rules[ref]; !ok {
		return pack.Rule{}, false
	}
	return r.effective(ref), true
}

// RuleAt is Rule with the rule's state as of the position at: an event is matched against
// the rule as an operator had left it when the event was recorded, however far the
// catalogue has read since (a tick recorded before a disable still fires, an event before an
// enable does not).
func (r *Registry) RuleAt(ref string, at eventstore.Position) (pack.Rule, bool) {
	r.mu.RLock()
	defer r.mu.RUnlock()
	if _, ok := r.rules[ref]; !ok {
		return pack.Rule{}, false
	}
	return r.effectiveAt(ref, &at), true
}

// EnabledRulesForAt is EnabledRulesFor with each rule's state as of the position at (RuleAt).
func (r *Registry) EnabledRulesForAt(trigger string, at eventstore.Position) []pack.Rule {
	r.mu.RLock()
	defer r.mu.RUnlock()
	var out []pack.Rule
	for ref := range r.rules {
		if ru := r.effectiveAt(ref, &at); ru.Enabled && ru.Trigger == trigger {
			out = append(out, ru)
		}
	}
	slices.SortFunc(out, func(a, b pack.Rule) int { return strings.Compare(a.Ref, b.Ref) })
	return out
}

// Rules lists every live rule, enabled or not, sorted by ref.
func (r *Registry) Rules() []pack.Rule {
	return r.selectRules(func(pack.Rule) bool { return true })
}

// EnabledRulesFor lists the enabled rules on a trigger, sorted by ref.
func (r *Registry) EnabledRulesFor(trigger string) []pack.Rule {
	return r.selectRules(func(ru pack.Rule) bool { return ru.Enabled && ru.Trigger == trigger })
}

// TimerRules lists the enabled rules whose trigger is a timer, sorted by ref: what the timers
// run. A rule on a trigger that is no longer registered is left out.
func (r *Registry) TimerRules() []pack.Rule {
	r.mu.RLock()
	defer r.mu.RUnlock()
	return r.selectRulesLocked(func(ru pack.Rule) bool {
		t, ok := r.triggers[ru.Trigger]
		return ru.Enabled && ok && t.Type == pack.TriggerTimer
	})
}

// Sensors lists the enabled sensors of live packs, sorted by ref. The pack's directory (for
// the entry point) is Pack(<pack ref>).Path.
func (r *Registry) Sensors() []pack.Sensor {
	r.mu.RLock()
	defer r.mu.RUnlock()
	var out []pack.Sensor
	for _, p := range r.packs {
		for _, s := range p.Sensors {
			if s.Enabled {
				s.Triggers = slices.Clone(s.Triggers)
				out = append(out, s)
			}
		}
	}
	slices.SortFunc(out, func(a, b pack.Sensor) int { return strings.Compare(a.Ref, b.Ref) })
	return out
}

// EnabledPoliciesFor lists the enabled policies of live packs that govern the action, of
// every type, sorted by ref (the order admission applies them in). A policy may live in
// another pack than its action's.
func (r *Registry) EnabledPoliciesFor(action string) []pack.Policy {
	r.mu.RLock()
	defer r.mu.RUnlock()
	var out []pack.Policy
	for _, p := range r.packs {
		for _, po := range p.Policies {
			if po.Enabled && po.Action == action {
				out = append(out, clonePolicy(po))
			}
		}
	}
	slices.SortFunc(out, func(a, b pack.Policy) int { return strings.Compare(a.Ref, b.Ref) })
	return out
}

// AnyEnabledPolicy reports whether any live pack has an enabled policy, whatever its action.
func (r *Registry) AnyEnabledPolicy() bool {
	r.mu.RLock()
	defer r.mu.RUnlock()
	for _, p := range r.packs {
		for _, po := range p.Policies {
			if po.Enabled {
				return true
			}
		}
	}
	return false
}

func clonePolicy(p pack.Policy) pack.Policy {
	if p.Concurrency != nil {
		c := *p.Concurrency
		c.Attributes = slices.Clone(c.Attributes)
		p.Concurrency = &c
	}
	if p.RateLimit != nil {
		rl := *p.RateLimit
		rl.Attributes = slices.Clone(rl.Attributes)
		p.RateLimit = &rl
	}
	if p.Retry != nil {
		rt := *p.Retry
		rt.On = slices.Clone(rt.On)
		p.Retry = &rt
	}
	return p
}

func (r *Registry) selectRules(keep func(pack.Rule) bool) []pack.Rule {
	r.mu.RLock()
	defer r.mu.RUnlock()
	return r.selectRulesLocked(keep)
}

func (r *Registry) selectRulesLocked(keep func(pack.Rule) bool) []pack.Rule {
	var out []pack.Rule
	for ref := range r.rules {
		if ru := r.effective(ref); keep(ru) {
			out = append(out, ru)
		}
	}
	slices.SortFunc(out, func(a, b pack.Rule) int { return strings.Compare(a.Ref, b.Ref) })
	return out
}

// effective returns a copy of the rule with its effective state; the caller holds mu.
func (r *Registry) effective(ref string) pack.Rule {
	return r.effectiveAt(ref, nil)
}

// effectiveAt is effective as of the position at: the operator's switches recorded after it
// do not count (nil: all count).
func (r *Registry) effectiveAt(ref string, at *eventstore.Position) pack.Rule {
	s := r.rules[ref]
	var sw ruleSwitch
	ok := false
	for _, x := range r.switches[ref] {
		if at != nil && at.Less(x.at) {
			break
		}
		sw, ok = x, true
	}
	out := s.rule
	out.Enabled = s.enabled(sw, ok)
	out.Criteria = maps.Clone(out.Criteria)
	out.TriggerParams = bytes.Clone(out.TriggerParams)
	out.Parameters = bytes.Clone(out.Parameters)
	return out
}

func cloneAction(a pack.Action) pack.Action {
	a.Parameters = cloneParams(a.Parameters)
	a.Workflow = bytes.Clone(a.Workflow)
	return a
}

func cloneParams(ps pack.Params) pack.Params {
	if ps == nil {
		return nil
	}
	out := make(pack.Params, len(ps))
	for k, p := range ps {
		p.Default = bytes.Clone(p.Default)
		p.Enum = slices.Clone(p.Enum)
		p.Items = bytes.Clone(p.Items)
		out[k] = p
	}
	return out
}
