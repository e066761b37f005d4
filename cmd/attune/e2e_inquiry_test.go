package main

import (
	"context"
	"encoding/json"
	"errors"
	"net/url"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/attune-go/attune/adapters/apiclient"
	"github.com/attune-go/attune/adapters/eventstore"
	"github.com/attune-go/attune/adapters/httpapi"
	"github.com/attune-go/attune/domain/execution"
	"github.com/attune-go/attune/domain/inquiry"
)

// approvalPack is a workflow that asks before it ships: the answer (or its absence) picks
// the branch, and is published into the workflow's output.
func approvalPack(t *testing.T) string {
	return writePack(t, map[string]string{
		"pack.yaml": "ref: approvals\nversion: 1.0.0\n",
		"actions/deploy.yaml": "name: deploy\nrunner_type: workflow\nentry_point: workflows/deploy.yaml\n" +
			"parameters:\n  ttl: {type: integer, default: 3600}\n",
		"actions/workflows/deploy.yaml": `version: 1
tasks:
  approve:
    action: core.ask
    input:
      schema:
        approved: {type: boolean, required: true}
        comment: {type: string, default: ""}
      tokens: [approver]
      roles: [admin]
      ttl: "{{ parameters.ttl }}"
      route: release-managers
    next:
      - when: "{{ succeeded() and result().approved }}"
        publish: {decision: approved, comment: "{{ result().comment }}"}
        do: [ship]
      - when: "{{ succeeded() and not result().approved }}"
        publish: {decision: rejected, comment: "{{ task.approve.result.comment }}"}
        do: [stop]
      - when: "{{ timed_out() }}"
        publish: {decision: expired}
        do: [stop]
  ship:
    action: core.echo
    input: {message: shipping}
  stop:
    action: core.echo
    input: {message: not shipping}
output:
  decision: "{{ vars.decision }}"
  comment: "{{ vars.comment ?? '' }}"
`,
	})
}

// ask runs the workflow and waits until its inquiry is pending; it returns both ids.
func (s *system) ask(params map[string]json.RawMessage) (wf string, q httpapi.Inquiry) {
	s.t.Helper()
	ctx := context.Background()
	x, err := s.api.Run(ctx, "approvals.deploy", params)
	if err != nil {
		s.t.Fatal(err)
	}
	wf = x.ID
	s.eventually(20*time.Second, "the workflow's inquiry to be pending", func() bool {
		page, err := s.api.Inquiries(ctx, url.Values{"parent": {wf}, "status": {"pending"}})
		if err != nil || len(page.Items) == 0 {
			return false
		}
		q = page.Items[0]
		return true
	})
	var child httpapi.Execution
	s.eventually(10*time.Second, "the asking execution to be pending", func() bool {
		var err error
		child, err = s.api.Execution(ctx, q.ExecutionID)
		return err == nil && child.Status == execution.Pending
	})
	if child.Action != inquiry.AskAction || child.WorkflowTask != "approve" || child.Parent != wf {
		s.t.Fatalf("the asking execution: %s task %s of %s; want core.ask, task approve of %s", child.Action, child.WorkflowTask, child.Parent, wf)
	}
	// Nothing else runs beside the question, so the workflow itself waits: paused.
	s.eventually(10*time.Second, "the workflow to be paused while its inquiry waits", func() bool {
		x, err := s.api.Execution(ctx, wf)
		return err == nil && x.Status == execution.Paused
	})
	return wf, q
}

// finished waits for the workflow and returns its output and which of ship/stop ran.
func (s *system) finished(wf string) (output map[string]any, ran []string) {
	s.t.Helper()
	x := s.waitTerminal(wf)
	if x.Status != execution.Completed {
		s.t.Fatalf("workflow %s: %s (%s), want completed", wf, x.Status, x.Reason)
	}
	if err := json.Unmarshal(x.Result, &output); err != nil {
		s.t.Fatalf("workflow output %s: %v", x.Result, err)
	}
	for _, c := range s.executions(url.Values{"parent": {wf}}) {
		if c.WorkflowTask == "ship" || c.WorkflowTask == "stop" {
			ran = append(ran, c.WorkflowTask)
		}
	}
	return output, ran
}

func apiCode(err error) string {
	var e *apiclient.APIError
	if !errors.As(err, &e) {
		return ""
	}
	if e.Field != "" {
		return e.Code + "@" + e.Field
	}
	return e.Code
}

