package main

import (
	"encoding/json"
	"fmt"
	"io"
	"net/url"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/attune-go/attune/adapters/apiclient"
	"github.com/attune-go/attune/adapters/httpapi"
	"github.com/attune-go/attune/domain/execution"
	"github.com/attune-go/attune/domain/pack"
)

func runCommand() *cobra.Command {
	var (
		flags clientFlags
		wait  bool
	)
	cmd := clientCommand("run ACTION [key=value …]", "Run an action", &flags, cobra.MinimumNArgs(1),
		func(cmd *cobra.Command, c *apiclient.Client, args []string) error {
			// The action's schema types each key=value: a string parameter takes the text as
			// it is (message=1.10 stays "1.10"). Without the schema (an unknown action: the
			// server says so), values are read as JSON where they parse.
			var schema pack.Params
			if a, err := c.Action(cmd.Context(), args[0]); err == nil {
				schema = a.Parameters
			}
			params, err := parseParams(args[1:], schema)
			if err != nil {
				return err
			}
			x, err := c.Run(cmd.Context(), args[0], params)
			if err != nil {
				return err
			}
			out := cmd.OutOrStdout()
			if !wait {
				return flags.print(out, x, func(w io.Writer) error { return executionDetail(w, x) })
			}
			if !flags.JSON && !flags.YAML {
				fprintf(out, "execution %s\n", x.ID)
			}
			x, err = c.Wait(cmd.Context(), x.ID, func(x httpapi.Execution) {
				if !flags.JSON && !flags.YAML {
					fprintf(out, "  %s  %s\n", changedAt(x).UTC().Format("15:04:05.000"), x.Status)
				}
			})
			if err != nil {
				return err
			}
			if err := flags.print(out, x, func(w io.Writer) error { return executionDetail(w, x) }); err != nil {
				return err
			}
			if x.Status != execution.Completed {
				return &exitError{code: 1, err: fmt.Errorf("execution %s ended %s%s", x.ID, x.Status, reasonSuffix(x.Reason))}
			}
			return nil
		})
	cmd.Flags().BoolVar(&wait, "wait", false, "wait until the execution ends, showing its status changes; exit non-zero unless it completed")
	cmd.Example = "  attune run core.echo message='hello, world' --wait\n  attune run examples.shout message=hi count=3 tags='[\"a\",\"b\"]'"
	return cmd
}

// changedAt is when the server recorded the execution's current status, as well as its read
// model tells: the client's clock and polling delay would blur the timeline.
func changedAt(x httpapi.Execution) time.Time {
	switch {
	case x.FinishedAt != nil:
		return *x.FinishedAt
	case x.StartedAt != nil:
		return *x.StartedAt
	}
	return x.CreatedAt
}

func reasonSuffix(reason string) string {
	if reason == "" {
		return ""
	}
	return ": " + reason
}

// parseParams reads key=value arguments by the action's schema: a parameter of type string
// takes the text as it is; any other value that is valid JSON (a number, true, an object …) is
// sent as that JSON, and anything else as a string. Without a type, quote to force a string:
// n='"42"'.
func parseParams(args []string, schema pack.Params) (map[string]json.RawMessage, error) {
	params := map[string]json.RawMessage{}
	for _, a := range args {
		k, v, ok := strings.Cut(a, "=")
		if !ok || k == "" {
			return nil, usageError("parameter %q: want key=value", a)
		}
		if p, ok := schema[k]; ok && p.Type == pack.ParamString {
			b, _ := json.Marshal(v)
			params[k] = b
			continue
		}
		if json.Valid([]byte(v)) && v != "" {
			params[k] = json.RawMessage(v)
			continue
		}
		b, _ := json.Marshal(v)
		params[k] = b
	}
	return params, nil
}

