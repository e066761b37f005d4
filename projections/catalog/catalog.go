// Package catalog is the catalogue read model: one row per pack and one per pack component
// (action, trigger, sensor, rule, policy), folded from PackRegistered, PackRetired,
// RuleEnabled and RuleDisabled, and the filters and pages the API lists them with.
//
// Components a reload drops, and every component of a retired pack, keep their rows with
// RetiredAt set, so an execution of last month can still show the rule that caused it; lists
// leave them out unless asked.
//
// A rule's effective state follows projections/registry, the in-memory catalogue the handlers
// consult, exactly: it is the latest, in log order, of what its file says and what an operator
// said (RuleEnabled/RuleDisabled). The file's value counts as said when the rule appears (or
// comes back after retirement) and whenever a reload changes it, not at every reload.
package catalog

import (
	"context"
	"encoding/json"
	"errors"
	"time"

	"github.com/attune-go/attune/adapters/eventstore"
	"github.com/attune-go/attune/domain/pack"
)

// Name keys the projection's checkpoint and lock: a persisted identifier.
const Name = "projection:catalog"

// ErrNotFound is returned for a pack or component the read model has never held.
var ErrNotFound = errors.New("not in the catalogue")

// Pack is one row of the packs read model: the latest registration, as a summary.
type Pack struct {
	Ref         string
	Version     string // the pack's own version (pack.yaml), not a stream version
	Description string
	Config      json.RawMessage
	Digest      string
	Path        string
	// Components are those of the latest registration, sorted by kind then ref.
	Components    []pack.Component
	RetiredReason string

	CreatedAt time.Time // first registration
	UpdatedAt time.Time // last registration or retirement
	RetiredAt time.Time // zero while registered

	StreamVersion int64 // of pack-<ref>, at the last event applied
	Position      eventstore.Position
}

// Retired reports whether the pack is retired.
func (p Pack) Retired() bool { return !p.RetiredAt.IsZero() }

// Key identifies a component: refs are unique within a kind only (an action and a rule may
// both be examples.deploy).
type Key struct {
	Kind pack.Kind
	Ref  string
}

// Component is one row of the components read model.
type Component struct {
	Kind pack.Kind
	Ref  string
	Pack string // the pack that registered it last
	// Definition is the component as registered, in JSON: a pack.Action, pack.Trigger,
	// pack.Sensor, pack.Rule or pack.Policy. A rule's "enabled" in it is what its file says.
	Definition json.RawMessage

	Trigger string // rules: the trigger it listens to
	Action  string // rules and policies: the action it runs or governs
	// Enabled is, for a rule, its effective state; for sensors and policies what the file
	// says; actions and triggers are always enabled.
	Enabled bool

	// Rules only: what the file says, where in the log it said it last (the registration that
	// introduced the rule or changed the value), and the operator's switch that overrides it,
	// if one came after. Switch is nil when the file has the last word.
	FileEnabled bool
	FileSaid    eventstore.Position
	Switch      *Switch

	CreatedAt time.Time // first registration that had it
	UpdatedAt time.Time // last event that touched it
	RetiredAt time.Time // zero while its pack's latest registration has it

	Position eventstore.Position // of the last event applied
}

// Key returns the component's key.
func (c Component) Key() Key { return Key{Kind: c.Kind, Ref: c.Ref} }

// Retired reports whether the component is retired.
func (c Component) Retired() bool { return !c.RetiredAt.IsZero() }

// Switch is an operator's RuleEnabled or RuleDisabled.
type Switch struct {
	Enabled  bool
	Actor    string
	Reason   string
	At       time.Time
	Position eventstore.Position
}

// Store loads and saves rows inside the projection's transaction (adapters/readmodel).
type Store interface {
	// LoadPacks returns the stored packs among refs.
	LoadPacks(ctx context.Context, refs []string) (map[string]Pack, error)
	// SavePacks inserts or replaces whole rows.
	SavePacks(ctx context.Context, rows []Pack) error
	// LoadComponents returns every component (retired too) registered by one of packs, and
	// the rules among rules whatever their pack.
	LoadComponents(ctx context.Context, packs, rules []string) (map[Key]Component, error)
	// SaveComponents inserts or replaces whole rows.
	SaveComponents(ctx context.Context, rows []Component) error
}
