package main

import (
	"encoding/json"
	"fmt"
	"io"
	"strings"

	"github.com/spf13/cobra"

	"github.com/attune-go/attune/adapters/apiclient"
	"github.com/attune-go/attune/adapters/httpapi"
)

// inquiryCommand is `attune inquiry list|get|respond`: the questions core.ask waits on.
func inquiryCommand() *cobra.Command {
	cmd := &cobra.Command{Use: "inquiry", Short: "List, show and answer inquiries (questions core.ask waits on)"}
	var listF, getF, respondF clientFlags
	var lf *listFlags
	list := clientCommand("list", "List inquiries, newest first", &listF, cobra.NoArgs,
		func(cmd *cobra.Command, c *apiclient.Client, _ []string) error {
			page, err := c.Inquiries(cmd.Context(), lf.query())
			if err != nil {
				return err
			}
			return listF.print(cmd.OutOrStdout(), page, func(w io.Writer) error {
				var rows [][]string
				for _, q := range page.Items {
					task := "-"
					if q.ParentExecutionID != "" {
						task = q.ParentExecutionID + "/" + q.Task
					}
					rows = append(rows, []string{q.ID, string(q.Status), task, dash(q.Route), stamp(q.ExpiresAt), dash(q.Responder)})
				}
				return table(w, "ID\tSTATUS\tWORKFLOW/TASK\tROUTE\tEXPIRES\tRESPONDER", rows, page.NextCursor)
			})
		})
	lf = bindList(list, map[string]string{"status": "status", "parent": "parent"},
		map[string]string{"status": "only these statuses: pending, responded, timed_out, cancelled (comma-separated)",
			"parent": "only inquiries of this workflow execution"})
	get := clientCommand("get ID", "Show an inquiry: its schema, who may answer, and the answer", &getF, cobra.ExactArgs(1),
		func(cmd *cobra.Command, c *apiclient.Client, args []string) error {
			q, err := c.Inquiry(cmd.Context(), args[0])
			if err != nil {
				return err
			}
			return getF.print(cmd.OutOrStdout(), q, func(w io.Writer) error { return inquiryDetails(w, q) })
		})
	respond := clientCommand("respond ID ANSWER", "Answer an inquiry with a JSON object, e.g. '{\"approved\": true}'", &respondF, cobra.ExactArgs(2),
		func(cmd *cobra.Command, c *apiclient.Client, args []string) error {
			answer := json.RawMessage(args[1])
			if !json.Valid(answer) || !strings.HasPrefix(strings.TrimSpace(args[1]), "{") {
				return usageError("answer %q: want a JSON object, like '{\"approved\": true}'", args[1])
			}
			a, err := c.Respond(cmd.Context(), args[0], answer)
			if err != nil {
				return err
			}
			return respondF.print(cmd.OutOrStdout(), a, func(w io.Writer) error {
				fprintf(w, "inquiry %s answered by %s: %s\n", a.InquiryID, a.Responder, a.Response)
				return nil
			})
		})
	cmd.AddCommand(list, get, respond)
	return cmd
}

func inquiryDetails(w io.Writer, q httpapi.Inquiry) error {
	who := "operator and above"
	if len(q.Roles) > 0 || len(q.Tokens) > 0 {
		var parts []string
		if len(q.Tokens) > 0 {
			parts = append(parts, "tokens "+strings.Join(q.Tokens, ", "))
		}
		if len(q.Roles) > 0 {
			parts = append(parts, "roles "+strings.Join(q.Roles, ", ")+" (or above)")
		}
		who = strings.Join(parts, "; ")
	}
	return details(w, "id", q.ID, "status", string(q.Status), "execution", q.ExecutionID,
		"workflow", q.ParentExecutionID, "task", q.Task, "route", q.Route,
		"schema", fmt.Sprintf("%s (%s)", q.Schema, q.SchemaKind), "may answer", who,
		"created", stamp(q.CreatedAt), "expires", stamp(q.ExpiresAt), "responder", q.Responder,
		"response", rawJSON(q.Response), "responded", optStamp(q.RespondedAt), "reason", q.Reason)
}