func executionCommand() *cobra.Command {
	cmd := &cobra.Command{Use: "execution", Aliases: []string{"executions", "ex"}, Short: "List, inspect, cancel, pause, resume and re-run executions"}
	var listFlags, getFlags, historyFlags, cancelFlags, rerunFlags clientFlags
	var filter struct {
		status, action, rule, trigger, parent, traceTag, since, until, cursor string
		limit                                                                 int
	}
	list := clientCommand("list", "List executions, newest first", &listFlags, cobra.NoArgs,
		func(cmd *cobra.Command, c *apiclient.Client, _ []string) error {
			q := url.Values{}
			for k, v := range map[string]string{"status": filter.status, "action": filter.action, "rule": filter.rule,
				"trigger": filter.trigger, "parent": filter.parent, "trace_tag": filter.traceTag,
				"since": filter.since, "until": filter.until, "cursor": filter.cursor} {
				if v != "" {
					q.Set(k, v)
				}
			}
			if filter.limit > 0 {
				q.Set("limit", fmt.Sprint(filter.limit))
			}
			page, err := c.Executions(cmd.Context(), q)
			if err != nil {
				return err
			}
			return listFlags.print(cmd.OutOrStdout(), page, func(w io.Writer) error {
				tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
				fmt.Fprintln(tw, "ID\tACTION\tSTATUS\tRULE\tCREATED\tDURATION")
				for _, x := range page.Items {
					fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", x.ID, x.Action, x.Status, dash(x.Rule),
						x.CreatedAt.Format(time.RFC3339), duration(x))
				}
				if page.NextCursor != nil {
					fmt.Fprintf(tw, "\nmore: --cursor %s\n", *page.NextCursor)
				}
				return tw.Flush()
			})
		})
	f := list.Flags()
	f.StringVar(&filter.status, "status", "", "only these statuses (comma-separated)")
	f.StringVar(&filter.action, "action", "", "only this action")
	f.StringVar(&filter.rule, "rule", "", "only executions of this rule")
	f.StringVar(&filter.trigger, "trigger", "", "only executions caused by this trigger")
	f.StringVar(&filter.parent, "parent", "", "only children of this workflow execution")
	f.StringVar(&filter.traceTag, "trace-tag", "", "only this trace tag")
	f.StringVar(&filter.since, "since", "", "created at or after (RFC 3339)")
	f.StringVar(&filter.until, "until", "", "created before (RFC 3339)")
	f.StringVar(&filter.cursor, "cursor", "", "continue after a previous page")
	f.IntVar(&filter.limit, "limit", 0, "page size (default 50)")

	var tree bool
	get := clientCommand("get ID", "Show one execution", &getFlags, cobra.ExactArgs(1),
		func(cmd *cobra.Command, c *apiclient.Client, args []string) error {
			if tree {
				t, err := c.Workflow(cmd.Context(), args[0])
				if err != nil {
					return err
				}
				return getFlags.print(cmd.OutOrStdout(), t, func(w io.Writer) error { return workflowTree(w, args[0], t) })
			}
			x, err := c.Execution(cmd.Context(), args[0])
			if err != nil {
				return err
			}
			return getFlags.print(cmd.OutOrStdout(), x, func(w io.Writer) error { return executionDetail(w, x) })
		})
	get.Flags().BoolVar(&tree, "tree", false, "show a workflow execution's tree: its tasks, their child executions, nested workflows")
	history := clientCommand("history ID", "Show an execution's events in order", &historyFlags, cobra.ExactArgs(1),
		func(cmd *cobra.Command, c *apiclient.Client, args []string) error {
			events, err := c.History(cmd.Context(), args[0])
			if err != nil {
				return err
			}
			return historyFlags.print(cmd.OutOrStdout(), events, func(w io.Writer) error { return envelopeTable(w, events) })
		})
	cancel := clientCommand("cancel ID", "Cancel an execution", &cancelFlags, cobra.ExactArgs(1),
		func(cmd *cobra.Command, c *apiclient.Client, args []string) error {
			x, err := c.Cancel(cmd.Context(), args[0])
			if err != nil {
				return err
			}
			return cancelFlags.print(cmd.OutOrStdout(), x, func(w io.Writer) error {
				fprintf(w, "execution %s: %s\n", x.ID, x.Status)
				return nil
			})
		})
	var rerunOpts struct {
		fromTask    string
		failedItems bool
	}
	rerun := clientCommand("rerun ID [key=value …]", "Run an execution's action again, or a workflow from one of its tasks", &rerunFlags, cobra.MinimumNArgs(1),
		func(cmd *cobra.Command, c *apiclient.Client, args []string) error {
			if rerunOpts.failedItems && rerunOpts.fromTask == "" {
				return usageError("--failed-items re-runs the failed items of the task --from-task names: name it")
			}
			var req *httpapi.RerunRequest
			if len(args) > 1 || rerunOpts.fromTask != "" {
				req = &httpapi.RerunRequest{FromTask: rerunOpts.fromTask, FailedItems: rerunOpts.failedItems}
				if len(args) > 1 {
					var schema pack.Params
					if old, err := c.Execution(cmd.Context(), args[0]); err == nil {
						if a, err := c.Action(cmd.Context(), old.Action); err == nil {
							schema = a.Parameters
						}
					}
					params, err := parseParams(args[1:], schema)
					if err != nil {
						return err
					}
					if req.Parameters, err = json.Marshal(params); err != nil {
						return err
					}
				}
			}
			x, err := c.Rerun(cmd.Context(), args[0], req)
			if err != nil {
				return err
			}
			return rerunFlags.print(cmd.OutOrStdout(), x, func(w io.Writer) error { return executionDetail(w, x) })
		})
	rerun.Flags().StringVar(&rerunOpts.fromTask, "from-task", "", "re-run a workflow from this task: the tasks that finished before it are reused, not run again")
	rerun.Flags().BoolVar(&rerunOpts.failedItems, "failed-items", false, "with --from-task naming a with-items task: run only its items that did not complete")
	rerun.Example = "  attune execution rerun 01J…\n  attune execution rerun 01J… --from-task deploy path=/srv/fixed\n  attune execution rerun 01J… --from-task each_host --failed-items"
	var pauseFlags, resumeFlags clientFlags
	pauseCmd := clientCommand("pause ID", "Pause a workflow execution: nothing new starts, running tasks finish", &pauseFlags, cobra.ExactArgs(1),
		func(cmd *cobra.Command, c *apiclient.Client, args []string) error {
			x, err := c.Pause(cmd.Context(), args[0])
			if err != nil {
				return err
			}
			return pauseFlags.print(cmd.OutOrStdout(), x, func(w io.Writer) error {
				fprintf(w, "execution %s: %s\n", x.ID, x.Status)
				return nil
			})
		})
	resumeCmd := clientCommand("resume ID", "Resume a paused workflow execution from where it stopped", &resumeFlags, cobra.ExactArgs(1),
		func(cmd *cobra.Command, c *apiclient.Client, args []string) error {
			x, err := c.Resume(cmd.Context(), args[0])
			if err != nil {
				return err
			}
			return resumeFlags.print(cmd.OutOrStdout(), x, func(w io.Writer) error {
				fprintf(w, "execution %s: %s\n", x.ID, x.Status)
				return nil
			})
		})
	cmd.AddCommand(list, get, history, cancel, rerun, pauseCmd, resumeCmd, executionTailCommand())
	return cmd
}

