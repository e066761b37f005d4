package main

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/attune-go/attune/adapters/auth"
	"github.com/attune-go/attune/adapters/auth/clientconfig"
	"github.com/attune-go/attune/adapters/httpapi"
	"github.com/attune-go/attune/adapters/postgres/pgtest"
	"github.com/attune-go/attune/projections/executions"
)

func TestTokenCreateListRevokeWorkOnTheDatabase(t *testing.T) {
	t.Parallel()
	s := pgtest.New(t)
	store := auth.New(s.Pool)
	ctx := context.Background()

	out, errOut, err := attune(t, "token", "create", "--name", "ci", "--role", "operator", "--description", "pipeline", "--schema", s.Name)
	if err != nil {
		t.Fatalf("token create: %v\n%s", err, errOut)
	}
	secret := strings.TrimSpace(out)
	if !strings.HasPrefix(secret, "att_") || strings.Contains(secret, "\n") {
		t.Fatalf("token create printed %q, want the token alone", out)
	}
	if !strings.Contains(errOut, "shown only this once") || strings.Contains(errOut, secret) {
		t.Errorf("token create's notice %q: want a warning that it is shown once, without the token", errOut)
	}
	p, err := store.Authenticate(ctx, secret)
	if err != nil || p.Name != "ci" || p.Role != auth.Operator {
		t.Fatalf("the printed token authenticates as %+v, %v; want operator ci", p, err)
	}

	out, _, err = attune(t, "token", "list", "--schema", s.Name)
	if err != nil {
		t.Fatalf("token list: %v", err)
	}
	for _, want := range []string{"ID", "LAST USED", "REVOKED", p.TokenID, "ci", "operator"} {
		if !strings.Contains(out, want) {
			t.Errorf("token list lacks %q:\n%s", want, out)
		}
	}
	if strings.Contains(out, "att_") {
		t.Errorf("token list shows a token:\n%s", out)
	}
	out, _, err = attune(t, "token", "list", "--schema", s.Name, "--json")
	if err != nil {
		t.Fatalf("token list --json: %v", err)
	}
	var listed []auth.Token
	if err := json.Unmarshal([]byte(out), &listed); err != nil || len(listed) != 1 || listed[0].Description != "pipeline" || !strings.HasPrefix(listed[0].CreatedBy, "cli:") || listed[0].LastUsedAt == nil {
		t.Errorf("token list --json = %+v, %v; want ci, described, created by the CLI's user, used once", listed, err)
	}

	out, _, err = attune(t, "token", "revoke", "ci", "--schema", s.Name)
	if err != nil || !strings.Contains(out, "token ci ("+p.TokenID+") revoked") {
		t.Fatalf("token revoke: %q, %v", out, err)
	}
	if _, err := store.Authenticate(ctx, secret); err == nil {
		t.Errorf("a revoked token still authenticates")
	}
	if _, _, err := attune(t, "token", "revoke", "ci", "--schema", s.Name); err == nil || !strings.Contains(err.Error(), "not found") {
		t.Errorf("revoking a name with no live token: %v", err)
	}
}

func TestTokenCreateRefusesBadRequests(t *testing.T) {
	t.Parallel()
	s := pgtest.New(t)
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"--name", "x", "--role", "root"}, `role "root"`},
		{[]string{"--role", "viewer"}, "name"},
		{[]string{"--name", "x", "--role", "viewer", "--expires-in", "-1h"}, "--expires-in"},
	} {
		args := append([]string{"token", "create", "--schema", s.Name}, tc.args...)
		_, _, err := attune(t, args...)
		if err == nil || exitCode(err) != 2 || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("attune %v: err %v (exit %d), want a usage error naming %q", args, err, exitCode(err), tc.want)
		}
	}
	if tokens, _ := auth.New(s.Pool).List(context.Background()); len(tokens) != 0 {
		t.Errorf("refused requests created %d tokens", len(tokens))
	}
	empty := pgtest.NewEmpty(t)
	if _, _, err := attune(t, "token", "create", "--name", "x", "--role", "admin", "--schema", empty.Name); err == nil || !strings.Contains(err.Error(), "attune migrate") {
		t.Errorf("token create on an unmigrated database: %v, want a hint to run attune migrate", err)
	}
}

// apiWithTokens serves the real API with access control on the test's schema.
func apiWithTokens(t *testing.T) (*httptest.Server, *auth.Store) {
	t.Helper()
	store := auth.New(pgtest.New(t).Pool)
	srv := httptest.NewServer(httpapi.New(httpapi.Config{
		Auth: store,
		ListExecutions: func(context.Context, executions.Filter) (executions.Page, error) {
			return executions.Page{}, nil
		},
	}))
	t.Cleanup(srv.Close)
	return srv, store
}

func TestClientCommandsFallBackToTheConfigFile(t *testing.T) {
	t.Parallel()
	srv, store := apiWithTokens(t)
	dir := t.TempDir()
	path := filepath.Join(dir, "config.yaml")
	if _, created, err := auth.Bootstrap(context.Background(), store, path, srv.URL); err != nil || !created {
		t.Fatalf("bootstrap: %v", err)
	}

	if out, _, err := attune(t, "execution", "list", "--config", path); err != nil || !strings.Contains(out, "ID") {
		t.Errorf("execution list with the bootstrap config: %q, %v", out, err)
	}
	_, _, err := attune(t, "execution", "list", "--config", filepath.Join(dir, "none.yaml"), "--url", srv.URL)
	if err == nil || !strings.Contains(err.Error(), "unauthorized") || !strings.Contains(err.Error(), "attune token create") {
		t.Errorf("execution list without a token: %v, want unauthorized with a hint", err)
	}
	_, _, err = attune(t, "execution", "list", "--config", path, "--token", "att_"+strings.Repeat("x", 43))
	if err == nil || !strings.Contains(err.Error(), "unknown token") {
		t.Errorf("an explicit --token must win over the file: %v", err)
	}
}

func TestTheConfigFilesTokenGoesOnlyToItsServer(t *testing.T) {
	t.Parallel()
	var (
		mu   sync.Mutex
		seen []string
	)
	other := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		seen = append(seen, r.Header.Get("Authorization"))
		mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write([]byte(`{"items":[],"next_cursor":null}`))
	}))
	t.Cleanup(other.Close)
	path := filepath.Join(t.TempDir(), "config.yaml")
	if err := clientconfig.Save(path, clientconfig.File{URL: "http://127.0.0.1:1", Token: "att_local"}); err != nil {
		t.Fatal(err)
	}
	if _, _, err := attune(t, "execution", "list", "--config", path, "--url", other.URL); err != nil {
		t.Fatalf("execution list: %v", err)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(seen) != 1 || seen[0] != "" {
		t.Errorf("another server received Authorization %q: the file's token must stay with its server", seen)
	}
}
