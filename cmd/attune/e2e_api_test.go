package main

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/attune-go/attune/adapters/apiclient"
	"github.com/attune-go/attune/adapters/auth/clientconfig"
	"github.com/attune-go/attune/adapters/eventstore"
)

// request sends one raw request with a bearer token and returns the status and the error
// code of the answer.
func (s *system) request(method, path, token, body string) (int, string) {
	s.t.Helper()
	req, err := http.NewRequest(method, s.url+path, strings.NewReader(body))
	if err != nil {
		s.t.Fatal(err)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		s.t.Fatal(err)
	}
	defer resp.Body.Close()
	var e struct {
		Code  string `json:"code"`
		Field string `json:"field"`
	}
	_ = json.NewDecoder(resp.Body).Decode(&e)
	if e.Field != "" {
		return resp.StatusCode, e.Code + "@" + e.Field
	}
	return resp.StatusCode, e.Code
}

// tokenFor creates a token with the CLI, against the database, as an admin would.
func (s *system) tokenFor(role string) string {
	s.t.Helper()
	out, _, err := attune(s.t, "token", "create", "--name", role+"-user", "--role", role,
		"--database-url", s.dbURL, "--schema", s.schema.Name)
	if err != nil {
		s.t.Fatalf("token create --role %s: %v", role, err)
	}
	return strings.TrimSpace(out)
}

func TestE2EAPIAnswersBadRequestsWithAStableCode(t *testing.T) {
	t.Parallel()
	sys := startSystem(t, "inprocess", []string{e2ePack(t)})
	viewer, operator := sys.tokenFor("viewer"), sys.tokenFor("operator")

	for _, tc := range []struct {
		name, method, path, token, body string
		status                          int
		code                            string
	}{
		{"no token", "GET", "/api/v1/executions", "", "", 401, "unauthorized"},
		{"a made-up token", "GET", "/api/v1/executions", "att_nope", "", 401, "unauthorized"},
		{"a viewer reads", "GET", "/api/v1/executions", viewer, "", 200, ""},
		{"a viewer cannot run", "POST", "/api/v1/executions", viewer, `{"action":"core.noop"}`, 403, "forbidden"},
		{"an operator cannot load packs", "POST", "/api/v1/packs", operator, `{"path":"/tmp"}`, 403, "forbidden"},
		{"malformed JSON", "POST", "/api/v1/executions", operator, `{"action":`, 400, "invalid_json"},
		{"an unknown field", "POST", "/api/v1/executions", operator, `{"action":"core.noop","paramters":{}}`, 400, "unknown_field@paramters"},
		{"a wrong type", "POST", "/api/v1/executions", operator, `{"action":42}`, 400, "invalid_json@action"},
		{"an unknown action", "POST", "/api/v1/executions", operator, `{"action":"nope.nothing"}`, 404, "not_found@action"},
		{"a parameter of the wrong type", "POST", "/api/v1/executions", operator, `{"action":"e2e.add","parameters":{"a":"two","b":1}}`, 422, "validation_failed@parameters.a"},
		{"an oversized body", "POST", "/api/v1/executions", operator, `{"action":"core.echo","parameters":{"message":"` + strings.Repeat("x", 2<<20) + `"}}`, 413, "payload_too_large"},
		{"an unknown execution", "GET", "/api/v1/executions/01JZZZZZZZZZZZZZZZZZZZZZZZ", viewer, "", 404, "not_found"},
		{"a bad filter", "GET", "/api/v1/executions?status=sleeping", viewer, "", 400, "bad_request@status"},
		{"an unknown rule", "POST", "/api/v1/rules/e2e.nope/disable", operator, "", 404, "not_found"},
		{"health needs no token", "GET", "/healthz", "", "", 200, ""},
		{"limit=0 on executions", "GET", "/api/v1/executions?limit=0", viewer, "", 400, "bad_request@limit"},
		{"limit=0 on rules", "GET", "/api/v1/rules?limit=0", viewer, "", 400, "bad_request@limit"},
		{"a known path with the wrong method", "DELETE", "/api/v1/executions", viewer, "", 405, "method_not_allowed"},
	} {
		status, code := sys.request(tc.method, tc.path, tc.token, tc.body)
		if status != tc.status || code != tc.code {
			t.Errorf("%s: %s %s = %d %q, want %d %q", tc.name, tc.method, tc.path, status, code, tc.status, tc.code)
		}
	}
}

