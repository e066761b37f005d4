package readmodel

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgtype"

	"github.com/attune-go/attune/domain/policy"
	"github.com/attune-go/attune/projections/policies"
)

const policyColumns = `ref, pack, action, type, enabled, coalesce(description, ''), coalesce(spec::text, ''),
    coalesce(file, ''), refused, retries_scheduled, created_at, updated_at, retired_at, position_major, position_minor`

// policyCountColumns adds the live counts of a policy's members: one index range scan of
// policy_members per policy.
const policyCountColumns = policyColumns + `,
    (SELECT count(*) FILTER (WHERE m.state = 'running') FROM policy_members m WHERE m.policy = policies.ref),
    (SELECT count(*) FILTER (WHERE m.state = 'queued') FROM policy_members m WHERE m.policy = policies.ref),
    (SELECT count(*) FILTER (WHERE m.state = 'delayed') FROM policy_members m WHERE m.policy = policies.ref)`

const savePoliciesSQL = `
INSERT INTO policies (ref, pack, action, type, enabled, description, spec, file, refused, retries_scheduled,
    created_at, updated_at, retired_at, position_major, position_minor)
SELECT u.ref, u.pack, u.action, u.type, u.enabled, NULLIF(u.description, ''), NULLIF(u.spec, '')::jsonb,
    NULLIF(u.file, ''), u.refused, u.retries_scheduled, u.created_at, u.updated_at, u.retired_at,
    u.position_major, u.position_minor
FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::bool[], $6::text[], $7::text[], $8::text[],
    $9::int8[], $10::int8[], $11::timestamptz[], $12::timestamptz[], $13::timestamptz[], $14::int8[], $15::int8[])
    AS u(ref, pack, action, type, enabled, description, spec, file, refused, retries_scheduled,
    created_at, updated_at, retired_at, position_major, position_minor)
ON CONFLICT (ref) DO UPDATE SET
    pack = excluded.pack, action = excluded.action, type = excluded.type, enabled = excluded.enabled,
    description = excluded.description, spec = excluded.spec, file = excluded.file,
    refused = excluded.refused, retries_scheduled = excluded.retries_scheduled,
    created_at = excluded.created_at, updated_at = excluded.updated_at, retired_at = excluded.retired_at,
    position_major = excluded.position_major, position_minor = excluded.position_minor`

func scanPolicyInto(p *policies.Policy, extra ...any) func(pgx.Row) error {
	return func(row pgx.Row) error {
		var (
			typ, spec          string
			retired            pgtype.Timestamptz
			posMajor, posMinor int64
		)
		dest := append([]any{&p.Ref, &p.Pack, &p.Action, &typ, &p.Enabled, &p.Description, &spec, &p.File,
			&p.Refused, &p.RetriesScheduled, &p.CreatedAt, &p.UpdatedAt, &retired, &posMajor, &posMinor}, extra...)
		if err := row.Scan(dest...); err != nil {
			return err
		}
		p.Type = policy.Type(typ)
		if spec != "" {
			p.Spec = json.RawMessage(spec)
		}
		p.CreatedAt, p.UpdatedAt, p.RetiredAt = p.CreatedAt.UTC(), p.UpdatedAt.UTC(), retired.Time.UTC()
		p.Position = positionOf(posMajor, posMinor)
		return nil
	}
}

func scanPolicy(row pgx.Row) (policies.Policy, error) {
	var p policies.Policy
	return p, scanPolicyInto(&p)(row)
}

func scanPolicyView(row pgx.Row) (policies.View, error) {
	var v policies.View
	return v, scanPolicyInto(&v.Policy, &v.Running, &v.Queued, &v.Delayed)(row)
}

// LoadPolicies implements policies.Store.
func (s *txStore) LoadPolicies(ctx context.Context, refs []string) (map[string]policies.Policy, error) {
	return loadRows(ctx, s.tx, fmt.Sprintf("%d policies", len(refs)),
		`SELECT `+policyColumns+` FROM policies WHERE ref = ANY($1)`, []any{refs},
		scanPolicy, func(p policies.Policy) string { return p.Ref })
}

