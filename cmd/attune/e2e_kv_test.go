package main

import (
	"context"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/attune-go/attune/adapters/auth/clientconfig"
	"github.com/attune-go/attune/adapters/httpapi"
	"github.com/attune-go/attune/domain/execution"
)

const kvSecret = "s3cr3t-kv-value-7d41"

// kvPack reads the store from rules and a workflow; show prints its parameters (a secret
// one among them) on stdout, which is also its result.
func kvPack(t *testing.T) string {
	return writePack(t, map[string]string{
		"pack.yaml":          "ref: kvp\nversion: 1.0.0\n",
		"triggers/hook.yaml": "name: hook\ntype: webhook\n",
		"actions/show.yaml": "name: show\nrunner_type: shell\nentry_point: show.sh\n" +
			"parameters:\n  message: {type: string, required: true}\n  token: {type: string, secret: true, required: true}\n",
		"actions/show.sh":   "cat\n",
		"actions/flow.yaml": "name: flow\nrunner_type: workflow\nentry_point: workflows/flow.yaml\n",
		"actions/workflows/flow.yaml": "version: 1\ntasks:\n  say:\n    action: core.echo\n    input: {message: \"{{ kv.pack.x }}\"}\n" +
			"output: {x: \"{{ kv.pack.x }}\"}\n",
		"actions/secretflow.yaml": "name: secretflow\nrunner_type: workflow\nentry_point: workflows/secretflow.yaml\n",
		"actions/workflows/secretflow.yaml": "version: 1\ntasks:\n  show:\n    action: kvp.show\n" +
			"    input: {message: wf, token: \"{{ kv.system.token }}\"}\n",
		// publish is recorded and shown in plaintext: a secret key there is refused.
		"actions/publishflow.yaml": "name: publishflow\nrunner_type: workflow\nentry_point: workflows/publishflow.yaml\n",
		"actions/workflows/publishflow.yaml": "version: 1\ntasks:\n  say:\n    action: core.noop\n" +
			"    next:\n      - publish: {t: \"{{ kv.system.token }}\"}\n",
		"rules/greet.yaml": "name: greet\ntrigger: kvp.hook\ncriteria:\n  payload.kind: {type: equals, pattern: greet}\n" +
			"action: core.echo\nparameters:\n  message: \"{{ kv.system.greeting }}\"\n",
		"rules/secret.yaml": "name: secret\ntrigger: kvp.hook\ncriteria:\n  payload.kind: {type: equals, pattern: secret}\n" +
			"action: kvp.show\nparameters:\n  message: hi\n  token: \"{{ kv.system.token }}\"\n",
		// A secret key into a parameter that is not secret would show it: refused.
		"rules/leak.yaml": "name: leak\ntrigger: kvp.hook\ncriteria:\n  payload.kind: {type: equals, pattern: leak}\n" +
			"action: core.echo\nparameters:\n  message: \"{{ kv.system.token }}\"\n",
		"rules/missing.yaml": "name: missing\ntrigger: kvp.hook\ncriteria:\n  payload.kind: {type: equals, pattern: missing}\n" +
			"action: core.echo\nparameters:\n  message: \"{{ kv.system.nope }}\"\n",
	})
}

// kvRun fires the hook and returns the one execution the rule made of it, ended.
func (s *system) kvRun(rule, kind string) httpapi.Execution {
	s.t.Helper()
	return s.ranFor(rule, s.webhook("kvp.hook", map[string]any{"kind": kind}))
}

