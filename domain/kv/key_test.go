package kv_test

import (
	"encoding/json"
	"errors"
	"testing"
	"time"

	"github.com/attune-go/attune/domain/event"
	"github.com/attune-go/attune/domain/kv"
)

var t0 = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

func TestRefValidationNamesTheField(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		ref   kv.Ref
		field string
	}{
		{kv.SystemKey("greeting"), ""},
		{kv.SystemKey("api.token_2-x"), ""},
		{kv.PackKey("examples", "x"), ""},
		{kv.SystemKey(""), "name"},
		{kv.SystemKey("a b"), "name"},
		{kv.SystemKey(".hidden"), "name"},
		{kv.SystemKey("x/../y"), "name"},
		{kv.SystemKey(string(make([]byte, 129))), "name"},
		{kv.PackKey("Ex.amples", "x"), "pack"},
		{kv.PackKey("", "x"), "pack"},
		{kv.Ref{Scope: kv.System, Pack: "examples", Name: "x"}, "pack"},
		{kv.Ref{Scope: "global", Name: "x"}, "scope"},
	} {
		err := tc.ref.Validate()
		var fe *kv.FieldError
		switch {
		case tc.field == "" && err != nil:
			t.Errorf("%+v: %v, want valid", tc.ref, err)
		case tc.field != "" && (!errors.As(err, &fe) || fe.Field != tc.field):
			t.Errorf("%+v: %v, want a problem with field %s", tc.ref, err, tc.field)
		}
	}
}

func TestStreamsOfDifferentKeysDiffer(t *testing.T) {
	t.Parallel()
	seen := map[string]kv.Ref{}
	for _, r := range []kv.Ref{kv.SystemKey("a-b.c"), kv.PackKey("a", "b.c"), kv.PackKey("a-b", "c"), kv.PackKey("a", "b-c"), kv.SystemKey("pack-a.b")} {
		if other, dup := seen[r.StreamID()]; dup {
			t.Errorf("%v and %v share stream %s", r, other, r.StreamID())
		}
		seen[r.StreamID()] = r
	}
}

func TestAKeyLivesUntilItExpiresOrIsDeleted(t *testing.T) {
	t.Parallel()
	k := kv.New(kv.SystemKey("x"))
	if _, err := k.Delete(t0); !errors.Is(err, kv.ErrNotFound) {
		t.Fatalf("delete of a key never set: %v, want ErrNotFound", err)
	}
	set, err := k.Set(json.RawMessage(`"hi"`), false, time.Minute, t0)
	if err != nil {
		t.Fatal(err)
	}
	if !set.ExpiresAt.Equal(t0.Add(time.Minute)) {
		t.Fatalf("expires_at %v", set.ExpiresAt)
	}
	k, err = kv.FromEvents(kv.SystemKey("x"), []event.Event{&set})
	if err != nil {
		t.Fatal(err)
	}
	if !k.Live(t0.Add(59*time.Second)) || k.Live(t0.Add(time.Minute)) {
		t.Fatal("live before expiry, gone at it")
	}
	if _, ok := k.Expire(t0.Add(59 * time.Second)); ok {
		t.Fatal("expired early")
	}
	exp, ok := k.Expire(t0.Add(time.Minute))
	if !ok || !exp.ExpiresAt.Equal(set.ExpiresAt) {
		t.Fatalf("expire at expires_at: %+v %v", exp, ok)
	}
	if _, err := k.Delete(t0.Add(time.Minute)); !errors.Is(err, kv.ErrNotFound) {
		t.Fatalf("delete of an expired key: %v, want ErrNotFound", err)
	}
	if err := k.Apply(&exp); err != nil {
		t.Fatal(err)
	}
	if _, ok := k.Expire(t0.Add(time.Hour)); ok || k.Version() != 2 {
		t.Fatalf("expired twice, or version %d", k.Version())
	}
	forever, _ := k.Set(json.RawMessage(`1`), false, 0, t0)
	_ = k.Apply(forever)
	if !k.Live(t0.Add(100*365*24*time.Hour)) || !forever.ExpiresAt.IsZero() {
		t.Fatal("a key without ttl expires")
	}
	if _, err := k.Set(json.RawMessage(`{`), false, -time.Second, t0); err == nil {
		t.Fatal("bad value and ttl accepted")
	}
}
