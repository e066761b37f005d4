package main

import (
	"cmp"
	"context"
	"fmt"
	"strings"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/spf13/cobra"

	"github.com/attune-go/attune/adapters/postgres"
)

func migrateCommand(cfg *config) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "migrate",
		Short: "Apply the embedded database migrations (idempotent)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			pool, err := openDatabase(cmd.Context(), *cfg, withSchemaCreated())
			if err != nil {
				return err
			}
			defer pool.Close()
			applied, err := postgres.Migrate(cmd.Context(), pool)
			if err != nil {
				return err
			}
			if len(applied) == 0 {
				fmt.Fprintln(cmd.OutOrStdout(), "database is up to date")
			}
			for _, m := range applied {
				fmt.Fprintf(cmd.OutOrStdout(), "applied %s\n", m)
			}
			return nil
		},
	}
	cfg.bindDatabase(cmd.Flags())
	return cmd
}

type openOption func(*openOptions)

type openOptions struct {
	createSchema bool
	role         string
}

// asRole names the process's connections attune-ROLE in pg_stat_activity (default: the CLI).
func asRole(role string) openOption { return func(o *openOptions) { o.role = role } }

// withSchemaCreated creates the configured schema when it is missing (migrate and serve).
func withSchemaCreated() openOption { return func(o *openOptions) { o.createSchema = true } }

// openDatabase validates the configuration and connects, failing fast with one clear line.
func openDatabase(ctx context.Context, cfg config, opts ...openOption) (*pgxpool.Pool, error) {
	var o openOptions
	for _, opt := range opts {
		opt(&o)
	}
	if err := cfg.validate(); err != nil {
		return nil, usageError("invalid configuration: %s", strings.ReplaceAll(err.Error(), "\n", "; "))
	}
	if o.createSchema {
		if err := postgres.EnsureSchema(ctx, cfg.DatabaseURL, cfg.Schema); err != nil {
			return nil, err
		}
	}
	pool, err := postgres.ConnectWith(ctx, cfg.DatabaseURL, cfg.Schema, postgres.PoolOptions{
		MaxConns: cfg.DBMaxConns, AppName: "attune-" + cmp.Or(o.role, "cli"),
	})
	if err != nil || o.createSchema {
		return pool, err // migrate and serve migrate it themselves
	}
	migrated, err := postgres.Migrated(ctx, pool)
	if err == nil && !migrated {
		err = usageError("the database has no Attune tables in schema %s: run `attune migrate` first (or start `attune serve`, which migrates)", cmp.Or(cfg.Schema, "of its search_path"))
	}
	if err != nil {
		pool.Close()
		return nil, err
	}
	return pool, nil
}
