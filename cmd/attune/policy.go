package main

import (
	"fmt"
	"io"

	"github.com/spf13/cobra"

	"github.com/attune-go/attune/adapters/apiclient"
	"github.com/attune-go/attune/adapters/httpapi"
)

// policyCommand is `attune policy list|get`: the policies read model.
func policyCommand() *cobra.Command {
	cmd := &cobra.Command{Use: "policy", Short: "Show flow-control policies and the executions they hold"}
	cmd.AddCommand(policyListCommand(), policyGetCommand())
	return cmd
}

func policyState(p httpapi.Policy) string {
	switch {
	case p.RetiredAt != nil:
		return "retired"
	case p.Enabled:
		return "enabled"
	}
	return "disabled"
}

func policyListCommand() *cobra.Command {
	var flags clientFlags
	var lf *listFlags
	cmd := clientCommand("list", "List policies with their running and queued counts", &flags, cobra.NoArgs,
		func(cmd *cobra.Command, c *apiclient.Client, _ []string) error {
			page, err := c.Policies(cmd.Context(), lf.query())
			if err != nil {
				return err
			}
			return flags.print(cmd.OutOrStdout(), page, func(w io.Writer) error {
				var rows [][]string
				for _, p := range page.Items {
					rows = append(rows, []string{p.Ref, string(p.Type), policyState(p), p.Action,
						fmt.Sprint(p.Running), fmt.Sprint(p.Queued), fmt.Sprint(p.Delayed), fmt.Sprint(p.RetriesScheduled)})
				}
				return table(w, "REF\tTYPE\tSTATE\tACTION\tRUNNING\tQUEUED\tDELAYED\tRETRIES", rows, page.NextCursor)
			})
		})
	lf = bindList(cmd, map[string]string{"pack": "pack", "action": "action", "type": "type"},
		map[string]string{"pack": "only policies of this pack", "action": "only policies governing this action",
			"type": "only policies of this type (concurrency, rate_limit, retry)"})
	return cmd
}

func policyGetCommand() *cobra.Command {
	var flags clientFlags
	return clientCommand("get REF", "Show a policy, what it holds now and per key", &flags, cobra.ExactArgs(1),
		func(cmd *cobra.Command, c *apiclient.Client, args []string) error {
			p, err := c.Policy(cmd.Context(), args[0])
			if err != nil {
				return err
			}
			return flags.print(cmd.OutOrStdout(), p, func(w io.Writer) error {
				err := details(w, "ref", p.Ref, "pack", p.Pack, "description", p.Description, "type", string(p.Type),
					"state", policyState(p), "action", p.Action, "spec", rawJSON(p.Spec), "file", p.File,
					"running", fmt.Sprint(p.Running), "queued", fmt.Sprint(p.Queued), "delayed", fmt.Sprint(p.Delayed),
					"refused", fmt.Sprint(p.Refused), "retries scheduled", fmt.Sprint(p.RetriesScheduled),
					"registered", stamp(p.CreatedAt), "retired", optStamp(p.RetiredAt))
				if err != nil || len(p.Keys) == 0 {
					return err
				}
				fmt.Fprintln(w)
				var rows [][]string
				for _, k := range p.Keys {
					rows = append(rows, []string{dash(k.Key), fmt.Sprint(k.Running), fmt.Sprint(k.Queued), fmt.Sprint(k.Delayed)})
				}
				return table(w, "KEY\tRUNNING\tQUEUED\tDELAYED", rows, nil)
			})
		})
}
