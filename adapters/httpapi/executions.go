package httpapi

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/attune-go/attune/adapters/auth"
	"github.com/attune-go/attune/adapters/idempotency"
	"github.com/attune-go/attune/adapters/secret"
	"github.com/attune-go/attune/domain/execution"
	"github.com/attune-go/attune/projections/executions"
)

// Execution is the API's view of an execution: secrets redacted, times in UTC, absent
// times null.
type Execution struct {
	ID              string           `json:"id"`
	Action          string           `json:"action"`
	RunnerType      string           `json:"runner_type,omitempty"`
	Status          execution.Status `json:"status"`
	Parameters      json.RawMessage  `json:"parameters"`
	Result          json.RawMessage  `json:"result"`
	ExitCode        *int             `json:"exit_code"`
	Reason          string           `json:"reason,omitempty"`
	Stdout          string           `json:"stdout,omitempty"`
	Stderr          string           `json:"stderr,omitempty"`
	OutputTruncated bool             `json:"output_truncated,omitempty"`
	Parent          string           `json:"parent,omitempty"`
	WorkflowTask    string           `json:"workflow_task,omitempty"`
	Enforcement     string           `json:"enforcement,omitempty"`
	Rule            string           `json:"rule,omitempty"`
	Trigger         string           `json:"trigger,omitempty"`
	TriggerEvent    string           `json:"trigger_event,omitempty"`
	RerunOf         string           `json:"rerun_of,omitempty"`
	RetryOf         string           `json:"retry_of,omitempty"`
	RetryAttempt    int              `json:"retry_attempt,omitempty"`
	RetriedBy       string           `json:"retried_by,omitempty"`
	Worker          string           `json:"worker,omitempty"`
	Runtime         string           `json:"runtime,omitempty"`
	TraceTag        string           `json:"trace_tag,omitempty"`
	CreatedAt       time.Time        `json:"created_at"`
	StartedAt       *time.Time       `json:"started_at"`
	FinishedAt      *time.Time       `json:"finished_at"`
	UpdatedAt       time.Time        `json:"updated_at"`
}

// ExecutionView converts a read-model row for the API.
func ExecutionView(x executions.Execution) Execution {
	params := x.Parameters
	if len(params) == 0 {
		params = json.RawMessage(`{}`)
	}
	result := x.Result
	if len(result) == 0 {
		result = json.RawMessage(`null`)
	}
	return Execution{
		ID: x.ID, Action: x.Action, RunnerType: x.RunnerType, Status: x.Status,
		Parameters: secret.RedactParams(params), Result: result, ExitCode: x.ExitCode, Reason: x.Reason,
		Stdout: x.Stdout, Stderr: x.Stderr, OutputTruncated: x.OutputTruncated,
		Parent: x.Parent, WorkflowTask: x.WorkflowTask, Enforcement: x.Enforcement, Rule: x.Rule,
		Trigger: x.Trigger, TriggerEvent: x.TriggerEvent, RerunOf: x.RerunOf, RetryOf: x.RetryOf,
		RetryAttempt: x.RetryAttempt, RetriedBy: x.RetriedBy,
		Worker: x.Worker, Runtime: x.Runtime, TraceTag: x.TraceTag,
		CreatedAt: x.CreatedAt.UTC(), StartedAt: optTime(x.StartedAt), FinishedAt: optTime(x.FinishedAt),
		UpdatedAt: x.UpdatedAt.UTC(),
	}
}

func optTime(t time.Time) *time.Time {
	if t.IsZero() {
		return nil
	}
	u := t.UTC()
	return &u
}

func (s *Server) runAction(w http.ResponseWriter, r *http.Request) error {
	var req RunRequest
	if err := decodeBody(w, r, s.cfg.MaxBody, &req); err != nil {
		return err
	}
	if req.Action == "" {
		return &Error{Status: http.StatusUnprocessableEntity, Code: CodeValidation, Field: "action", Message: "action is required (pack.name)"}
	}
	req.Actor = actor(r)
	key, err := idempotencyKey(r)
	if err != nil {
		return err
	}
	req.IdempotencyKey, req.Caller = key, caller(r)
	x, err := s.cfg.RunAction(r.Context(), req)
	if err != nil {
		return err
	}
	// The answer is the execution as the request left it in the log (RunAction): no wait for
	// the executions read model, which trails the log.
	w.Header().Set("Location", "/api/v1/executions/"+x.ID)
	writeJSON(w, http.StatusCreated, x)
	return nil
}

