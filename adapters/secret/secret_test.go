package secret_test

import (
	"bytes"
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"encoding/base64"
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
	sealed, err := b.SealParams(params, "x.deploy", func(n string) bool { return n == "api_token" })
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
	opened, err := b.OpenParams(sealed, "x.deploy")
	if err != nil {
		t.Fatal(err)
	}
	var got map[string]string
	_ = json.Unmarshal(opened, &got)
	if got["api_token"] != "s3cr3t-value" || got["message"] != "hi" {
		t.Fatalf("opened %s", opened)
	}
	// Sealing twice must not double-seal (a redelivered request).
	again, _ := b.SealParams(sealed, "x.deploy", func(n string) bool { return n == "api_token" })
	if o, err := b.OpenParams(again, "x.deploy"); err != nil || !bytes.Contains(o, []byte("s3cr3t-value")) {
		t.Fatalf("resealed value does not open: %s %v", o, err)
	}
}

func TestWrongKeyOrTamperingIsRefused(t *testing.T) {
	t.Parallel()
	a, b := newBox(t), newBox(t)
	sealed, _ := a.Seal(json.RawMessage(`"x"`), secret.Binding{Action: "x.deploy", Param: "token"})
	if _, _, err := b.Open(sealed); err == nil {
		t.Fatal("opened with another key")
	}
	var m map[string]string
	_ = json.Unmarshal(sealed, &m)
	m["$secret"] = m["$secret"][:len(m["$secret"])-4] + "AAAA"
	tampered, _ := json.Marshal(m)
	if _, _, err := a.Open(tampered); err == nil {
		t.Fatal("opened a tampered value")
	}
}

// A viewer can copy a sealed value from the log; an operator can pass it as a secret
// parameter of another action. It must not open there: the binding is the AEAD's associated
// data, so neither another binding nor an edited one authenticates.
func TestASealedValueOpensOnlyWhereItWasBound(t *testing.T) {
	t.Parallel()
	b := newBox(t)
	at := secret.Binding{Action: "x.deploy", Param: "token"}
	sealed, err := b.Seal(json.RawMessage(`"s3cr3t"`), at)
	if err != nil {
		t.Fatal(err)
	}
	if plain, err := b.OpenAt(sealed, at); err != nil || string(plain) != `"s3cr3t"` {
		t.Fatalf("open where bound: %s %v", plain, err)
	}
	for _, elsewhere := range []secret.Binding{{Action: "x.echo", Param: "token"}, {Action: "x.deploy", Param: "other"}} {
		if _, err := b.OpenAt(sealed, elsewhere); err == nil || !strings.Contains(err.Error(), "sealed for x.deploy.token") {
			t.Errorf("opened at %s: %v, want a refusal naming x.deploy.token", elsewhere, err)
		}
	}
	// Rewrite the binding in the sealed text to the attacker's action: authentication fails.
	var m map[string]string
	_ = json.Unmarshal(sealed, &m)
	parts := strings.SplitN(m["$secret"], ":", 4)
	parts[1] = base64.RawURLEncoding.EncodeToString([]byte("x.echo"))
	m["$secret"] = strings.Join(parts, ":")
	forged, _ := json.Marshal(m)
	if _, err := b.OpenAt(forged, secret.Binding{Action: "x.echo", Param: "token"}); err == nil || !strings.Contains(err.Error(), "tampered") {
		t.Fatalf("a value rebound by editing its text opened: %v", err)
	}
}

// Values sealed by earlier versions (v1, no binding) stay readable for the executions they
// were recorded for: the log is immutable and old events must keep verifying and running.
func TestALegacyValueStillOpens(t *testing.T) {
	t.Parallel()
	key := make([]byte, 32)
	_, _ = rand.Read(key)
	b, _ := secret.New(key)
	block, _ := aes.NewCipher(key)
	gcm, _ := cipher.NewGCM(block)
	nonce := make([]byte, gcm.NonceSize())
	v1, _ := json.Marshal(map[string]string{"$secret": "v1:" + base64.StdEncoding.EncodeToString(gcm.Seal(nonce, nonce, []byte(`"old"`), nil))})
	plain, bind, err := b.Open(v1)
	if err != nil || string(plain) != `"old"` || !bind.Legacy() {
		t.Fatalf("legacy open: %s %+v %v", plain, bind, err)
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
	sealed, _ := first.Seal(json.RawMessage(`42`), secret.Binding{Action: "x.y", Param: "z"})
	second, err := secret.Load(path, false)
	if err != nil {
		t.Fatal(err)
	}
	if v, _, err := second.Open(sealed); err != nil || string(v) != "42" {
		t.Fatalf("the reloaded key does not open what the first sealed: %s %v", v, err)
	}
}
