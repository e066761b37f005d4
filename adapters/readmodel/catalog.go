package readmodel

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgtype"

	"github.com/attune-go/attune/domain/pack"
	"github.com/attune-go/attune/projections/catalog"
)

const packColumns = `ref, version, coalesce(description, ''), coalesce(config::text, ''), coalesce(digest, ''),
    coalesce(path, ''), components::text, coalesce(retired_reason, ''), created_at, updated_at, retired_at,
    stream_version, position_major, position_minor`

const savePacksSQL = `
INSERT INTO packs (ref, version, description, config, digest, path, components, retired_reason,
    created_at, updated_at, retired_at, stream_version, position_major, position_minor)
SELECT u.ref, u.version, NULLIF(u.description, ''), NULLIF(u.config, '')::jsonb, NULLIF(u.digest, ''),
    NULLIF(u.path, ''), u.components::jsonb, NULLIF(u.retired_reason, ''), u.created_at, u.updated_at,
    u.retired_at, u.stream_version, u.position_major, u.position_minor
FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[], $7::text[], $8::text[],
    $9::timestamptz[], $10::timestamptz[], $11::timestamptz[], $12::int8[], $13::int8[], $14::int8[])
    AS u(ref, version, description, config, digest, path, components, retired_reason, created_at,
    updated_at, retired_at, stream_version, position_major, position_minor)
ON CONFLICT (ref) DO UPDATE SET
    version = excluded.version, description = excluded.description, config = excluded.config,
    digest = excluded.digest, path = excluded.path, components = excluded.components,
    retired_reason = excluded.retired_reason, created_at = excluded.created_at,
    updated_at = excluded.updated_at, retired_at = excluded.retired_at,
    stream_version = excluded.stream_version, position_major = excluded.position_major,
    position_minor = excluded.position_minor`

func scanPack(row pgx.Row) (catalog.Pack, error) {
	var (
		p                  catalog.Pack
		config, components string
		retired            pgtype.Timestamptz
		posMajor, posMinor int64
	)
	err := row.Scan(&p.Ref, &p.Version, &p.Description, &config, &p.Digest, &p.Path, &components,
		&p.RetiredReason, &p.CreatedAt, &p.UpdatedAt, &retired, &p.StreamVersion, &posMajor, &posMinor)
	if err != nil {
		return catalog.Pack{}, err
	}
	if config != "" {
		p.Config = json.RawMessage(config)
	}
	if err := json.Unmarshal([]byte(components), &p.Components); err != nil {
		return catalog.Pack{}, fmt.Errorf("pack %s: components: %w", p.Ref, err)
	}
	if len(p.Components) == 0 {
		p.Components = nil
	}
	p.CreatedAt, p.UpdatedAt, p.RetiredAt = p.CreatedAt.UTC(), p.UpdatedAt.UTC(), retired.Time.UTC()
	p.Position = positionOf(posMajor, posMinor)
	return p, nil
}

// LoadPacks implements catalog.Store.
func (s *txStore) LoadPacks(ctx context.Context, refs []string) (map[string]catalog.Pack, error) {
	return loadRows(ctx, s.tx, fmt.Sprintf("%d packs", len(refs)),
		`SELECT `+packColumns+` FROM packs WHERE ref = ANY($1)`, []any{refs},
		scanPack, func(p catalog.Pack) string { return p.Ref })
}