func TestE2EKeyValueStoreInTemplates(t *testing.T) {
	t.Parallel()
	forEachTransport(t, func(t *testing.T, transport string) {
		sys := startSystem(t, transport, []string{kvPack(t)})
		admin := func(args ...string) (string, error) {
			out, _, err := attune(t, append(args, "--config", sys.cliConfig, "--url", sys.url)...)
			return out, err
		}
		for _, set := range [][]string{{"greeting", "hello from kv"}, {"x", "from the pack", "--pack", "kvp"}, {"token", kvSecret, "--secret"}} {
			if out, err := admin(append([]string{"key", "set"}, set...)...); err != nil {
				t.Fatalf("key set %v: %v\n%s", set, err, out)
			}
		}

		// rule test reads the store as a match does, and refuses to show a secret key.
		event := filepath.Join(t.TempDir(), "event.json")
		if err := os.WriteFile(event, []byte(`{"kind":"greet"}`), 0o600); err != nil {
			t.Fatal(err)
		}
		if out, err := admin("rule", "test", "kvp.greet", "--event", event); err != nil || !strings.Contains(out, `"hello from kv"`) {
			t.Errorf("rule test of a rule reading kv: %v\n%s", err, out)
		}
		leak := filepath.Join(t.TempDir(), "leak.json")
		if err := os.WriteFile(leak, []byte(`{"kind":"leak"}`), 0o600); err != nil {
			t.Fatal(err)
		}
		if out, err := admin("rule", "test", "kvp.leak", "--event", leak); err == nil || strings.Contains(out, kvSecret) || !strings.Contains(out, "kv.system.token") {
			t.Errorf("rule test of a rule leaking a secret key: %v\n%s", err, out)
		}
		if x := sys.kvRun("kvp.greet", "greet"); x.Status != execution.Completed || !strings.Contains(string(x.Parameters), `"hello from kv"`) {
			t.Errorf("rule rendering kv.system.greeting: %s %s (%s)", x.Status, x.Parameters, x.Reason)
		}
		flow, err := sys.api.Run(context.Background(), "kvp.flow", nil)
		if err != nil {
			t.Fatal(err)
		}
		if x := sys.waitTerminal(flow.ID); x.Status != execution.Completed || string(x.Result) != `{"x":"from the pack"}` {
			t.Errorf("workflow reading kv.pack.x: %s %s (%s)", x.Status, x.Result, x.Reason)
		}
		children := sys.executions(url.Values{"parent": {flow.ID}})
		if len(children) != 1 || !strings.Contains(string(children[0].Parameters), `"from the pack"`) {
			t.Errorf("the workflow's task did not get kv.pack.x: %+v", children)
		}

		x := sys.kvRun("kvp.secret", "secret")
		if x.Status != execution.Completed || !strings.Contains(x.Stdout, `"token":"********"`) || strings.Contains(x.Stdout+string(x.Result)+string(x.Parameters), kvSecret) {
			t.Errorf("a secret key reaching an action: %s stdout %q result %s parameters %s (%s)", x.Status, x.Stdout, x.Result, x.Parameters, x.Reason)
		}
		if !strings.Contains(x.Stdout, `"message":"hi"`) {
			t.Errorf("the action did not run with its parameters: stdout %q", x.Stdout)
		}
		sf, err := sys.api.Run(context.Background(), "kvp.secretflow", nil)
		if err != nil {
			t.Fatal(err)
		}
		if x := sys.waitTerminal(sf.ID); x.Status != execution.Completed {
			t.Errorf("a workflow passing a secret key to a task: %s (%s)", x.Status, x.Reason)
		}
		for _, listed := range sys.executions(url.Values{"parent": {sf.ID}}) {
			c, err := sys.api.Execution(context.Background(), listed.ID) // with its output
			if err != nil {
				t.Fatal(err)
			}
			if !strings.Contains(c.Stdout, `"token":"********"`) || strings.Contains(c.Stdout+string(c.Parameters), kvSecret) {
				t.Errorf("the task of a workflow got the secret key unsealed or unmasked: stdout %q parameters %s", c.Stdout, c.Parameters)
			}
		}
		pf, err := sys.api.Run(context.Background(), "kvp.publishflow", nil)
		if err != nil {
			t.Fatal(err)
		}
		if x := sys.waitTerminal(pf.ID); x.Status != execution.Failed || !strings.Contains(x.Reason, "publish") || !strings.Contains(x.Reason, "kv.system.token") {
			t.Errorf("a workflow publishing a secret key: %s (%s), want failed naming publish and the key", x.Status, x.Reason)
		}
		if x := sys.kvRun("kvp.leak", "leak"); x.Status != execution.Failed || !strings.Contains(x.Reason, "kv.system.token") || !strings.Contains(x.Reason, "not a secret parameter") {
			t.Errorf("a secret key into a parameter that is not secret: %s (%s), want failed naming the key", x.Status, x.Reason)
		}
		if x := sys.kvRun("kvp.missing", "missing"); x.Status != execution.Failed || !strings.Contains(x.Reason, "kv.system.nope does not exist") {
			t.Errorf("a missing key: %s (%s), want failed naming kv.system.nope", x.Status, x.Reason)
		}

		// The log never holds the plaintext; the server never logged it.
		var n int
		if err := sys.schema.Pool.QueryRow(context.Background(), `SELECT count(*) FROM events WHERE data::text LIKE '%' || $1 || '%' OR metadata::text LIKE '%' || $1 || '%'`, kvSecret).Scan(&n); err != nil || n != 0 {
			t.Errorf("events holding the secret in plaintext: %d (%v)", n, err)
		}
		if err := sys.schema.Pool.QueryRow(context.Background(), `SELECT count(*) FROM events WHERE event_type = 'KeySet' AND stream_id = 'kv-system-token'`).Scan(&n); err != nil || n != 1 {
			t.Errorf("KeySet of the secret key: %d (%v), want 1", n, err)
		}
		if strings.Contains(sys.logs.String(), kvSecret) {
			t.Error("the server's log holds the secret")
		}
		if out, _, err := attune(t, "audit", "verify", "--database-url", sys.dbURL, "--schema", sys.schema.Name, "--catch-up-wait", "10s"); err != nil {
			t.Errorf("audit verify: %v\n%s", err, out)
		}
	})
}