// TestE2EInquiries drives a workflow that waits for a person through every way an inquiry
// ends: approved and rejected answers pick the branch (one through the CLI), a bad answer,
// a token the inquiry does not name and a second answer are refused with their codes, an
// unanswered one times out into the timed_out() branch, and a cancelled workflow cancels
// its inquiry. New inquiries show on the live stream, and the log verifies afterwards.
func TestE2EInquiries(t *testing.T) {
	t.Parallel()
	for _, transport := range transports {
		t.Run(transport, func(t *testing.T) {
			t.Parallel()
			sys := startSystem(t, transport, []string{approvalPack(t)})
			ctx := context.Background()
			approverTok := sys.tokenNamed("approver", "viewer")
			operatorTok := sys.tokenFor("operator")
			approver, _ := apiclient.New(sys.url, approverTok)
			operator, _ := apiclient.New(sys.url, operatorTok)

			stream, err := sys.api.OpenStream(ctx, apiclient.StreamQuery{Types: []string{"InquiryCreated"}})
			if err != nil {
				t.Fatal(err)
			}
			defer stream.Close()

			// Approved, through the API, by the token the inquiry names (a mere viewer).
			wf, q := sys.ask(nil)
			if q.Route != "release-managers" || q.SchemaKind != inquiry.SchemaFlat || q.TTLSeconds != 3600 ||
				strings.Join(q.Tokens, ",") != "approver" || strings.Join(q.Roles, ",") != "admin" || q.Task != "approve" {
				t.Errorf("inquiry as listed: %+v", q)
			}
			seen, err := stream.Next()
			if err != nil || seen.StreamID != inquiry.StreamID(q.ID) {
				t.Errorf("live stream: %+v, %v; want the InquiryCreated of %s", seen, err, q.ID)
			}
			for _, tc := range []struct {
				who    *apiclient.Client
				answer string
				code   string
			}{
				{operator, `{"approved": true}`, "forbidden"},
				{approver, `{"approved": "yes"}`, "invalid_answer@/approved"},
				{approver, `{"comment": "no flag"}`, "invalid_answer@/approved"},
				{approver, `{"approved": true, "colour": "red"}`, "invalid_answer@/colour"},
			} {
				if _, err := tc.who.Respond(ctx, q.ID, json.RawMessage(tc.answer)); apiCode(err) != tc.code {
					t.Errorf("answer %s: %v, want %s", tc.answer, err, tc.code)
				}
			}
			a, err := approver.Respond(ctx, q.ID, json.RawMessage(`{"approved": true, "comment": "go"}`))
			if err != nil || a.Responder != "approver" || string(a.Response) != `{"approved":true,"comment":"go"}` {
				t.Fatalf("approve: %+v, %v", a, err)
			}
			if _, err := sys.api.Respond(ctx, q.ID, json.RawMessage(`{"approved": false}`)); apiCode(err) != "inquiry_closed" {
				t.Errorf("a second answer: %v, want inquiry_closed (409)", err)
			}
			out, ran := sys.finished(wf)
			if out["decision"] != "approved" || out["comment"] != "go" || strings.Join(ran, ",") != "ship" {
				t.Errorf("approved: output %v, ran %v; want approved/go and ship", out, ran)
			}
			child, _ := sys.api.Execution(ctx, q.ExecutionID)
			var result map[string]any
			_ = json.Unmarshal(child.Result, &result)
			if child.Status != execution.Completed || result["approved"] != true || result["comment"] != "go" {
				t.Errorf("the asking execution: %s %s, want completed with the answer", child.Status, child.Result)
			}
			sys.eventually(10*time.Second, "the read model to show the answer", func() bool {
				got, err := sys.api.Inquiry(ctx, q.ID)
				return err == nil && got.Status == inquiry.Responded && got.Responder == "approver" && got.RespondedAt != nil
			})

			// Rejected, through the CLI, by an admin (the role the inquiry names). The
			// default of the flat schema's comment is applied.
			wf, q = sys.ask(nil)
			if _, stderr, err := attune(t, "inquiry", "respond", q.ID, `{"approved": false}`, "--url", sys.url, "--config", sys.cliConfig); err != nil {
				t.Fatalf("attune inquiry respond: %v\n%s", err, stderr)
			}
			out, ran = sys.finished(wf)
			if out["decision"] != "rejected" || out["comment"] != "" || strings.Join(ran, ",") != "stop" {
				t.Errorf("rejected: output %v, ran %v; want rejected and stop", out, ran)
			}
			if listed, _, err := attune(t, "inquiry", "list", "--status", "responded", "--url", sys.url, "--config", sys.cliConfig); err != nil || !strings.Contains(listed, q.ID) {
				t.Errorf("attune inquiry list --status responded: %v\n%s", err, listed)
			}

			// Unanswered: at its ttl the task ends timeout and the workflow takes timed_out().
			wf, q = sys.ask(map[string]json.RawMessage{"ttl": json.RawMessage(`2`)})
			out, ran = sys.finished(wf)
			if out["decision"] != "expired" || strings.Join(ran, ",") != "stop" {
				t.Errorf("timed out: output %v, ran %v; want expired and stop", out, ran)
			}
			if child, _ := sys.api.Execution(ctx, q.ExecutionID); child.Status != execution.Timeout {
				t.Errorf("the asking execution: %s, want timeout", child.Status)
			}
			if _, err := approver.Respond(ctx, q.ID, json.RawMessage(`{"approved": true}`)); apiCode(err) != "inquiry_closed" {
				t.Errorf("an answer after the ttl: %v, want inquiry_closed", err)
			}

			// Cancelled with its workflow: the cancel cascades, and the inquiry takes no answer.
			wf, q = sys.ask(nil)
			if _, err := sys.api.Cancel(ctx, wf); err != nil {
				t.Fatal(err)
			}
			if x := sys.waitTerminal(wf); x.Status != execution.Cancelled {
				t.Errorf("cancelled workflow: %s", x.Status)
			}
			sys.eventually(10*time.Second, "the inquiry to be cancelled", func() bool {
				got, err := sys.api.Inquiry(ctx, q.ID)
				return err == nil && got.Status == inquiry.Cancelled
			})
			if _, err := approver.Respond(ctx, q.ID, json.RawMessage(`{"approved": true}`)); apiCode(err) != "inquiry_closed" {
				t.Errorf("an answer after the cancel: %v, want inquiry_closed", err)
			}

			if out, _, err := attune(t, "audit", "verify", "--database-url", sys.dbURL, "--schema", sys.schema.Name, "--catch-up-wait", "10s"); err != nil {
				t.Errorf("audit verify: %v\n%s", err, out)
			}
		})
	}
}

