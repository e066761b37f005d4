// Package secret keeps secret parameter values out of the log in plaintext. The log is
// immutable and replayed everywhere, so a secret is sealed (AES-256-GCM) before it is appended
// and opened only by the worker that runs the action, right before the parameters go to the
// process on stdin. Everywhere else (API, CLI, logs) a sealed value shows as Redacted.
package secret

import (
	"bytes"
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
)

// Redacted is how a secret value is shown to people.
const Redacted = "********"

// A sealed value inside parameters is {"$secret": "v2:<action>:<param>:<nonce+ciphertext>"}
// (each part base64). v1 ("v1:<nonce+ciphertext>") was sealed without a binding, by earlier
// versions: it still opens for the execution it was recorded for, never for a new request.
const (
	sealedKey = "$secret"
	legacy    = "v1:"
	version   = "v2:"
)

// Binding is where a sealed value may be opened: one parameter of one action. It is the
// AEAD's associated data, so a value copied from the log (a viewer can read it) into another
// action's secret parameter does not open there: it fails authentication.
type Binding struct {
	Action, Param string
}

func (b Binding) String() string { return b.Action + "." + b.Param }

// Legacy reports a value sealed before bindings existed (v1).
func (b Binding) Legacy() bool { return b == Binding{} }

func (b Binding) associatedData() []byte {
	return []byte("attune-secret/v2\x00" + b.Action + "\x00" + b.Param)
}

var b64 = base64.RawURLEncoding

// ErrNoKey is returned when no key is configured and none may be created.
var ErrNoKey = errors.New("no secret key")

// Box seals and opens values with one key.
type Box struct {
	aead cipher.AEAD
}

// New returns a Box for a 32-byte key.
func New(key []byte) (*Box, error) {
	if len(key) != 32 {
		return nil, fmt.Errorf("secret key: want 32 bytes, got %d", len(key))
	}
	block, err := aes.NewCipher(key)
	if err != nil {
		return nil, fmt.Errorf("secret key: %w", err)
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		return nil, fmt.Errorf("secret key: %w", err)
	}
	return &Box{aead: aead}, nil
}

// Load returns the Box for the key in ATTUNE_SECRET_KEY (base64), else in the file at path
// (base64); when neither exists and create is set, it writes a new random key to path (0600).
// Every process of one deployment must use the same key.
func Load(path string, create bool) (*Box, error) {
	if env := os.Getenv("ATTUNE_SECRET_KEY"); env != "" {
		key, err := base64.StdEncoding.DecodeString(strings.TrimSpace(env))
		if err != nil {
			return nil, fmt.Errorf("ATTUNE_SECRET_KEY: not base64: %w", err)
		}
		return New(key)
	}
	raw, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) && create {
		key := make([]byte, 32)
		if _, err := rand.Read(key); err != nil {
			return nil, fmt.Errorf("generate secret key: %w", err)
		}
		if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
			return nil, fmt.Errorf("create secret key directory: %w", err)
		}
		enc := base64.StdEncoding.EncodeToString(key)
		if err := os.WriteFile(path, []byte(enc+"\n"), 0o600); err != nil {
			return nil, fmt.Errorf("write secret key %s: %w", path, err)
		}
		return New(key)
	}
	if errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("%w: set ATTUNE_SECRET_KEY or create %s", ErrNoKey, path)
	}
	if err != nil {
		return nil, fmt.Errorf("read secret key %s: %w", path, err)
	}
	key, err := base64.StdEncoding.DecodeString(strings.TrimSpace(string(raw)))
	if err != nil {
		return nil, fmt.Errorf("secret key %s: not base64: %w", path, err)
	}
	return New(key)
}

// DefaultKeyPath is where serve keeps the key when ATTUNE_SECRET_KEY is unset.
func DefaultKeyPath() string {
	if p := os.Getenv("ATTUNE_SECRET_KEY_FILE"); p != "" {
		return p
	}
	dir, err := os.UserConfigDir()
	if err != nil {
		dir = os.TempDir()
	}
	return filepath.Join(dir, "attune", "secret.key")
}

// Seal returns the sealed form of a JSON value, bound to one parameter of one action.
func (b *Box) Seal(plain json.RawMessage, to Binding) (json.RawMessage, error) {
	if to.Action == "" || to.Param == "" {
		return nil, fmt.Errorf("seal secret: binding %q names no action or parameter", to)
	}
	nonce := make([]byte, b.aead.NonceSize())
	if _, err := rand.Read(nonce); err != nil {
		return nil, fmt.Errorf("seal secret: %w", err)
	}
	ct := b.aead.Seal(nonce, nonce, plain, to.associatedData())
	text := version + b64.EncodeToString([]byte(to.Action)) + ":" + b64.EncodeToString([]byte(to.Param)) + ":" + base64.StdEncoding.EncodeToString(ct)
	return json.Marshal(map[string]string{sealedKey: text})
}

