package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/oklog/ulid/v2"
	"github.com/spf13/cobra"

	"github.com/attune-go/attune/adapters/eventstore"
	"github.com/attune-go/attune/adapters/postgres"
	"github.com/attune-go/attune/adapters/readmodel"
	"github.com/attune-go/attune/projections"
)

func auditCommand(cfg *config) *cobra.Command {
	var (
		skipProjections bool
		catchUpWait     time.Duration
	)
	audit := &cobra.Command{Use: "audit", Short: "Verify the integrity of the log and the read models"}
	verify := &cobra.Command{
		Use:   "verify",
		Short: "Check every stream's hash chain and that every read model equals a rebuild",
		Long: "Recomputes every event's hash from its content and the previous event of its stream.\n" +
			"Then, unless --skip-projections, replays each projection into a scratch schema up to the\n" +
			"live projection's checkpoint and compares the tables row by row with the live ones (the\n" +
			"live projector is paused only for the comparison); the scratch schema is dropped after.\n" +
			"A projection whose checkpoint is still behind the log's head (as it was when the check\n" +
			"began) after --catch-up-wait fails too: it is stalled or lagging, and its read model does\n" +
			"not tell the whole log; verify names it, how far behind it is and, when an event cannot be\n" +
			"applied, that event.\n" +
			"Exits 0 when everything holds; exits 3 and names the first broken link, or every\n" +
			"projection that differs (with its first differing row) or is behind, otherwise.",
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
			if skipProjections {
				return nil
			}
			return verifyProjections(cmd.Context(), *cfg, pool, store, cmd.OutOrStdout(), report.Last, catchUpWait)
		},
	}
	cfg.bindDatabase(verify.Flags())
	verify.Flags().BoolVar(&skipProjections, "skip-projections", false, "check the hash chains only, not the read models")
	verify.Flags().DurationVar(&catchUpWait, "catch-up-wait", 10*time.Second, "how long live projectors get to reach the log's head before one still behind fails the audit")
	audit.AddCommand(verify)
	return audit
}

// auditScratchPrefix starts the name of an audit's scratch schema; a ULID follows.
const auditScratchPrefix = "attune_audit_"

// verifyProjections rebuilds every projection in a scratch schema and compares it with the
// live one, printing one line per projection. A projection still behind head after wait (live
// projectors get that long to catch up) fails: it is stalled or lagging, never "equal".
func verifyProjections(ctx context.Context, cfg config, pool *pgxpool.Pool, store eventstore.Store, out io.Writer, head eventstore.Position, wait time.Duration) (err error) {
	// An audit killed before its deferred drop leaves its scratch schema behind; the next
	// audit drops those older than a day (far longer than an audit runs). Failing that is no
	// reason to fail this audit: the next one tries again.
	_, _ = postgres.DropStaleSchemas(ctx, pool, auditScratchPrefix, 24*time.Hour, time.Now())
	scratch := auditScratchPrefix + strings.ToLower(ulid.Make().String())
	spool, err := openReplayTarget(ctx, cfg, scratch)
	if err != nil {
		return fmt.Errorf("create the scratch schema of the audit: %w", err)
	}
	defer func() {
		spool.Close()
		if derr := postgres.DropSchema(context.WithoutCancel(ctx), pool, scratch); derr != nil && err == nil {
			err = derr
		}
	}()
	live, rebuilt := readmodel.New(pool), readmodel.New(spool)
	behind, err := waitForHead(ctx, live, head, wait)
	if err != nil {
		return err
	}
	var failed []string
	for _, p := range projections.All() {
		d, n, at, err := compareWithRebuild(ctx, store, live, rebuilt, p)
		if err != nil {
			return fmt.Errorf("audit %s: %w", p.Name, err)
		}
		if d != nil {
			failed = append(failed, p.Name)
			fmt.Fprintf(out, "DIFFERS: %s (up to position %s): table %s, row %d in key order\n  live:    %s\n  rebuilt: %s\n",
				p.Name, at, d.Table, d.Row, orNone(d.Got), orNone(d.Want))
		}
		if _, late := behind[p.Name]; late && at.Less(head) {
			if d == nil {
				failed = append(failed, p.Name)
			}
			if err := reportBehind(ctx, store, rebuilt, p, at, head, out); err != nil {
				return fmt.Errorf("audit %s: %w", p.Name, err)
			}
			continue
		}
		if d == nil {
			fmt.Fprintf(out, "equal: %s (%d rows, up to position %s)\n", p.Name, n, at)
		}
	}
	if len(failed) > 0 {
		return &exitError{code: 3, err: fmt.Errorf("%d read models differ from a rebuild from the log or are behind it: %s", len(failed), strings.Join(failed, ", "))}
	}
	return nil
}

