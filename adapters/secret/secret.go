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

// prefix marks a sealed value inside parameters: {"$secret": "v1:<base64 nonce+ciphertext>"}.
const (
	sealedKey = "$secret"
	version   = "v1:"
)

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

// Seal returns the sealed form of a JSON value: {"$secret": "v1:…"}.
func (b *Box) Seal(plain json.RawMessage) (json.RawMessage, error) {
	nonce := make([]byte, b.aead.NonceSize())
	if _, err := rand.Read(nonce); err != nil {
		return nil, fmt.Errorf("seal secret: %w", err)
	}
	ct := b.aead.Seal(nonce, nonce, plain, nil)
	return json.Marshal(map[string]string{sealedKey: version + base64.StdEncoding.EncodeToString(ct)})
}

// Open returns the plaintext JSON value of a sealed one.
func (b *Box) Open(sealed json.RawMessage) (json.RawMessage, error) {
	s, ok := sealedText(sealed)
	if !ok {
		return nil, errors.New("open secret: value is not sealed")
	}
	ct, err := base64.StdEncoding.DecodeString(strings.TrimPrefix(s, version))
	if err != nil || len(ct) < b.aead.NonceSize() {
		return nil, errors.New("open secret: malformed sealed value")
	}
	plain, err := b.aead.Open(nil, ct[:b.aead.NonceSize()], ct[b.aead.NonceSize():], nil)
	if err != nil {
		return nil, errors.New("open secret: wrong key or tampered value")
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
	return s, ok && strings.HasPrefix(s, version)
}

// SealParams seals the top-level parameters whose names are in secret, leaving the others.
func (b *Box) SealParams(params json.RawMessage, secret func(name string) bool) (json.RawMessage, error) {
	return mapParams(params, func(name string, v json.RawMessage) (json.RawMessage, error) {
		if !secret(name) || IsSealed(v) {
			return v, nil
		}
		return b.Seal(v)
	})
}

// OpenParams opens every sealed top-level parameter.
func (b *Box) OpenParams(params json.RawMessage) (json.RawMessage, error) {
	return mapParams(params, func(name string, v json.RawMessage) (json.RawMessage, error) {
		if !IsSealed(v) {
			return v, nil
		}
		plain, err := b.Open(v)
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
