package main

import (
	"encoding/json"
	"fmt"
	"io"
	"os"

	"github.com/spf13/cobra"

	"github.com/attune-go/attune/adapters/apiclient"
)

func ruleCommand() *cobra.Command {
	cmd := &cobra.Command{Use: "rule", Aliases: []string{"rules"}, Short: "Enable, disable and test rules"}
	var enableFlags, disableFlags, testFlags clientFlags
	setter := func(enabled bool, flags *clientFlags, use, short string) *cobra.Command {
		return clientCommand(use, short, flags, cobra.ExactArgs(1),
			func(cmd *cobra.Command, c *apiclient.Client, args []string) error {
				if err := c.SetRuleEnabled(cmd.Context(), args[0], enabled); err != nil {
					return err
				}
				state := "disabled"
				if enabled {
					state = "enabled"
				}
				fprintf(cmd.OutOrStdout(), "rule %s %s\n", args[0], state)
				return nil
			})
	}
	var eventFile string
	test := clientCommand("test RULE --event FILE.json", "Say whether a rule matches an event, and why not", &testFlags, cobra.ExactArgs(1),
		func(cmd *cobra.Command, c *apiclient.Client, args []string) error {
			if eventFile == "" {
				return usageError("--event FILE.json is required")
			}
			raw, err := os.ReadFile(eventFile)
			if err != nil {
				return fmt.Errorf("read event: %w", err)
			}
			if !json.Valid(raw) {
				return usageError("%s is not valid JSON", eventFile)
			}
			report, err := c.TestRule(cmd.Context(), args[0], raw)
			if err != nil {
				return err
			}
			if err := testFlags.print(cmd.OutOrStdout(), report, func(w io.Writer) error { return ruleReport(w, report) }); err != nil {
				return err
			}
			if m, _ := report["matched"].(bool); !m {
				return &exitError{code: 1, err: fmt.Errorf("rule %s does not match", args[0])}
			}
			if r, _ := report["render_error"].(string); r != "" {
				// It matches, but its execution would fail at once: that is no success.
				return &exitError{code: 1, err: fmt.Errorf("rule %s matches, but its parameters do not render: %s", args[0], r)}
			}
			return nil
		})
	test.Flags().StringVar(&eventFile, "event", "", "JSON file with the event: {\"payload\": {…}} or the payload itself")
	cmd.AddCommand(setter(true, &enableFlags, "enable RULE", "Enable a rule"), setter(false, &disableFlags, "disable RULE", "Disable a rule"), test,
		ruleListCommand(), ruleGetCommand())
	return cmd
}

func ruleReport(w io.Writer, report map[string]any) error {
	if m, _ := report["matched"].(bool); m {
		fprintf(w, "MATCH\n")
	} else {
		fprintf(w, "NO MATCH\n")
	}
	if checks, ok := report["checks"].([]any); ok {
		for _, c := range checks {
			m, _ := c.(map[string]any)
			mark := "✗"
			if ok, _ := m["ok"].(bool); ok {
				mark = "✓"
			}
			fprintf(w, "  %s %v", mark, m["path"])
			if r, _ := m["reason"].(string); r != "" {
				fprintf(w, ": %s", r)
			}
			fprintf(w, "\n")
		}
	}
	if p, ok := report["parameters"]; ok && p != nil {
		b, _ := json.Marshal(p)
		fprintf(w, "parameters: %s\n", b)
	}
	if r, _ := report["reason"].(string); r != "" {
		fprintf(w, "reason: %s\n", r)
	}
	if r, _ := report["render_error"].(string); r != "" {
		fprintf(w, "parameters do not render: %s\n", r)
	}
	return nil
}
