// Package keystore is the key-value store's use cases: set and delete a key (the API), and
// expire one whose time to live ran out (the reaper). Each folds the key's stream, decides
// in domain/kv and appends with the version it read; a conflict decides again.
package keystore

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/attune-go/attune/adapters/eventstore"
	"github.com/attune-go/attune/adapters/secret"
	"github.com/attune-go/attune/domain/event"
	"github.com/attune-go/attune/domain/kv"
	"github.com/attune-go/attune/projections/keys"
)

// Log is what the use cases need of the event store.
type Log interface {
	ReadStream(ctx context.Context, stream string) ([]eventstore.Recorded, error)
	Append(ctx context.Context, stream string, expected eventstore.Expected, events ...eventstore.Proposed) (eventstore.AppendResult, error)
}

// ForbiddenError is a change the caller's role may not make: secret keys are an admin's.
type ForbiddenError struct{ Reason string }

func (e *ForbiddenError) Error() string { return e.Reason }

// Binding is where a secret key's sealed value opens (secret.KeyBinding).
func Binding(r kv.Ref) secret.Binding { return secret.KeyBinding(string(r.Scope), r.Pack, r.Name) }

// Set is a request to give a key a value.
type Set struct {
	Ref    kv.Ref
	Value  json.RawMessage // the plaintext JSON value
	Secret bool
	TTL    time.Duration // 0: never expires
	Actor  string
	// Admin says the caller may touch secret keys: set one, or overwrite one that is secret.
	Admin bool
}

// attempts bounds the decide-again loop on version conflicts: only a storm of writers to one
// key exhausts it, and the caller then sees the conflict.
const attempts = 5

// SetKey records the value. A secret value is sealed, bound to the key, before anything is
// appended. It returns what was recorded (the sealed value for a secret key).
func SetKey(ctx context.Context, log Log, box *secret.Box, req Set, now time.Time) (kv.KeySet, error) {
	if err := req.Ref.Validate(); err != nil {
		return kv.KeySet{}, err
	}
	if req.Secret && !req.Admin {
		return kv.KeySet{}, &ForbiddenError{Reason: fmt.Sprintf("set %s: only an admin may set a secret key", req.Ref)}
	}
	var err error
	for range attempts {
		var k *kv.Key
		if k, err = fold(ctx, log, req.Ref); err != nil {
			return kv.KeySet{}, err
		}
		if k.Live(now) && k.Secret() && !req.Admin {
			return kv.KeySet{}, &ForbiddenError{Reason: fmt.Sprintf("set %s: the key is secret; only an admin may overwrite it", req.Ref)}
		}
		set, derr := k.Set(req.Value, req.Secret, req.TTL, now)
		if derr != nil {
			return kv.KeySet{}, derr
		}
		if req.Secret {
			if set.Value, err = box.Seal(req.Value, Binding(req.Ref)); err != nil {
				return kv.KeySet{}, fmt.Errorf("set %s: %w", req.Ref, err)
			}
		}
		if err = appendTo(ctx, log, k, set, req.Actor); err == nil {
			return set, nil
		}
		if !errors.Is(err, eventstore.ErrVersionConflict) {
			return kv.KeySet{}, err
		}
	}
	return kv.KeySet{}, err
}

// DeleteKey deletes a key that holds a value; kv.ErrNotFound otherwise. A secret key is an
// admin's to delete.
func DeleteKey(ctx context.Context, log Log, r kv.Ref, actor string, admin bool, now time.Time) error {
	if err := r.Validate(); err != nil {
		return err
	}
	var err error
	for range attempts {
		var k *kv.Key
		if k, err = fold(ctx, log, r); err != nil {
			return err
		}
		deleted, derr := k.Delete(now)
		if derr != nil {
			return derr
		}
		if k.Secret() && !admin {
			return &ForbiddenError{Reason: fmt.Sprintf("delete %s: the key is secret; only an admin may delete it", r)}
		}
		if err = appendTo(ctx, log, k, deleted, actor); err == nil || !errors.Is(err, eventstore.ErrVersionConflict) {
			return err
		}
	}
	return err
}