// tokenNamed creates a token with the CLI, against the database, as an admin would.
func (s *system) tokenNamed(name, role string) string {
	s.t.Helper()
	out, _, err := attune(s.t, "token", "create", "--name", name, "--role", role, "--database-url", s.dbURL, "--schema", s.schema.Name)
	if err != nil {
		s.t.Fatalf("token create --name %s: %v", name, err)
	}
	return strings.TrimSpace(out)
}

// TestE2EAnAnswerResumesTheWorkflowAfterTheServerIsKilled kills `attune serve` (SIGKILL, a
// real process) while a workflow waits for its answer, starts it again, answers, and checks
// that the workflow goes on exactly once: the question is in the log, not in the process.
func TestE2EAnAnswerResumesTheWorkflowAfterTheServerIsKilled(t *testing.T) {
	t.Parallel()
	pack := approvalPack(t)
	sys := prepareSystem(t, "inprocess")
	start := func() *exec.Cmd {
		cmd := exec.Command(os.Args[0], sys.serveArgs([]string{pack})...)
		cmd.Env = append(os.Environ(), "ATTUNE_E2E_MAIN=1")
		cmd.Stdout, cmd.Stderr = sys.logs, sys.logs
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
		return cmd
	}
	first := start()
	sys.connect()
	wf, q := sys.ask(nil)
	if err := first.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	_ = first.Wait()
	start()
	sys.waitReady()

	ctx := context.Background()
	if _, err := sys.api.Respond(ctx, q.ID, json.RawMessage(`{"approved": true}`)); err != nil {
		t.Fatalf("answer after the restart: %v", err)
	}
	out, ran := sys.finished(wf)
	if out["decision"] != "approved" || strings.Join(ran, ",") != "ship" {
		t.Errorf("after the restart: output %v, ran %v; want approved and ship once", out, ran)
	}
	counts := countTypes(sys.logEvents(), func(e eventstore.Recorded) bool { return strings.HasPrefix(e.StreamID, "inquiry-") })
	if counts["InquiryCreated"] != 1 || counts["InquiryResponded"] != 1 {
		t.Errorf("inquiry events %v, want one created and one answer", counts)
	}
	if out, _, err := attune(t, "audit", "verify", "--database-url", sys.dbURL, "--schema", sys.schema.Name, "--catch-up-wait", "10s"); err != nil {
		t.Errorf("audit verify: %v\n%s", err, out)
	}
}