// SavePolicies implements policies.Store.
func (s *txStore) SavePolicies(ctx context.Context, ps []policies.Policy) error {
	if len(ps) == 0 {
		return nil
	}
	type p = policies.Policy
	_, err := s.tx.Exec(ctx, savePoliciesSQL,
		column(ps, func(p p) string { return p.Ref }),
		column(ps, func(p p) string { return p.Pack }),
		column(ps, func(p p) string { return p.Action }),
		column(ps, func(p p) string { return string(p.Type) }),
		column(ps, func(p p) bool { return p.Enabled }),
		column(ps, func(p p) string { return p.Description }),
		column(ps, func(p p) string { return string(p.Spec) }),
		column(ps, func(p p) string { return p.File }),
		column(ps, func(p p) int64 { return p.Refused }),
		column(ps, func(p p) int64 { return p.RetriesScheduled }),
		column(ps, func(p p) pgtype.Timestamptz { return timestamp(p.CreatedAt) }),
		column(ps, func(p p) pgtype.Timestamptz { return timestamp(p.UpdatedAt) }),
		column(ps, func(p p) pgtype.Timestamptz { return timestamp(p.RetiredAt) }),
		column(ps, func(p p) int64 { return int64(p.Position.Major) }),
		column(ps, func(p p) int64 { return int64(p.Position.Minor) }),
	)
	if err != nil {
		return fmt.Errorf("save %d policies: %w", len(ps), err)
	}
	return nil
}

const memberColumns = `policy, execution_id, hold, key, state, since, position_major, position_minor`

func scanMember(row pgx.Row) (policies.Member, error) {
	var (
		m                  policies.Member
		hold, state        string
		posMajor, posMinor int64
	)
	if err := row.Scan(&m.Policy, &m.ExecutionID, &hold, &m.Key, &state, &m.Since, &posMajor, &posMinor); err != nil {
		return policies.Member{}, err
	}
	m.Hold, m.State, m.Since = policies.Hold(hold), policies.State(state), m.Since.UTC()
	m.Position = positionOf(posMajor, posMinor)
	return m, nil
}

// LoadPolicyMembers implements policies.Store.
func (s *txStore) LoadPolicyMembers(ctx context.Context, executionIDs []string) (map[policies.MemberKey]policies.Member, error) {
	return loadRows(ctx, s.tx, fmt.Sprintf("policy members of %d executions", len(executionIDs)),
		`SELECT `+memberColumns+` FROM policy_members WHERE execution_id = ANY($1)`, []any{executionIDs},
		scanMember, func(m policies.Member) policies.MemberKey { return m.MemberKey })
}

const savePolicyMembersSQL = `
INSERT INTO policy_members (policy, execution_id, hold, key, state, since, position_major, position_minor)
SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::timestamptz[], $7::int8[], $8::int8[])
ON CONFLICT (policy, execution_id, hold) DO UPDATE SET
    key = excluded.key, state = excluded.state, since = excluded.since,
    position_major = excluded.position_major, position_minor = excluded.position_minor`

const dropPolicyMembersSQL = `
DELETE FROM policy_members m USING unnest($1::text[], $2::text[], $3::text[]) AS u(policy, execution_id, hold)
WHERE m.policy = u.policy AND m.execution_id = u.execution_id AND m.hold = u.hold`

// SavePolicyMembers implements policies.Store.
func (s *txStore) SavePolicyMembers(ctx context.Context, save []policies.Member, drop []policies.MemberKey) error {
	type m = policies.Member
	type k = policies.MemberKey
	if len(drop) > 0 {
		_, err := s.tx.Exec(ctx, dropPolicyMembersSQL,
			column(drop, func(k k) string { return k.Policy }),
			column(drop, func(k k) string { return k.ExecutionID }),
			column(drop, func(k k) string { return string(k.Hold) }))
		if err != nil {
			return fmt.Errorf("drop %d policy members: %w", len(drop), err)
		}
	}
	if len(save) > 0 {
		_, err := s.tx.Exec(ctx, savePolicyMembersSQL,
			column(save, func(m m) string { return m.Policy }),
			column(save, func(m m) string { return m.ExecutionID }),
			column(save, func(m m) string { return string(m.Hold) }),
			column(save, func(m m) string { return m.Key }),
			column(save, func(m m) string { return string(m.State) }),
			column(save, func(m m) pgtype.Timestamptz { return timestamp(m.Since) }),
			column(save, func(m m) int64 { return int64(m.Position.Major) }),
			column(save, func(m m) int64 { return int64(m.Position.Minor) }))
		if err != nil {
			return fmt.Errorf("save %d policy members: %w", len(save), err)
		}
	}
	return nil
}

