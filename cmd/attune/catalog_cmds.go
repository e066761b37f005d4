package main

import (
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"net/url"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/attune-go/attune/adapters/apiclient"
	"github.com/attune-go/attune/adapters/httpapi"
)

// The client commands of the catalogue and pipeline read models: pack, action and rule
// list|get, event list|get (trigger events), worker list and trace.

// listFlags are the paging flags every list command has, plus its filters by query name.
type listFlags struct {
	filters map[string]*string
	bools   map[string]*bool
	limit   int
	cursor  string
}

// bindList adds the paging flags and one string flag per filter (flag name → query name).
func bindList(cmd *cobra.Command, filters map[string]string, help map[string]string) *listFlags {
	lf := &listFlags{filters: map[string]*string{}, bools: map[string]*bool{}}
	for _, flag := range slices.Sorted(maps.Keys(filters)) {
		v := new(string)
		cmd.Flags().StringVar(v, flag, "", help[flag])
		lf.filters[filters[flag]] = v
	}
	cmd.Flags().IntVar(&lf.limit, "limit", 0, "page size")
	cmd.Flags().StringVar(&lf.cursor, "cursor", "", "continue after a previous page")
	return lf
}

// boolFlag adds a flag that, when given, sends query=true.
func (lf *listFlags) boolFlag(cmd *cobra.Command, flag, query, help string) {
	v := new(bool)
	cmd.Flags().BoolVar(v, flag, false, help)
	lf.bools[query] = v
}

func (lf *listFlags) query() url.Values {
	q := url.Values{}
	for k, v := range lf.filters {
		if *v != "" {
			q.Set(k, *v)
		}
	}
	for k, v := range lf.bools {
		if *v {
			q.Set(k, "true")
		}
	}
	if lf.limit > 0 {
		q.Set("limit", fmt.Sprint(lf.limit))
	}
	if lf.cursor != "" {
		q.Set("cursor", lf.cursor)
	}
	return q
}

// table writes rows under a header, then how to get the next page.
func table(w io.Writer, header string, rows [][]string, next *string) error {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, header)
	for _, r := range rows {
		fmt.Fprintln(tw, strings.Join(r, "\t"))
	}
	if next != nil {
		fmt.Fprintf(tw, "\nmore: --cursor %s\n", *next)
	}
	return tw.Flush()
}

// details writes key/value rows, leaving empty values out.
func details(w io.Writer, kv ...string) error {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	for i := 0; i+1 < len(kv); i += 2 {
		if kv[i+1] != "" {
			fmt.Fprintf(tw, "%s\t%s\n", kv[i], kv[i+1])
		}
	}
	return tw.Flush()
}

func stamp(t time.Time) string { return t.UTC().Format(time.RFC3339) }

func optStamp(t *time.Time) string {
	if t == nil {
		return ""
	}
	return stamp(*t)
}

func rawJSON(raw json.RawMessage) string {
	if len(raw) == 0 || string(raw) == "null" {
		return ""
	}
	return string(raw)
}

func packListCommand() *cobra.Command {
	var flags clientFlags
	var lf *listFlags
	cmd := clientCommand("list", "List registered packs", &flags, cobra.NoArgs,
		func(cmd *cobra.Command, c *apiclient.Client, _ []string) error {
			page, err := c.Packs(cmd.Context(), lf.query())
			if err != nil {
				return err
			}
			return flags.print(cmd.OutOrStdout(), page, func(w io.Writer) error {
				var rows [][]string
				for _, p := range page.Items {
					state := "registered"
					if p.RetiredAt != nil {
						state = "retired " + optStamp(p.RetiredAt)
					}
					rows = append(rows, []string{p.Ref, p.Version, fmt.Sprint(len(p.Actions)), fmt.Sprint(len(p.Triggers)),
						fmt.Sprint(len(p.Rules)), fmt.Sprint(len(p.Sensors)), stamp(p.UpdatedAt), state})
				}
				return table(w, "REF\tVERSION\tACTIONS\tTRIGGERS\tRULES\tSENSORS\tUPDATED\tSTATE", rows, page.NextCursor)
			})
		})
	lf = bindList(cmd, nil, nil)
	lf.boolFlag(cmd, "retired", "include_retired", "include retired packs")
	return cmd
}