// RequestedView is the API's view of an execution as its request recorded it, for an answer
// given before the read model has it: the request's fields, the status given, no result.
func RequestedView(r execution.ExecutionRequested, status execution.Status, traceTag string, created, updated time.Time) Execution {
	params := r.Parameters
	if len(params) == 0 {
		params = json.RawMessage(`{}`)
	}
	return Execution{
		ID: r.ExecutionID, Action: r.Action, RunnerType: r.RunnerType, Status: status,
		Parameters: secret.RedactParams(params), Result: json.RawMessage(`null`),
		Parent: r.ParentID, WorkflowTask: r.WorkflowTask, Enforcement: r.EnforcementID, Rule: r.Rule,
		Trigger: r.Trigger, TriggerEvent: r.EventID, RerunOf: r.RerunOf, RetryOf: r.RetryOf,
		RetryAttempt: r.RetryAttempt, TraceTag: traceTag,
		CreatedAt: created.UTC(), UpdatedAt: updated.UTC(),
	}
}

// idempotencyKey returns the request's Idempotency-Key, "" when none was sent; a header that
// is sent must hold a usable key (400 otherwise), never be ignored.
func idempotencyKey(r *http.Request) (string, error) {
	values, sent := r.Header[http.CanonicalHeaderKey(idempotency.Header)]
	if !sent {
		return "", nil
	}
	if len(values) != 1 {
		return "", badRequest(idempotency.Header, "send one %s header, not %d", idempotency.Header, len(values))
	}
	if err := idempotency.CheckKey(values[0]); err != nil {
		return "", badRequest(idempotency.Header, "%v", err)
	}
	return values[0], nil
}

// caller identifies who sent a request, to scope its idempotency keys: the token's id with
// access control on, else the actor the client names.
func caller(r *http.Request) string {
	if p, ok := auth.PrincipalFrom(r.Context()); ok {
		return "token:" + p.TokenID
	}
	return "actor:" + actor(r)
}

// answerExecution returns the execution as the read model has it. The projection trails the
// log by milliseconds, so it waits a moment for it; past that it answers with the id alone —
// the request is in the log either way.
func (s *Server) answerExecution(w http.ResponseWriter, r *http.Request, status int, id string) error {
	w.Header().Set("Location", "/api/v1/executions/"+id)
	if s.cfg.GetExecution != nil {
		for delay := 5 * time.Millisecond; delay < time.Second; delay *= 2 {
			if x, err := s.cfg.GetExecution(r.Context(), id); err == nil {
				writeJSON(w, status, ExecutionView(x))
				return nil
			}
			select {
			case <-r.Context().Done():
				return r.Context().Err()
			case <-time.After(delay):
			}
		}
	}
	writeJSON(w, status, map[string]any{"id": id})
	return nil
}

func (s *Server) getExecution(w http.ResponseWriter, r *http.Request) error {
	id := r.PathValue("id")
	x, err := s.cfg.GetExecution(r.Context(), id)
	if errors.Is(err, executions.ErrNotFound) {
		return notFound("execution", id)
	}
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, ExecutionView(x))
	return nil
}

func (s *Server) listExecutions(w http.ResponseWriter, r *http.Request) error {
	f, err := executionFilter(r)
	if err != nil {
		return err
	}
	page, err := s.cfg.ListExecutions(r.Context(), f)
	if err != nil {
		return err
	}
	items := make([]Execution, 0, len(page.Items))
	for _, x := range page.Items {
		items = append(items, ExecutionView(x))
	}
	var next *string
	if page.Next != "" {
		next = &page.Next
	}
	writeJSON(w, http.StatusOK, map[string]any{"items": items, "next_cursor": next})
	return nil
}

