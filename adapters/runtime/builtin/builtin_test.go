package builtin_test

import (
	"context"
	"encoding/json"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/attune-go/attune/adapters/runtime"
	"github.com/attune-go/attune/adapters/runtime/builtin"
	"github.com/attune-go/attune/adapters/runtime/process"
	"github.com/attune-go/attune/domain/execution"
)

func setup(t testing.TB, cfg builtin.Config) *builtin.Runner {
	t.Helper()
	if cfg.Executor == nil {
		exe, err := process.New(process.Config{KillGrace: 200 * time.Millisecond})
		if err != nil {
			t.Fatal(err)
		}
		cfg.Executor = exe
	}
	cfg.TempDir = t.TempDir()
	r, err := builtin.New(cfg)
	if err != nil {
		t.Fatalf("new builtin runner: %v", err)
	}
	return r
}

func request(action, params string) runtime.Request {
	return runtime.Request{ExecutionID: "01EXEC", Action: action, RunnerType: "builtin", Parameters: json.RawMessage(params)}
}

func decoded(t *testing.T, raw json.RawMessage) any {
	t.Helper()
	var v any
	if err := json.Unmarshal(raw, &v); err != nil {
		t.Fatalf("result %q is not JSON: %v", raw, err)
	}
	return v
}

func TestRefs(t *testing.T) {
	t.Parallel()
	want := []string{"core.echo", "core.http", "core.local", "core.noop", "core.pause", "core.sleep", "core.uuid"}
	if got := setup(t, builtin.Config{}).Refs(); !reflect.DeepEqual(got, want) {
		t.Errorf("refs %v, want %v", got, want)
	}
}

func TestNoop(t *testing.T) {
	t.Parallel()
	o := setup(t, builtin.Config{}).Run(t.Context(), request("core.noop", ``))
	if o.Status != execution.Completed || string(o.Result) != "{}" {
		t.Errorf("status %s, result %s; want completed with {}", o.Status, o.Result)
	}
}

func TestEcho(t *testing.T) {
	t.Parallel()
	r := setup(t, builtin.Config{})
	o := r.Run(t.Context(), request("core.echo", `{"message": "hello, world"}`))
	if o.Status != execution.Completed || string(o.Result) != `{"stdout":"hello, world","stderr":"","return_code":0,"succeeded":true,"failed":false}` || o.Stdout != "hello, world" {
		t.Errorf("status %s, result %s, stdout %q", o.Status, o.Result, o.Stdout)
	}
	o = r.Run(t.Context(), request("core.echo", `{}`))
	if o.Status != execution.Failed || !strings.Contains(o.Reason, "message is required") {
		t.Errorf("without a message: status %s, reason %q", o.Status, o.Reason)
	}
	o = r.Run(t.Context(), request("core.echo", `{"message": 7}`))
	if o.Status != execution.Failed || !strings.Contains(o.Reason, "parameters of core.echo") {
		t.Errorf("with a number: status %s, reason %q", o.Status, o.Reason)
	}
}

func TestUnknownBuiltinFails(t *testing.T) {
	t.Parallel()
	o := setup(t, builtin.Config{}).Run(t.Context(), request("examples.shout", `{}`))
	if o.Status != execution.Failed || !strings.Contains(o.Reason, `no builtin action "examples.shout"`) {
		t.Errorf("status %s, reason %q", o.Status, o.Reason)
	}
}

func TestSleep(t *testing.T) {
	t.Parallel()
	r := setup(t, builtin.Config{})

	o := r.Run(t.Context(), request("core.sleep", `{"seconds": 0.01}`))
	if o.Status != execution.Completed {
		t.Errorf("short sleep: status %s, reason %q", o.Status, o.Reason)
	}

	req := request("core.sleep", `{"seconds": 300}`)
	req.Timeout = 50 * time.Millisecond
	o = r.Run(t.Context(), req)
	if o.Status != execution.Timeout || o.Reason != "timed out after 50ms" {
		t.Errorf("sleep past the timeout: status %s, reason %q", o.Status, o.Reason)
	}

	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	o = r.Run(ctx, request("core.sleep", `{"seconds": 300}`))
	if o.Status != execution.Cancelled {
		t.Errorf("cancelled sleep: status %s, reason %q", o.Status, o.Reason)
	}

	o = r.Run(t.Context(), request("core.sleep", `{"seconds": -1}`))
	if o.Status != execution.Failed {
		t.Errorf("negative sleep: status %s", o.Status)
	}
}