// Open returns the plaintext JSON value of a sealed one and the binding it was sealed with
// (the zero Binding for a legacy v1 value); the caller decides whether that binding may be
// opened where it is. A binding that was altered fails authentication.
func (b *Box) Open(sealed json.RawMessage) (json.RawMessage, Binding, error) {
	s, ok := sealedText(sealed)
	if !ok {
		return nil, Binding{}, errors.New("open secret: value is not sealed")
	}
	var (
		bind Binding
		body = strings.TrimPrefix(s, legacy)
	)
	if rest, ok := strings.CutPrefix(s, version); ok {
		parts := strings.SplitN(rest, ":", 3)
		if len(parts) != 3 {
			return nil, Binding{}, errors.New("open secret: malformed sealed value")
		}
		action, err1 := b64.DecodeString(parts[0])
		param, err2 := b64.DecodeString(parts[1])
		if err1 != nil || err2 != nil || len(action) == 0 || len(param) == 0 {
			return nil, Binding{}, errors.New("open secret: malformed sealed value")
		}
		bind, body = Binding{Action: string(action), Param: string(param)}, parts[2]
	}
	ct, err := base64.StdEncoding.DecodeString(body)
	if err != nil || len(ct) < b.aead.NonceSize() {
		return nil, Binding{}, errors.New("open secret: malformed sealed value")
	}
	var ad []byte
	if !bind.Legacy() {
		ad = bind.associatedData()
	}
	plain, err := b.aead.Open(nil, ct[:b.aead.NonceSize()], ct[b.aead.NonceSize():], ad)
	if err != nil {
		return nil, Binding{}, errors.New("open secret: wrong key or tampered value")
	}
	return plain, bind, nil
}

// OpenAt opens a sealed value only where it was bound to be opened: at want, or, for a legacy
// value, anywhere (it was recorded by an earlier version for the execution that opens it).
func (b *Box) OpenAt(sealed json.RawMessage, want Binding) (json.RawMessage, error) {
	plain, got, err := b.Open(sealed)
	if err != nil {
		return nil, err
	}
	if !got.Legacy() && got != want {
		return nil, fmt.Errorf("open secret: sealed for %s, it opens only there, not at %s", got, want)
	}
	return plain, nil
}

// IsSealed reports whether v is a sealed value.
func IsSealed(v json.RawMessage) bool {
	_, ok := sealedText(v)
	return ok
}

func sealedText(v json.RawMessage) (string, bool) {
	v = bytes.TrimSpace(v)
	if len(v) == 0 || v[0] != '{' {
		return "", false
	}
	var m map[string]string
	if err := json.Unmarshal(v, &m); err != nil || len(m) != 1 {
		return "", false
	}
	s, ok := m[sealedKey]
	return s, ok && (strings.HasPrefix(s, version) || strings.HasPrefix(s, legacy))
}

// SealParams seals the top-level parameters of action whose names are in secret, each bound
// to its parameter, leaving the others.
func (b *Box) SealParams(params json.RawMessage, action string, secret func(name string) bool) (json.RawMessage, error) {
	return mapParams(params, func(name string, v json.RawMessage) (json.RawMessage, error) {
		if !secret(name) || IsSealed(v) {
			return v, nil
		}
		return b.Seal(v, Binding{Action: action, Param: name})
	})
}

// OpenParams opens every sealed top-level parameter of an execution of action, each only if
// it was bound to that parameter of that action (OpenAt).
func (b *Box) OpenParams(params json.RawMessage, action string) (json.RawMessage, error) {
	return mapParams(params, func(name string, v json.RawMessage) (json.RawMessage, error) {
		if !IsSealed(v) {
			return v, nil
		}
		plain, err := b.OpenAt(v, Binding{Action: action, Param: name})
		if err != nil {
			return nil, fmt.Errorf("parameter %s: %w", name, err)
		}
		return plain, nil
	})
}

// RedactParams replaces every sealed top-level parameter with Redacted, for display.
func RedactParams(params json.RawMessage) json.RawMessage {
	out, err := mapParams(params, func(_ string, v json.RawMessage) (json.RawMessage, error) {
		if IsSealed(v) {
			return json.Marshal(Redacted)
		}
		return v, nil
	})
	if err != nil {
		return params
	}
	return out
}

func mapParams(params json.RawMessage, f func(string, json.RawMessage) (json.RawMessage, error)) (json.RawMessage, error) {
	if len(bytes.TrimSpace(params)) == 0 {
		return params, nil
	}
	var m map[string]json.RawMessage
	if err := json.Unmarshal(params, &m); err != nil {
		return nil, fmt.Errorf("parameters are not a JSON object: %w", err)
	}
	for k, v := range m {
		nv, err := f(k, v)
		if err != nil {
			return nil, err
		}
		m[k] = nv
	}
	return json.Marshal(m)
}

// KeyBinding is where the value of a secret key of the key-value store opens: the key itself
// ("kv/system" or "kv/pack/<pack>", and its name). No action ref has a slash, so a value
// sealed for a key never opens as an action's parameter, nor the reverse; a template that
// reads the key opens it and seals the rendered parameter again for its action.
func KeyBinding(scope, pack, name string) Binding {
	where := "kv/" + scope
	if pack != "" {
		where += "/" + pack
	}
	return Binding{Action: where, Param: name}
}
