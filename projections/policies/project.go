package policies

import (
	"context"
	"fmt"
	"slices"
	"time"

	"github.com/attune-go/attune/adapters/eventstore"
	"github.com/attune-go/attune/domain/event"
	"github.com/attune-go/attune/domain/execution"
	"github.com/attune-go/attune/domain/pack"
	"github.com/attune-go/attune/domain/policy"
)

// projected lists the wire types this projection reads; others are skipped undecoded.
var projected = map[string]bool{
	pack.PackRegistered{}.EventType():              true,
	pack.PackRetired{}.EventType():                 true,
	policy.SlotClaimed{}.EventType():               true,
	policy.QueueJoined{}.EventType():               true,
	policy.SlotReleased{}.EventType():              true,
	policy.ExecutionDelayed{}.EventType():          true,
	policy.ExecutionReleased{}.EventType():         true,
	policy.ExecutionRefused{}.EventType():          true,
	policy.ExecutionRetryScheduled{}.EventType():   true,
	execution.ExecutionStatusChanged{}.EventType(): true,
}

type change struct {
	r eventstore.Recorded
	e event.Event
}

// Apply folds one batch: it loads the policies and the member rows the batch touches once,
// folds in log order in memory, and saves what changed once.
func Apply(ctx context.Context, s Store, batch []eventstore.Recorded) error {
	var (
		changes []change
		refs    []string
		execs   []string
	)
	addRef := func(r string) {
		if !slices.Contains(refs, r) {
			refs = append(refs, r)
		}
	}
	addExec := func(id string) {
		if !slices.Contains(execs, id) {
			execs = append(execs, id)
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
			for _, p := range e.Policies {
				addRef(p.Ref)
			}
			for _, c := range e.Retired {
				if c.Kind == pack.KindPolicy {
					addRef(c.Ref)
				}
			}
		case *pack.PackRetired:
			for _, c := range e.Retired {
				if c.Kind == pack.KindPolicy {
					addRef(c.Ref)
				}
			}
		case *policy.ExecutionRefused:
			addRef(e.Policy)
		case *policy.ExecutionRetryScheduled:
			addRef(e.Policy)
		case *policy.SlotClaimed:
			addExec(e.ExecutionID)
		case *policy.QueueJoined:
			addExec(e.ExecutionID)
		case *policy.SlotReleased:
			addExec(e.ExecutionID)
		case *policy.ExecutionDelayed:
			// A policy's wait is counted by its queue events (PolicyQueueJoined); a hold
			// without a policy is a not_before. Logs written before that rule may hold a
			// rate limit's delay member, which ExecutionReleased or the status change drops.
			continue
		case *policy.ExecutionReleased:
			addExec(e.ExecutionID)
		case *execution.ExecutionStatusChanged:
			if !isDelayed(e) {
				continue
			}
			addExec(e.ExecutionID)
		}
		changes = append(changes, change{r: r, e: e})
	}
	if len(changes) == 0 {
		return nil
	}
	var (
		rows    = map[string]Policy{}
		members = map[MemberKey]Member{}
		err     error
	)
	if len(refs) > 0 {
		if rows, err = s.LoadPolicies(ctx, refs); err != nil {
			return fmt.Errorf("project %s: load %d policies: %w", Name, len(refs), err)
		}
	}
	if len(execs) > 0 {
		if members, err = s.LoadPolicyMembers(ctx, execs); err != nil {
			return fmt.Errorf("project %s: load members of %d executions: %w", Name, len(execs), err)
		}
	}
	before := make(map[MemberKey]bool, len(members))
	for k := range members {
		before[k] = true
	}
	changedRefs := map[string]bool{}
	changedMembers := map[MemberKey]bool{}
	for _, c := range changes {
		for _, ref := range applyPolicy(rows, c.r, c.e) {
			changedRefs[ref] = true
		}
		for _, k := range applyMember(members, c.r, c.e) {
			changedMembers[k] = true
		}
	}
	var save []Policy
	for _, ref := range refs {
		if changedRefs[ref] {
			save = append(save, rows[ref])
		}
	}
	if len(save) > 0 {
		if err := s.SavePolicies(ctx, save); err != nil {
			return fmt.Errorf("project %s: save %d policies: %w", Name, len(save), err)
		}
	}
	var keep []Member
	var drop []MemberKey
	for k := range changedMembers {
		m, ok := members[k]
		switch {
		case ok:
			keep = append(keep, m)
		case before[k]:
			drop = append(drop, k)
		}
	}
	if len(keep) > 0 || len(drop) > 0 {
		slices.SortFunc(keep, func(a, b Member) int { return cmpKeys(a.MemberKey, b.MemberKey) })
		slices.SortFunc(drop, cmpKeys)
		if err := s.SavePolicyMembers(ctx, keep, drop); err != nil {
			return fmt.Errorf("project %s: save %d and drop %d members: %w", Name, len(keep), len(drop), err)
		}
	}
	return nil
}

