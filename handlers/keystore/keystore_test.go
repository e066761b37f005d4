package keystore_test

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/attune-go/attune/adapters/eventstore"
	"github.com/attune-go/attune/adapters/memstore"
	"github.com/attune-go/attune/adapters/secret"
	"github.com/attune-go/attune/domain/kv"
	"github.com/attune-go/attune/handlers/handlertest"
	"github.com/attune-go/attune/handlers/keystore"
	"github.com/attune-go/attune/projections/keys"
)

var t0 = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

func setup(t *testing.T) (*memstore.Store, *secret.Box) {
	t.Helper()
	box, err := secret.New(make([]byte, 32))
	if err != nil {
		t.Fatal(err)
	}
	return memstore.New(memstore.Config{}), box
}

func script(t *testing.T, s *memstore.Store) string {
	t.Helper()
	all, err := s.ReadAll(context.Background(), eventstore.Start, 1000)
	if err != nil {
		t.Fatal(err)
	}
	return handlertest.Script(all)
}

func TestSetDeleteAndExpireAKey(t *testing.T) {
	t.Parallel()
	log, box := setup(t)
	ctx := context.Background()
	ref := kv.SystemKey("greeting")
	if _, err := keystore.SetKey(ctx, log, box, keystore.Set{Ref: ref, Value: json.RawMessage(`"hi"`), Actor: "op"}, t0); err != nil {
		t.Fatal(err)
	}
	if _, err := keystore.SetKey(ctx, log, box, keystore.Set{Ref: ref, Value: json.RawMessage(`"hello"`), TTL: time.Minute, Actor: "op"}, t0); err != nil {
		t.Fatal(err)
	}
	k, err := keystore.GetKey(ctx, log, ref, t0.Add(time.Second))
	if err != nil || string(k.Value) != `"hello"` || k.UpdatedBy != "op" || !k.ExpiresAt.Equal(t0.Add(time.Minute)) {
		t.Fatalf("get: %+v %v", k, err)
	}
	if _, err := keystore.GetKey(ctx, log, ref, t0.Add(time.Minute)); !errors.Is(err, keys.ErrNotFound) {
		t.Fatalf("get at its expiry: %v, want not found", err)
	}
	// The reaper's pass, twice: one KeyExpired.
	for range 2 {
		if _, err := keystore.Expire(ctx, log, ref, "reaper", t0.Add(time.Minute)); err != nil {
			t.Fatal(err)
		}
	}
	if err := keystore.DeleteKey(ctx, log, ref, "op", false, t0.Add(time.Hour)); !errors.Is(err, kv.ErrNotFound) {
		t.Fatalf("delete of an expired key: %v, want not found", err)
	}
	if _, err := keystore.SetKey(ctx, log, box, keystore.Set{Ref: ref, Value: json.RawMessage(`1`)}, t0.Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	if err := keystore.DeleteKey(ctx, log, ref, "op", false, t0.Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	want := `KeySet scope=system name=greeting value=hi secret=false
KeySet scope=system name=greeting value=hello secret=false expires_at=2026-03-01T12:01:00Z
KeyExpired scope=system name=greeting expires_at=2026-03-01T12:01:00Z
KeySet scope=system name=greeting value=1 secret=false
KeyDeleted scope=system name=greeting`
	if got := script(t, log); got != want {
		t.Errorf("log:\n%s\nwant:\n%s", got, want)
	}
}

func TestSecretKeysAreAnAdminsAndSealedForTheKey(t *testing.T) {
	t.Parallel()
	log, box := setup(t)
	ctx := context.Background()
	ref := kv.PackKey("examples", "token")
	set := keystore.Set{Ref: ref, Value: json.RawMessage(`"s3cr3t"`), Secret: true, Actor: "op"}
	var forbidden *keystore.ForbiddenError
	if _, err := keystore.SetKey(ctx, log, box, set, t0); !errors.As(err, &forbidden) {
		t.Fatalf("an operator set a secret key: %v", err)
	}
	set.Admin = true
	recorded, err := keystore.SetKey(ctx, log, box, set, t0)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(script(t, log), "s3cr3t") || !secret.IsSealed(recorded.Value) {
		t.Fatalf("the log holds the plaintext: %s", script(t, log))
	}
	if plain, err := box.OpenAt(recorded.Value, keystore.Binding(ref)); err != nil || string(plain) != `"s3cr3t"` {
		t.Fatalf("open at the key: %s %v", plain, err)
	}
	// Copied into an action's parameter, the sealed value does not open there.
	if _, err := box.OpenAt(recorded.Value, secret.Binding{Action: "examples.shout", Param: "token"}); err == nil {
		t.Fatal("a key's sealed value opened as an action's parameter")
	}
	over := keystore.Set{Ref: ref, Value: json.RawMessage(`"mine"`), Actor: "op"}
	if _, err := keystore.SetKey(ctx, log, box, over, t0); !errors.As(err, &forbidden) {
		t.Fatalf("an operator overwrote a secret key: %v", err)
	}
	if err := keystore.DeleteKey(ctx, log, ref, "op", false, t0); !errors.As(err, &forbidden) {
		t.Fatalf("an operator deleted a secret key: %v", err)
	}
	if err := keystore.DeleteKey(ctx, log, ref, "admin", true, t0); err != nil {
		t.Fatal(err)
	}
	var bad *kv.FieldError
	if _, err := keystore.SetKey(ctx, log, box, keystore.Set{Ref: kv.SystemKey("a b"), Value: json.RawMessage(`1`)}, t0); !errors.As(err, &bad) || bad.Field != "name" {
		t.Fatalf("a bad name: %v", err)
	}
}
