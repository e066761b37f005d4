package main

import (
	"cmp"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/attune-go/attune/adapters/auth"
)

// tokenCommand manages API tokens directly in the database, so the first admin token can
// be made before any server runs, and a lost one replaced by whoever holds the database.
func tokenCommand(cfg *config) *cobra.Command {
	cmd := &cobra.Command{
		Use:     "token",
		Aliases: []string{"tokens"},
		Short:   "Create, list and revoke API tokens (in the database; no server needed)",
		Long: "API tokens carry a role: viewer reads; operator also runs, cancels and reruns\n" +
			"executions and enables, disables and tests rules; admin also loads packs and manages\n" +
			"tokens. A token is shown once, when created; the database keeps only its hash.",
	}
	cmd.AddCommand(tokenCreateCommand(cfg), tokenListCommand(cfg), tokenRevokeCommand(cfg))
	return cmd
}

func tokenCreateCommand(cfg *config) *cobra.Command {
	var (
		out                     clientFlags // only its output format
		name, role, description string
		expiresIn               time.Duration
	)
	cmd := &cobra.Command{
		Use:   "create --name NAME --role viewer|operator|admin",
		Short: "Create a token and print it (the only time it is shown)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			r, err := auth.ParseRole(role)
			if err != nil {
				return usageError("--role: %v", err)
			}
			if expiresIn < 0 {
				return usageError("--expires-in %s: want a positive duration", expiresIn)
			}
			store, done, err := openTokens(cmd, *cfg)
			if err != nil {
				return err
			}
			defer done()
			n := auth.NewToken{Name: name, Role: r, Description: description, CreatedBy: cliUser()}
			if expiresIn > 0 {
				n.ExpiresAt = time.Now().Add(expiresIn)
			}
			tok, secret, err := store.Create(cmd.Context(), n)
			var field *auth.FieldError
			if errors.As(err, &field) {
				return usageError("%s", strings.ReplaceAll(err.Error(), "\n", "; "))
			}
			if err != nil {
				return err
			}
			created := struct {
				auth.Token
				Secret string `json:"token"`
			}{tok, secret}
			return out.print(cmd.OutOrStdout(), created, func(w io.Writer) error {
				// The token alone on stdout, so TOKEN=$(attune token create …) works.
				fprintf(w, "%s\n", secret)
				fprintf(cmd.ErrOrStderr(), "created token %s (%s) with role %s; it is shown only this once\n", tok.Name, tok.ID, tok.Role)
				return nil
			})
		},
	}
	fs := cmd.Flags()
	fs.StringVar(&name, "name", "", "token name, the actor of everything done with it (required)")
	fs.StringVar(&role, "role", "", "viewer, operator or admin (required)")
	fs.StringVar(&description, "description", "", "what the token is for")
	fs.DurationVar(&expiresIn, "expires-in", 0, "lifetime, e.g. 720h; 0 never expires")
	fs.BoolVar(&out.JSON, "json", false, "print JSON")
	fs.BoolVar(&out.YAML, "yaml", false, "print YAML")
	cfg.bindDatabase(fs)
	return cmd
}

func tokenListCommand(cfg *config) *cobra.Command {
	var out clientFlags
	cmd := &cobra.Command{
		Use:   "list",
		Short: "List tokens, revoked and expired ones included (never the tokens themselves)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			store, done, err := openTokens(cmd, *cfg)
			if err != nil {
				return err
			}
			defer done()
			tokens, err := store.List(cmd.Context())
			if err != nil {
				return err
			}
			return out.print(cmd.OutOrStdout(), tokens, func(w io.Writer) error { return tokenTable(w, tokens, time.Now()) })
		},
	}
	cmd.Flags().BoolVar(&out.JSON, "json", false, "print JSON")
	cmd.Flags().BoolVar(&out.YAML, "yaml", false, "print YAML")
	cfg.bindDatabase(cmd.Flags())
	return cmd
}

func tokenRevokeCommand(cfg *config) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "revoke ID|NAME",
		Short: "Revoke a token: requests made with it fail from now on",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			store, done, err := openTokens(cmd, *cfg)
			if err != nil {
				return err
			}
			defer done()
			tok, err := store.Revoke(cmd.Context(), args[0], cliUser())
			if err != nil {
				return err
			}
			fprintf(cmd.OutOrStdout(), "token %s (%s) revoked at %s by %s\n", tok.Name, tok.ID, tok.RevokedAt.Format(time.RFC3339), tok.RevokedBy)
			return nil
		},
	}
	cfg.bindDatabase(cmd.Flags())
	return cmd
}

func openTokens(cmd *cobra.Command, cfg config) (*auth.Store, func(), error) {
	pool, err := openDatabase(cmd.Context(), cfg)
	if err != nil {
		return nil, nil, err
	}
	return auth.New(pool), pool.Close, nil
}

// cliUser names who ran a token command, for the created_by and revoked_by columns.
func cliUser() string { return "cli:" + cmp.Or(os.Getenv("USER"), "unknown") }

func tokenTable(w io.Writer, tokens []auth.Token, now time.Time) error {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "ID\tNAME\tROLE\tCREATED\tLAST USED\tEXPIRES\tREVOKED")
	when := func(t *time.Time) string {
		if t == nil {
			return "-"
		}
		return t.Format(time.RFC3339)
	}
	for _, t := range tokens {
		expires := when(t.ExpiresAt)
		if t.ExpiresAt != nil && !now.Before(*t.ExpiresAt) {
			expires += " (expired)"
		}
		revoked := when(t.RevokedAt)
		if t.RevokedAt != nil {
			revoked += " by " + t.RevokedBy
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\n", t.ID, t.Name, t.Role, t.CreatedAt.Format(time.RFC3339), when(t.LastUsedAt), expires, revoked)
	}
	return tw.Flush()
}
