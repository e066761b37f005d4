package httpapi

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"reflect"
	"regexp"
	"strings"
	"sync"
	"testing"

	"github.com/attune-go/attune/adapters/auth"
)

// tokens maps the bearer tokens of these tests to their principals.
var testPrincipals = map[string]auth.Principal{
	"tok-viewer":   {TokenID: "01V", Name: "vera", Role: auth.Viewer},
	"tok-operator": {TokenID: "01O", Name: "deploy-bot", Role: auth.Operator},
	"tok-admin":    {TokenID: "01A", Name: "ada", Role: auth.Admin},
}

var testAuth = AuthenticatorFunc(func(_ context.Context, token string) (auth.Principal, error) {
	if p, ok := testPrincipals[token]; ok {
		return p, nil
	}
	return auth.Principal{}, fmt.Errorf("%w: unknown token", auth.ErrInvalidToken)
})

func tokenOf(role auth.Role) string { return "tok-" + role.String() }

// fullConfig enables every route a Config can enable: each nil function field becomes a
// stub returning zero values, each nil http.Handler a stub answering 204. It is built by
// reflection so that a route added with a new Config field is covered without editing
// this test.
func fullConfig(t *testing.T) Config {
	t.Helper()
	var cfg Config
	v := reflect.ValueOf(&cfg).Elem()
	handlerType := reflect.TypeFor[http.Handler]()
	for i := range v.NumField() {
		f := v.Field(i)
		switch {
		case f.Kind() == reflect.Func:
			ft := f.Type()
			f.Set(reflect.MakeFunc(ft, func([]reflect.Value) []reflect.Value {
				out := make([]reflect.Value, ft.NumOut())
				for j := range out {
					out[j] = reflect.Zero(ft.Out(j))
				}
				return out
			}))
		case f.Type() == handlerType:
			f.Set(reflect.ValueOf(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(http.StatusNoContent) })))
		}
	}
	cfg.Auth = testAuth
	// One route registered behind the API's back, missing from the table: it must fail
	// closed (admin only), not open.
	cfg.ExtraRoutes = func(mux *http.ServeMux) {
		mux.HandleFunc("GET /api/v1/extra", func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(http.StatusNoContent) })
	}
	return cfg
}

func TestEveryRouteIsInTheAccessTable(t *testing.T) {
	t.Parallel()
	routes := New(fullConfig(t)).Routes()
	registered := map[string]bool{}
	for _, p := range routes {
		registered[p] = true
		if _, ok := routeAccess[p]; !ok {
			t.Errorf("route %q has no entry in routeAccess (auth.go): decide which role it needs", p)
		}
	}
	for p := range routeAccess {
		if !registered[p] {
			t.Errorf("routeAccess entry %q matches no route of a fully configured server: a stale or misspelt pattern", p)
		}
	}
	if len(routes) < 20 {
		t.Errorf("a fully configured server has %d routes: %v; the stub config enables too little", len(routes), routes)
	}
}

var wildcard = regexp.MustCompile(`\{[^}]+\}`)