func packGetCommand() *cobra.Command {
	var flags clientFlags
	return clientCommand("get REF", "Show a pack and its components", &flags, cobra.ExactArgs(1),
		func(cmd *cobra.Command, c *apiclient.Client, args []string) error {
			p, err := c.Pack(cmd.Context(), args[0])
			if err != nil {
				return err
			}
			return flags.print(cmd.OutOrStdout(), p, func(w io.Writer) error {
				return details(w, "ref", p.Ref, "version", p.Version, "description", p.Description, "path", p.Path,
					"config", rawJSON(p.Config), "actions", strings.Join(p.Actions, " "), "triggers", strings.Join(p.Triggers, " "),
					"sensors", strings.Join(p.Sensors, " "), "rules", strings.Join(p.Rules, " "), "policies", strings.Join(p.Policies, " "),
					"registered", stamp(p.CreatedAt), "updated", stamp(p.UpdatedAt), "retired", optStamp(p.RetiredAt),
					"retired because", p.RetiredReason)
			})
		})
}

// actionCommand is `attune action list|get`.
func actionCommand() *cobra.Command {
	cmd := &cobra.Command{Use: "action", Aliases: []string{"actions"}, Short: "List and inspect actions"}
	var listF, getF clientFlags
	var lf *listFlags
	list := clientCommand("list", "List actions", &listF, cobra.NoArgs,
		func(cmd *cobra.Command, c *apiclient.Client, _ []string) error {
			page, err := c.Actions(cmd.Context(), lf.query())
			if err != nil {
				return err
			}
			return listF.print(cmd.OutOrStdout(), page, func(w io.Writer) error {
				var rows [][]string
				for _, a := range page.Items {
					rows = append(rows, []string{a.Ref, string(a.RunnerType), dash(a.EntryPoint), dash(a.Description)})
				}
				return table(w, "REF\tRUNNER\tENTRY POINT\tDESCRIPTION", rows, page.NextCursor)
			})
		})
	lf = bindList(list, map[string]string{"pack": "pack"}, map[string]string{"pack": "only actions of this pack"})
	lf.boolFlag(list, "retired", "include_retired", "include retired actions")
	get := clientCommand("get REF", "Show an action and its parameters", &getF, cobra.ExactArgs(1),
		func(cmd *cobra.Command, c *apiclient.Client, args []string) error {
			a, err := c.Action(cmd.Context(), args[0])
			if err != nil {
				return err
			}
			return getF.print(cmd.OutOrStdout(), a, func(w io.Writer) error {
				timeout := ""
				if a.TimeoutSeconds > 0 {
					timeout = fmt.Sprintf("%ds", a.TimeoutSeconds)
				}
				if err := details(w, "ref", a.Ref, "pack", a.Pack, "description", a.Description, "runner", string(a.RunnerType),
					"entry point", a.EntryPoint, "timeout", timeout, "registered", stamp(a.CreatedAt), "retired", optStamp(a.RetiredAt)); err != nil {
					return err
				}
				if len(a.Parameters) == 0 {
					return nil
				}
				fprintf(w, "\n")
				var rows [][]string
				for _, name := range slices.Sorted(maps.Keys(a.Parameters)) {
					p := a.Parameters[name]
					var flags []string
					if p.Required {
						flags = append(flags, "required")
					}
					if p.Secret {
						flags = append(flags, "secret")
					}
					rows = append(rows, []string{name, dash(string(p.Type)), dash(strings.Join(flags, ",")), dash(rawJSON(p.Default)), p.Description})
				}
				return table(w, "PARAMETER\tTYPE\tFLAGS\tDEFAULT\tDESCRIPTION", rows, nil)
			})
		})
	cmd.AddCommand(list, get)
	return cmd
}

// ruleState says whether a rule is enabled, and who decided when it was not its file.
func ruleState(r httpapi.Rule) string {
	state := "disabled"
	if r.Enabled {
		state = "enabled"
	}
	if r.Switched != nil {
		state += " by " + dash(r.Switched.Actor)
		if r.Switched.Reason != "" {
			state += ": " + r.Switched.Reason
		}
	}
	return state
}

func ruleListCommand() *cobra.Command {
	var flags clientFlags
	var lf *listFlags
	cmd := clientCommand("list", "List rules with their effective state", &flags, cobra.NoArgs,
		func(cmd *cobra.Command, c *apiclient.Client, _ []string) error {
			page, err := c.Rules(cmd.Context(), lf.query())
			if err != nil {
				return err
			}
			return flags.print(cmd.OutOrStdout(), page, func(w io.Writer) error {
				var rows [][]string
				for _, r := range page.Items {
					rows = append(rows, []string{r.Ref, ruleState(r), r.Trigger, r.Action})
				}
				return table(w, "REF\tSTATE\tTRIGGER\tACTION", rows, page.NextCursor)
			})
		})
	lf = bindList(cmd, map[string]string{"pack": "pack", "trigger": "trigger", "action": "action", "enabled": "enabled"},
		map[string]string{"pack": "only rules of this pack", "trigger": "only rules on this trigger",
			"action": "only rules running this action", "enabled": "true: only enabled rules; false: only disabled ones"})
	lf.boolFlag(cmd, "retired", "include_retired", "include retired rules")
	return cmd
}