// SavePacks implements catalog.Store.
func (s *txStore) SavePacks(ctx context.Context, ps []catalog.Pack) error {
	if len(ps) == 0 {
		return nil
	}
	type p = catalog.Pack
	comps := make([]string, len(ps))
	for i, x := range ps {
		b, err := json.Marshal(x.Components)
		if err != nil {
			return fmt.Errorf("save pack %s: %w", x.Ref, err)
		}
		if x.Components == nil {
			b = []byte(`[]`)
		}
		comps[i] = string(b)
	}
	_, err := s.tx.Exec(ctx, savePacksSQL,
		column(ps, func(p p) string { return p.Ref }),
		column(ps, func(p p) string { return p.Version }),
		column(ps, func(p p) string { return p.Description }),
		column(ps, func(p p) string { return string(p.Config) }),
		column(ps, func(p p) string { return p.Digest }),
		column(ps, func(p p) string { return p.Path }),
		comps,
		column(ps, func(p p) string { return p.RetiredReason }),
		column(ps, func(p p) pgtype.Timestamptz { return timestamp(p.CreatedAt) }),
		column(ps, func(p p) pgtype.Timestamptz { return timestamp(p.UpdatedAt) }),
		column(ps, func(p p) pgtype.Timestamptz { return timestamp(p.RetiredAt) }),
		column(ps, func(p p) int64 { return p.StreamVersion }),
		column(ps, func(p p) int64 { return int64(p.Position.Major) }),
		column(ps, func(p p) int64 { return int64(p.Position.Minor) }),
	)
	if err != nil {
		return fmt.Errorf("save %d packs: %w", len(ps), err)
	}
	return nil
}

const componentColumns = `kind, ref, pack, definition::text, coalesce(trigger, ''), coalesce(action, ''), enabled,
    file_enabled, file_said_major, file_said_minor, switch_enabled, coalesce(switch_actor, ''),
    coalesce(switch_reason, ''), switch_at, switch_major, switch_minor, created_at, updated_at, retired_at,
    position_major, position_minor`

const saveComponentsSQL = `
INSERT INTO pack_components (kind, ref, pack, definition, trigger, action, enabled, file_enabled,
    file_said_major, file_said_minor, switch_enabled, switch_actor, switch_reason, switch_at,
    switch_major, switch_minor, created_at, updated_at, retired_at, position_major, position_minor)
SELECT u.kind, u.ref, u.pack, u.definition::jsonb, NULLIF(u.trigger, ''), NULLIF(u.action, ''),
    u.enabled, u.file_enabled, u.file_said_major, u.file_said_minor, u.switch_enabled,
    NULLIF(u.switch_actor, ''), NULLIF(u.switch_reason, ''), u.switch_at, u.switch_major,
    u.switch_minor, u.created_at, u.updated_at, u.retired_at, u.position_major, u.position_minor
FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[], $7::bool[],
    $8::bool[], $9::int8[], $10::int8[], $11::bool[], $12::text[], $13::text[], $14::timestamptz[],
    $15::int8[], $16::int8[], $17::timestamptz[], $18::timestamptz[], $19::timestamptz[], $20::int8[],
    $21::int8[])
    AS u(kind, ref, pack, definition, trigger, action, enabled, file_enabled, file_said_major,
    file_said_minor, switch_enabled, switch_actor, switch_reason, switch_at, switch_major,
    switch_minor, created_at, updated_at, retired_at, position_major, position_minor)
ON CONFLICT (kind, ref) DO UPDATE SET
    pack = excluded.pack, definition = excluded.definition, trigger = excluded.trigger,
    action = excluded.action, enabled = excluded.enabled, file_enabled = excluded.file_enabled,
    file_said_major = excluded.file_said_major, file_said_minor = excluded.file_said_minor,
    switch_enabled = excluded.switch_enabled, switch_actor = excluded.switch_actor,
    switch_reason = excluded.switch_reason, switch_at = excluded.switch_at,
    switch_major = excluded.switch_major, switch_minor = excluded.switch_minor,
    created_at = excluded.created_at, updated_at = excluded.updated_at,
    retired_at = excluded.retired_at, position_major = excluded.position_major,
    position_minor = excluded.position_minor`

