package httpapi

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/attune-go/attune/adapters/auth"
	"github.com/attune-go/attune/adapters/postgres/pgtest"
	"github.com/attune-go/attune/projections/executions"
)

// tokenServer is the API with real tokens (Postgres) and one admin token to start with.
func tokenServer(t *testing.T) (srv *httptest.Server, adminToken string) {
	t.Helper()
	store := auth.New(pgtest.New(t).Pool)
	_, adminToken, err := store.Create(context.Background(), auth.NewToken{Name: "ada", Role: auth.Admin, CreatedBy: "test"})
	if err != nil {
		t.Fatal(err)
	}
	srv = httptest.NewServer(New(Config{
		Auth:        store,
		CreateToken: store.Create,
		ListTokens:  store.List,
		RevokeToken: store.Revoke,
		ListExecutions: func(context.Context, executions.Filter) (executions.Page, error) {
			return executions.Page{}, nil
		},
	}))
	t.Cleanup(srv.Close)
	return srv, adminToken
}

func call(t *testing.T, srv *httptest.Server, method, path, token, body string) answer {
	t.Helper()
	req, err := http.NewRequest(method, srv.URL+path, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	return send(t, req)
}

func TestAdminsManageTokensThroughTheAPI(t *testing.T) {
	t.Parallel()
	srv, admin := tokenServer(t)

	got := call(t, srv, "POST", "/api/v1/tokens", admin, `{"name":"grafana","role":"viewer","description":"dashboards"}`)
	if got.status != http.StatusCreated {
		t.Fatalf("create: %d %s", got.status, got.body)
	}
	var created CreatedToken
	if err := json.Unmarshal([]byte(got.body), &created); err != nil {
		t.Fatal(err)
	}
	if created.Name != "grafana" || created.Role != auth.Viewer || created.CreatedBy != "ada" || !strings.HasPrefix(created.Secret, "att_") {
		t.Errorf("created %+v: want grafana, viewer, created by ada, with its token", created)
	}
	if got.header.Get("Cache-Control") != "no-store" {
		t.Errorf("the answer holding a token may be cached: Cache-Control %q", got.header.Get("Cache-Control"))
	}

	// The new token reads, and may not manage tokens.
	if got := call(t, srv, "GET", "/api/v1/executions", created.Secret, ""); got.status != http.StatusOK {
		t.Errorf("viewer reads executions: %d %s", got.status, got.body)
	}
	if got := call(t, srv, "GET", "/api/v1/tokens", created.Secret, ""); got.status != http.StatusForbidden {
		t.Errorf("viewer lists tokens: %d, want 403", got.status)
	}

	list := call(t, srv, "GET", "/api/v1/tokens", admin, "")
	if list.status != http.StatusOK || !strings.Contains(list.body, `"name":"grafana"`) || !strings.Contains(list.body, `"name":"ada"`) {
		t.Errorf("list: %d %s", list.status, list.body)
	}
	if strings.Contains(list.body, created.Secret) || strings.Contains(list.body, admin) || strings.Contains(list.body, "att_") {
		t.Errorf("the token list shows a token: %s", list.body)
	}

	if got := call(t, srv, "POST", "/api/v1/tokens/grafana/revoke", admin, ""); got.status != http.StatusOK || !strings.Contains(got.body, `"revoked_by":"ada"`) {
		t.Errorf("revoke: %d %s", got.status, got.body)
	}
	if got := call(t, srv, "GET", "/api/v1/executions", created.Secret, ""); got.status != http.StatusUnauthorized || !strings.Contains(got.err.Message, "revoked") {
		t.Errorf("revoked token: %d %s, want 401 saying revoked", got.status, got.body)
	}
}

func TestTokenRequestsAreValidated(t *testing.T) {
	t.Parallel()
	srv, admin := tokenServer(t)
	for _, tc := range []struct {
		method, path, body string
		status             int
		code, field        string
	}{
		{"POST", "/api/v1/tokens", `{"name":"x","role":"root"}`, 422, CodeValidation, "role"},
		{"POST", "/api/v1/tokens", `{"name":"two words","role":"viewer"}`, 422, CodeValidation, "name"},
		{"POST", "/api/v1/tokens", `{"name":"x","role":"viewer","expires_at":"2001-01-01T00:00:00Z"}`, 422, CodeValidation, "expires_at"},
		{"POST", "/api/v1/tokens", `{"name":"ada","role":"viewer"}`, 409, CodeConflict, "name"},
		{"POST", "/api/v1/tokens", `{"name":"x","role":"viewer","secret":"mine"}`, 400, CodeUnknownField, "secret"},
		{"POST", "/api/v1/tokens/nobody/revoke", ``, 404, CodeNotFound, ""},
	} {
		got := call(t, srv, tc.method, tc.path, admin, tc.body)
		if got.status != tc.status || got.err.Code != tc.code || got.err.Field != tc.field {
			t.Errorf("%s %s %s: %d %s, want %d %s on %q", tc.method, tc.path, tc.body, got.status, got.body, tc.status, tc.code, tc.field)
		}
	}
}