func ruleGetCommand() *cobra.Command {
	var flags clientFlags
	return clientCommand("get REF", "Show a rule and why it is enabled or not", &flags, cobra.ExactArgs(1),
		func(cmd *cobra.Command, c *apiclient.Client, args []string) error {
			r, err := c.Rule(cmd.Context(), args[0])
			if err != nil {
				return err
			}
			return flags.print(cmd.OutOrStdout(), r, func(w io.Writer) error {
				criteria := ""
				if len(r.Criteria) > 0 {
					b, _ := json.Marshal(r.Criteria)
					criteria = string(b)
				}
				file := "disabled"
				if r.EnabledInFile {
					file = "enabled"
				}
				switched := ""
				if r.Switched != nil {
					switched = stamp(r.Switched.At)
				}
				return details(w, "ref", r.Ref, "pack", r.Pack, "description", r.Description, "state", ruleState(r),
					"in its file", file, "switched at", switched, "trigger", r.Trigger, "trigger params", rawJSON(r.TriggerParams),
					"criteria", criteria, "expression", r.Expression, "action", r.Action, "parameters", rawJSON(r.Parameters),
					"registered", stamp(r.CreatedAt), "retired", optStamp(r.RetiredAt))
			})
		})
}

// withTriggerEventCommands adds `list` and `get` (trigger events) to the events command.
func withTriggerEventCommands(events *cobra.Command) *cobra.Command {
	var listF, getF clientFlags
	var lf *listFlags
	list := clientCommand("list", "List trigger events, newest first", &listF, cobra.NoArgs,
		func(cmd *cobra.Command, c *apiclient.Client, _ []string) error {
			page, err := c.Events(cmd.Context(), lf.query())
			if err != nil {
				return err
			}
			return listF.print(cmd.OutOrStdout(), page, func(w io.Writer) error {
				var rows [][]string
				for _, e := range page.Items {
					rows = append(rows, []string{e.ID, e.Trigger, string(e.Source), dash(e.Rule), stamp(e.CreatedAt)})
				}
				return table(w, "ID\tTRIGGER\tSOURCE\tRULE\tCREATED", rows, page.NextCursor)
			})
		})
	lf = bindList(list, map[string]string{"trigger": "trigger", "source": "source", "since": "since", "until": "until"},
		map[string]string{"trigger": "only events of this trigger", "source": "only from this source: timer, webhook, sensor, api",
			"since": "recorded at or after (RFC 3339)", "until": "recorded before (RFC 3339)"})
	get := clientCommand("get ID", "Show a trigger event and its payload", &getF, cobra.ExactArgs(1),
		func(cmd *cobra.Command, c *apiclient.Client, args []string) error {
			e, err := c.Event(cmd.Context(), args[0])
			if err != nil {
				return err
			}
			return getF.print(cmd.OutOrStdout(), e, func(w io.Writer) error {
				return details(w, "id", e.ID, "trigger", e.Trigger, "source", string(e.Source), "rule", e.Rule, "sensor", e.Sensor,
					"payload", rawJSON(e.Payload), "occurred", optStamp(e.OccurredAt), "recorded", stamp(e.CreatedAt),
					"actor", e.Actor, "trace tag", e.TraceTag)
			})
		})
	events.AddCommand(list, get)
	return events
}

// withWorkerList adds `list` to the worker command (which, alone, runs a worker).
func withWorkerList(worker *cobra.Command) *cobra.Command {
	var flags clientFlags
	var lf *listFlags
	list := clientCommand("list", "List workers with their last heartbeat", &flags, cobra.NoArgs,
		func(cmd *cobra.Command, c *apiclient.Client, _ []string) error {
			page, err := c.Workers(cmd.Context(), lf.query())
			if err != nil {
				return err
			}
			return flags.print(cmd.OutOrStdout(), page, func(w io.Writer) error {
				var rows [][]string
				for _, x := range page.Items {
					load, seen := fmt.Sprintf("-/%d", x.MaxConcurrency), "-"
					if x.Running != nil {
						load = fmt.Sprintf("%d/%d", *x.Running, x.MaxConcurrency)
					}
					if x.LastSeen != nil {
						seen = optStamp(x.LastSeen)
					}
					status := string(x.Status)
					if x.Reason != "" {
						status += ": " + x.Reason
					}
					rows = append(rows, []string{x.ID, x.Host, strings.Join(x.Runtimes, ","), status, load, seen})
				}
				return table(w, "ID\tHOST\tRUNTIMES\tSTATUS\tRUNNING\tLAST SEEN", rows, page.NextCursor)
			})
		})
	lf = bindList(list, map[string]string{"status": "status"}, map[string]string{"status": "only registered or only deregistered workers"})
	worker.AddCommand(list, workerEnvsCommand())
	return worker
}