func scanComponent(row pgx.Row) (catalog.Component, error) {
	var (
		c                    catalog.Component
		kind, def            string
		saidMajor, saidMinor int64
		swEnabled            pgtype.Bool
		swActor, swReason    string
		swAt, retired        pgtype.Timestamptz
		swMajor, swMinor     pgtype.Int8
		posMajor, posMinor   int64
	)
	err := row.Scan(&kind, &c.Ref, &c.Pack, &def, &c.Trigger, &c.Action, &c.Enabled,
		&c.FileEnabled, &saidMajor, &saidMinor, &swEnabled, &swActor, &swReason, &swAt, &swMajor, &swMinor,
		&c.CreatedAt, &c.UpdatedAt, &retired, &posMajor, &posMinor)
	if err != nil {
		return catalog.Component{}, err
	}
	c.Kind, c.Definition = pack.Kind(kind), json.RawMessage(def)
	c.FileSaid = positionOf(saidMajor, saidMinor)
	if swEnabled.Valid {
		c.Switch = &catalog.Switch{Enabled: swEnabled.Bool, Actor: swActor, Reason: swReason,
			At: swAt.Time.UTC(), Position: positionOf(swMajor.Int64, swMinor.Int64)}
	}
	c.CreatedAt, c.UpdatedAt, c.RetiredAt = c.CreatedAt.UTC(), c.UpdatedAt.UTC(), retired.Time.UTC()
	c.Position = positionOf(posMajor, posMinor)
	return c, nil
}

// LoadComponents implements catalog.Store.
func (s *txStore) LoadComponents(ctx context.Context, packs, rules []string) (map[catalog.Key]catalog.Component, error) {
	return loadRows(ctx, s.tx, fmt.Sprintf("components of %d packs and %d rules", len(packs), len(rules)),
		`SELECT `+componentColumns+` FROM pack_components WHERE pack = ANY($1) OR (kind = 'rule' AND ref = ANY($2))`,
		[]any{packs, rules}, scanComponent, catalog.Component.Key)
}

// SaveComponents implements catalog.Store.
func (s *txStore) SaveComponents(ctx context.Context, cs []catalog.Component) error {
	if len(cs) == 0 {
		return nil
	}
	type c = catalog.Component
	_, err := s.tx.Exec(ctx, saveComponentsSQL,
		column(cs, func(x c) string { return string(x.Kind) }),
		column(cs, func(x c) string { return x.Ref }),
		column(cs, func(x c) string { return x.Pack }),
		column(cs, func(x c) string { return string(x.Definition) }),
		column(cs, func(x c) string { return x.Trigger }),
		column(cs, func(x c) string { return x.Action }),
		column(cs, func(x c) bool { return x.Enabled }),
		column(cs, func(x c) bool { return x.FileEnabled }),
		column(cs, func(x c) int64 { return int64(x.FileSaid.Major) }),
		column(cs, func(x c) int64 { return int64(x.FileSaid.Minor) }),
		column(cs, func(x c) pgtype.Bool { return pgtype.Bool{Bool: switchOf(x).Enabled, Valid: x.Switch != nil} }),
		column(cs, func(x c) string { return switchOf(x).Actor }),
		column(cs, func(x c) string { return switchOf(x).Reason }),
		column(cs, func(x c) pgtype.Timestamptz { return timestamp(switchOf(x).At) }),
		column(cs, func(x c) pgtype.Int8 {
			return pgtype.Int8{Int64: int64(switchOf(x).Position.Major), Valid: x.Switch != nil}
		}),
		column(cs, func(x c) pgtype.Int8 {
			return pgtype.Int8{Int64: int64(switchOf(x).Position.Minor), Valid: x.Switch != nil}
		}),
		column(cs, func(x c) pgtype.Timestamptz { return timestamp(x.CreatedAt) }),
		column(cs, func(x c) pgtype.Timestamptz { return timestamp(x.UpdatedAt) }),
		column(cs, func(x c) pgtype.Timestamptz { return timestamp(x.RetiredAt) }),
		column(cs, func(x c) int64 { return int64(x.Position.Major) }),
		column(cs, func(x c) int64 { return int64(x.Position.Minor) }),
	)
	if err != nil {
		return fmt.Errorf("save %d components: %w", len(cs), err)
	}
	return nil
}