// Expire records KeyExpired for a key whose time to live ran out by now; expired is false
// when there was nothing to do (a redelivery, a key set again or deleted meanwhile).
func Expire(ctx context.Context, log Log, r kv.Ref, actor string, now time.Time) (expired bool, err error) {
	for range attempts {
		var k *kv.Key
		if k, err = fold(ctx, log, r); err != nil {
			return false, err
		}
		e, ok := k.Expire(now)
		if !ok {
			return false, nil
		}
		if err = appendTo(ctx, log, k, e, actor); err == nil {
			return true, nil
		}
		if !errors.Is(err, eventstore.ErrVersionConflict) {
			return false, err
		}
	}
	return false, err
}

func fold(ctx context.Context, log Log, r kv.Ref) (*kv.Key, error) {
	recorded, err := log.ReadStream(ctx, r.StreamID())
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", r.StreamID(), err)
	}
	events := make([]event.Event, 0, len(recorded))
	for _, rec := range recorded {
		e, err := rec.Decode()
		if err != nil {
			return nil, err
		}
		events = append(events, e)
	}
	return kv.FromEvents(r, events)
}

// appendTo appends one decided event at the version folded. A change by a person starts a
// causal tree of its own: it correlates with itself.
func appendTo(ctx context.Context, log Log, k *kv.Key, e event.Event, actor string) error {
	p, err := eventstore.NewProposed(e, event.Metadata{Actor: actor})
	if err != nil {
		return err
	}
	p.Metadata.CorrelationID = p.ID.String()
	if _, err := log.Append(ctx, k.Ref().StreamID(), eventstore.Exact(k.Version()), p); err != nil {
		return fmt.Errorf("record %s of %s: %w", e.EventType(), k.Ref(), err)
	}
	return nil
}

// GetKey reads one key from its stream — not from the kv read model, so that a key read
// right after it was set (or deleted) is seen as it now is. keys.ErrNotFound when it holds
// no value at now.
func GetKey(ctx context.Context, log Log, r kv.Ref, now time.Time) (keys.Key, error) {
	if err := r.Validate(); err != nil {
		return keys.Key{}, err
	}
	recorded, err := log.ReadStream(ctx, r.StreamID())
	if err != nil {
		return keys.Key{}, fmt.Errorf("read %s: %w", r.StreamID(), err)
	}
	k := kv.New(r)
	var last eventstore.Recorded
	for _, rec := range recorded {
		e, err := rec.Decode()
		if err != nil {
			return keys.Key{}, err
		}
		if err := k.Apply(e); err != nil {
			return keys.Key{}, err
		}
		if _, ok := e.(*kv.KeySet); ok {
			last = rec
		}
	}
	if !k.Live(now) {
		return keys.Key{}, fmt.Errorf("get %s: %w", r, keys.ErrNotFound)
	}
	return keys.Key{StreamID: r.StreamID(), Scope: r.Scope, Pack: r.Pack, Name: r.Name, Value: k.Value(), Secret: k.Secret(),
		ExpiresAt: k.ExpiresAt(), UpdatedAt: last.RecordedAt.UTC(), UpdatedBy: last.Metadata.Actor,
		StreamVersion: last.StreamVersion, Position: last.Position}, nil
}

// StreamReader reads keys from their streams, one read per key, for the renders that must
// see a write that just happened (`attune rule test`); the engine's renders read the kv read
// model in one query instead. It is a kvscope.Reader.
type StreamReader struct{ Log Log }

// KeysReached is immediate: the streams are the truth.
func (StreamReader) KeysReached(context.Context, eventstore.Position) error { return nil }

// LookupKeys reads each key's stream; a key that holds no value at now is left out.
func (s StreamReader) LookupKeys(ctx context.Context, refs []kv.Ref, now time.Time) ([]keys.Key, error) {
	var out []keys.Key
	for _, r := range refs {
		k, err := GetKey(ctx, s.Log, r, now)
		if errors.Is(err, keys.ErrNotFound) {
			continue
		}
		if err != nil {
			return nil, err
		}
		out = append(out, k)
	}
	return out, nil
}
