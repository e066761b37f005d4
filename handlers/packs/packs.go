// Package packs records what happens to packs and rules at an operator's request: a pack
// loaded (or reloaded) becomes one PackRegistered on pack-<ref>, a pack removed one
// PackRetired, a rule switched one RuleEnabled/RuleDisabled on rule-<ref>. Each use case
// decides from the log and appends with an expected version, so two operators reloading the
// same pack at once cannot both win with stale snapshots, and a repeated request changes
// nothing.
package packs

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/attune-go/attune/adapters/eventstore"
	"github.com/attune-go/attune/adapters/packloader"
	"github.com/attune-go/attune/domain/event"
	"github.com/attune-go/attune/domain/pack"
	"github.com/attune-go/attune/domain/rule"
	"github.com/attune-go/attune/projections/registry"
)

// SystemActor is the actor of what the server records on its own (the core pack at start).
const SystemActor = "system"

var (
	// ErrUnknownRule says no live pack defines the rule.
	ErrUnknownRule = errors.New("unknown rule")
	// ErrUnknownPack says the pack is not registered (or already retired).
	ErrUnknownPack = errors.New("unknown pack")
)

// Log is what the use cases need of the event store.
type Log interface {
	ReadStream(ctx context.Context, stream string) ([]eventstore.Recorded, error)
	Append(ctx context.Context, stream string, expected eventstore.Expected, events ...eventstore.Proposed) (eventstore.AppendResult, error)
}

// Outcome says what a use case did.
type Outcome string

// The outcomes.
const (
	Registered Outcome = "registered" // a new pack, or one registered again after retirement
	Updated    Outcome = "updated"    // a new snapshot of a live pack
	Unchanged  Outcome = "unchanged"  // same files (digest) from the same place: nothing appended
	Retired    Outcome = "retired"
)

// Result reports a pack use case.
type Result struct {
	Ref     string
	Outcome Outcome
	// Version is the pack stream's version after the use case.
	Version int64
	// Retired lists the components the new registration dropped (all of them on Retire).
	Retired []pack.Component
	// Warnings are the loader's: what it read and did not take.
	Warnings []string
}

// Register records reg as the pack's registration: the whole snapshot, with Retired listing
// what the previous registration had and this one drops. A snapshot with the digest and path
// of the live one changes nothing. A concurrent registration of the same pack makes the
// append conflict; Register then decides again once over the new state, and returns the
// conflict if that loses too.
func Register(ctx context.Context, log Log, reg pack.PackRegistered, actor string) (Result, error) {
	if reg.Ref == "" {
		return Result{}, errors.New("register pack: no ref")
	}
	stream := pack.StreamID(reg.Ref)
	var err error
	for range 2 {
		var res Result
		res, err = registerOnce(ctx, log, stream, reg, actor)
		if !errors.Is(err, eventstore.ErrVersionConflict) {
			return res, err
		}
	}
	return Result{}, fmt.Errorf("register pack %s: %w", reg.Ref, err)
}

func registerOnce(ctx context.Context, log Log, stream string, reg pack.PackRegistered, actor string) (Result, error) {
	events, version, err := read(ctx, log, stream)
	if err != nil {
		return Result{}, err
	}
	current := pack.Current(events)
	if current != nil && reg.Digest != "" && current.Digest == reg.Digest && current.Path == reg.Path {
		return Result{Ref: reg.Ref, Outcome: Unchanged, Version: version}, nil
	}
	next := pack.Register(current, reg)
	outcome := Updated
	if current == nil {
		outcome = Registered
	}
	p, err := newProposed(next, actor)
	if err != nil {
		return Result{}, err
	}
	res, err := log.Append(ctx, stream, eventstore.Exact(version), p)
	if err != nil {
		return Result{}, fmt.Errorf("register pack %s: %w", reg.Ref, err)
	}
	return Result{Ref: reg.Ref, Outcome: outcome, Version: res.NextExpected, Retired: next.Retired}, nil
}

// RegisterCore registers the core pack built into the binary; at every start of the server,
// where an unchanged binary makes it a no-op.
func RegisterCore(ctx context.Context, log Log) (Result, error) {
	core, err := packloader.LoadCore()
	if err != nil {
		return Result{}, fmt.Errorf("load the core pack: %w", err)
	}
	return Register(ctx, log, core, SystemActor)
}

