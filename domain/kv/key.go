package kv

import (
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/attune-go/attune/domain/event"
)

// ErrNotFound is a key that does not exist (never set, deleted, or expired).
var ErrNotFound = errors.New("no such key")

// Key is one key folded from its stream.
type Key struct {
	ref       Ref
	set       bool // it holds a value (set, and neither deleted nor recorded expired)
	value     json.RawMessage
	secret    bool
	expiresAt time.Time
	version   int64
}

// New returns a key that was never set (an empty stream).
func New(r Ref) *Key { return &Key{ref: r} }

// FromEvents folds a key's stream.
func FromEvents(r Ref, events []event.Event) (*Key, error) {
	k := New(r)
	for i, e := range events {
		if err := k.Apply(e); err != nil {
			return nil, fmt.Errorf("fold %s event %d: %w", r.StreamID(), i+1, err)
		}
	}
	return k, nil
}

// Apply folds one event.
func (k *Key) Apply(e event.Event) error {
	switch e := e.(type) {
	case *KeySet:
		k.Apply(*e)
		return nil
	case *KeyDeleted:
		k.set = false
	case *KeyExpired:
		k.set = false
	case KeySet:
		k.set, k.value, k.secret, k.expiresAt = true, e.Value, e.Secret, e.ExpiresAt
	case KeyDeleted, KeyExpired:
		k.set = false
	default:
		return fmt.Errorf("a key's stream holds no %s", e.EventType())
	}
	k.version++
	return nil
}

// Version is the stream version folded, for the expected version of the next append.
func (k *Key) Version() int64 { return k.version }

// Ref names the key.
func (k *Key) Ref() Ref { return k.ref }

// Live reports whether the key holds a value at now: set, and not past its expiry.
func (k *Key) Live(now time.Time) bool {
	return k.set && (k.expiresAt.IsZero() || now.Before(k.expiresAt))
}

// Secret reports whether the key's current value is secret.
func (k *Key) Secret() bool { return k.set && k.secret }

// Value is the recorded value (sealed when Secret).
func (k *Key) Value() json.RawMessage { return k.value }

// ExpiresAt is when the value expires (zero: never).
func (k *Key) ExpiresAt() time.Time { return k.expiresAt }

// Set decides a new value. value is the JSON value, or its sealed form when secret; ttl 0
// means it never expires.
func (k *Key) Set(value json.RawMessage, secret bool, ttl time.Duration, now time.Time) (KeySet, error) {
	var errs []error
	if !json.Valid(value) {
		errs = append(errs, &FieldError{Field: "value", Message: "not a JSON value"})
	} else if len(value) > MaxValueBytes {
		errs = append(errs, &FieldError{Field: "value", Message: fmt.Sprintf("%d bytes; a value is at most %d", len(value), MaxValueBytes)})
	}
	if ttl < 0 || ttl > MaxTTL {
		errs = append(errs, &FieldError{Field: "ttl", Message: fmt.Sprintf("want 0 (never expires) up to %d seconds", int64(MaxTTL/time.Second))})
	}
	if err := errors.Join(append(errs, k.ref.Validate())...); err != nil {
		return KeySet{}, err
	}
	set := KeySet{Scope: k.ref.Scope, Pack: k.ref.Pack, Name: k.ref.Name, Value: value, Secret: secret}
	if ttl > 0 {
		set.ExpiresAt = now.Add(ttl).UTC()
	}
	return set, nil
}

// Delete decides the deletion of a live key; ErrNotFound if it holds no value at now.
func (k *Key) Delete(now time.Time) (KeyDeleted, error) {
	if !k.Live(now) {
		return KeyDeleted{}, fmt.Errorf("%w: %s", ErrNotFound, k.ref)
	}
	return KeyDeleted{Scope: k.ref.Scope, Pack: k.ref.Pack, Name: k.ref.Name}, nil
}

// Expire decides the expiry of a key whose time to live ran out by now; ok is false when
// there is nothing to expire (no value, no expiry, or not yet).
func (k *Key) Expire(now time.Time) (KeyExpired, bool) {
	if !k.set || k.expiresAt.IsZero() || now.Before(k.expiresAt) {
		return KeyExpired{}, false
	}
	return KeyExpired{Scope: k.ref.Scope, Pack: k.ref.Pack, Name: k.ref.Name, ExpiresAt: k.expiresAt}, true
}