// waitForHead gives live projectors up to wait to reach head and returns the checkpoints of
// those that did not.
func waitForHead(ctx context.Context, live *readmodel.DB, head eventstore.Position, wait time.Duration) (map[string]eventstore.Position, error) {
	deadline := time.Now().Add(wait)
	for {
		behind := map[string]eventstore.Position{}
		for _, p := range projections.All() {
			cp, err := live.Checkpoint(ctx, p.Name)
			if err != nil {
				return nil, err
			}
			if cp.Less(head) {
				behind[p.Name] = cp
			}
		}
		if len(behind) == 0 || !time.Now().Before(deadline) {
			return behind, nil
		}
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// reportBehind says how far p is behind head and, when the next events cannot be applied (a
// stalled projection), which event: it carries the scratch build on past the live checkpoint.
func reportBehind(ctx context.Context, store eventstore.Store, rebuilt *readmodel.DB, p projections.Projection, at, head eventstore.Position, out io.Writer) error {
	n, oldest := 0, time.Time{}
	for cursor := at; cursor.Less(head); {
		batch, err := store.ReadAll(ctx, cursor, 5000)
		if err != nil {
			return fmt.Errorf("count the events behind: %w", err)
		}
		if len(batch) == 0 {
			break
		}
		for _, e := range batch {
			if head.Less(e.Position) {
				break
			}
			if n == 0 {
				oldest = e.RecordedAt
			}
			n++
		}
		cursor = batch[len(batch)-1].Position
	}
	fmt.Fprintf(out, "BEHIND: %s at position %s, %d events behind the head %s (the oldest recorded %s ago)\n",
		p.Name, at, n, head, time.Since(oldest).Round(time.Second))
	err := projections.Replay(ctx, store, rebuilt, head, p)
	var stall *projections.StallError
	switch {
	case errors.As(err, &stall):
		fmt.Fprintf(out, "STALLED: %s cannot apply the event at position %s (%s, stream %s version %d, event %s): %v\n",
			p.Name, stall.Position, stall.Type, stall.Stream, stall.StreamVersion, stall.EventID, stall.Err)
	case err != nil:
		return err
	}
	return nil
}

// compareWithRebuild replays p into rebuilt up to the live checkpoint and compares. The long
// part, the replay, runs while the live projector keeps going; then, with the projector
// paused, the rebuild catches up to where the live one stopped and the tables are compared,
// so both sides stand at the same position without holding the server back for long.
func compareWithRebuild(ctx context.Context, store eventstore.Store, live, rebuilt *readmodel.DB, p projections.Projection) (d *readmodel.Difference, rows int, at eventstore.Position, err error) {
	cp, err := live.Checkpoint(ctx, p.Name)
	if err != nil {
		return nil, 0, cp, err
	}
	// A zero bound means "the head" to Replay; a projection that never ran stays empty.
	if cp != eventstore.Start {
		if err := projections.Replay(ctx, store, rebuilt, cp, p); err != nil {
			return nil, 0, cp, err
		}
	}
	err = live.Pause(ctx, p.Name, func(ctx context.Context, t projections.Target) error {
		now, err := t.Checkpoint(ctx, p.Name)
		if err != nil {
			return err
		}
		at = now
		if now != cp && now != eventstore.Start {
			if err := projections.Replay(ctx, store, rebuilt, now, p); err != nil {
				return err
			}
		}
		d, rows, err = readmodel.Compare(ctx, live, rebuilt, p.Name)
		return err
	})
	return d, rows, at, err
}

func orNone(row string) string {
	if row == "" {
		return "(no row)"
	}
	return row
}