func TestE2ECLIDrivesTheSystem(t *testing.T) {
	t.Parallel()
	sys := startSystem(t, "inprocess", []string{e2ePack(t)})
	home := t.TempDir()
	cfgFile := filepath.Join(home, "config.yaml")
	if err := clientconfig.Save(cfgFile, clientconfig.File{URL: sys.url, Token: sys.tokenFor("operator")}); err != nil {
		t.Fatal(err)
	}
	cli := func(args ...string) (string, error) {
		out, _, err := attune(t, append(args, "--config", cfgFile)...)
		return out, err
	}

	out, err := cli("run", "e2e.add", "a=2", "b=40", "--wait")
	if err != nil || !strings.Contains(out, `{"sum":42}`) || !strings.Contains(out, "completed") {
		t.Fatalf("run --wait: %v\n%s", err, out)
	}
	// A string parameter takes the text as typed, even when it reads as a number.
	if out, err := cli("run", "core.echo", "message=1.10", "--wait", "--json"); err != nil || !strings.Contains(out, `"message": "1.10"`) && !strings.Contains(out, `"message":"1.10"`) {
		t.Errorf("run core.echo message=1.10: %v\n%s", err, out)
	}
	if out, err := cli("run", "e2e.fail", "--wait"); err == nil || exitCode(err) != 1 || !strings.Contains(out, "failed") {
		t.Errorf("run --wait of a failing action: err %v (exit %d), want exit 1\n%s", err, exitCode(err), out)
	}

	event := filepath.Join(home, "event.json")
	_ = os.WriteFile(event, []byte(`{"payload": {"level": "info", "msg": "fine"}}`), 0o600)
	out, err = cli("rule", "test", "e2e.on_error", "--event", event)
	if err == nil || !strings.Contains(out, "NO MATCH") || !strings.Contains(out, "payload.level") {
		t.Errorf("rule test of a non-matching event: err %v\n%s", err, out)
	}
	_ = os.WriteFile(event, []byte(`{"payload": {"level": "error", "msg": "disk full"}}`), 0o600)
	if out, err = cli("rule", "test", "e2e.on_error", "--event", event); err != nil || !strings.Contains(out, "MATCH") || !strings.Contains(out, "disk full (hello)") {
		t.Errorf("rule test of a matching event: err %v\n%s", err, out)
	}
	// A match whose parameters cannot render (the template reads payload.msg) is said, and is
	// no success: the execution would fail at once.
	_ = os.WriteFile(event, []byte(`{"payload": {"level": "error"}}`), 0o600)
	if out, err = cli("rule", "test", "e2e.on_error", "--event", event); err == nil || exitCode(err) != 1 || !strings.Contains(out, "parameters do not render") {
		t.Errorf("rule test of a match whose parameters do not render: err %v (exit %d), want exit 1 saying so\n%s", err, exitCode(err), out)
	}

	if out, err = cli("rule", "disable", "e2e.on_error"); err != nil {
		t.Fatalf("rule disable: %v\n%s", err, out)
	}
	silent := sys.webhook("e2e.hook", map[string]any{"level": "error", "msg": "while disabled"})
	// Barrier: the in-process relay checkpoints an event only once every handler acked it,
	// so with the relay caught up past the event, rulematch has decided on it; the log barrier
	// then shows anything it appended.
	sys.eventually(30*time.Second, "the relay to pass the webhook's event", func() bool {
		visible := countTypes(sys.logEvents(), func(e eventstore.Recorded) bool { return field(e, "event_id") == silent })["EventFired"] == 1
		return visible && sys.relayCaughtUp() // in this order: the lag is read with the event visible
	})
	if n := countTypes(sys.barrier(), func(e eventstore.Recorded) bool { return field(e, "event_id") == silent }); n["EnforcementCreated"] != 0 {
		t.Errorf("a disabled rule enforced the event: %v", n)
	}

	out, err = cli("execution", "list", "--action", "e2e.add", "--json")
	var page apiclient.ExecutionPage
	if err != nil || json.Unmarshal([]byte(out), &page) != nil || len(page.Items) != 1 {
		t.Fatalf("execution list --json: %v\n%s", err, out)
	}
	id := page.Items[0].ID
	if out, err = cli("execution", "history", id); err != nil || !strings.Contains(out, "ExecutionRequested") || !strings.Contains(out, "to\":\"completed") {
		t.Errorf("execution history: %v\n%s", err, out)
	}
	if out, err = cli("execution", "rerun", id, "--json"); err != nil || !strings.Contains(out, fmt.Sprintf("%q", id)) {
		t.Errorf("execution rerun should name the original: %v\n%s", err, out)
	}
	_, err = cli("execution", "cancel", id)
	if err == nil || !strings.Contains(err.Error(), "already ended") {
		t.Errorf("cancel of a completed execution: %v, want a conflict saying it already ended", err)
	}

	// Without the config file and token, the CLI is refused.
	_, _, err = attune(t, "execution", "list", "--url", sys.url, "--config", filepath.Join(home, "none.yaml"))
	var apiErr *apiclient.APIError
	if !asAPIError(unwrapAll(err), &apiErr) || apiErr.Status != 401 {
		t.Errorf("CLI without a token: %v, want 401", err)
	}
}

