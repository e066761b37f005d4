package main

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/oklog/ulid/v2"

	"github.com/attune-go/attune/adapters/auth/clientconfig"
	"github.com/attune-go/attune/adapters/eventstore"
	"github.com/attune-go/attune/domain/event"
	"github.com/attune-go/attune/domain/trigger"
)

// Text no read model can hold is refused at the door, with the field, and nothing of it
// reaches the log; the engine goes on running everything else.
func TestE2ETextNoReadModelCanHoldIsRefusedAndExecutionsKeepFlowing(t *testing.T) {
	t.Parallel()
	sys := startSystem(t, "inprocess", []string{e2ePack(t)})
	operator := sys.tokenFor("operator")
	counted := func() map[string]int {
		return countTypes(sys.logEvents(), func(e eventstore.Recorded) bool {
			return e.Type == "EventFired" || e.Type == "ExecutionRequested"
		})
	}
	before := counted()

	for _, tc := range []struct {
		name, method, path, token, body string
		status                          int
		code                            string
	}{
		{"a webhook with an escaped NUL", "POST", "/api/v1/webhooks/e2e.hook", "", `{"level":"error","msg":"disk \u0000 full"}`, 400, "invalid_text@/msg"},
		{"a webhook with invalid UTF-8", "POST", "/api/v1/webhooks/e2e.multi", "", "{\"x\":\"\xff\"}", 400, "invalid_text@/x"},
		{"a run with a NUL in a parameter", "POST", "/api/v1/executions", operator, `{"action":"core.echo","parameters":{"message":"a\u0000"}}`, 400, "invalid_text@/parameters/message"},
		{"a run with invalid UTF-8", "POST", "/api/v1/executions", operator, "{\"action\":\"core.echo\",\"parameters\":{\"message\":\"\xc3\"}}", 400, "invalid_text@/parameters/message"},
		{"a run with a 900 KB trace tag", "POST", "/api/v1/executions", operator, `{"action":"core.echo","trace_tag":"` + strings.Repeat("t", 900_000) + `"}`, 400, "too_long@/trace_tag"},
		{"a rule test with a NUL", "POST", "/api/v1/rules/e2e.on_error/test", operator, `{"payload":{"msg":"\u0000"}}`, 400, "invalid_text@/payload/msg"},
		{"a NUL in a path id", "GET", "/api/v1/executions/01J%00", operator, "", 400, "invalid_text@path"},
	} {
		status, code := sys.request(tc.method, tc.path, tc.token, tc.body)
		if status != tc.status || code != tc.code {
			t.Errorf("%s: %s %s = %d %q, want %d %q", tc.name, tc.method, tc.path, status, code, tc.status, tc.code)
		}
	}
	if after := counted(); after["EventFired"] != before["EventFired"] || after["ExecutionRequested"] != before["ExecutionRequested"] {
		t.Errorf("refused requests changed the log: %v before, %v after", before, after)
	}

	// Everything else still runs: a webhook through its rule, and a request.
	match := sys.webhook("e2e.hook", map[string]any{"level": "error", "msg": "disk full"})
	x, err := sys.api.Run(context.Background(), "core.echo", map[string]json.RawMessage{"message": json.RawMessage(`"déjà vu"`)})
	if err != nil {
		t.Fatalf("run after the refusals: %v", err)
	}
	if got := sys.waitTerminal(x.ID); got.Status != "completed" {
		t.Errorf("execution %s ended %s, want completed", x.ID, got.Status)
	}
	// An action that prints a NUL and binary still ends, its output cleaned for the log.
	bin, err := sys.api.Run(context.Background(), "core.local", map[string]json.RawMessage{"cmd": json.RawMessage(`"printf 'a\\000b\\377c'"`)})
	if err != nil {
		t.Fatalf("run an action that prints a NUL: %v", err)
	}
	if got := sys.waitTerminal(bin.ID); got.Status != "completed" || got.Stdout != "a\uFFFDb\uFFFDc" {
		t.Errorf("an action printing a NUL and a bad byte ended %s with stdout %q, want completed with U+FFFD in their place", got.Status, got.Stdout)
	}
	sys.eventually(30*time.Second, "the webhook's execution to complete", func() bool {
		xs := sys.executions(url.Values{"rule": {"e2e.on_error"}, "status": {"completed"}})
		return len(xs) == 1 && xs[0].TriggerEvent == match
	})
	if status, _ := sys.request("GET", "/readyz", "", ""); status != http.StatusOK {
		t.Errorf("/readyz = %d after refused input, want 200", status)
	}
}