// GetPolicy returns one policy, retired or not, with its counts overall and per key, or
// policies.ErrNotFound.
func (d *DB) GetPolicy(ctx context.Context, ref string) (policies.View, error) {
	v, err := scanPolicyView(d.q.QueryRow(ctx, `SELECT `+policyCountColumns+` FROM policies WHERE ref = $1`, oneShot, ref))
	if errors.Is(err, pgx.ErrNoRows) {
		return policies.View{}, fmt.Errorf("get policy %s: %w", ref, policies.ErrNotFound)
	}
	if err != nil {
		return policies.View{}, fmt.Errorf("get policy %s: %w", ref, err)
	}
	rows, err := d.q.Query(ctx, `
SELECT key, count(*) FILTER (WHERE state = 'running'), count(*) FILTER (WHERE state = 'queued'),
    count(*) FILTER (WHERE state = 'delayed')
FROM policy_members WHERE policy = $1 GROUP BY key ORDER BY key`, oneShot, ref)
	if err != nil {
		return policies.View{}, fmt.Errorf("get policy %s: keys: %w", ref, err)
	}
	defer rows.Close()
	for rows.Next() {
		var k policies.KeyCounts
		if err := rows.Scan(&k.Key, &k.Running, &k.Queued, &k.Delayed); err != nil {
			return policies.View{}, fmt.Errorf("get policy %s: keys: %w", ref, err)
		}
		v.Keys = append(v.Keys, k)
	}
	if err := rows.Err(); err != nil {
		return policies.View{}, fmt.Errorf("get policy %s: keys: %w", ref, err)
	}
	return v, nil
}

// ListPolicies returns one page of the live policies in ref order, with their counts.
func (d *DB) ListPolicies(ctx context.Context, f policies.Filter) (policies.Page, error) {
	if err := f.Validate(); err != nil {
		return policies.Page{}, fmt.Errorf("list policies: %w", err)
	}
	w := &where{}
	w.add(`retired_at IS NULL`)
	for _, eq := range []struct{ column, value string }{{`pack`, f.Pack}, {`action`, f.Action}, {`type`, string(f.Type)}} {
		if eq.value != "" {
			w.add(eq.column+` = $%d`, eq.value)
		}
	}
	if after, ok, _ := policies.ParseCursor(f.Cursor); ok {
		w.add(`ref > $%d`, after)
	}
	items, next, err := listPage(ctx, d.q, "policies", policyCountColumns, "policies", w, "ref", f.PageSize(),
		scanPolicyView, func(v policies.View) string { return policies.Cursor(v.Ref) })
	return policies.Page{Items: items, Next: next}, err
}

// CountPolicyMembers returns the counts of every live policy, zero for one that holds
// nothing (for the metrics; a scrape now and then).
func (d *DB) CountPolicyMembers(ctx context.Context) (map[string]policies.Counts, error) {
	rows, err := d.q.Query(ctx, `
SELECT p.ref, count(*) FILTER (WHERE m.state = 'running'), count(*) FILTER (WHERE m.state = 'queued'),
    count(*) FILTER (WHERE m.state = 'delayed')
FROM policies p LEFT JOIN policy_members m ON m.policy = p.ref
WHERE p.retired_at IS NULL GROUP BY p.ref`)
	if err != nil {
		return nil, fmt.Errorf("count policy members: %w", err)
	}
	defer rows.Close()
	out := map[string]policies.Counts{}
	for rows.Next() {
		var (
			ref string
			c   policies.Counts
		)
		if err := rows.Scan(&ref, &c.Running, &c.Queued, &c.Delayed); err != nil {
			return nil, fmt.Errorf("count policy members: %w", err)
		}
		out[ref] = c
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("count policy members: %w", err)
	}
	return out, nil
}