func switchOf(c catalog.Component) catalog.Switch {
	if c.Switch == nil {
		return catalog.Switch{}
	}
	return *c.Switch
}

// GetPack returns one pack, retired or not, or catalog.ErrNotFound.
func (d *DB) GetPack(ctx context.Context, ref string) (catalog.Pack, error) {
	p, err := scanPack(d.q.QueryRow(ctx, `SELECT `+packColumns+` FROM packs WHERE ref = $1`, oneShot, ref))
	if errors.Is(err, pgx.ErrNoRows) {
		return catalog.Pack{}, fmt.Errorf("get pack %s: %w", ref, catalog.ErrNotFound)
	}
	if err != nil {
		return catalog.Pack{}, fmt.Errorf("get pack %s: %w", ref, err)
	}
	return p, nil
}

// ListPacks returns one page of packs in ref order, the retired ones only when asked.
func (d *DB) ListPacks(ctx context.Context, f catalog.PackFilter) (catalog.PackPage, error) {
	if err := f.Validate(); err != nil {
		return catalog.PackPage{}, fmt.Errorf("list packs: %w", err)
	}
	w := &where{}
	if !f.IncludeRetired {
		w.add(`retired_at IS NULL`)
	}
	if after, ok, _ := catalog.ParseCursor(f.Cursor); ok { // Validate has checked it
		w.add(`ref > $%d`, after)
	}
	items, next, err := listPage(ctx, d.q, "packs", packColumns, "packs", w, "ref", f.PageSize(), scanPack,
		func(p catalog.Pack) string { return catalog.Cursor(p.Ref) })
	return catalog.PackPage{Items: items, Next: next}, err
}

// GetComponent returns one component of a kind, retired or not, or catalog.ErrNotFound.
func (d *DB) GetComponent(ctx context.Context, kind pack.Kind, ref string) (catalog.Component, error) {
	c, err := scanComponent(d.q.QueryRow(ctx, `SELECT `+componentColumns+` FROM pack_components WHERE kind = $1 AND ref = $2`,
		oneShot, string(kind), ref))
	if errors.Is(err, pgx.ErrNoRows) {
		return catalog.Component{}, fmt.Errorf("get %s %s: %w", kind, ref, catalog.ErrNotFound)
	}
	if err != nil {
		return catalog.Component{}, fmt.Errorf("get %s %s: %w", kind, ref, err)
	}
	return c, nil
}

// ListComponents returns one page of the components of one kind in ref order.
func (d *DB) ListComponents(ctx context.Context, f catalog.ComponentFilter) (catalog.ComponentPage, error) {
	if err := f.Validate(); err != nil {
		return catalog.ComponentPage{}, fmt.Errorf("list components: %w", err)
	}
	w := &where{}
	w.add(`kind = $%d`, string(f.Kind))
	if !f.IncludeRetired {
		w.add(`retired_at IS NULL`)
	}
	for _, eq := range []struct{ column, value string }{{`pack`, f.Pack}, {`trigger`, f.Trigger}, {`action`, f.Action}} {
		if eq.value != "" {
			w.add(eq.column+` = $%d`, eq.value)
		}
	}
	if f.Enabled != nil {
		w.add(`enabled = $%d`, *f.Enabled)
	}
	if after, ok, _ := catalog.ParseCursor(f.Cursor); ok {
		w.add(`ref > $%d`, after)
	}
	items, next, err := listPage(ctx, d.q, string(f.Kind)+"s", componentColumns, "pack_components", w, "ref", f.PageSize(),
		scanComponent, func(c catalog.Component) string { return catalog.Cursor(c.Ref) })
	return catalog.ComponentPage{Items: items, Next: next}, err
}
