package main

import (
	"fmt"
	"time"

	"github.com/spf13/cobra"

	"github.com/attune-go/attune/adapters/readmodel"
	"github.com/attune-go/attune/projections"
)

func projectionsCommand(cfg *config) *cobra.Command {
	cmd := &cobra.Command{Use: "projections", Short: "Manage the read models"}
	rebuild := &cobra.Command{
		Use:   "rebuild [NAME …]",
		Short: "Rebuild read models from the log beside the live ones and swap them in (all unless named)",
		Long: "Replays the whole log into scratch tables beside each named projection's live ones, then\n" +
			"swaps the rows and the checkpoint in, in one transaction. The live tables serve meanwhile;\n" +
			"a running server's projector pauses only for the last catch-up and the swap, then resumes\n" +
			"from the rebuilt checkpoint. A rebuild that fails (an event the read model cannot hold)\n" +
			"names the event's position, leaves the live tables as they were and exits non-zero.",
		RunE: func(cmd *cobra.Command, args []string) error {
			names := args
			if len(names) == 0 {
				for _, p := range projections.All() {
					names = append(names, p.Name)
				}
			}
			for _, n := range names {
				if _, ok := projections.Lookup(n); !ok {
					var known []string
					for _, p := range projections.All() {
						known = append(known, p.Name)
					}
					return usageError("no projection %q (known: %v)", n, known)
				}
			}
			pool, store, err := openStore(cmd.Context(), *cfg)
			if err != nil {
				return err
			}
			defer pool.Close()
			target := readmodel.New(pool)
			for _, n := range names {
				start := time.Now()
				if err := projections.Rebuild(cmd.Context(), store, target, n); err != nil {
					return err
				}
				p, _ := projections.Lookup(n)
				pos, err := target.Checkpoint(cmd.Context(), p.Name)
				if err != nil {
					return err
				}
				fmt.Fprintf(cmd.OutOrStdout(), "rebuilt %s up to position %s in %s\n", p.Name, pos, time.Since(start).Round(time.Millisecond))
			}
			return nil
		},
	}
	cfg.bindDatabase(rebuild.Flags())
	cmd.AddCommand(rebuild)
	return cmd
}