func executionFilter(r *http.Request) (executions.Filter, error) {
	q := r.URL.Query()
	f := executions.Filter{
		Action: q.Get("action"), Rule: q.Get("rule"), Trigger: q.Get("trigger"),
		Parent: q.Get("parent"), TraceTag: q.Get("trace_tag"), Cursor: q.Get("cursor"),
	}
	for _, s := range q["status"] {
		for _, one := range strings.Split(s, ",") {
			st, err := execution.ParseStatus(one)
			if err != nil {
				return f, badRequest("status", "%v", err)
			}
			f.Status = append(f.Status, st)
		}
	}
	for _, tf := range []struct {
		name string
		dst  *time.Time
	}{{"since", &f.Since}, {"until", &f.Until}} {
		if v := q.Get(tf.name); v != "" {
			t, err := time.Parse(time.RFC3339Nano, v)
			if err != nil {
				return f, badRequest(tf.name, "%s %q: want an RFC 3339 time like 2026-11-23T09:00:00Z", tf.name, v)
			}
			*tf.dst = t
		}
	}
	if v := q.Get("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 {
			return f, badRequest("limit", "limit %q: want a whole number of at least 1", v)
		}
		f.Limit = n
	}
	if err := f.Validate(); err != nil {
		return f, badRequest("", "%s", strings.ReplaceAll(err.Error(), "\n", "; "))
	}
	return f, nil
}

func (s *Server) executionHistory(w http.ResponseWriter, r *http.Request) error {
	id := r.PathValue("id")
	events, err := s.cfg.ReadStream(r.Context(), execution.StreamID(id))
	if err != nil {
		return err
	}
	if len(events) == 0 {
		return notFound("execution", id)
	}
	out := make([]Envelope, 0, len(events))
	for _, e := range events {
		out = append(out, EnvelopeOf(e))
	}
	writeJSON(w, http.StatusOK, map[string]any{"items": out})
	return nil
}

func (s *Server) cancelExecution(w http.ResponseWriter, r *http.Request) error {
	id := r.PathValue("id")
	if err := s.cfg.CancelExecution(r.Context(), id, actor(r)); err != nil {
		return err
	}
	return s.answerExecution(w, r, http.StatusAccepted, id)
}

// RerunRequest is the optional body of POST /api/v1/executions/{id}/rerun: without it (or
// without from_task) the execution's action runs again with its parameters.
type RerunRequest struct {
	// FromTask re-runs a workflow from this task: the tasks that finished before it are not
	// run again, their results and published vars are reused.
	FromTask string `json:"from_task,omitempty"`
	// FailedItems, with FromTask naming a with-items task, runs only its failed items.
	FailedItems bool `json:"failed_items,omitempty"`
	// Parameters are laid over the original's, at the top level.
	Parameters json.RawMessage `json:"parameters,omitempty"`
	Actor      string          `json:"-"`
}

func (s *Server) rerunExecution(w http.ResponseWriter, r *http.Request) error {
	var req RerunRequest
	if r.ContentLength != 0 {
		if err := decodeBody(w, r, s.cfg.MaxBody, &req); err != nil {
			return err
		}
	}
	if req.FailedItems && req.FromTask == "" {
		return &Error{Status: http.StatusUnprocessableEntity, Code: CodeValidation, Field: "failed_items",
			Message: "failed_items re-runs the failed items of the task from_task names: name it"}
	}
	req.Actor = actor(r)
	id, err := s.cfg.RerunExecution(r.Context(), r.PathValue("id"), req)
	if err != nil {
		return err
	}
	return s.answerExecution(w, r, http.StatusCreated, id)
}

func (s *Server) pauseExecution(w http.ResponseWriter, r *http.Request) error {
	return s.holdExecution(w, r, s.cfg.PauseExecution)
}

func (s *Server) resumeExecution(w http.ResponseWriter, r *http.Request) error {
	return s.holdExecution(w, r, s.cfg.ResumeExecution)
}

// holdExecution pauses or resumes, and answers with the execution as the read model has it
// but with the status the request left it in, which the read model may not show yet.
func (s *Server) holdExecution(w http.ResponseWriter, r *http.Request, do func(ctx context.Context, id, actor string) (execution.Status, error)) error {
	id := r.PathValue("id")
	status, err := do(r.Context(), id, actor(r))
	if err != nil {
		return err
	}
	w.Header().Set("Location", "/api/v1/executions/"+id)
	if s.cfg.GetExecution != nil {
		if x, err := s.cfg.GetExecution(r.Context(), id); err == nil {
			view := ExecutionView(x)
			view.Status = status
			writeJSON(w, http.StatusAccepted, view)
			return nil
		}
	}
	writeJSON(w, http.StatusAccepted, map[string]any{"id": id})
	return nil
}
