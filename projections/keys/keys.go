// Package keys is the kv read model: one row per key of the key-value store that holds a
// value, folded from its stream (KeySet upserts the row, KeyDeleted and KeyExpired remove
// it). A secret key's row holds the sealed value, as the log does. A row past its expires_at
// may linger until the reaper records KeyExpired: every query here hides it from that
// instant, so nothing reads an expired value in the meantime.
package keys

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/attune-go/attune/adapters/eventstore"
	"github.com/attune-go/attune/domain/event"
	"github.com/attune-go/attune/domain/kv"
	"github.com/attune-go/attune/projections/internal/keyset"
	"github.com/attune-go/attune/projections/internal/rowfold"
)

// Name keys the projection's checkpoint and lock: a persisted identifier.
const Name = "projection:kv"

// ErrNotFound is a key that holds no value (never set, deleted, or expired).
var ErrNotFound = errors.New("key not found")

// Key is one row of the read model.
type Key struct {
	StreamID      string
	Scope         kv.Scope
	Pack          string // empty for a system key
	Name          string
	Value         json.RawMessage // sealed when Secret
	Secret        bool
	ExpiresAt     time.Time // zero: never
	UpdatedAt     time.Time
	UpdatedBy     string // the actor of the last KeySet
	StreamVersion int64
	Position      eventstore.Position
}

// Ref names the key.
func (k Key) Ref() kv.Ref { return kv.Ref{Scope: k.Scope, Pack: k.Pack, Name: k.Name} }

// Live reports whether the row's value may be read at now.
func (k Key) Live(now time.Time) bool { return k.ExpiresAt.IsZero() || now.Before(k.ExpiresAt) }

// Store saves and removes rows inside the projection's transaction (adapters/readmodel).
type Store interface {
	// SaveKeys upserts rows and removes the rows of the streams in gone, in one call.
	SaveKeys(ctx context.Context, rows []Key, gone []string) error
}

var projected = map[string]bool{
	kv.KeySet{}.EventType():     true,
	kv.KeyDeleted{}.EventType(): true,
	kv.KeyExpired{}.EventType(): true,
}

func keyOf(e event.Event) string {
	switch e := e.(type) {
	case *kv.KeySet:
		return e.Ref().StreamID()
	case *kv.KeyDeleted:
		return e.Ref().StreamID()
	case *kv.KeyExpired:
		return e.Ref().StreamID()
	}
	return ""
}

// Apply folds one batch: every event carries its whole row, so nothing is loaded; the last
// event of each key in the batch decides whether its row exists.
func Apply(ctx context.Context, s Store, batch []eventstore.Recorded) error {
	changes, ids, err := rowfold.Select(Name, "key", batch, projected, keyOf)
	if err != nil || len(changes) == 0 {
		return err
	}
	rows := map[string]*Key{}
	for _, c := range changes {
		if c.R.StreamID != c.ID {
			return fmt.Errorf("project %s: event %s of stream %s names key stream %s", Name, c.R.ID, c.R.StreamID, c.ID)
		}
		set, ok := c.E.(*kv.KeySet)
		if !ok {
			rows[c.ID] = nil
			continue
		}
		rows[c.ID] = &Key{
			StreamID: c.ID, Scope: set.Scope, Pack: set.Pack, Name: set.Name, Value: set.Value, Secret: set.Secret,
			ExpiresAt: set.ExpiresAt.UTC(), UpdatedAt: c.R.RecordedAt.UTC(), UpdatedBy: c.R.Metadata.Actor,
			StreamVersion: c.R.StreamVersion, Position: c.R.Position,
		}
	}
	var save []Key
	var gone []string
	for _, id := range ids {
		if k := rows[id]; k != nil {
			save = append(save, *k)
		} else {
			gone = append(gone, id)
		}
	}
	if err := s.SaveKeys(ctx, save, gone); err != nil {
		return fmt.Errorf("project %s: save %d keys, remove %d: %w", Name, len(save), len(gone), err)
	}
	return nil
}

// Page sizes of the list.
const (
	DefaultLimit = 100
	MaxLimit     = 1000
)

// Filter selects live keys in stream order (system keys, then each pack's, by name).
type Filter struct {
	Scope  kv.Scope // empty: both
	Pack   string   // with Scope pack (or empty): only this pack's keys
	Prefix string   // names starting with it
	Limit  int      // 0: DefaultLimit
	Cursor string
	Now    time.Time // keys expired at Now are not listed; zero: the database's clock
}

// Validate returns every problem of the filter at once.
func (f Filter) Validate() error {
	var errs []error
	if f.Scope != "" {
		if _, err := kv.ParseScope(string(f.Scope)); err != nil {
			errs = append(errs, &kv.FieldError{Field: "scope", Message: err.Error()})
		}
	}
	if f.Pack != "" {
		if f.Scope == kv.System {
			errs = append(errs, &kv.FieldError{Field: "pack", Message: "system keys have no pack"})
		} else if err := kv.PackKey(f.Pack, "x").Validate(); err != nil {
			errs = append(errs, err)
		}
	}
	if len(f.Prefix) > kv.MaxNameBytes {
		errs = append(errs, &kv.FieldError{Field: "prefix", Message: fmt.Sprintf("at most %d bytes", kv.MaxNameBytes)})
	}
	if err := keyset.CheckLimit(f.Limit, MaxLimit); err != nil {
		errs = append(errs, &kv.FieldError{Field: "limit", Message: err.Error()})
	}
	if _, _, err := keyset.DecodeString(f.Cursor); err != nil {
		errs = append(errs, &kv.FieldError{Field: "cursor", Message: err.Error()})
	}
	return errors.Join(errs...)
}

// PageSize is the number of items a page holds at most.
func (f Filter) PageSize() int { return keyset.PageSize(f.Limit, DefaultLimit) }

// Page is one page of keys. Next is empty on the last page.
type Page struct {
	Items []Key
	Next  string
}

// Cursor returns the cursor of the page after k.
func Cursor(k Key) string { return keyset.EncodeString(k.StreamID) }

// ParseCursor returns the stream id a cursor continues after; ok is false for the first page.
func ParseCursor(c string) (string, bool, error) { return keyset.DecodeString(c) }
