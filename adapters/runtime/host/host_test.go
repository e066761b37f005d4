package host_test

import (
	"encoding/json"
	"os"
	"path/filepath"
	"reflect"
	"testing"

	"github.com/attune-go/attune/adapters/runtime"
	"github.com/attune-go/attune/adapters/runtime/host"
	"github.com/attune-go/attune/domain/execution"
	"github.com/attune-go/attune/domain/pack"
)

// This machine has bash, python3 and node (design §7), so a worker here offers every runtime,
// StackStorm's runners among them.
func TestDetectOffersEveryRuntimeThisMachineHas(t *testing.T) {
	t.Parallel()
	reg, found, err := host.Detect(t.Context(), host.Config{})
	if err != nil {
		t.Fatalf("detect: %v", err)
	}
	if got, want := reg.Supported(), []string{"builtin", "http-request", "local-shell-cmd", "local-shell-script", "node", "noop", "python", "python-script", "remote-shell-cmd", "remote-shell-script", "shell"}; !reflect.DeepEqual(got, want) {
		t.Errorf("supported %v, want %v", got, want)
	}
	for _, in := range found {
		if !filepath.IsAbs(in.Path) {
			t.Errorf("%s interpreter %q is not an absolute path", in.Runtime, in.Path)
		}
	}

	// Each runs a script, by any of its aliases.
	dir := t.TempDir()
	for rt, src := range map[pack.RunnerType]string{
		"sh":      `printf '{"ran": "%s"}' "$ATTUNE_ACTION"`,
		"python3": `import os, json; print(json.dumps({"ran": os.environ["ATTUNE_ACTION"]}))`,
		"nodejs":  `console.log(JSON.stringify({ran: process.env.ATTUNE_ACTION}))`,
	} {
		entry := filepath.Join(dir, string(rt))
		if err := os.WriteFile(entry, []byte(src), 0o644); err != nil {
			t.Fatal(err)
		}
		o := reg.Run(t.Context(), runtime.Request{Action: "examples." + string(rt), RunnerType: rt, EntryPoint: entry})
		if want := `{"ran": "examples.` + string(rt) + `"}`; o.Status != execution.Completed || !sameJSON(t, o.Result, want) {
			t.Errorf("%s: status %s, result %s, reason %q; want %s", rt, o.Status, o.Result, o.Reason, want)
		}
	}
	o := reg.Run(t.Context(), runtime.Request{Action: "core.echo", RunnerType: "builtin", Parameters: json.RawMessage(`{"message": "hello, world"}`)})
	if o.Status != execution.Completed || string(o.Result) != `{"stdout":"hello, world","stderr":"","return_code":0,"succeeded":true,"failed":false}` {
		t.Errorf("core.echo: status %s, result %s", o.Status, o.Result)
	}
}

func TestDetectLeavesOutAMissingInterpreter(t *testing.T) {
	t.Parallel()
	reg, found, err := host.Detect(t.Context(), host.Config{Node: []string{"attune-no-such-node"}, Python: []string{"/bin/false"}})
	if err != nil {
		t.Fatalf("detect: %v", err)
	}
	// /bin/false exists but fails its probe: not offered either, nor python-script.
	if got, want := reg.Supported(), []string{"builtin", "http-request", "local-shell-cmd", "local-shell-script", "noop", "remote-shell-cmd", "remote-shell-script", "shell"}; !reflect.DeepEqual(got, want) {
		t.Errorf("supported %v, want %v", got, want)
	}
	if len(found) != 1 || found[0].Runtime != pack.RunnerShell {
		t.Errorf("found %v, want only the shell", found)
	}
	o := reg.Run(t.Context(), runtime.Request{RunnerType: "node", EntryPoint: "/x.js"})
	if o.Status != execution.Failed {
		t.Errorf("node run: status %s, want failed", o.Status)
	}
}

func sameJSON(t *testing.T, got json.RawMessage, want string) bool {
	t.Helper()
	var a, b any
	if json.Unmarshal(got, &a) != nil || json.Unmarshal([]byte(want), &b) != nil {
		return false
	}
	return reflect.DeepEqual(a, b)
}
