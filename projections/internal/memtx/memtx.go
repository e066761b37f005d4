// Package memtx is every projection's Store in memory: the reference the projections' pure
// tests fold into, and that a build in Postgres is held to. It keeps rows as the SQL adapter
// would (whole rows replaced on save) and counts calls, so a test can check that a batch
// costs one load and one save.
package memtx

import (
	"context"
	"slices"

	"github.com/attune-go/attune/domain/pack"
	"github.com/attune-go/attune/projections"
	"github.com/attune-go/attune/projections/catalog"
	"github.com/attune-go/attune/projections/causality"
	"github.com/attune-go/attune/projections/enforcements"
	"github.com/attune-go/attune/projections/events"
	"github.com/attune-go/attune/projections/executions"
	"github.com/attune-go/attune/projections/inquiries"
	"github.com/attune-go/attune/projections/keys"
	"github.com/attune-go/attune/projections/policies"
	"github.com/attune-go/attune/projections/streams"
	"github.com/attune-go/attune/projections/workers"
	"github.com/attune-go/attune/projections/workflows"
)

var _ projections.Tx = (*Tx)(nil)

// Tx holds every read model's rows. Not safe for concurrent use.
type Tx struct {
	Executions    map[string]executions.Execution
	Streams       map[string]streams.Stream
	Packs         map[string]catalog.Pack
	Components    map[catalog.Key]catalog.Component
	TriggerEvents map[string]events.Event
	Enforcements  map[string]enforcements.Enforcement
	Workers       map[string]workers.Worker
	Causality     map[string]causality.Entry
	Workflows     map[string]workflows.Workflow
	WorkflowRuns  map[string]workflows.Run // by child execution id
	Policies      map[string]policies.Policy
	PolicyMembers map[policies.MemberKey]policies.Member
	Inquiries     map[string]inquiries.Inquiry
	Keys          map[string]keys.Key // by stream id

	Loads, Saves int // calls, over every store
}

// New returns empty read models.
func New() *Tx {
	return &Tx{
		Executions:    map[string]executions.Execution{},
		Streams:       map[string]streams.Stream{},
		Packs:         map[string]catalog.Pack{},
		Components:    map[catalog.Key]catalog.Component{},
		TriggerEvents: map[string]events.Event{},
		Enforcements:  map[string]enforcements.Enforcement{},
		Workers:       map[string]workers.Worker{},
		Causality:     map[string]causality.Entry{},
		Workflows:     map[string]workflows.Workflow{},
		WorkflowRuns:  map[string]workflows.Run{},
		Policies:      map[string]policies.Policy{},
		PolicyMembers: map[policies.MemberKey]policies.Member{},
		Inquiries:     map[string]inquiries.Inquiry{},
		Keys:          map[string]keys.Key{},
	}
}

func load[K comparable, T any](m *Tx, rows map[K]T, keys []K) map[K]T {
	m.Loads++
	out := map[K]T{}
	for _, k := range keys {
		if r, ok := rows[k]; ok {
			out[k] = r
		}
	}
	return out
}

func save[K comparable, T any](m *Tx, rows map[K]T, xs []T, key func(T) K) {
	m.Saves++
	for _, x := range xs {
		rows[key(x)] = x
	}
}

// LoadExecutions implements executions.Store.
func (m *Tx) LoadExecutions(_ context.Context, ids []string) (map[string]executions.Execution, error) {
	return load(m, m.Executions, ids), nil
}

// SaveExecutions implements executions.Store.
func (m *Tx) SaveExecutions(_ context.Context, xs []executions.Execution) error {
	save(m, m.Executions, xs, func(x executions.Execution) string { return x.ID })
	return nil
}

// LoadStreams implements streams.Store.
func (m *Tx) LoadStreams(_ context.Context, ids []string) (map[string]streams.Stream, error) {
	return load(m, m.Streams, ids), nil
}

// SaveStreams implements streams.Store.
func (m *Tx) SaveStreams(_ context.Context, ss []streams.Stream) error {
	save(m, m.Streams, ss, func(s streams.Stream) string { return s.ID })
	return nil
}

// LoadPacks implements catalog.Store.
func (m *Tx) LoadPacks(_ context.Context, refs []string) (map[string]catalog.Pack, error) {
	return load(m, m.Packs, refs), nil
}

// SavePacks implements catalog.Store.
func (m *Tx) SavePacks(_ context.Context, ps []catalog.Pack) error {
	save(m, m.Packs, ps, func(p catalog.Pack) string { return p.Ref })
	return nil
}

// LoadComponents implements catalog.Store.
func (m *Tx) LoadComponents(_ context.Context, packs, rules []string) (map[catalog.Key]catalog.Component, error) {
	m.Loads++
	out := map[catalog.Key]catalog.Component{}
	for k, c := range m.Components {
		if slices.Contains(packs, c.Pack) || (k.Kind == pack.KindRule && slices.Contains(rules, k.Ref)) {
			out[k] = c
		}
	}
	return out, nil
}