func cmpKeys(a, b MemberKey) int {
	for _, c := range [][2]string{{a.Policy, b.Policy}, {a.ExecutionID, b.ExecutionID}, {string(a.Hold), string(b.Hold)}} {
		if c[0] != c[1] {
			if c[0] < c[1] {
				return -1
			}
			return 1
		}
	}
	return 0
}

// applyPolicy folds the events that change policy rows; it returns the refs it changed.
func applyPolicy(rows map[string]Policy, r eventstore.Recorded, e event.Event) []string {
	touch := func(p Policy) Policy {
		p.UpdatedAt, p.Position = r.RecordedAt, r.Position
		return p
	}
	var out []string
	retire := func(cs []pack.Component) {
		for _, c := range cs {
			p, ok := rows[c.Ref]
			if c.Kind != pack.KindPolicy || !ok || !p.RetiredAt.IsZero() {
				continue
			}
			p = touch(p)
			p.RetiredAt = r.RecordedAt
			rows[c.Ref] = p
			out = append(out, c.Ref)
		}
	}
	switch e := e.(type) {
	case *pack.PackRegistered:
		for _, pol := range e.Policies {
			p, ok := rows[pol.Ref]
			if !ok {
				p = Policy{Ref: pol.Ref, CreatedAt: r.RecordedAt}
			}
			p = touch(p)
			p.Pack, p.Action, p.Type, p.Enabled, p.Description, p.File = e.Ref, pol.Action, pol.Type, pol.Enabled, pol.Description, pol.File
			p.Spec, _ = specOf(pol)   // the log's own JSON: it marshals back
			p.RetiredAt = time.Time{} // registered again
			rows[pol.Ref] = p
			out = append(out, pol.Ref)
		}
		retire(e.Retired)
	case *pack.PackRetired:
		retire(e.Retired)
	case *policy.ExecutionRefused:
		if p, ok := rows[e.Policy]; ok {
			p = touch(p)
			p.Refused++
			rows[e.Policy] = p
			out = append(out, e.Policy)
		}
	case *policy.ExecutionRetryScheduled:
		if p, ok := rows[e.Policy]; ok {
			p = touch(p)
			p.RetriesScheduled++
			rows[e.Policy] = p
			out = append(out, e.Policy)
		}
	}
	return out
}

// applyMember folds the events that change member rows; it returns the keys it touched.
func applyMember(ms map[MemberKey]Member, r eventstore.Recorded, e event.Event) []MemberKey {
	set := func(k MemberKey, key string, st State) []MemberKey {
		m, ok := ms[k]
		if !ok || m.State != st {
			m.Since = r.RecordedAt
		}
		m.MemberKey, m.Key, m.State, m.Position = k, key, st, r.Position
		ms[k] = m
		return []MemberKey{k}
	}
	drop := func(k MemberKey) []MemberKey {
		if _, ok := ms[k]; !ok {
			return nil
		}
		delete(ms, k)
		return []MemberKey{k}
	}
	switch e := e.(type) {
	case *policy.QueueJoined:
		k := MemberKey{e.Policy, e.ExecutionID, HoldSlot}
		if m, ok := ms[k]; ok && m.State == Running {
			return nil // admitted already: a join never follows a claim in one stream
		}
		if e.PolicyType == policy.RateLimit {
			return set(k, e.Key, Delayed) // waits for time, not for a slot
		}
		return set(k, e.Key, Queued)
	case *policy.SlotClaimed:
		return set(MemberKey{e.Policy, e.ExecutionID, HoldSlot}, e.Key, Running)
	case *policy.SlotReleased:
		return drop(MemberKey{e.Policy, e.ExecutionID, HoldSlot})
	case *policy.ExecutionReleased:
		return drop(MemberKey{e.Policy, e.ExecutionID, HoldDelay})
	case *execution.ExecutionStatusChanged:
		var out []MemberKey
		for k := range ms {
			if k.ExecutionID == e.ExecutionID && k.Hold == HoldDelay {
				out = append(out, drop(k)...)
			}
		}
		return out
	}
	return nil
}