// requestFor builds a request that the mux routes to pattern.
func requestFor(t *testing.T, base, pattern, token string) *http.Request {
	t.Helper()
	method, path, ok := strings.Cut(pattern, " ")
	if !ok { // the catch-all
		method, path = http.MethodGet, "/no/such/route"
	}
	path = wildcard.ReplaceAllString(path, "x")
	var body io.Reader
	if method == http.MethodPost {
		body = strings.NewReader("{}")
	}
	req, err := http.NewRequest(method, base+path, body)
	if err != nil {
		t.Fatal(err)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	// The output route streams until its execution ends (the stub's never does) unless asked
	// for JSON, as the API client asks every route.
	req.Header.Set("Accept", "application/json")
	return req
}

type answer struct {
	status int
	body   string
	header http.Header
	err    Error // the error shape, when the answer is one
}

func send(t *testing.T, req *http.Request) answer {
	t.Helper()
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", req.Method, req.URL.Path, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	a := answer{status: resp.StatusCode, body: string(b), header: resp.Header}
	_ = json.Unmarshal(b, &a.err) // not every answer is an error
	return a
}

func TestEveryRouteAsksForItsRole(t *testing.T) {
	t.Parallel()
	srv := httptest.NewServer(New(fullConfig(t)))
	t.Cleanup(srv.Close)

	table := map[string]access{"GET /api/v1/extra": accessAdmin} // fail closed
	for p, a := range routeAccess {
		table[p] = a
	}
	for pattern, need := range table {
		for _, token := range []string{"", "att_bogus"} {
			got := send(t, requestFor(t, srv.URL, pattern, token))
			switch {
			case need.public && (got.status == http.StatusUnauthorized || got.status == http.StatusForbidden):
				t.Errorf("public %s with token %q: %d %s, want no auth check", pattern, token, got.status, got.body)
			case !need.public && (got.status != http.StatusUnauthorized || got.err.Code != CodeUnauthorized):
				t.Errorf("%s with token %q: %d %s, want 401 unauthorized", pattern, token, got.status, got.body)
			case !need.public && !strings.HasPrefix(got.header.Get("WWW-Authenticate"), "Bearer"):
				t.Errorf("%s 401 without a WWW-Authenticate: Bearer challenge", pattern)
			}
		}
		for _, role := range auth.Roles() {
			got := send(t, requestFor(t, srv.URL, pattern, tokenOf(role)))
			if need.public || role.Allows(need.role) {
				if got.status == http.StatusUnauthorized || got.status == http.StatusForbidden {
					t.Errorf("%s as %s: %d %s, want it let through", pattern, role, got.status, got.body)
				}
				continue
			}
			wantMsg := fmt.Sprintf("needs role %s; token %q has role %s", need.role, testPrincipals[tokenOf(role)].Name, role)
			if got.status != http.StatusForbidden || got.err.Code != CodeForbidden || !strings.Contains(got.err.Message, wantMsg) {
				t.Errorf("%s as %s: %d %s, want 403 forbidden saying %q", pattern, role, got.status, got.body, wantMsg)
			}
		}
	}
}

func TestUnknownRoutesAnswer401BeforeTheir404(t *testing.T) {
	t.Parallel()
	srv := httptest.NewServer(New(fullConfig(t)))
	t.Cleanup(srv.Close)
	if got := send(t, requestFor(t, srv.URL, "DELETE /api/v1/executions/x", "")); got.status != http.StatusUnauthorized {
		t.Errorf("anonymous DELETE on an unknown route: %d, want 401", got.status)
	}
	if got := send(t, requestFor(t, srv.URL, "DELETE /api/v1/nothing/x", "tok-viewer")); got.status != http.StatusNotFound || got.err.Code != CodeNotFound {
		t.Errorf("authenticated DELETE on an unknown route: %d %s, want 404", got.status, got.body)
	}
}

// A known path asked with a method it does not answer is a 405 naming the methods it does
// (with Allow), not a 404 that suggests the path is wrong.
func TestAKnownPathWithTheWrongMethodAnswers405(t *testing.T) {
	t.Parallel()
	srv := httptest.NewServer(New(fullConfig(t)))
	t.Cleanup(srv.Close)
	for _, tt := range []struct{ request, allow string }{
		{"DELETE /api/v1/executions/x", "GET"},
		{"PUT /api/v1/executions", "POST, GET"},
		{"GET /api/v1/rules/r/enable", "POST"},
	} {
		req := requestFor(t, srv.URL, tt.request, "tok-admin")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		var e Error
		_ = json.NewDecoder(resp.Body).Decode(&e)
		resp.Body.Close()
		if resp.StatusCode != http.StatusMethodNotAllowed || e.Code != CodeMethodNotAllowed || resp.Header.Get("Allow") != tt.allow {
			t.Errorf("%s: %d %q Allow %q, want 405 method_not_allowed Allow %q", tt.request, resp.StatusCode, e.Code, resp.Header.Get("Allow"), tt.allow)
		}
	}
}

func TestTheActorIsTheTokensNameNeverTheClientsClaim(t *testing.T) {
	t.Parallel()
	var (
		mu     sync.Mutex
		actors []string
	)
	cancel := func(_ context.Context, _, actor string) error {
		mu.Lock()
		defer mu.Unlock()
		actors = append(actors, actor)
		return nil
	}
	for _, tc := range []struct {
		auth Authenticator
		want string
	}{
		{testAuth, "deploy-bot"}, // the operator token's name
		{nil, "mallory"},         // access control off: the client's word is all there is
	} {
		srv := httptest.NewServer(New(Config{Auth: tc.auth, CancelExecution: cancel}))
		req := requestFor(t, srv.URL, "POST /api/v1/executions/{id}/cancel", "tok-operator")
		req.Header.Set("X-Attune-Actor", "mallory")
		if got := send(t, req); got.status != http.StatusAccepted {
			t.Errorf("cancel: %d %s", got.status, got.body)
		}
		srv.Close()
		mu.Lock()
		if len(actors) == 0 || actors[len(actors)-1] != tc.want {
			t.Errorf("actor = %v, want %q last", actors, tc.want)
		}
		mu.Unlock()
	}
}

func TestAFailingAuthenticatorIsAServerErrorNotA401(t *testing.T) {
	t.Parallel()
	broken := AuthenticatorFunc(func(context.Context, string) (auth.Principal, error) {
		return auth.Principal{}, errors.New("connect to postgres: connection refused")
	})
	srv := httptest.NewServer(New(Config{Auth: broken, Logger: slog.New(slog.DiscardHandler)}))
	t.Cleanup(srv.Close)
	got := send(t, requestFor(t, srv.URL, "GET /no/such", "att_whatever"))
	if got.status != http.StatusInternalServerError || strings.Contains(got.body, "postgres") {
		t.Errorf("authenticator down: %d %s, want 500 that leaks nothing", got.status, got.body)
	}
}

func TestBearerTokenParsing(t *testing.T) {
	t.Parallel()
	for header, want := range map[string]string{
		"Bearer att_x":    "att_x",
		"bearer att_x":    "att_x",
		"Bearer   att_x ": "att_x",
		"Basic dXNlcg==":  "",
		"Bearer":          "",
		"Bearer ":         "",
		"att_x":           "",
		"":                "",
	} {
		r := httptest.NewRequest(http.MethodGet, "/", nil)
		r.Header.Set("Authorization", header)
		got, ok := bearerToken(r)
		if got != want || ok != (want != "") {
			t.Errorf("Authorization %q: token %q, %v; want %q", header, got, ok, want)
		}
	}
}
