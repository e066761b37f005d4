package main

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/spf13/cobra"

	"github.com/attune-go/attune/adapters/eventstore"
	"github.com/attune-go/attune/adapters/postgres"
	"github.com/attune-go/attune/adapters/readmodel"
	"github.com/attune-go/attune/projections"
)

func replayCommand(cfg *config) *cobra.Command {
	var until, into string
	cmd := &cobra.Command{
		Use:   "replay --until POSITION|TIME --into SCHEMA",
		Short: "Build every read model as it stood at a past point of the log, into a separate schema",
		Long: "Replays the log of the live schema (--schema, or the default search_path) up to --until\n" +
			"into the read-model tables of another schema, with the same projector code the server\n" +
			"runs, so an auditor can query the system exactly as it was at that point.\n\n" +
			"--until takes a log position (MAJOR-MINOR, as `attune history` prints it), an RFC 3339\n" +
			"time (the log up to its last event recorded at or before that time; the replay stops\n" +
			"at the first event recorded later), or \"head\".\n\n" +
			"--into (alias --target-schema) names the schema to build into; it is created and migrated\n" +
			"if missing. --schema keeps its usual meaning, the schema of the live log, which is why the\n" +
			"target has a flag of its own. The target must not be the live schema, must not hold a log\n" +
			"of its own, and must not hold read models beyond --until; one replayed to an earlier point\n" +
			"is carried forward from its checkpoints.",
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx := cmd.Context()
			if until == "" {
				return usageError("replay: --until is required (a position MAJOR-MINOR, an RFC 3339 time, or head)")
			}
			if into == "" {
				return usageError("replay: --into is required (the schema to build the read models into)")
			}
			bound, err := parseUntil(until)
			if err != nil {
				return err
			}
			pool, store, err := openStore(ctx, *cfg)
			if err != nil {
				return err
			}
			defer pool.Close()
			live, err := postgres.CurrentSchema(ctx, pool)
			if err != nil {
				return err
			}
			if into == live {
				return usageError("replay: the target schema %q is the live schema; name another one with --into", into)
			}
			pos, err := bound.resolve(ctx, store)
			if err != nil {
				return err
			}
			tpool, err := openReplayTarget(ctx, *cfg, into)
			if err != nil {
				return err
			}
			defer tpool.Close()
			if err := checkReplayTarget(ctx, tpool, into, pos); err != nil {
				return err
			}
			out := cmd.OutOrStdout()
			if pos == eventstore.Start {
				// Replay reads a zero bound as "the head": with no event before the point, the
				// right answer is read models that are still empty.
				fmt.Fprintf(out, "no event of schema %s was recorded at or before %s: the read models in %s are empty\n", live, until, into)
				return nil
			}
			target := readmodel.New(tpool)
			fmt.Fprintf(out, "replaying the log of schema %s up to position %s into schema %s\n", live, pos, into)
			for _, p := range projections.All() {
				start := time.Now()
				if err := projections.Replay(ctx, store, target, pos, p); err != nil {
					return fmt.Errorf("replay %s into %s: %w", p.Name, into, err)
				}
				cp, err := target.Checkpoint(ctx, p.Name)
				if err != nil {
					return err
				}
				fmt.Fprintf(out, "built %s up to position %s in %s\n", p.Name, cp, time.Since(start).Round(time.Millisecond))
			}
			return nil
		},
	}
	cfg.bindDatabase(cmd.Flags())
	cmd.Flags().StringVar(&until, "until", "", "last point to replay: a position MAJOR-MINOR, an RFC 3339 time, or head")
	cmd.Flags().StringVar(&into, "into", "", "schema to build the read models into (created and migrated if missing)")
	cmd.Flags().StringVar(&into, "target-schema", "", "same as --into")
	return cmd
}

// untilBound is a parsed --until: a position, a time, or the head (both zero).
type untilBound struct {
	pos  eventstore.Position
	at   time.Time
	head bool
}

func parseUntil(s string) (untilBound, error) {
	if s == "head" {
		return untilBound{head: true}, nil
	}
	if strings.Contains(s, "T") || strings.Contains(s, ":") {
		at, err := time.Parse(time.RFC3339Nano, s)
		if err != nil {
			return untilBound{}, usageError("--until %q: not an RFC 3339 time (e.g. 2026-03-01T12:00:00Z): %v", s, err)
		}
		return untilBound{at: at}, nil
	}
	pos, err := eventstore.ParsePosition(s)
	if err != nil {
		return untilBound{}, usageError("--until %q: want a position MAJOR-MINOR, an RFC 3339 time or head: %v", s, err)
	}
	return untilBound{pos: pos}, nil
}

// resolve turns the bound into a position of the log (Start when it holds nothing before it).
func (u untilBound) resolve(ctx context.Context, store eventstore.Store) (eventstore.Position, error) {
	switch {
	case u.head:
		return lastPosition(ctx, store, func(eventstore.Recorded) bool { return true })
	case !u.at.IsZero():
		return lastPosition(ctx, store, func(e eventstore.Recorded) bool { return !e.RecordedAt.After(u.at) })
	}
	return u.pos, nil
}

// lastPosition walks the log from its start and returns the position of the last event of
// the longest prefix whose events all satisfy keep. A replay is always a prefix of the log,
// so the first event recorded after the time ends it even if a later one carries an earlier
// clock reading.
func lastPosition(ctx context.Context, store eventstore.Store, keep func(eventstore.Recorded) bool) (eventstore.Position, error) {
	cursor := eventstore.Start
	for {
		batch, err := store.ReadAll(ctx, cursor, 5000)
		if err != nil {
			return eventstore.Start, fmt.Errorf("find the replay bound: %w", err)
		}
		if len(batch) == 0 {
			return cursor, nil
		}
		for _, e := range batch {
			if !keep(e) {
				return cursor, nil
			}
			cursor = e.Position
		}
	}
}

// openReplayTarget creates and migrates schema and connects to it.
func openReplayTarget(ctx context.Context, cfg config, schema string) (*pgxpool.Pool, error) {
	if err := postgres.EnsureSchema(ctx, cfg.DatabaseURL, schema); err != nil {
		return nil, err
	}
	pool, err := postgres.Connect(ctx, cfg.DatabaseURL, schema)
	if err != nil {
		return nil, err
	}
	if _, err := postgres.Migrate(ctx, pool); err != nil {
		pool.Close()
		return nil, fmt.Errorf("migrate replay schema %s: %w", schema, err)
	}
	return pool, nil
}

// checkReplayTarget refuses a schema that is some system's live one (it holds a log) or
// that holds read models beyond the bound: replaying "back" into it would mix two points.
func checkReplayTarget(ctx context.Context, pool *pgxpool.Pool, schema string, until eventstore.Position) error {
	has, err := postgres.HoldsEvents(ctx, pool)
	if err != nil {
		return err
	}
	if has {
		return usageError("replay: schema %s holds a log of its own (a live system?); name an empty or replay-only schema", schema)
	}
	target := readmodel.New(pool)
	var newer []string
	for _, p := range projections.All() {
		cp, err := target.Checkpoint(ctx, p.Name)
		if err != nil {
			return err
		}
		if until.Less(cp) || (until == eventstore.Start && cp != eventstore.Start) {
			newer = append(newer, fmt.Sprintf("%s at %s", p.Name, cp))
		}
	}
	if len(newer) > 0 {
		return usageError("replay: schema %s already holds read models beyond %s (%s); drop it or pick another", schema, until, strings.Join(newer, ", "))
	}
	return nil
}
