package main

import (
	"context"
	"net/url"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/attune-go/attune/adapters/auth/clientconfig"
	"github.com/attune-go/attune/domain/execution"
)

// Issue 8, items 5 and 6, end to end through `attune serve` and the CLI: a split runs its
// task once per arriving transition and the workflow completes; a typo in with.items fails
// the workflow naming the var; a rule naming a payload field the event lacks yields a failed
// execution with the reason, listed by `attune execution list --status failed`.
func TestE2ENothingStallsAndNothingIsSkippedInSilence(t *testing.T) {
	t.Parallel()
	dir := writePack(t, map[string]string{
		"pack.yaml":          "ref: quiet\nversion: 1.0.0\n",
		"actions/split.yaml": "name: split\nrunner_type: workflow\nentry_point: workflows/split.yaml\n",
		"actions/typo.yaml":  "name: typo\nrunner_type: workflow\nentry_point: workflows/typo.yaml\n",
		"actions/workflows/split.yaml": `version: 1
tasks:
  init:
    action: core.noop
    next:
      - do: [left, right]
  left:
    action: core.echo
    input: {message: left}
    next:
      - do: notify
  right:
    action: core.echo
    input: {message: right}
    next:
      - do: notify
  notify:
    action: core.echo
    input: {message: "one of the branches is done"}
`,
		"actions/workflows/typo.yaml": `version: 1
vars: {hosts: [a, b]}
tasks:
  each:
    action: core.echo
    with: {items: "{{ vars.hots }}"}
    input: {message: "{{ item }}"}
`,
		"triggers/note.yaml": "name: note\ntype: webhook\n",
		"rules/loud.yaml":    "name: loud\ntrigger: quiet.note\naction: core.echo\nparameters:\n  message: \"{{ event.payload.msg }}\"\n",
	})
	sys := startSystem(t, "inprocess", []string{dir})
	ctx := context.Background()

	split, err := sys.api.Run(ctx, "quiet.split", nil)
	if err != nil {
		t.Fatal(err)
	}
	typo, err := sys.api.Run(ctx, "quiet.typo", nil)
	if err != nil {
		t.Fatal(err)
	}
	sys.webhook("quiet.note", map[string]any{"level": "info"})

	if x := sys.waitTerminal(split.ID); x.Status != execution.Completed {
		t.Errorf("the split workflow ended %s (%s), want completed", x.Status, x.Reason)
	}
	ids := map[string]bool{}
	for _, c := range sys.executions(url.Values{"parent": {split.ID}}) {
		if c.WorkflowTask == "notify" && c.Status == execution.Completed {
			ids[c.ID] = true
		}
	}
	if len(ids) != 2 {
		t.Errorf("notify ran %d times to completion, want twice: once per arriving transition", len(ids))
	}

	x := sys.waitTerminal(typo.ID)
	if x.Status != execution.Failed || !strings.Contains(x.Reason, "vars.hots does not exist") ||
		!strings.Contains(x.Reason, "actions/workflows/typo.yaml") {
		t.Errorf("the with.items typo: workflow %s (%s), want failed naming vars.hots and its file", x.Status, x.Reason)
	}
	if children := sys.executions(url.Values{"parent": {typo.ID}}); len(children) != 0 {
		t.Errorf("the typo workflow ran %d children, want none", len(children))
	}

	sys.eventually(30*time.Second, "the rule's execution to fail", func() bool {
		return len(sys.executions(url.Values{"rule": {"quiet.loud"}, "status": {"failed"}})) == 1
	})
	want := `rule quiet.loud (rules/loud.yaml): parameters.message: template "{{ event.payload.msg }}": event.payload.msg does not exist`
	if got := sys.executions(url.Values{"rule": {"quiet.loud"}})[0]; got.Reason != want || got.Worker != "" {
		t.Errorf("the rule's execution: %s on worker %q (%s), want failed before any worker with\n %s", got.Status, got.Worker, got.Reason, want)
	}
	cfg := filepath.Join(t.TempDir(), "config.yaml")
	if err := clientconfig.Save(cfg, clientconfig.File{URL: sys.url, Token: sys.tokenFor("viewer")}); err != nil {
		t.Fatal(err)
	}
	out, _, err := attune(t, "execution", "list", "--status", "failed", "--rule", "quiet.loud", "--config", cfg)
	if err != nil || !strings.Contains(out, "core.echo") || !strings.Contains(out, "failed") {
		t.Errorf("execution list --status failed: %v\n%s", err, out)
	}
}