// SaveComponents implements catalog.Store.
func (m *Tx) SaveComponents(_ context.Context, cs []catalog.Component) error {
	save(m, m.Components, cs, catalog.Component.Key)
	return nil
}

// SaveTriggerEvents implements events.Store.
func (m *Tx) SaveTriggerEvents(_ context.Context, es []events.Event) error {
	save(m, m.TriggerEvents, es, func(e events.Event) string { return e.ID })
	return nil
}

// LoadEnforcements implements enforcements.Store.
func (m *Tx) LoadEnforcements(_ context.Context, ids []string) (map[string]enforcements.Enforcement, error) {
	return load(m, m.Enforcements, ids), nil
}

// SaveEnforcements implements enforcements.Store.
func (m *Tx) SaveEnforcements(_ context.Context, xs []enforcements.Enforcement) error {
	save(m, m.Enforcements, xs, func(x enforcements.Enforcement) string { return x.ID })
	return nil
}

// LoadWorkers implements workers.Store.
func (m *Tx) LoadWorkers(_ context.Context, ids []string) (map[string]workers.Worker, error) {
	return load(m, m.Workers, ids), nil
}

// SaveWorkers implements workers.Store.
func (m *Tx) SaveWorkers(_ context.Context, ws []workers.Worker) error {
	save(m, m.Workers, ws, func(w workers.Worker) string { return w.ID })
	return nil
}

// SaveCausality implements causality.Store.
func (m *Tx) SaveCausality(_ context.Context, es []causality.Entry) error {
	save(m, m.Causality, es, func(e causality.Entry) string { return e.EventID })
	return nil
}

// LoadWorkflows implements workflows.Store.
func (m *Tx) LoadWorkflows(_ context.Context, ids []string) (map[string]workflows.Workflow, error) {
	return load(m, m.Workflows, ids), nil
}

// SaveWorkflows implements workflows.Store.
func (m *Tx) SaveWorkflows(_ context.Context, ws []workflows.Workflow) error {
	save(m, m.Workflows, ws, func(w workflows.Workflow) string { return w.ID })
	return nil
}

// LoadWorkflowRuns implements workflows.Store.
func (m *Tx) LoadWorkflowRuns(_ context.Context, children []string, refs []workflows.RunRef) (map[string]workflows.Run, error) {
	m.Loads++
	out := map[string]workflows.Run{}
	for id, r := range m.WorkflowRuns {
		if slices.Contains(children, id) || slices.Contains(refs, workflows.RunRef{WorkflowID: r.WorkflowID, Task: r.Task, Attempt: r.Attempt}) {
			out[id] = r
		}
	}
	return out, nil
}

// SaveWorkflowRuns implements workflows.Store.
func (m *Tx) SaveWorkflowRuns(_ context.Context, rs []workflows.Run) error {
	save(m, m.WorkflowRuns, rs, func(r workflows.Run) string { return r.ChildID })
	return nil
}

// LoadPolicies implements policies.Store.
func (m *Tx) LoadPolicies(_ context.Context, refs []string) (map[string]policies.Policy, error) {
	return load(m, m.Policies, refs), nil
}

// SavePolicies implements policies.Store.
func (m *Tx) SavePolicies(_ context.Context, ps []policies.Policy) error {
	save(m, m.Policies, ps, func(p policies.Policy) string { return p.Ref })
	return nil
}

// LoadPolicyMembers implements policies.Store.
func (m *Tx) LoadPolicyMembers(_ context.Context, executionIDs []string) (map[policies.MemberKey]policies.Member, error) {
	m.Loads++
	out := map[policies.MemberKey]policies.Member{}
	for k, x := range m.PolicyMembers {
		if slices.Contains(executionIDs, k.ExecutionID) {
			out[k] = x
		}
	}
	return out, nil
}

// SavePolicyMembers implements policies.Store.
func (m *Tx) SavePolicyMembers(_ context.Context, keep []policies.Member, drop []policies.MemberKey) error {
	m.Saves++
	for _, k := range drop {
		delete(m.PolicyMembers, k)
	}
	for _, x := range keep {
		m.PolicyMembers[x.MemberKey] = x
	}
	return nil
}

// LoadInquiries implements inquiries.Store.
func (m *Tx) LoadInquiries(_ context.Context, ids []string) (map[string]inquiries.Inquiry, error) {
	return load(m, m.Inquiries, ids), nil
}

// SaveInquiries implements inquiries.Store.
func (m *Tx) SaveInquiries(_ context.Context, xs []inquiries.Inquiry) error {
	save(m, m.Inquiries, xs, func(x inquiries.Inquiry) string { return x.ID })
	return nil
}

// SaveKeys implements keys.Store.
func (m *Tx) SaveKeys(_ context.Context, rows []keys.Key, gone []string) error {
	for _, id := range gone {
		delete(m.Keys, id)
	}
	save(m, m.Keys, rows, func(k keys.Key) string { return k.StreamID })
	return nil
}
