package main

import (
	"fmt"
	"io"
	"text/tabwriter"
	"time"

	"github.com/attune-go/attune/adapters/httpapi"
)

// workflowTree prints `attune execution get ID --tree`: the workflow's state, then one line
// per task run — task, child execution, its action and status — with nested workflows
// indented under the task that runs them.
func workflowTree(w io.Writer, id string, t httpapi.WorkflowTree) error {
	status := string(t.Status)
	if t.Error != "" {
		status += ": " + t.Error
	}
	fprintf(w, "workflow %s  %s  %s\n", id, t.Action, status)
	fprintf(w, "vars    %s\n", t.Vars)
	if string(t.Output) != "null" {
		fprintf(w, "output  %s\n", t.Output)
	}
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "\nTASK\tEXECUTION\tACTION\tSTATUS\tDURATION\t")
	taskRows(tw, t, "")
	return tw.Flush()
}

func taskRows(tw io.Writer, t httpapi.WorkflowTree, indent string) {
	for _, task := range t.Tasks {
		name := indent + task.Name
		if task.Item != nil {
			name += fmt.Sprintf("[%d/%d]", task.Item.Index, task.Item.Count)
		}
		if task.Attempt > 1 {
			name += fmt.Sprintf(" (attempt %d)", task.Attempt)
		}
		status := string(task.Status) // until the executions read model has the child
		if task.Child.Status != "" {
			status = string(task.Child.Status)
		}
		var note string
		switch {
		case task.Held:
			status = "held"
			note = "requested when the workflow resumes"
		case task.ReusedFrom != "":
			note = "reused from " + task.ReusedFrom
		case task.Retried:
			note = "retried: " + task.RetryReason
		case task.Truncated:
			note = "nested too deep: attune execution get " + task.Child.ID + " --tree"
		case task.Child.Reason != "":
			note = task.Child.Reason
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", name, task.Child.ID, task.Child.Action, status,
			childDuration(task.Child), note)
		if task.Workflow != nil {
			taskRows(tw, *task.Workflow, indent+"  ")
		}
	}
}

func childDuration(c httpapi.WorkflowChild) string {
	if c.StartedAt == nil || c.FinishedAt == nil {
		return "-"
	}
	return c.FinishedAt.Sub(*c.StartedAt).Round(time.Millisecond).String()
}