// workerEnvsCommand is `attune worker envs`: the packs' virtualenvs and node_modules on each
// live worker's host, with their state and build log, as the workers' last beats said.
func workerEnvsCommand() *cobra.Command {
	var flags clientFlags
	return clientCommand("envs", "List the pack dependency environments (requirements.txt, package.json) on the workers' hosts", &flags, cobra.NoArgs,
		func(cmd *cobra.Command, c *apiclient.Client, _ []string) error {
			q := url.Values{"status": {"registered"}}
			var rows [][]string
			var all []httpapi.Worker
			for {
				page, err := c.Workers(cmd.Context(), q)
				if err != nil {
					return err
				}
				all = append(all, page.Items...)
				if page.NextCursor == nil {
					break
				}
				q.Set("cursor", *page.NextCursor)
			}
			for _, x := range all {
				for _, e := range x.PackEnvs {
					state := e.State
					if e.Reason != "" {
						state += ": " + e.Reason
					}
					rows = append(rows, []string{x.ID, x.Host, e.Pack, e.Kind, state, e.Log})
				}
			}
			return flags.print(cmd.OutOrStdout(), all, func(w io.Writer) error {
				return table(w, "WORKER\tHOST\tPACK\tKIND\tSTATE\tLOG", rows, nil)
			})
		})
}

// traceCommand is `attune trace EVENT_ID`: what a trigger event caused, as a tree.
func traceCommand() *cobra.Command {
	var (
		flags     clientFlags
		showEvent bool
	)
	cmd := clientCommand("trace EVENT_ID", "Show what a trigger event caused: enforcements, executions and their children", &flags, cobra.ExactArgs(1),
		func(cmd *cobra.Command, c *apiclient.Client, args []string) error {
			tr, err := c.Trace(cmd.Context(), args[0])
			if err != nil {
				return err
			}
			return flags.print(cmd.OutOrStdout(), tr, func(w io.Writer) error {
				printTree(w, tr.Root, "", "", showEvent)
				for _, e := range tr.Other {
					fprintf(w, "also correlated: %s #%d %s\n", e.StreamID, e.StreamVersion, e.Type)
				}
				return nil
			})
		})
	cmd.Flags().BoolVar(&showEvent, "events", false, "list each node's log events under it")
	cmd.Example = "  attune trace 01JB7Q7K9W3V8M6D4N5P2R1S0T\n  attune trace 01JB7Q7K9W3V8M6D4N5P2R1S0T --events"
	return cmd
}

// printTree draws n and its children with box-drawing branches: first is the prefix of n's
// own line, rest the prefix of the lines under it.
func printTree(w io.Writer, n httpapi.TraceNode, first, rest string, events bool) {
	fprintf(w, "%s%s\n", first, traceLine(n))
	if events {
		bar := "│ "
		if len(n.Children) == 0 {
			bar = "  "
		}
		for _, e := range n.Log {
			fprintf(w, "%s%s  #%d %s %s\n", rest, bar, e.StreamVersion, e.Type, e.RecordedAt.Format("15:04:05.000"))
		}
	}
	for i, c := range n.Children {
		if i == len(n.Children)-1 {
			printTree(w, c, rest+"└─ ", rest+"   ", events)
		} else {
			printTree(w, c, rest+"├─ ", rest+"│  ", events)
		}
	}
}

func traceLine(n httpapi.TraceNode) string {
	switch {
	case n.Event != nil:
		e := n.Event
		return fmt.Sprintf("event %s %s (%s) %s", e.ID, e.Trigger, e.Source, stamp(e.CreatedAt))
	case n.Enforcement != nil:
		x := n.Enforcement
		line := fmt.Sprintf("enforcement %s rule %s: %s", x.ID, x.Rule, x.Status)
		if x.Reason != "" {
			line += " (" + x.Reason + ")"
		}
		return line
	case n.Execution != nil:
		x := n.Execution
		line := fmt.Sprintf("execution %s %s", x.ID, x.Action)
		if x.WorkflowTask != "" {
			line += " [task " + x.WorkflowTask + "]"
		}
		line += ": " + string(x.Status)
		if d := duration(*x); d != "-" {
			line += " in " + d
		}
		return line + reasonSuffix(x.Reason)
	}
	return fmt.Sprintf("%s %s", n.Kind, n.ID)
}
