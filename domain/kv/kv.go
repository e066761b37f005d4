// Package kv holds the key-value store: one stream per key (design §9), each a history of
// values set, deleted and expired. A value is any JSON; a secret one is sealed before it is
// recorded (the log never holds it in plaintext) and KeySet carries the sealed form. A key
// with a time to live expires at expires_at: from that instant nothing reads it (the read
// model and every reader honour the time), and the reaper records KeyExpired.
package kv

import (
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"slices"
	"time"
)

// Scope is where a key lives: the whole system, or one pack (read by that pack's rules and
// workflows as kv.pack.NAME).
type Scope string

// The scopes.
const (
	System Scope = "system"
	Pack   Scope = "pack"
)

// Scopes lists every scope.
var Scopes = []Scope{System, Pack}

// ParseScope accepts exactly the names of Scopes.
func ParseScope(s string) (Scope, error) {
	if sc := Scope(s); slices.Contains(Scopes, sc) {
		return sc, nil
	}
	return "", fmt.Errorf("unknown scope %q (want system or pack)", s)
}

// Limits of a key.
const (
	MaxNameBytes  = 128
	MaxValueBytes = 64 << 10
	// MaxTTL bounds a time to live: ten years, far above any real use, well inside time.Time.
	MaxTTL = 10 * 365 * 24 * time.Hour
)

var (
	nameRe = regexp.MustCompile(`^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$`)
	packRe = regexp.MustCompile(`^[a-z0-9][a-z0-9_-]{0,63}$`)
)

// FieldError is a bad part of a key or a value, naming the field (scope, pack, name, value,
// ttl) so the API can answer 400 with it.
type FieldError struct {
	Field, Message string
}

func (e *FieldError) Error() string { return e.Field + ": " + e.Message }

// Ref names one key: its scope, its pack (pack scope only) and its name.
type Ref struct {
	Scope Scope  `json:"scope"`
	Pack  string `json:"pack,omitempty"`
	Name  string `json:"name"`
}

// SystemKey is the ref of a system key.
func SystemKey(name string) Ref { return Ref{Scope: System, Name: name} }

// PackKey is the ref of a key of a pack.
func PackKey(pack, name string) Ref { return Ref{Scope: Pack, Pack: pack, Name: name} }

func nameProblem(name string) string {
	switch {
	case name == "":
		return "a key needs a name"
	case len(name) > MaxNameBytes:
		return fmt.Sprintf("a key name is at most %d bytes", MaxNameBytes)
	case !nameRe.MatchString(name):
		return fmt.Sprintf("%q is not a key name: letters, digits, _ . - (not starting with . or -)", name)
	}
	return ""
}

// ValidName reports whether name is a key name, and why not.
func ValidName(name string) error {
	if msg := nameProblem(name); msg != "" {
		return &FieldError{Field: "name", Message: msg}
	}
	return nil
}

// Validate returns every problem of the ref at once, each a *FieldError.
func (r Ref) Validate() error {
	var errs []error
	switch r.Scope {
	case System:
		if r.Pack != "" {
			errs = append(errs, &FieldError{Field: "pack", Message: "a system key has no pack"})
		}
	case Pack:
		if !packRe.MatchString(r.Pack) {
			errs = append(errs, &FieldError{Field: "pack", Message: fmt.Sprintf("%q is not a pack ref (lowercase letters, digits, _ and -)", r.Pack)})
		}
	default:
		errs = append(errs, &FieldError{Field: "scope", Message: fmt.Sprintf("unknown scope %q (want system or pack)", r.Scope)})
	}
	if err := ValidName(r.Name); err != nil {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}

// StreamID is the key's stream: kv-system-<name>, or kv-pack-<pack>.<name> (a pack ref
// holds no dot, so no two keys share a stream).
func (r Ref) StreamID() string {
	if r.Scope == Pack {
		return "kv-pack-" + r.Pack + "." + r.Name
	}
	return "kv-system-" + r.Name
}

// String is how people and templates name the key: kv.system.NAME, kv.pack(PACK).NAME.
func (r Ref) String() string {
	if r.Scope == Pack {
		return "kv.pack(" + r.Pack + ")." + r.Name
	}
	return "kv.system." + r.Name
}

// KeySet records a key's new value. Value is the JSON value itself, or, for a secret key, its
// sealed form ({"$secret": …}, bound to the key) — never the plaintext.
type KeySet struct {
	Scope     Scope           `json:"scope"`
	Pack      string          `json:"pack,omitempty"`
	Name      string          `json:"name"`
	Value     json.RawMessage `json:"value"`
	Secret    bool            `json:"secret"`
	ExpiresAt time.Time       `json:"expires_at,omitzero"` // zero: never
}

// EventType is the wire name.
func (KeySet) EventType() string { return "KeySet" }

// Ref names the key.
func (e KeySet) Ref() Ref { return Ref{Scope: e.Scope, Pack: e.Pack, Name: e.Name} }

// KeyDeleted records that a key was deleted.
type KeyDeleted struct {
	Scope Scope  `json:"scope"`
	Pack  string `json:"pack,omitempty"`
	Name  string `json:"name"`
}

// EventType is the wire name.
func (KeyDeleted) EventType() string { return "KeyDeleted" }

// Ref names the key.
func (e KeyDeleted) Ref() Ref { return Ref(e) }

// KeyExpired records that a key's time to live ran out (appended by the reaper at or after
// expires_at; readers stopped seeing the value at expires_at already).
type KeyExpired struct {
	Scope     Scope     `json:"scope"`
	Pack      string    `json:"pack,omitempty"`
	Name      string    `json:"name"`
	ExpiresAt time.Time `json:"expires_at"`
}

// EventType is the wire name.
func (KeyExpired) EventType() string { return "KeyExpired" }

// Ref names the key.
func (e KeyExpired) Ref() Ref { return Ref{Scope: e.Scope, Pack: e.Pack, Name: e.Name} }
