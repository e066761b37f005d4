package enforcement_test

import (
	"testing"

	"github.com/oklog/ulid/v2"

	"github.com/attune-go/attune/domain/enforcement"
)

func TestOneEnforcementPerEventAndRule(t *testing.T) {
	t.Parallel()
	e1 := ulid.MustParse("01JQ3V5E8G7ZKX2N4P6R8T0W2Y")
	e2 := ulid.MustParse("01JQ3V5E8G7ZKX2N4P6R8T0W30")
	id := enforcement.ID(e1, "examples.on_error_ping")
	if id != enforcement.ID(e1, "examples.on_error_ping") {
		t.Fatal("a redelivered event derived another enforcement id")
	}
	for _, other := range []ulid.ULID{enforcement.ID(e1, "examples.on_warning"), enforcement.ID(e2, "examples.on_error_ping")} {
		if other == id {
			t.Fatal("different (event, rule) pairs derived the same enforcement id")
		}
	}
	if id.Time() != e1.Time() {
		t.Fatal("the enforcement id does not sort with its event")
	}
	if got := enforcement.StreamID(id.String()); got != "enforcement-"+id.String() {
		t.Fatalf("StreamID = %q", got)
	}
}
