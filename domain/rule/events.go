// Package rule holds what happens to a rule after its pack registered it: an operator enables
// or disables it (the who is the event's metadata actor). The definition itself is part of
// pack.PackRegistered.
package rule

// StreamID is the stream of one rule's enable/disable history: "rule-<ref>".
func StreamID(ref string) string { return "rule-" + ref }

// RuleEnabled records that a rule starts matching trigger events.
type RuleEnabled struct {
	Rule   string `json:"rule"`
	Reason string `json:"reason,omitempty"`
}

// EventType is the wire name.
func (RuleEnabled) EventType() string { return "RuleEnabled" }

// RuleDisabled records that a rule stops matching trigger events.
type RuleDisabled struct {
	Rule   string `json:"rule"`
	Reason string `json:"reason,omitempty"`
}

// EventType is the wire name.
func (RuleDisabled) EventType() string { return "RuleDisabled" }
