package main

import (
	"errors"
	"fmt"

	"github.com/spf13/cobra"

	"github.com/attune-go/attune/adapters/eventstore"
)

func auditCommand(cfg *config) *cobra.Command {
	audit := &cobra.Command{Use: "audit", Short: "Verify the integrity of the log"}
	verify := &cobra.Command{
		Use:   "verify",
		Short: "Walk the whole log and check every stream's hash chain",
		Long: "Recomputes every event's hash from its content and the previous event of its stream.\n" +
			"Exits 0 when every chain holds; exits 3 and names the first broken link otherwise.",
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			pool, store, err := openStore(cmd.Context(), *cfg)
			if err != nil {
				return err
			}
			defer pool.Close()
			report, err := eventstore.Verify(cmd.Context(), store)
			var broken *eventstore.BrokenLinkError
			if errors.As(err, &broken) {
				fmt.Fprintf(cmd.OutOrStdout(), "BROKEN: stream %s, version %d (event %s, position %s): %s\n",
					broken.Stream, broken.Version, broken.EventID, broken.Position, broken.Reason)
				return &exitError{code: 3, err: fmt.Errorf("the log does not verify: first broken link in %s at version %d", broken.Stream, broken.Version)}
			}
			if err != nil {
				return fmt.Errorf("verify the log: %w", err)
			}
			fmt.Fprintf(cmd.OutOrStdout(), "OK: %d events in %d streams verified, up to position %s\n",
				report.Events, report.Streams, report.Last)
			return nil
		},
	}
	cfg.bindDatabase(verify.Flags())
	audit.AddCommand(verify)
	return audit
}
