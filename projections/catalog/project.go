package catalog

import (
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"slices"
	"time"

	"github.com/attune-go/attune/adapters/eventstore"
	"github.com/attune-go/attune/domain/event"
	"github.com/attune-go/attune/domain/pack"
	"github.com/attune-go/attune/domain/rule"
)

// projected lists the wire types this projection reads; the rest are skipped undecoded.
var projected = map[string]bool{
	pack.PackRegistered{}.EventType(): true,
	pack.PackRetired{}.EventType():    true,
	rule.RuleEnabled{}.EventType():    true,
	rule.RuleDisabled{}.EventType():   true,
}

// Apply folds one batch of the log: it loads the packs and rules the batch touches once,
// applies the events in log order in memory and saves each changed row once.
func Apply(ctx context.Context, s Store, batch []eventstore.Recorded) error {
	type change struct {
		r eventstore.Recorded
		e event.Event
	}
	var (
		changes      []change
		packs, rules []string
		seenPack     = map[string]bool{}
		seenRule     = map[string]bool{}
	)
	addPack := func(ref string) {
		if !seenPack[ref] {
			seenPack[ref] = true
			packs = append(packs, ref)
		}
	}
	addRule := func(ref string) {
		if !seenRule[ref] {
			seenRule[ref] = true
			rules = append(rules, ref)
		}
	}
	for _, r := range batch {
		if !projected[r.Type] {
			continue
		}
		e, err := r.Decode()
		if err != nil {
			return fmt.Errorf("project %s: %w", Name, err)
		}
		switch e := e.(type) {
		case *pack.PackRegistered:
			addPack(e.Ref)
		case *pack.PackRetired:
			addPack(e.Ref)
		case *rule.RuleEnabled:
			addRule(e.Rule)
		case *rule.RuleDisabled:
			addRule(e.Rule)
		}
		changes = append(changes, change{r: r, e: e})
	}
	if len(changes) == 0 {
		return nil
	}
	loadedPacks, err := s.LoadPacks(ctx, packs)
	if err != nil {
		return fmt.Errorf("project %s: load %d packs: %w", Name, len(packs), err)
	}
	comps, err := s.LoadComponents(ctx, packs, rules)
	if err != nil {
		return fmt.Errorf("project %s: load components of %d packs and %d rules: %w", Name, len(packs), len(rules), err)
	}
	f := &fold{packs: loadedPacks, comps: comps, dirtyPacks: map[string]bool{}, dirtyComps: map[Key]bool{}}
	for _, c := range changes {
		if err := f.apply(c.r, c.e); err != nil {
			return fmt.Errorf("project %s: event %s (%s): %w", Name, c.r.ID, c.r.Type, err)
		}
	}
	outPacks := make([]Pack, 0, len(f.dirtyPacks))
	for _, ref := range slices.Sorted(maps.Keys(f.dirtyPacks)) {
		outPacks = append(outPacks, f.packs[ref])
	}
	outComps := make([]Component, 0, len(f.dirtyComps))
	for _, k := range slices.SortedFunc(maps.Keys(f.dirtyComps), compareKeys) {
		outComps = append(outComps, f.comps[k])
	}
	if err := s.SavePacks(ctx, outPacks); err != nil {
		return fmt.Errorf("project %s: save %d packs: %w", Name, len(outPacks), err)
	}
	if err := s.SaveComponents(ctx, outComps); err != nil {
		return fmt.Errorf("project %s: save %d components: %w", Name, len(outComps), err)
	}
	return nil
}

func compareKeys(a, b Key) int {
	return cmp.Or(cmp.Compare(a.Kind, b.Kind), cmp.Compare(a.Ref, b.Ref))
}

// fold is one batch's rows in memory.
type fold struct {
	packs      map[string]Pack
	comps      map[Key]Component
	dirtyPacks map[string]bool
	dirtyComps map[Key]bool
}

func (f *fold) apply(r eventstore.Recorded, e event.Event) error {
	switch e := e.(type) {
	case *pack.PackRegistered:
		return f.register(r, *e)
	case *pack.PackRetired:
		f.retirePack(r, *e)
	case *rule.RuleEnabled:
		f.switchRule(r, e.Rule, true, e.Reason)
	case *rule.RuleDisabled:
		f.switchRule(r, e.Rule, false, e.Reason)
	}
	return nil
}