// An event already in the log that a read model cannot hold (recorded before the gate
// existed) stalls its projection loudly — /readyz, the metric, audit verify — while the rest
// of the engine goes on, and a rebuild fails without emptying the live table.
func TestE2EALegacyEventNoProjectionCanApplyIsReportedEverywhere(t *testing.T) {
	t.Parallel()
	sys := startSystem(t, "inprocess", []string{e2ePack(t)})
	ctx := context.Background()
	file, err := clientconfig.Load(sys.cliConfig)
	if err != nil {
		t.Fatal(err)
	}
	admin := file.Token
	sys.webhook("e2e.multi", map[string]any{"n": 1})
	liveRows := func() int {
		var n int
		if err := sys.schema.Pool.QueryRow(ctx, "SELECT count(*) FROM trigger_events").Scan(&n); err != nil {
			t.Fatal(err)
		}
		return n
	}
	sys.eventually(30*time.Second, "the first trigger event in its read model", func() bool { return liveRows() == 1 })

	// Legacy data: appended to the log without the guard, as before it existed.
	id := ulid.Make().String()
	p, err := eventstore.NewProposed(&trigger.EventFired{EventID: id, Trigger: "legacy.gone", Source: trigger.Webhook, Payload: []byte(`{"msg":"\u0000"}`)},
		event.Metadata{CorrelationID: id, Actor: "webhook"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := sys.log.Append(ctx, trigger.StreamID(id), eventstore.NoStream, p); err != nil {
		t.Fatal(err)
	}
	recs, err := sys.log.ReadStream(ctx, trigger.StreamID(id))
	if err != nil || len(recs) != 1 {
		t.Fatalf("read back the legacy event: %v", err)
	}
	pos := recs[0].Position.String()

	sys.eventually(30*time.Second, "/readyz to answer 503 naming the stalled projection", func() bool {
		resp, err := http.Get(sys.url + "/readyz")
		if err != nil {
			return false
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		return resp.StatusCode == http.StatusServiceUnavailable && strings.Contains(string(body), "projection:events") && strings.Contains(string(body), pos)
	})
	metrics := sys.get("/metrics", admin)
	if !strings.Contains(metrics, `attune_projection_stalled{projection="projection:events"} 1`) ||
		!strings.Contains(metrics, `attune_projection_stalled{projection="projection:executions"} 0`) {
		t.Errorf("/metrics does not show projection:events stalled and executions not:\n%s", grepLines(metrics, "attune_projection_stalled"))
	}
	if !strings.Contains(sys.logs.String(), "projection stalled") || !strings.Contains(sys.logs.String(), pos) {
		t.Errorf("the server log has no line naming the stall at %s:\n%s", pos, sys.logs.String())
	}

	// The log and the other projections go on: a new execution runs and is listed.
	x, err := sys.api.Run(ctx, "core.echo", map[string]json.RawMessage{"message": json.RawMessage(`"still here"`)})
	if err != nil {
		t.Fatalf("run while a projection is stalled: %v", err)
	}
	if got := sys.waitTerminal(x.ID); got.Status != "completed" {
		t.Errorf("execution %s ended %s, want completed", x.ID, got.Status)
	}

	out, _, err := attune(t, "audit", "verify", "--database-url", sys.dbURL, "--schema", sys.schema.Name, "--catch-up-wait", "3s")
	if exitCode(err) != 3 || !strings.Contains(err.Error(), "projection:events") {
		t.Errorf("audit verify: err %v (exit %d), want exit 3 naming projection:events\n%s", err, exitCode(err), out)
	}
	if !strings.Contains(out, "BEHIND: projection:events") || !strings.Contains(out, "STALLED: projection:events cannot apply the event at position "+pos) ||
		strings.Contains(out, "equal: projection:events") {
		t.Errorf("audit verify output does not report projection:events behind and stalled at %s:\n%s", pos, out)
	}
	if !strings.Contains(out, "equal: projection:executions") {
		t.Errorf("audit verify blamed the healthy executions projection:\n%s", out)
	}

	out, _, err = attune(t, "projections", "rebuild", "events", "--database-url", sys.dbURL, "--schema", sys.schema.Name)
	if err == nil || exitCode(err) == 0 || !strings.Contains(err.Error(), pos) || !strings.Contains(err.Error(), "unchanged") {
		t.Errorf("rebuild over the legacy event: err %v, out %q; want a failure naming position %s and the live table unchanged", err, out, pos)
	}
	if n := liveRows(); n != 1 {
		t.Errorf("after the failed rebuild the live trigger_events has %d rows, want the 1 it served", n)
	}
}

// get fetches path with a token and returns the body, failing unless it answers 200.
func (s *system) get(path, token string) string {
	s.t.Helper()
	req, err := http.NewRequest("GET", s.url+path, nil)
	if err != nil {
		s.t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		s.t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		s.t.Fatalf("GET %s = %d %s", path, resp.StatusCode, body)
	}
	return string(body)
}

func grepLines(s, sub string) string {
	var out []string
	for _, l := range strings.Split(s, "\n") {
		if strings.Contains(l, sub) {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}
