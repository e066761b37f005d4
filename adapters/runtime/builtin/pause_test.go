package builtin_test

import (
	"regexp"
	"testing"
	"time"

	"github.com/attune-go/attune/adapters/runtime/builtin"
	"github.com/attune-go/attune/domain/execution"
)

func TestPauseWaitsMaxPause(t *testing.T) {
	t.Parallel()
	start := time.Now()
	o := setup(t, builtin.Config{}).Run(t.Context(), request("core.pause", `{"max_pause": 1}`))
	if o.Status != execution.Completed {
		t.Fatalf("status %s, reason %q", o.Status, o.Reason)
	}
	if waited := time.Since(start); waited < time.Second {
		t.Fatalf("returned after %s, want at least max_pause (1s)", waited)
	}
}

func TestPauseEndsAtTheTimeout(t *testing.T) {
	t.Parallel()
	req := request("core.pause", `{"max_pause": 300}`)
	req.Timeout = 100 * time.Millisecond
	if o := setup(t, builtin.Config{}).Run(t.Context(), req); o.Status != execution.Timeout {
		t.Fatalf("status %s, reason %q: want timeout", o.Status, o.Reason)
	}
}

func TestUUIDGivesANewUUIDOfTheAskedVersion(t *testing.T) {
	t.Parallel()
	r := setup(t, builtin.Config{})
	for typ, version := range map[string]string{"uuid4": "4", "uuid1": "1"} {
		o := r.Run(t.Context(), request("core.uuid", `{"uuid_type": "`+typ+`"}`))
		id, _ := decoded(t, o.Result).(string)
		if o.Status != execution.Completed || !regexp.MustCompile(`^[0-9a-f]{8}-[0-9a-f]{4}-`+version+`[0-9a-f]{3}-[0-9a-f]{4}-[0-9a-f]{12}$`).MatchString(id) {
			t.Errorf("%s: status %s, result %q", typ, o.Status, o.Result)
		}
		again := r.Run(t.Context(), request("core.uuid", `{"uuid_type": "`+typ+`"}`))
		if string(again.Result) == string(o.Result) {
			t.Errorf("%s: two runs gave the same UUID %s", typ, o.Result)
		}
	}
	if o := r.Run(t.Context(), request("core.uuid", `{"uuid_type": "uuid7"}`)); o.Status != execution.Failed {
		t.Errorf("uuid7: status %s, want failed", o.Status)
	}
}
