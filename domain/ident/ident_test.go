package ident_test

import (
	"testing"
	"time"

	"github.com/oklog/ulid/v2"

	"github.com/attune-go/attune/domain/ident"
)

func TestDeriveIsAPureFunctionThatKeepsTheParentsTime(t *testing.T) {
	t.Parallel()
	parent := ulid.MustParse("01JQ0000000000000000000000")
	a := ident.Derive(parent, "examples.on_error_ping")
	if a != ident.Derive(parent, "examples.on_error_ping") {
		t.Fatal("the same inputs derived two ids")
	}
	if a.Time() != parent.Time() {
		t.Fatalf("derived time %d, want the parent's %d", a.Time(), parent.Time())
	}
	if a == parent {
		t.Fatal("derived id equals its parent")
	}
	others := []ulid.ULID{
		ident.Derive(parent, "examples.other_rule"),
		ident.Derive(ulid.MustParse("01JQ0000000000000000000001"), "examples.on_error_ping"),
		ident.Derive(parent, "examples.", "on_error_ping"),
		ident.Derive(parent, "examples.on_error_pin", "g"),
		ident.Derive(parent),
	}
	seen := map[ulid.ULID]int{a: -1}
	for i, o := range others {
		if j, dup := seen[o]; dup {
			t.Fatalf("inputs %d and %d derived the same id %s", i, j, o)
		}
		seen[o] = i
	}
}

func TestAtKeepsTheInstantAndSeparatesParts(t *testing.T) {
	t.Parallel()
	at := time.Date(2026, 3, 1, 12, 0, 2, 500_000_000, time.UTC)
	a := ident.At(at, "rule", "core.every_two_seconds")
	if a != ident.At(at.Add(300*time.Microsecond), "rule", "core.every_two_seconds") {
		t.Fatal("instants within one millisecond derived different ids")
	}
	if got := ulid.Time(a.Time()); !got.Equal(at) {
		t.Fatalf("id time %s, want %s", got, at)
	}
	if a == ident.At(at.Add(time.Millisecond), "rule", "core.every_two_seconds") {
		t.Fatal("two ticks derived the same id")
	}
	if a == ident.At(at, "rule", "core.other") {
		t.Fatal("two rules derived the same id")
	}
}