// register replaces the pack's row and components with the snapshot's; components the
// snapshot no longer has are retired.
func (f *fold) register(r eventstore.Recorded, p pack.PackRegistered) error {
	pk, ok := f.packs[p.Ref]
	if !ok {
		pk = Pack{Ref: p.Ref, CreatedAt: r.RecordedAt}
	}
	pk.Version, pk.Description, pk.Config, pk.Digest, pk.Path = p.Version, p.Description, p.Config, p.Digest, p.Path
	pk.Components = p.Components()
	pk.RetiredAt, pk.RetiredReason = time.Time{}, ""
	pk.UpdatedAt, pk.StreamVersion, pk.Position = r.RecordedAt, r.StreamVersion, r.Position
	f.packs[p.Ref] = pk
	f.dirtyPacks[p.Ref] = true

	snapshot, err := components(p)
	if err != nil {
		return err
	}
	kept := map[Key]bool{}
	for _, next := range snapshot {
		k := next.Key()
		kept[k] = true
		c, ok := f.comps[k]
		// A rule that is new, or back after retirement, has its file's word as of now; one
		// the previous registration had keeps where its file said it, unless the value changed.
		fresh := !ok || c.Retired()
		if !ok {
			c = Component{Kind: next.Kind, Ref: next.Ref, CreatedAt: r.RecordedAt}
		}
		c.Pack, c.Definition, c.Trigger, c.Action = p.Ref, next.Definition, next.Trigger, next.Action
		c.RetiredAt, c.UpdatedAt, c.Position = time.Time{}, r.RecordedAt, r.Position
		if c.Kind == pack.KindRule {
			if fresh || c.FileEnabled != next.FileEnabled {
				c.FileSaid, c.Switch = r.Position, nil
			}
			c.FileEnabled = next.FileEnabled
			c.Enabled = c.effective()
		} else {
			c.Enabled = next.Enabled
		}
		f.setComp(c)
	}
	for k, c := range f.comps {
		if c.Pack == p.Ref && !c.Retired() && !kept[k] {
			f.retireComp(r, c)
		}
	}
	return nil
}

func (f *fold) retirePack(r eventstore.Recorded, e pack.PackRetired) {
	pk, ok := f.packs[e.Ref]
	if !ok {
		return // never registered: nothing to retire
	}
	pk.RetiredAt, pk.RetiredReason = r.RecordedAt, e.Reason
	pk.UpdatedAt, pk.StreamVersion, pk.Position = r.RecordedAt, r.StreamVersion, r.Position
	f.packs[e.Ref] = pk
	f.dirtyPacks[e.Ref] = true
	for _, c := range f.comps {
		if c.Pack == e.Ref && !c.Retired() {
			f.retireComp(r, c)
		}
	}
}

func (f *fold) retireComp(r eventstore.Recorded, c Component) {
	c.RetiredAt, c.UpdatedAt, c.Position = r.RecordedAt, r.RecordedAt, r.Position
	f.setComp(c)
}

// switchRule records an operator's switch. A switch on a rule the catalogue has never held
// changes nothing: when the rule appears, its file's word is newer.
func (f *fold) switchRule(r eventstore.Recorded, ref string, enabled bool, reason string) {
	k := Key{Kind: pack.KindRule, Ref: ref}
	c, ok := f.comps[k]
	if !ok {
		return
	}
	c.Switch = &Switch{Enabled: enabled, Actor: r.Metadata.Actor, Reason: reason, At: r.RecordedAt, Position: r.Position}
	c.Enabled = c.effective()
	c.UpdatedAt, c.Position = r.RecordedAt, r.Position
	f.setComp(c)
}

func (f *fold) setComp(c Component) {
	f.comps[c.Key()] = c
	f.dirtyComps[c.Key()] = true
}

// effective is the rule's state: the operator's switch if it came after the file said its
// value, else the file's value.
func (c Component) effective() bool {
	if c.Switch != nil && c.FileSaid.Less(c.Switch.Position) {
		return c.Switch.Enabled
	}
	return c.FileEnabled
}

// components lists the snapshot's components as rows, without times and positions.
func components(p pack.PackRegistered) ([]Component, error) {
	var out []Component
	add := func(kind pack.Kind, ref string, def any, edit func(*Component)) error {
		raw, err := json.Marshal(def)
		if err != nil {
			return fmt.Errorf("encode %s %s: %w", kind, ref, err)
		}
		c := Component{Kind: kind, Ref: ref, Definition: raw, Enabled: true}
		if edit != nil {
			edit(&c)
		}
		out = append(out, c)
		return nil
	}
	for _, a := range p.Actions {
		if err := add(pack.KindAction, a.Ref, a, nil); err != nil {
			return nil, err
		}
	}
	for _, t := range p.Triggers {
		if err := add(pack.KindTrigger, t.Ref, t, nil); err != nil {
			return nil, err
		}
	}
	for _, s := range p.Sensors {
		if err := add(pack.KindSensor, s.Ref, s, func(c *Component) { c.Enabled = s.Enabled }); err != nil {
			return nil, err
		}
	}
	for _, ru := range p.Rules {
		if err := add(pack.KindRule, ru.Ref, ru, func(c *Component) {
			c.Trigger, c.Action, c.FileEnabled, c.Enabled = ru.Trigger, ru.Action, ru.Enabled, ru.Enabled
		}); err != nil {
			return nil, err
		}
	}
	for _, pol := range p.Policies {
		if err := add(pack.KindPolicy, pol.Ref, pol, func(c *Component) { c.Action, c.Enabled = pol.Action, pol.Enabled }); err != nil {
			return nil, err
		}
	}
	return out, nil
}
