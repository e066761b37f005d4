package auth

import (
	"context"
	"fmt"

	"github.com/attune-go/attune/adapters/auth/clientconfig"
)

// BootstrapName names the admin token a server creates on its first start.
const BootstrapName = "bootstrap-admin"

// Bootstrap makes sure somebody can administer a fresh server: when no live admin token
// exists, it creates one named "bootstrap-admin" and writes it, with url, to the CLI's
// config file at configPath ("" means clientconfig.DefaultPath()), where `attune` finds it.
// It returns the file's path and whether it created a token. With a live admin token it
// changes nothing, so it is safe on every start; if every admin token has been revoked, the
// next start creates a new one (only somebody who can start the server on that database,
// and so could create a token anyway, gets it).
//
// Concurrent starts on one database create one token: the check and the insert hold a
// table lock. The file is written before the commit, so a token is never committed
// without its only copy on disk; a failed commit leaves a dead token in the file, which the
// next start replaces.
func Bootstrap(ctx context.Context, store *Store, configPath, url string) (path string, created bool, err error) {
	path = configPath
	if path == "" {
		if path, err = clientconfig.DefaultPath(); err != nil {
			return "", false, fmt.Errorf("bootstrap admin token: %w", err)
		}
	}
	tx, err := store.pool.Begin(ctx)
	if err != nil {
		return path, false, fmt.Errorf("bootstrap admin token: %w", err)
	}
	defer func() { _ = tx.Rollback(context.WithoutCancel(ctx)) }() // a no-op after Commit
	// SHARE ROW EXCLUSIVE conflicts with itself and with writers, so a second server's
	// bootstrap waits for the first's commit and then sees its admin.
	if _, err := tx.Exec(ctx, `LOCK TABLE api_tokens IN SHARE ROW EXCLUSIVE MODE`); err != nil {
		return path, false, fmt.Errorf("bootstrap admin token: lock tokens: %w", translate(err))
	}
	var exists bool
	if err := tx.QueryRow(ctx, activeAdminSQL).Scan(&exists); err != nil {
		return path, false, fmt.Errorf("bootstrap admin token: look for an admin: %w", translate(err))
	}
	if exists {
		return path, false, nil
	}
	_, secret, err := create(ctx, tx, NewToken{
		Name:        BootstrapName,
		Description: "created by attune serve because no admin token existed",
		Role:        Admin,
		CreatedBy:   "attune serve",
	})
	if err != nil {
		return path, false, fmt.Errorf("bootstrap admin token: %w", err)
	}
	file, err := clientconfig.Load(path)
	if err != nil {
		return path, false, fmt.Errorf("bootstrap admin token: %w", err)
	}
	file.URL, file.Token = url, secret
	if err := clientconfig.Save(path, file); err != nil {
		return path, false, fmt.Errorf("bootstrap admin token: %w", err)
	}
	if err := tx.Commit(ctx); err != nil {
		return path, false, fmt.Errorf("bootstrap admin token: commit: %w", err)
	}
	return path, true, nil
}
