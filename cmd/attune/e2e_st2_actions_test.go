package main

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/attune-go/attune/adapters/httpapi"
	"github.com/attune-go/attune/domain/execution"
)

// st2ActionsPack is the StackStorm fixture pack: one action per runner and feature, in
// StackStorm's own shape.
const st2ActionsPack = "testdata/stackstorm/st2_actions"

// A StackStorm user loads a pack written for StackStorm with `attune pack load` and runs its
// actions with `attune run`, reading the results as StackStorm shapes them.
func TestE2EStackStormActionsRunAsStackStormRunsThem(t *testing.T) {
	t.Parallel()
	sys := startSystem(t, "inprocess", nil)
	cli := func(args ...string) (string, string, error) {
		return attune(t, append(args, "--url", sys.url, "--config", sys.cliConfig)...)
	}
	dir, err := filepath.Abs(st2ActionsPack)
	if err != nil {
		t.Fatal(err)
	}
	for _, set := range [][]string{{"motd", "maintenance tonight"}, {"api_token", "tok-5e1f9", "--secret"}} {
		if out, _, err := cli(append([]string{"key", "set"}, set...)...); err != nil {
			t.Fatalf("key set %v: %v\n%s", set, err, out)
		}
	}
	out, stderr, err := cli("pack", "load", dir)
	if err != nil || !strings.Contains(out, "st2_actions") {
		t.Fatalf("pack load: %v\n%s\n%s", err, out, stderr)
	}
	if !strings.Contains(stderr, "warning: ") || !strings.Contains(stderr, "aliases/: 1 files of ChatOps action aliases") {
		t.Errorf("pack load does not name the aliases it did not load; stderr:\n%s", stderr)
	}
	run := func(action string, params ...string) httpapi.Execution {
		t.Helper()
		out, _, _ := cli(append([]string{"run", action, "--wait", "--json"}, params...)...)
		var x httpapi.Execution
		if err := json.Unmarshal([]byte(out), &x); err != nil {
			t.Fatalf("run %s: output is not an execution: %v\n%s", action, err, out)
		}
		return x
	}
	result := func(x httpapi.Execution) map[string]any {
		t.Helper()
		var m map[string]any
		if err := json.Unmarshal(x.Result, &m); err != nil {
			t.Fatalf("%s: result %s: %v", x.Action, x.Result, err)
		}
		return m
	}

	// local-shell-cmd: cmd is a template over the other parameters.
	if x := run("st2_actions.greet_cmd", "name=Ada"); x.Status != execution.Completed || result(x)["stdout"] != "Hello, Ada!" ||
		result(x)["return_code"] != 0.0 || result(x)["succeeded"] != true {
		t.Errorf("greet_cmd: %s %s (%s)", x.Status, x.Result, x.Reason)
	}
	// ... and the key-value store, read when it runs.
	if x := run("st2_actions.kv_cmd"); result(x)["stdout"] != "maintenance tonight" {
		t.Errorf("kv_cmd: %s %s (%s)", x.Status, x.Result, x.Reason)
	}
	// ... and the pack's config (config.schema.yaml's defaults).
	if x := run("st2_actions.where_cmd"); result(x)["stdout"] != "region=eu-west pack=st2_actions" {
		t.Errorf("where_cmd: %s %s (%s)", x.Status, x.Result, x.Reason)
	}
	// A secret key read into parameters is masked in all the run shows (and so in the log).
	if x := run("st2_actions.token_cmd"); x.Status != execution.Completed || result(x)["stdout"] != "token=********" ||
		strings.Contains(string(x.Result)+x.Stdout+x.Stderr, "tok-5e1f9") {
		t.Errorf("token_cmd: %s %s (%s)", x.Status, x.Result, x.Reason)
	}
	var n int
	if err := sys.schema.Pool.QueryRow(context.Background(), `SELECT count(*) FROM events WHERE data::text LIKE '%' || $1 || '%' OR metadata::text LIKE '%' || $1 || '%'`, "tok-5e1f9").Scan(&n); err != nil || n != 0 {
		t.Errorf("%d events hold the secret key's plaintext (%v)", n, err)
	}
	// A failing command: the result still says what it printed and how it ended.
	if x := run("st2_actions.json_cmd", "code=3"); x.Status != execution.Failed || result(x)["return_code"] != 3.0 || result(x)["stderr"] != "oops" {
		t.Errorf("json_cmd code=3: %s %s", x.Status, x.Result)
	}
	// local-shell-script: named --name=value (sorted), true booleans bare, then positional.
	if x := run("st2_actions.args", "target=db1", `hosts=["a","b"]`); result(x)["stdout"] != "--count=2\n--verbose\ndb1\na,b" {
		t.Errorf("args: %s %q (%s)", x.Status, result(x)["stdout"], x.Reason)
	}
	// python-script: the key-value store through action_service, across runs.
	if x := run("st2_actions.remember", "word=tea"); x.Status != execution.Completed {
		t.Errorf("remember tea: %s %s (%s) %s", x.Status, x.Result, x.Reason, x.Stderr)
	}
	x := run("st2_actions.remember", "word=coffee")
	inner, _ := result(x)["result"].(map[string]any)
	if x.Status != execution.Completed || inner["previous"] != "tea" || inner["shout"] != "COFFEE!" || result(x)["stdout"] != "stored coffee\n" ||
		inner["unset_is_none"] != true || inner["config"].(map[string]any)["region"] != "eu-west" {
		t.Errorf("remember coffee: %s %s", x.Status, x.Result)
	}
	// output_schema holds: an output within it completes, one beyond it fails as StackStorm
	// fails it, with StackStorm's error result.
	if x := run("st2_actions.sized", "n=3"); x.Status != execution.Completed {
		t.Errorf("sized n=3: %s %s (%s)", x.Status, x.Result, x.Reason)
	}
	if x := run("st2_actions.sized", "n=30"); x.Status != execution.Failed || !strings.Contains(x.Reason, "output_schema: result:") ||
		result(x)["message"] != "Error validating output. See error output for more details." {
		t.Errorf("sized n=30: %s %s (%s), want failed by output_schema", x.Status, x.Result, x.Reason)
	}
	if x := run("st2_actions.remember", "word=x", "fail=true"); x.Status != execution.Failed {
		t.Errorf("run() returning (False, …): %s %s", x.Status, x.Result)
	}
	if x := run("st2_actions.crash"); x.Status != execution.Failed || !strings.Contains(result(x)["stderr"].(string), "ValueError: the disk is on fire") {
		t.Errorf("crash: %s %s", x.Status, x.Result)
	}
	// http-request.
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write([]byte(`{"ok": true}`))
	}))
	t.Cleanup(srv.Close)
	if x := run("st2_actions.fetch", "url="+srv.URL); x.Status != execution.Completed || result(x)["status_code"] != 200.0 ||
		result(x)["parsed"] != true || result(x)["body"].(map[string]any)["ok"] != true {
		t.Errorf("fetch: %s %s (%s)", x.Status, x.Result, x.Reason)
	}
	if x := run("st2_actions.nothing"); x.Status != execution.Completed {
		t.Errorf("noop: %s (%s)", x.Status, x.Reason)
	}
	// A disabled action is refused, with the reason.
	if out, stderr, err := cli("run", "st2_actions.retired"); err == nil || !strings.Contains(out+stderr+err.Error(), "action st2_actions.retired is disabled (enabled: false in its metadata)") {
		t.Errorf("run of a disabled action: %v\n%s%s", err, out, stderr)
	}

	// A local-shell-script with a secret parameter is refused at load, at its line.
	bad := t.TempDir()
	for name, body := range map[string]string{
		"pack.yaml":          "name: leaky\ndescription: d\nauthor: a\nversion: 1.0.0\n",
		"actions/login.yaml": "name: login\nrunner_type: local-shell-script\nentry_point: login.sh\nparameters:\n  password:\n    type: string\n    secret: true\n",
		"actions/login.sh":   "#!/bin/sh\n",
	} {
		p := filepath.Join(bad, name)
		_ = os.MkdirAll(filepath.Dir(p), 0o755)
		if err := os.WriteFile(p, []byte(body), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	_, stderr, err = cli("pack", "load", bad)
	if err == nil || !strings.Contains(err.Error()+stderr, "actions/login.yaml:7: parameters.password.secret: a local-shell-script gets its parameters on its command line") {
		t.Errorf("pack load of a local-shell-script with a secret: %v\n%s", err, stderr)
	}
}
