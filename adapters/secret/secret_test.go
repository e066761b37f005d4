package secret_test

import (
	"bytes"
	"crypto/rand"
	"encoding/json"
	"path/filepath"
	"strings"
	"testing"

	"github.com/attune-go/attune/adapters/secret"
)

func newBox(t *testing.T) *secret.Box {
	t.Helper()
	key := make([]byte, 32)
	_, _ = rand.Read(key)
	b, err := secret.New(key)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestSealedParametersHideTheValueAndOpenBack(t *testing.T) {
	t.Parallel()
	b := newBox(t)
	params := json.RawMessage(`{"message":"hi","api_token":"s3cr3t-value"}`)
	sealed, err := b.SealParams(params, func(n string) bool { return n == "api_token" })
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Contains(sealed, []byte("s3cr3t-value")) {
		t.Fatalf("sealed parameters still hold the plaintext: %s", sealed)
	}
	if !strings.Contains(string(sealed), `"message":"hi"`) {
		t.Fatalf("a non-secret parameter changed: %s", sealed)
	}
	if red := secret.RedactParams(sealed); !strings.Contains(string(red), `"api_token":"********"`) {
		t.Fatalf("redacted form %s", red)
	}
	opened, err := b.OpenParams(sealed)
	if err != nil {
		t.Fatal(err)
	}
	var got map[string]string
	_ = json.Unmarshal(opened, &got)
	if got["api_token"] != "s3cr3t-value" || got["message"] != "hi" {
		t.Fatalf("opened %s", opened)
	}
	// Sealing twice must not double-seal (a redelivered request).
	again, _ := b.SealParams(sealed, func(n string) bool { return n == "api_token" })
	if o, err := b.OpenParams(again); err != nil || !bytes.Contains(o, []byte("s3cr3t-value")) {
		t.Fatalf("resealed value does not open: %s %v", o, err)
	}
}

func TestWrongKeyOrTamperingIsRefused(t *testing.T) {
	t.Parallel()
	a, b := newBox(t), newBox(t)
	sealed, _ := a.Seal(json.RawMessage(`"x"`))
	if _, err := b.Open(sealed); err == nil {
		t.Fatal("opened with another key")
	}
	var m map[string]string
	_ = json.Unmarshal(sealed, &m)
	m["$secret"] = m["$secret"][:len(m["$secret"])-4] + "AAAA"
	tampered, _ := json.Marshal(m)
	if _, err := a.Open(tampered); err == nil {
		t.Fatal("opened a tampered value")
	}
}

func TestLoadCreatesAKeyFileOnceAndReusesIt(t *testing.T) {
	path := filepath.Join(t.TempDir(), "attune", "secret.key")
	t.Setenv("ATTUNE_SECRET_KEY", "")
	if _, err := secret.Load(path, false); err == nil {
		t.Fatal("loaded a key that does not exist")
	}
	first, err := secret.Load(path, true)
	if err != nil {
		t.Fatal(err)
	}
	sealed, _ := first.Seal(json.RawMessage(`42`))
	second, err := secret.Load(path, false)
	if err != nil {
		t.Fatal(err)
	}
	if v, err := second.Open(sealed); err != nil || string(v) != "42" {
		t.Fatalf("the reloaded key does not open what the first sealed: %s %v", v, err)
	}
}
