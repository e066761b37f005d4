package pack

import (
	"encoding/json"
	"slices"
	"strings"

	"github.com/attune-go/attune/domain/event"
)

// StreamID is the stream of one pack's registrations: "pack-<ref>".
func StreamID(ref string) string { return "pack-" + ref }

// Kind is the kind of a pack component.
type Kind string

// The component kinds.
const (
	KindAction  Kind = "action"
	KindTrigger Kind = "trigger"
	KindSensor  Kind = "sensor"
	KindRule    Kind = "rule"
	KindPolicy  Kind = "policy"
)

// Kinds lists every component kind.
var Kinds = []Kind{KindAction, KindTrigger, KindSensor, KindRule, KindPolicy}

// Component names one component of a pack.
type Component struct {
	Kind Kind   `json:"kind"`
	Ref  string `json:"ref"`
}

// PackRegistered records a pack loaded and validated: the whole pack, as a snapshot. A later
// registration replaces the earlier one entirely.
//
// Retirement is part of the snapshot rather than separate ActionRetired/RuleRetired events:
// Retired lists the components the previous registration had and this one drops. One event
// per reload keeps a reload atomic (one append, checked against the stream's version), lets a
// projection replace the pack's rows from one event, and still tells a handler that only
// cares about retirements (a timer running a rule that vanished) what to stop, without
// comparing snapshots. Register computes it.
type PackRegistered struct {
	Ref         string `json:"ref"`
	Version     string `json:"version"`
	Description string `json:"description,omitempty"`
	// Dialect is the format the pack's files are written in: "" for Attune's own,
	// DialectStackStorm for StackStorm's (a pack.yaml with a name key).
	Dialect string `json:"dialect,omitempty"`
	// StackStorm is what a StackStorm pack.yaml declares beyond ref, version and description.
	StackStorm *StackStormPack `json:"stackstorm,omitempty"`
	// Config is the pack's configuration, read in templates as {{ config.x }}. It holds no
	// plaintext secret (the loader rejects one): the log is immutable.
	Config json.RawMessage `json:"config,omitempty"`
	// Digest is a hex SHA-256 over the pack's files, so the loader can skip a reload that
	// changes nothing.
	Digest string `json:"digest,omitempty"`
	// Path is the absolute directory the pack was loaded from, so a worker or sensor on the
	// same host finds the entry points; empty for the core pack, which is built in.
	Path     string      `json:"path,omitempty"`
	Actions  []Action    `json:"actions,omitempty"`
	Triggers []Trigger   `json:"triggers,omitempty"`
	Sensors  []Sensor    `json:"sensors,omitempty"`
	Rules    []Rule      `json:"rules,omitempty"`
	Policies []Policy    `json:"policies,omitempty"`
	Retired  []Component `json:"retired,omitempty"`
	// Warnings name what the loader read and did not take (a StackStorm pack's aliases/),
	// for the one who loads the pack; they are not recorded in the log.
	Warnings []string `json:"-"`
}

// EventType is the wire name.
func (PackRegistered) EventType() string { return "PackRegistered" }

// PackRetired records that a pack was removed: every component it had is retired with it.
type PackRetired struct {
	Ref     string      `json:"ref"`
	Reason  string      `json:"reason,omitempty"`
	Retired []Component `json:"retired,omitempty"`
}

// EventType is the wire name.
func (PackRetired) EventType() string { return "PackRetired" }

// Components lists every component p defines, sorted by kind then ref.
func (p PackRegistered) Components() []Component {
	var out []Component
	for _, a := range p.Actions {
		out = append(out, Component{KindAction, a.Ref})
	}
	for _, t := range p.Triggers {
		out = append(out, Component{KindTrigger, t.Ref})
	}
	for _, s := range p.Sensors {
		out = append(out, Component{KindSensor, s.Ref})
	}
	for _, r := range p.Rules {
		out = append(out, Component{KindRule, r.Ref})
	}
	for _, pol := range p.Policies {
		out = append(out, Component{KindPolicy, pol.Ref})
	}
	slices.SortFunc(out, compareComponents)
	return out
}

func compareComponents(a, b Component) int {
	if c := strings.Compare(string(a.Kind), string(b.Kind)); c != 0 {
		return c
	}
	return strings.Compare(a.Ref, b.Ref)
}

// Register decides the event that registers next over the pack's current registration
// (nil for a new or retired pack): next, with Retired listing what current had and next drops.
func Register(current *PackRegistered, next PackRegistered) PackRegistered {
	next.Retired = nil
	if current == nil {
		return next
	}
	kept := next.Components()
	for _, c := range current.Components() {
		if _, found := slices.BinarySearchFunc(kept, c, compareComponents); !found {
			next.Retired = append(next.Retired, c)
		}
	}
	return next
}

// Retire decides the event that removes the pack whose current registration is current.
func Retire(current PackRegistered, reason string) PackRetired {
	return PackRetired{Ref: current.Ref, Reason: reason, Retired: current.Components()}
}

// Current folds a pack's stream to its live registration: the last PackRegistered, or nil when
// there is none or a PackRetired came after it.
func Current(events []event.Event) *PackRegistered {
	var cur *PackRegistered
	for _, e := range events {
		switch e := e.(type) {
		case PackRegistered:
			cur = &e
		case *PackRegistered:
			c := *e
			cur = &c
		case PackRetired, *PackRetired:
			cur = nil
		}
	}
	return cur
}
