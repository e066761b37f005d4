package httpapi

import (
	"encoding/json"
	"errors"
	"net/http"
	"time"

	"github.com/attune-go/attune/adapters/secret"
	"github.com/attune-go/attune/domain/execution"
	"github.com/attune-go/attune/projections/workflows"
)

// WorkflowTree is the API's view of a workflow run: the parent execution, the workflow's
// state (status, vars, output, the transitions its tasks took) and every task run with its
// child execution, nested down for children that are workflows themselves.
type WorkflowTree struct {
	// Execution is absent while the executions read model has not caught up with the parent.
	Execution   *Execution           `json:"execution,omitempty"`
	Action      string               `json:"action"`
	Status      execution.Status     `json:"status"`
	Error       string               `json:"error,omitempty"`
	Vars        json.RawMessage      `json:"vars"`
	Output      json.RawMessage      `json:"output"`
	StartedAt   *time.Time           `json:"started_at"`
	FinishedAt  *time.Time           `json:"finished_at"`
	Transitions []WorkflowTransition `json:"transitions"`
	Tasks       []WorkflowTask       `json:"tasks"`
}

// WorkflowTransition is how one task finished as a whole and where it led.
type WorkflowTransition struct {
	Task      string           `json:"task"`
	Status    execution.Status `json:"status"`
	Published json.RawMessage  `json:"published,omitempty"`
	Next      []string         `json:"next"`
	At        time.Time        `json:"at"`
}

// WorkflowItem locates one run of a with-items task: item Index of Count.
type WorkflowItem struct {
	Index int `json:"index"`
	Count int `json:"count"`
}

// WorkflowTask is one run of a task: one item, one attempt, one child execution.
type WorkflowTask struct {
	Name        string              `json:"name"`
	Item        *WorkflowItem       `json:"item"`
	Attempt     int                 `json:"attempt"`
	Status      workflows.RunStatus `json:"status"`
	Result      json.RawMessage     `json:"result"`
	Retried     bool                `json:"retried"`
	RetryReason string              `json:"retry_reason,omitempty"`
	NotBefore   *time.Time          `json:"not_before,omitempty"`
	ScheduledAt time.Time           `json:"scheduled_at"`
	FinishedAt  *time.Time          `json:"finished_at"`
	Child       WorkflowChild       `json:"child"`
	// Workflow is the child's own tree when the child is a workflow.
	Workflow *WorkflowTree `json:"workflow,omitempty"`
	// Truncated says the child is a workflow nested too deep to show here: ask for its tree.
	Truncated bool `json:"truncated,omitempty"`
	// Held says the run waits for its workflow to resume: its child is not requested yet.
	Held bool `json:"held,omitempty"`
	// ReusedFrom names the child execution of the re-run workflow whose result this run
	// reuses: it did not run again.
	ReusedFrom string `json:"reused_from,omitempty"`
}

// WorkflowChild is a task run's child execution as the executions read model has it; only
// id and action are known before that read model catches up.
type WorkflowChild struct {
	ID         string           `json:"id"`
	Action     string           `json:"action"`
	Status     execution.Status `json:"status,omitempty"`
	Reason     string           `json:"reason,omitempty"`
	StartedAt  *time.Time       `json:"started_at"`
	FinishedAt *time.Time       `json:"finished_at"`
}

// registerWorkflowRoutes serves the workflow tree read model.
func (s *Server) registerWorkflowRoutes() {
	s.handle("GET /api/v1/executions/{id}/workflow", s.cfg.GetWorkflow != nil, s.getWorkflow)
}

func (s *Server) getWorkflow(w http.ResponseWriter, r *http.Request) error {
	id := r.PathValue("id")
	tree, err := s.cfg.GetWorkflow(r.Context(), id)
	if errors.Is(err, workflows.ErrNotFound) {
		return notFound("workflow execution", id)
	}
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, WorkflowTreeView(tree))
	return nil
}

// WorkflowTreeView converts a tree for the API. Vars, output, results and published values
// pass through the parameter redaction: a var rendered from a secret parameter stays sealed
// in the log, and is shown as redacted.
func WorkflowTreeView(t workflows.Tree) WorkflowTree {
	wf := t.Workflow
	out := WorkflowTree{
		Action: wf.Action, Status: wf.Status, Error: wf.Error,
		Vars: orJSON(secret.RedactParams(wf.Vars), `{}`), Output: orJSON(secret.RedactParams(wf.Output), `null`),
		StartedAt: optTime(wf.StartedAt), FinishedAt: optTime(wf.FinishedAt),
		Transitions: make([]WorkflowTransition, 0, len(wf.Transitions)),
		Tasks:       make([]WorkflowTask, 0, len(t.Tasks)),
	}
	if t.Execution != nil {
		x := ExecutionView(*t.Execution)
		out.Execution = &x
		if !wf.Status.Terminal() {
			out.Status = x.Status // the parent's own status says pausing, paused, canceling
		}
	}
	for _, tr := range wf.Transitions {
		next := tr.Next
		if next == nil {
			next = []string{}
		}
		out.Transitions = append(out.Transitions, WorkflowTransition{Task: tr.Task, Status: tr.Status,
			Published: secret.RedactParams(tr.Published), Next: next, At: tr.At.UTC()})
	}
	for _, n := range t.Tasks {
		r := n.Run
		task := WorkflowTask{
			Name: r.Task, Attempt: r.Attempt, Status: r.Status, Result: orJSON(secret.RedactParams(r.Result), `null`),
			Retried: r.Retried, RetryReason: r.RetryReason, NotBefore: optTime(r.NotBefore),
			ScheduledAt: r.ScheduledAt.UTC(), FinishedAt: optTime(r.FinishedAt),
			Child:     WorkflowChild{ID: r.ChildID, Action: r.Action},
			Truncated: n.Truncated, Held: r.Held && n.Child == nil, ReusedFrom: r.ReusedFrom,
		}
		if r.Item != nil {
			task.Item = &WorkflowItem{Index: r.Item.Index, Count: r.Item.Count}
		}
		if x := n.Child; x != nil {
			task.Child = WorkflowChild{ID: x.ID, Action: x.Action, Status: x.Status, Reason: x.Reason,
				StartedAt: optTime(x.StartedAt), FinishedAt: optTime(x.FinishedAt)}
		}
		if n.Nested != nil {
			nested := WorkflowTreeView(*n.Nested)
			task.Workflow = &nested
		}
		out.Tasks = append(out.Tasks, task)
	}
	return out
}