func unwrapAll(err error) error {
	for {
		u, ok := err.(interface{ Unwrap() error })
		if !ok {
			return err
		}
		next := u.Unwrap()
		if next == nil {
			return err
		}
		err = next
	}
}

func TestE2EPaginationNeitherRepeatsNorSkipsWhileExecutionsArrive(t *testing.T) {
	t.Parallel()
	sys := startSystem(t, "inprocess", nil)
	ctx := context.Background()
	before := map[string]bool{}
	for range 40 {
		x, err := sys.api.Run(ctx, "core.noop", nil)
		if err != nil {
			t.Fatal(err)
		}
		before[x.ID] = true
	}
	sys.eventually(30*time.Second, "the 40 executions in the read model", func() bool {
		return len(sys.executions(url.Values{})) >= 40
	})

	// New executions keep arriving while a client pages through the list.
	stop := make(chan struct{})
	arriving := make(chan error, 1)
	go func() {
		defer close(arriving)
		for {
			select {
			case <-stop:
				return
			default:
			}
			if _, err := sys.api.Run(ctx, "core.noop", nil); err != nil {
				arriving <- err
				return
			}
		}
	}()
	seen := map[string]int{}
	q := url.Values{"limit": {"7"}}
	for pages := 0; ; pages++ {
		page, err := sys.api.Executions(ctx, q)
		if err != nil {
			t.Fatal(err)
		}
		for _, x := range page.Items {
			seen[x.ID]++
		}
		if page.NextCursor == nil {
			break
		}
		q.Set("cursor", *page.NextCursor)
		time.Sleep(20 * time.Millisecond) // let more arrive between pages
	}
	close(stop)
	if err := <-arriving; err != nil {
		t.Fatal(err)
	}
	for id, n := range seen {
		if n > 1 {
			t.Errorf("execution %s listed %d times", id, n)
		}
	}
	for id := range before {
		if seen[id] != 1 {
			t.Errorf("execution %s, there before paging began, was listed %d times", id, seen[id])
		}
	}
}
