package execution_test

import (
	"testing"

	"github.com/oklog/ulid/v2"

	"github.com/attune-go/attune/domain/enforcement"
	"github.com/attune-go/attune/domain/execution"
)

func TestOneExecutionPerEnforcementByItsID(t *testing.T) {
	t.Parallel()
	event := ulid.MustParse("01JQ3V5E8G7ZKX2N4P6R8T0W2Y")
	enf := enforcement.ID(event, "examples.on_error_ping")
	exec := execution.IDForEnforcement(enf)
	if exec != execution.IDForEnforcement(enf) {
		t.Fatal("one enforcement derived two execution ids")
	}
	if exec == enf || exec == event {
		t.Fatal("the execution id collides with its cause")
	}
	if other := execution.IDForEnforcement(enforcement.ID(event, "examples.other")); other == exec {
		t.Fatal("two enforcements derived the same execution id")
	}
	if got := execution.StreamID(exec.String()); got != "execution-"+exec.String() {
		t.Fatalf("StreamID = %q", got)
	}
}