func dash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

func duration(x httpapi.Execution) string {
	if x.StartedAt == nil {
		return "-"
	}
	end := time.Now()
	if x.FinishedAt != nil {
		end = *x.FinishedAt
	}
	return end.Sub(*x.StartedAt).Round(time.Millisecond).String()
}

func executionDetail(w io.Writer, x httpapi.Execution) error {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	row := func(k, v string) {
		if v != "" {
			fmt.Fprintf(tw, "%s\t%s\n", k, v)
		}
	}
	row("id", x.ID)
	row("action", x.Action)
	row("status", string(x.Status))
	row("reason", x.Reason)
	row("parameters", string(x.Parameters))
	if string(x.Result) != "null" {
		row("result", string(x.Result))
	}
	if x.ExitCode != nil {
		row("exit code", fmt.Sprint(*x.ExitCode))
	}
	row("stderr", strings.TrimSpace(x.Stderr))
	row("rule", x.Rule)
	row("trigger", x.Trigger)
	row("enforcement", x.Enforcement)
	row("parent", x.Parent)
	row("rerun of", x.RerunOf)
	if x.RetryOf != "" {
		row("retry of", fmt.Sprintf("%s (retry %d)", x.RetryOf, x.RetryAttempt))
	}
	row("retried by", x.RetriedBy)
	row("worker", x.Worker)
	if !x.CreatedAt.IsZero() {
		row("created", x.CreatedAt.Format(time.RFC3339Nano))
	}
	if x.StartedAt != nil {
		row("started", x.StartedAt.Format(time.RFC3339Nano))
	}
	if x.FinishedAt != nil {
		row("finished", x.FinishedAt.Format(time.RFC3339Nano))
	}
	return tw.Flush()
}

func envelopeTable(w io.Writer, events []httpapi.Envelope) error {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	for _, e := range events {
		fmt.Fprintf(tw, "#%d\t%s\t%s\tevent %s\n", e.StreamVersion, e.Type, e.RecordedAt.Format(time.RFC3339Nano), e.EventID)
		var cause []string
		if e.Metadata.CausationID != "" {
			cause = append(cause, "caused by "+e.Metadata.CausationID)
		}
		if e.Metadata.Actor != "" {
			cause = append(cause, "actor "+e.Metadata.Actor)
		}
		if len(cause) > 0 {
			fmt.Fprintf(tw, "\t%s\n", strings.Join(cause, ", "))
		}
		fmt.Fprintf(tw, "\t%s\n", e.Data)
	}
	return tw.Flush()
}
