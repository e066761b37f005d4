package readmodel

import (
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgtype"

	"github.com/attune-go/attune/adapters/eventstore"
	"github.com/attune-go/attune/domain/kv"
	"github.com/attune-go/attune/projections/keys"
)

const kvColumns = `stream_id, scope, pack, name, value, secret, expires_at, updated_at, updated_by,
    stream_version, position_major, position_minor`

const saveKeysSQL = `
INSERT INTO kv_keys (stream_id, scope, pack, name, value, secret, expires_at, updated_at, updated_by,
    stream_version, position_major, position_minor)
SELECT u.stream_id, u.scope, u.pack, u.name, u.value::jsonb, u.secret, u.expires_at, u.updated_at, u.updated_by,
    u.stream_version, u.position_major, u.position_minor
FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::bool[], $7::timestamptz[],
    $8::timestamptz[], $9::text[], $10::int8[], $11::int8[], $12::int8[])
    AS u(stream_id, scope, pack, name, value, secret, expires_at, updated_at, updated_by, stream_version,
    position_major, position_minor)
ON CONFLICT (stream_id) DO UPDATE SET
    scope = excluded.scope, pack = excluded.pack, name = excluded.name, value = excluded.value,
    secret = excluded.secret, expires_at = excluded.expires_at, updated_at = excluded.updated_at,
    updated_by = excluded.updated_by, stream_version = excluded.stream_version,
    position_major = excluded.position_major, position_minor = excluded.position_minor`

// live hides a row whose time to live has run out at $n (the caller's clock).
const kvLive = `(expires_at IS NULL OR expires_at > $%d)`

func scanKey(row pgx.Row) (keys.Key, error) {
	var (
		k                  keys.Key
		scope              string
		value              []byte
		expires            pgtype.Timestamptz
		posMajor, posMinor int64
	)
	if err := row.Scan(&k.StreamID, &scope, &k.Pack, &k.Name, &value, &k.Secret, &expires, &k.UpdatedAt, &k.UpdatedBy,
		&k.StreamVersion, &posMajor, &posMinor); err != nil {
		return keys.Key{}, err
	}
	k.Scope, k.Value = kv.Scope(scope), value
	k.ExpiresAt, k.UpdatedAt = expires.Time.UTC(), k.UpdatedAt.UTC()
	if !expires.Valid {
		k.ExpiresAt = time.Time{}
	}
	k.Position = positionOf(posMajor, posMinor)
	return k, nil
}

// SaveKeys implements keys.Store.
func (s *txStore) SaveKeys(ctx context.Context, rows []keys.Key, gone []string) error {
	if len(gone) > 0 {
		if _, err := s.tx.Exec(ctx, `DELETE FROM kv_keys WHERE stream_id = ANY($1)`, gone); err != nil {
			return fmt.Errorf("remove %d keys: %w", len(gone), err)
		}
	}
	if len(rows) == 0 {
		return nil
	}
	type k = keys.Key
	_, err := s.tx.Exec(ctx, saveKeysSQL,
		column(rows, func(k k) string { return k.StreamID }),
		column(rows, func(k k) string { return string(k.Scope) }),
		column(rows, func(k k) string { return k.Pack }),
		column(rows, func(k k) string { return k.Name }),
		column(rows, func(k k) string { return string(k.Value) }),
		column(rows, func(k k) bool { return k.Secret }),
		column(rows, func(k k) pgtype.Timestamptz { return timestamp(k.ExpiresAt) }),
		column(rows, func(k k) pgtype.Timestamptz { return timestamp(k.UpdatedAt) }),
		column(rows, func(k k) string { return k.UpdatedBy }),
		column(rows, func(k k) int64 { return k.StreamVersion }),
		column(rows, func(k k) int64 { return int64(k.Position.Major) }),
		column(rows, func(k k) int64 { return int64(k.Position.Minor) }),
	)
	if err != nil {
		return fmt.Errorf("save %d keys: %w", len(rows), err)
	}
	return nil
}

func nowOr(t time.Time) time.Time {
	if t.IsZero() {
		return time.Now()
	}
	return t
}

// KeysReached waits until the kv read model has applied the log up to pos (a rule reads the
// store as of its trigger event at least: a key set before the event fired is seen), or ctx
// ends.
func (d *DB) KeysReached(ctx context.Context, pos eventstore.Position) error {
	wait := 5 * time.Millisecond
	for {
		cp, err := d.Checkpoint(ctx, keys.Name)
		if err != nil {
			return err
		}
		if !cp.Less(pos) {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("the kv read model is at %v, behind %v: %w", cp, pos, ctx.Err())
		case <-time.After(wait):
		}
		wait = min(2*wait, 100*time.Millisecond)
	}
}

// LookupKeys reads the keys a template renders, in one query: those of refs that hold a
// value at now. A key that does not is absent from the answer.
func (d *DB) LookupKeys(ctx context.Context, refs []kv.Ref, now time.Time) ([]keys.Key, error) {
	if len(refs) == 0 {
		return nil, nil
	}
	ids := make([]string, len(refs))
	for i, r := range refs {
		ids[i] = r.StreamID()
	}
	rows, err := d.q.Query(ctx, `SELECT `+kvColumns+` FROM kv_keys WHERE stream_id = ANY($1) AND `+fmt.Sprintf(kvLive, 2)+` ORDER BY stream_id`,
		oneShot, ids, nowOr(now))
	if err != nil {
		return nil, fmt.Errorf("look up %d keys: %w", len(refs), err)
	}
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (keys.Key, error) { return scanKey(r) })
	if err != nil {
		return nil, fmt.Errorf("look up %d keys: %w", len(refs), err)
	}
	return out, nil
}

// ExpiredKeys lists up to limit keys whose time to live ran out by now and whose expiry the
// log does not record yet, oldest expiry first: the reaper's sweep.
func (d *DB) ExpiredKeys(ctx context.Context, now time.Time, limit int) ([]kv.Ref, error) {
	rows, err := d.q.Query(ctx, `SELECT scope, pack, name FROM kv_keys WHERE expires_at <= $1 ORDER BY expires_at LIMIT $2`,
		oneShot, now, limit)
	if err != nil {
		return nil, fmt.Errorf("list expired keys: %w", err)
	}
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (kv.Ref, error) {
		var ref kv.Ref
		var scope string
		err := r.Scan(&scope, &ref.Pack, &ref.Name)
		ref.Scope = kv.Scope(scope)
		return ref, err
	})
	if err != nil {
		return nil, fmt.Errorf("list expired keys: %w", err)
	}
	return out, nil
}

// ListKeys returns one page of the keys that hold a value at f.Now, in stream order.
func (d *DB) ListKeys(ctx context.Context, f keys.Filter) (keys.Page, error) {
	if err := f.Validate(); err != nil {
		return keys.Page{}, fmt.Errorf("list keys: %w", err)
	}
	w := &where{}
	w.add(kvLive, nowOr(f.Now))
	if f.Scope != "" {
		w.add(`scope = $%d`, string(f.Scope))
	}
	if f.Pack != "" {
		w.add(`pack = $%d`, f.Pack)
	}
	if f.Prefix != "" {
		w.add(`starts_with(name, $%d)`, f.Prefix)
	}
	if after, ok, _ := keys.ParseCursor(f.Cursor); ok {
		w.add(`stream_id > $%d`, after)
	}
	items, next, err := listPage(ctx, d.q, "keys", kvColumns, "kv_keys", w, "stream_id", f.PageSize(),
		func(r pgx.Row) (keys.Key, error) { return scanKey(r) }, keys.Cursor)
	return keys.Page{Items: items, Next: next}, err
}