func TestE2EKeyValueStoreCLIAndRoles(t *testing.T) {
	t.Parallel()
	sys := startSystem(t, "inprocess", []string{kvPack(t)})
	admin := func(args ...string) (string, error) {
		out, _, err := attune(t, append(args, "--config", sys.cliConfig, "--url", sys.url)...)
		return out, err
	}
	operatorToken, viewerToken := sys.tokenFor("operator"), sys.tokenFor("viewer")
	opConfig := filepath.Join(t.TempDir(), "config.yaml")
	if err := clientconfig.Save(opConfig, clientconfig.File{URL: sys.url, Token: operatorToken}); err != nil {
		t.Fatal(err)
	}
	operator := func(args ...string) (string, error) {
		out, _, err := attune(t, append(args, "--config", opConfig)...)
		return out, err
	}

	// set, get, list, delete; a value is typed as the user typed it.
	for _, set := range [][]string{{"version", "1.10"}, {"count", "42"}, {"cfg", `{"host":"db","port":5432}`}, {"raw", "1.10", "--json"}} {
		if out, err := operator(append([]string{"key", "set"}, set...)...); err != nil {
			t.Fatalf("key set %v: %v\n%s", set, err, out)
		}
	}
	for name, want := range map[string]string{"version": `"1.10"`, "count": `42`, "cfg": `{"host":"db","port":5432}`, "raw": `1.10`} {
		k, err := sys.api.Key(context.Background(), "", name, false)
		if err != nil || string(k.Value) != want {
			t.Errorf("key %s = %s (%v), want %s", name, k.Value, err, want)
		}
	}
	if out, err := operator("key", "get", "version"); err != nil || out != "1.10\n" {
		t.Errorf("key get version: %q %v", out, err)
	}
	if out, err := operator("key", "set", "x", "pack value", "--pack", "kvp"); err != nil {
		t.Fatalf("key set --pack: %v\n%s", err, out)
	}
	// The list is the kv read model, which follows the log within moments.
	sys.eventually(10*time.Second, "key list shows every key set", func() bool {
		out, err := operator("key", "list")
		return err == nil && strings.Contains(out, "version") && strings.Contains(out, "kvp") && strings.Contains(out, "pack value") &&
			strings.Contains(out, `{"host":"db","port":5432}`)
	})
	if out, err := operator("key", "list", "--pack", "kvp", "--json"); err != nil || strings.Contains(out, "version") || !strings.Contains(out, `"x"`) {
		t.Errorf("key list --pack kvp: %v\n%s", err, out)
	}
	if out, err := operator("key", "delete", "count"); err != nil {
		t.Errorf("key delete: %v\n%s", err, out)
	}
	if _, err := operator("key", "get", "count"); err == nil || !strings.Contains(err.Error(), "not found") {
		t.Errorf("key get of a deleted key: %v, want not found", err)
	}

	// A key with a time to live disappears, and the reaper records it.
	if out, err := operator("key", "set", "temp", "soon gone", "--ttl", "1"); err != nil {
		t.Fatalf("key set --ttl: %v\n%s", err, out)
	}
	sys.eventually(30*time.Second, "the key with ttl 1 expired and KeyExpired recorded", func() bool {
		_, err := operator("key", "get", "temp")
		var n int
		if err := sys.schema.Pool.QueryRow(context.Background(), `SELECT count(*) FROM events WHERE event_type = 'KeyExpired' AND stream_id = 'kv-system-temp'`).Scan(&n); err != nil {
			t.Fatal(err)
		}
		return err != nil && strings.Contains(err.Error(), "not found") && n == 1
	})

	// Secret keys are an admin's.
	if out, err := admin("key", "set", "token", kvSecret, "--secret"); err != nil {
		t.Fatalf("admin key set --secret: %v\n%s", err, out)
	}
	if out, err := admin("key", "get", "token"); err != nil || out != "********\n" {
		t.Errorf("admin key get of a secret key: %q %v, want ********", out, err)
	}
	if out, err := admin("key", "get", "token", "--decrypt"); err != nil || out != kvSecret+"\n" {
		t.Errorf("admin key get --decrypt: %q %v", out, err)
	}
	sys.eventually(10*time.Second, "key list shows the secret key, redacted", func() bool {
		out, err := admin("key", "list")
		if err != nil || strings.Contains(out, kvSecret) {
			t.Fatalf("key list: %v\n%s", err, out)
		}
		return strings.Contains(out, "token") && strings.Contains(out, "********")
	})
	for _, tc := range []struct {
		name, method, path, token, body string
		status                          int
		code                            string
	}{
		{"an operator cannot decrypt", "GET", "/api/v1/keys/system/token?decrypt=true", operatorToken, "", 403, "forbidden@decrypt"},
		{"a viewer reads a secret key redacted", "GET", "/api/v1/keys/system/token", viewerToken, "", 200, ""},
		{"a viewer lists", "GET", "/api/v1/keys?scope=system&prefix=ver", viewerToken, "", 200, ""},
		{"a viewer cannot set", "PUT", "/api/v1/keys/system/v", viewerToken, `{"value":1}`, 403, "forbidden"},
		{"a viewer cannot delete", "DELETE", "/api/v1/keys/system/version", viewerToken, "", 403, "forbidden"},
		{"an operator cannot set a secret", "PUT", "/api/v1/keys/system/other", operatorToken, `{"value":"x","secret":true}`, 403, "forbidden@secret"},
		{"an operator cannot overwrite a secret key", "PUT", "/api/v1/keys/system/token", operatorToken, `{"value":"mine"}`, 403, "forbidden"},
		{"an operator cannot delete a secret key", "DELETE", "/api/v1/keys/system/token", operatorToken, "", 403, "forbidden"},
		{"a bad name", "PUT", "/api/v1/keys/system/a%20b", operatorToken, `{"value":1}`, 400, "bad_request@name"},
		{"a bad pack", "PUT", "/api/v1/keys/pack/Bad.Pack/x", operatorToken, `{"value":1}`, 400, "bad_request@pack"},
		{"no value", "PUT", "/api/v1/keys/system/v", operatorToken, `{}`, 400, "bad_request@value"},
		{"a negative ttl", "PUT", "/api/v1/keys/system/v", operatorToken, `{"value":1,"ttl":-1}`, 400, "bad_request@ttl"},
		{"a bad scope filter", "GET", "/api/v1/keys?scope=global", viewerToken, "", 400, "bad_request@scope"},
		{"an unknown key", "GET", "/api/v1/keys/system/nope", viewerToken, "", 404, "not_found"},
	} {
		status, code := sys.request(tc.method, tc.path, tc.token, tc.body)
		if status != tc.status || code != tc.code {
			t.Errorf("%s: %s %s = %d %q, want %d %q", tc.name, tc.method, tc.path, status, code, tc.status, tc.code)
		}
	}
	if k, err := sys.api.Key(context.Background(), "", "token", false); err != nil || string(k.Value) != `"********"` || !k.Secret {
		t.Errorf("the secret key after the refused writes: %+v %v", k, err)
	}
	if out, _, err := attune(t, "audit", "verify", "--database-url", sys.dbURL, "--schema", sys.schema.Name, "--catch-up-wait", "10s"); err != nil {
		t.Errorf("audit verify: %v\n%s", err, out)
	}
}
