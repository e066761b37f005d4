package main

import (
	"encoding/json"
	"fmt"
	"io"
	"path/filepath"
	"strings"

	"github.com/spf13/cobra"

	"github.com/attune-go/attune/adapters/apiclient"
)

func packCommand() *cobra.Command {
	cmd := &cobra.Command{Use: "pack", Aliases: []string{"packs"}, Short: "Load and inspect packs"}
	var loadFlags clientFlags
	load := clientCommand("load DIR", "Validate a pack directory and register it on the server", &loadFlags, cobra.ExactArgs(1),
		func(cmd *cobra.Command, c *apiclient.Client, args []string) error {
			// The server reads the directory (its workers run the scripts from there), so the
			// path must be absolute on the server's host; on one machine that is this path.
			dir, err := filepath.Abs(args[0])
			if err != nil {
				return err
			}
			res, err := c.LoadPack(cmd.Context(), dir)
			if err != nil {
				return err
			}
			if ws, ok := res["warnings"].([]any); ok {
				for _, w := range ws {
					fprintf(cmd.ErrOrStderr(), "warning: %v\n", w)
				}
			}
			return loadFlags.print(cmd.OutOrStdout(), res, func(w io.Writer) error {
				var retired []string
				if list, ok := res["retired"].([]any); ok {
					for _, c := range list {
						b, _ := json.Marshal(c)
						retired = append(retired, string(b))
					}
				}
				return details(w, "pack", fmt.Sprint(res["pack"]), "outcome", fmt.Sprint(res["outcome"]),
					"version", fmt.Sprint(res["version"]), "retired", strings.Join(retired, ", "))
			})
		})
	var deleteFlags clientFlags
	del := clientCommand("delete REF", "Retire a pack and every action, trigger, rule, sensor and policy it has", &deleteFlags, cobra.ExactArgs(1),
		func(cmd *cobra.Command, c *apiclient.Client, args []string) error {
			res, err := c.DeletePack(cmd.Context(), args[0])
			if err != nil {
				return err
			}
			return deleteFlags.print(cmd.OutOrStdout(), res, func(w io.Writer) error {
				retired, _ := res["retired"].([]any)
				fprintf(w, "pack %v %v: %d components retired\n", res["pack"], res["outcome"], len(retired))
				return nil
			})
		})
	cmd.AddCommand(load, del, packListCommand(), packGetCommand(), packCheckCommand())
	return cmd
}