// Retire records that the pack is removed, with every component it had. Retiring a pack
// that is not live is ErrUnknownPack.
func Retire(ctx context.Context, log Log, ref, reason, actor string) (Result, error) {
	stream := pack.StreamID(ref)
	var err error
	for range 2 {
		var events []event.Event
		var version int64
		events, version, err = read(ctx, log, stream)
		if err != nil {
			return Result{}, err
		}
		current := pack.Current(events)
		if current == nil {
			return Result{}, fmt.Errorf("retire pack %s: %w", ref, ErrUnknownPack)
		}
		retired := pack.Retire(*current, reason)
		var p eventstore.Proposed
		if p, err = newProposed(retired, actor); err != nil {
			return Result{}, err
		}
		var res eventstore.AppendResult
		res, err = log.Append(ctx, stream, eventstore.Exact(version), p)
		if err == nil {
			return Result{Ref: ref, Outcome: Retired, Version: res.NextExpected, Retired: retired.Retired}, nil
		}
		if !errors.Is(err, eventstore.ErrVersionConflict) {
			break
		}
	}
	return Result{}, fmt.Errorf("retire pack %s: %w", ref, err)
}

// SetRuleEnabled switches a rule on or off, recording RuleEnabled or RuleDisabled on
// rule-<ref>; changed is false when the rule already was in that state. The rule must be
// defined by a live pack, or the error is ErrUnknownRule.
//
// It decides from the log, not from the registry, which may lag behind: disabling then at
// once enabling a rule must record both. The effective state is folded exactly as the
// registry folds it, from the pack's stream and the rule's, merged in log order.
func SetRuleEnabled(ctx context.Context, log Log, ref string, enabled bool, actor string) (changed bool, err error) {
	packRef, _, ok := strings.Cut(ref, ".")
	if !ok || packRef == "" {
		return false, fmt.Errorf("switch rule %q: %w: a rule ref is <pack>.<name>", ref, ErrUnknownRule)
	}
	for range 2 {
		changed, err = switchOnce(ctx, log, packRef, ref, enabled, actor)
		if !errors.Is(err, eventstore.ErrVersionConflict) {
			return changed, err
		}
	}
	return false, err
}

func switchOnce(ctx context.Context, log Log, packRef, ref string, enabled bool, actor string) (bool, error) {
	packEvents, err := log.ReadStream(ctx, pack.StreamID(packRef))
	if err != nil {
		return false, fmt.Errorf("switch rule %s: read pack %s: %w", ref, packRef, err)
	}
	ruleEvents, err := log.ReadStream(ctx, rule.StreamID(ref))
	if err != nil {
		return false, fmt.Errorf("switch rule %s: read its stream: %w", ref, err)
	}
	merged := append(slices.Clone(packEvents), ruleEvents...)
	slices.SortFunc(merged, func(a, b eventstore.Recorded) int {
		switch {
		case a.Position.Less(b.Position):
			return -1
		case b.Position.Less(a.Position):
			return 1
		}
		return 0
	})
	fold := registry.New(registry.Config{})
	fold.Apply(merged...)
	if fold.Skipped() > 0 {
		return false, fmt.Errorf("switch rule %s: the streams of pack %s and rule %s hold events that do not decode", ref, packRef, ref)
	}
	r, ok := fold.Rule(ref)
	if !ok {
		return false, fmt.Errorf("switch rule %s: %w: no live pack defines it", ref, ErrUnknownRule)
	}
	if r.Enabled == enabled {
		return false, nil
	}
	var e event.Event = rule.RuleDisabled{Rule: ref}
	if enabled {
		e = rule.RuleEnabled{Rule: ref}
	}
	p, err := newProposed(e, actor)
	if err != nil {
		return false, err
	}
	if _, err := log.Append(ctx, rule.StreamID(ref), eventstore.Exact(int64(len(ruleEvents))), p); err != nil {
		return false, fmt.Errorf("switch rule %s: %w", ref, err)
	}
	return true, nil
}

// newProposed starts a causal tree: an operator's request has no cause in the log, so the
// event correlates with itself.
func newProposed(e event.Event, actor string) (eventstore.Proposed, error) {
	p, err := eventstore.NewProposed(e, event.Metadata{Actor: actor})
	if err != nil {
		return p, err
	}
	p.Metadata.CorrelationID = p.ID.String()
	return p, nil
}

func read(ctx context.Context, log Log, stream string) ([]event.Event, int64, error) {
	recorded, err := log.ReadStream(ctx, stream)
	if err != nil {
		return nil, 0, fmt.Errorf("read %s: %w", stream, err)
	}
	out := make([]event.Event, 0, len(recorded))
	for _, r := range recorded {
		e, err := r.Decode()
		if err != nil {
			return nil, 0, fmt.Errorf("read %s: %w", stream, err)
		}
		out = append(out, e)
	}
	return out, int64(len(recorded)), nil
}
