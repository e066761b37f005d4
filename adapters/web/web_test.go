package web_test

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/attune-go/attune/adapters/auth"
	"github.com/attune-go/attune/adapters/eventstore"
	"github.com/attune-go/attune/adapters/httpapi"
	"github.com/attune-go/attune/adapters/web"
	"github.com/attune-go/attune/domain/execution"
	"github.com/attune-go/attune/projections/executions"
)

var principals = map[string]auth.Principal{
	"tok-viewer":   {TokenID: "01V", Name: "vera", Role: auth.Viewer},
	"tok-operator": {TokenID: "01O", Name: "otto", Role: auth.Operator},
}

// fixture is a dashboard over one running execution, recording the use cases it calls.
type fixture struct {
	srv *httptest.Server
	mu  sync.Mutex
	// cancels records the actor of each cancel the dashboard asked for.
	cancels []string
	// apiAuth records the Authorization header of each request passed to the API.
	apiAuth []string
}

func (f *fixture) cancelled() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]string(nil), f.cancels...)
}

func setup(t *testing.T, withAuth, tls bool) *fixture {
	t.Helper()
	f := &fixture{}
	running := executions.Execution{ID: "01RUN", Action: "core.local", Status: execution.Running,
		Parameters: []byte(`{"cmd":"sleep 30","password":{"$secret":"v1:c2VhbGVkLWJsb2I="}}`), CreatedAt: time.Now(), StartedAt: time.Now(), UpdatedAt: time.Now()}
	cfg := web.Config{
		API: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			f.mu.Lock()
			f.apiAuth = append(f.apiAuth, r.Method+" "+r.URL.Path+" "+r.Header.Get("Authorization"))
			f.mu.Unlock()
			w.WriteHeader(http.StatusNoContent)
		}),
		ListExecutions: func(_ context.Context, flt executions.Filter) (executions.Page, error) {
			if flt.Parent != "" {
				return executions.Page{}, nil
			}
			if flt.Cursor != "" {
				return executions.Page{}, nil
			}
			return executions.Page{Items: []executions.Execution{running}, Next: executions.Cursor(running)}, nil
		},
		CountByStatus: func(context.Context) (map[execution.Status]int64, error) {
			return map[execution.Status]int64{execution.Running: 1, execution.Completed: 41}, nil
		},
		GetExecution: func(_ context.Context, id string) (executions.Execution, error) {
			if id != running.ID {
				return executions.Execution{}, executions.ErrNotFound
			}
			return running, nil
		},
		ReadStream: func(context.Context, string) ([]eventstore.Recorded, error) { return nil, nil },
		CancelExecution: func(_ context.Context, id, actor string) error {
			f.mu.Lock()
			defer f.mu.Unlock()
			f.cancels = append(f.cancels, id+" by "+actor)
			return nil
		},
	}
	if withAuth {
		cfg.Auth = httpapi.AuthenticatorFunc(func(_ context.Context, token string) (auth.Principal, error) {
			if p, ok := principals[token]; ok {
				return p, nil
			}
			return auth.Principal{}, fmt.Errorf("%w: unknown token", auth.ErrInvalidToken)
		})
	}
	h := web.New(cfg)
	if tls {
		f.srv = httptest.NewTLSServer(h)
	} else {
		f.srv = httptest.NewServer(h)
	}
	t.Cleanup(f.srv.Close)
	return f
}

// do sends a request without following redirects, with the token cookie when token != "".
func (f *fixture) do(t *testing.T, method, path, token string, form url.Values, header ...string) (*http.Response, string) {
	t.Helper()
	var body io.Reader
	if form != nil {
		body = strings.NewReader(form.Encode())
	}
	req, err := http.NewRequest(method, f.srv.URL+path, body)
	if err != nil {
		t.Fatal(err)
	}
	if form != nil {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	if token != "" {
		req.AddCookie(&http.Cookie{Name: web.CookieName, Value: token})
	}
	client := f.srv.Client()
	client.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	resp, err := client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp, string(b)
}

var csrfRE = regexp.MustCompile(`name="csrf" value="([^"]+)"`)

// csrfOf reads the CSRF token of the first form of the page at path.
func (f *fixture) csrfOf(t *testing.T, path, token string) string {
	t.Helper()
	resp, body := f.do(t, "GET", path, token, nil)
	m := csrfRE.FindStringSubmatch(body)
	if resp.StatusCode != http.StatusOK || m == nil {
		t.Fatalf("GET %s: %d, no CSRF token in the page:\n%s", path, resp.StatusCode, body)
	}
	return m[1]
}

func tokenCookie(resp *http.Response) *http.Cookie {
	for _, c := range resp.Cookies() {
		if c.Name == web.CookieName {
			return c
		}
	}
	return nil
}

func TestLoginKeepsTheTokenInAStrictHttpOnlyCookie(t *testing.T) {
	t.Parallel()
	for _, tls := range []bool{false, true} {
		t.Run(fmt.Sprintf("tls=%v", tls), func(t *testing.T) {
			t.Parallel()
			f := setup(t, true, tls)
			_, page := f.do(t, "GET", "/login?next=/executions", "", nil)
			if !strings.Contains(page, `name="token"`) {
				t.Fatalf("the login form has no field named token:\n%s", page)
			}
			csrf := f.csrfOf(t, "/login", "")

			resp, body := f.do(t, "POST", "/login", "", url.Values{"token": {"att_wrong"}, "csrf": {csrf}})
			if resp.StatusCode != http.StatusUnauthorized || tokenCookie(resp) != nil || !strings.Contains(body, "not valid") {
				t.Fatalf("a wrong token: %d, cookie %v, want 401 without a cookie and a message:\n%s", resp.StatusCode, tokenCookie(resp), body)
			}

			resp, _ = f.do(t, "POST", "/login", "", url.Values{"token": {"tok-operator"}, "csrf": {csrf}, "next": {"/executions"}})
			c := tokenCookie(resp)
			if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/executions" || c == nil {
				t.Fatalf("login: %d to %q, cookie %v; want 303 to /executions with the cookie", resp.StatusCode, resp.Header.Get("Location"), c)
			}
			if c.Value != "tok-operator" || !c.HttpOnly || c.SameSite != http.SameSiteStrictMode || c.Path != "/" || c.Secure != tls {
				t.Fatalf("cookie %+v: want the token, HttpOnly, SameSite=Strict, Path=/, Secure=%v", c, tls)
			}
		})
	}
}

func TestLoginRefusesACrossSiteForm(t *testing.T) {
	t.Parallel()
	f := setup(t, true, false)
	csrf := f.csrfOf(t, "/login", "")
	resp, _ := f.do(t, "POST", "/login", "", url.Values{"token": {"tok-operator"}, "csrf": {"forged"}})
	if resp.StatusCode != http.StatusForbidden || tokenCookie(resp) != nil {
		t.Fatalf("a login form without its CSRF token: %d, want 403 without a cookie", resp.StatusCode)
	}
	resp, _ = f.do(t, "POST", "/login", "", url.Values{"token": {"tok-operator"}, "csrf": {csrf}}, "Origin", "https://evil.example")
	if resp.StatusCode != http.StatusForbidden || tokenCookie(resp) != nil {
		t.Fatalf("a login form from another origin: %d, want 403 without a cookie", resp.StatusCode)
	}
}

func TestPagesSendAnonymousVisitorsToLogin(t *testing.T) {
	t.Parallel()
	f := setup(t, true, false)
	for _, path := range []string{"/", "/executions?status=running", "/executions/01RUN"} {
		resp, _ := f.do(t, "GET", path, "", nil)
		if want := "/login?next=" + url.QueryEscape(path); resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != want {
			t.Errorf("GET %s without a cookie: %d to %q, want 303 to %q", path, resp.StatusCode, resp.Header.Get("Location"), want)
		}
		resp, _ = f.do(t, "GET", path, "tok-revoked", nil)
		if resp.StatusCode != http.StatusSeeOther {
			t.Errorf("GET %s with an invalid token: %d, want 303 to the login", path, resp.StatusCode)
		}
	}
	resp, _ := f.do(t, "POST", "/executions/01RUN/cancel", "", url.Values{"csrf": {"x"}})
	if resp.StatusCode != http.StatusUnauthorized || len(f.cancelled()) != 0 {
		t.Fatalf("an anonymous cancel: %d, cancels %v; want 401 and none", resp.StatusCode, f.cancelled())
	}
}

func TestLogoutForgetsTheCookie(t *testing.T) {
	t.Parallel()
	f := setup(t, true, false)
	csrf := f.csrfOf(t, "/executions", "tok-viewer")
	resp, _ := f.do(t, "POST", "/logout", "tok-viewer", url.Values{"csrf": {"stale"}})
	if resp.StatusCode != http.StatusForbidden {
		t.Fatalf("a logout without the CSRF token: %d, want 403", resp.StatusCode)
	}
	resp, _ = f.do(t, "POST", "/logout", "tok-viewer", url.Values{"csrf": {csrf}})
	c := tokenCookie(resp)
	if resp.StatusCode != http.StatusSeeOther || c == nil || c.MaxAge >= 0 || c.Value != "" {
		t.Fatalf("logout: %d, cookie %+v; want 303 and the cookie deleted", resp.StatusCode, c)
	}
}

func TestCancelNeedsTheSessionsCSRFTokenAndThisOrigin(t *testing.T) {
	t.Parallel()
	f := setup(t, true, false)
	csrf := f.csrfOf(t, "/executions/01RUN", "tok-operator")
	for _, c := range []struct {
		name   string
		form   url.Values
		header []string
	}{
		{"no token", url.Values{}, nil},
		{"a forged token", url.Values{"csrf": {"forged"}}, nil},
		{"another session's token", url.Values{"csrf": {f.csrfOf(t, "/executions/01RUN", "tok-viewer")}}, nil},
		{"another origin", url.Values{"csrf": {csrf}}, []string{"Origin", "https://evil.example"}},
		{"another site's referer", url.Values{"csrf": {csrf}}, []string{"Referer", "https://evil.example/page"}},
	} {
		resp, body := f.do(t, "POST", "/executions/01RUN/cancel", "tok-operator", c.form, c.header...)
		if resp.StatusCode != http.StatusForbidden {
			t.Errorf("%s: %d, want 403:\n%s", c.name, resp.StatusCode, body)
		}
	}
	if got := f.cancelled(); len(got) != 0 {
		t.Fatalf("refused forms cancelled %v", got)
	}
	resp, _ := f.do(t, "POST", "/executions/01RUN/cancel", "tok-operator", url.Values{"csrf": {csrf}}, "Origin", f.srv.URL)
	if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/executions/01RUN" {
		t.Fatalf("an operator's cancel: %d to %q, want 303 back to the execution", resp.StatusCode, resp.Header.Get("Location"))
	}
	if got := f.cancelled(); len(got) != 1 || got[0] != "01RUN by otto" {
		t.Fatalf("cancels %v, want one, by the token's name", got)
	}
}

func TestViewerSeesNoCancelButtonAndCannotCancel(t *testing.T) {
	t.Parallel()
	f := setup(t, true, false)
	_, op := f.do(t, "GET", "/executions/01RUN", "tok-operator", nil)
	if !strings.Contains(op, `id="cancel"`) {
		t.Fatalf("an operator sees no cancel button on a running execution:\n%s", op)
	}
	resp, page := f.do(t, "GET", "/executions/01RUN", "tok-viewer", nil)
	if resp.StatusCode != http.StatusOK || strings.Contains(page, `id="cancel"`) || strings.Contains(page, "/cancel") {
		t.Fatalf("a viewer's page (%d) offers a cancel:\n%s", resp.StatusCode, page)
	}
	if !strings.Contains(page, "sleep 30") || !strings.Contains(page, "vera (viewer)") {
		t.Fatalf("a viewer's page lacks the parameters or who is logged in:\n%s", page)
	}
	// A running action's page follows its output as it comes (static/live.js).
	if !strings.Contains(page, `id="live-output"`) || !strings.Contains(page, `data-output="/api/v1/executions/01RUN/output"`) {
		t.Fatalf("a running execution's page does not follow its live output:\n%s", page)
	}
	csrf := f.csrfOf(t, "/executions/01RUN", "tok-viewer")
	resp, body := f.do(t, "POST", "/executions/01RUN/cancel", "tok-viewer", url.Values{"csrf": {csrf}})
	if resp.StatusCode != http.StatusForbidden || !strings.Contains(body, "operator") {
		t.Fatalf("a viewer's cancel: %d, want 403 naming the role it needs:\n%s", resp.StatusCode, body)
	}
	if got := f.cancelled(); len(got) != 0 {
		t.Fatalf("a viewer cancelled %v", got)
	}
}

func TestNoAuthDashboardIsOpen(t *testing.T) {
	t.Parallel()
	f := setup(t, false, false)
	resp, page := f.do(t, "GET", "/executions/01RUN", "", nil)
	if resp.StatusCode != http.StatusOK || !strings.Contains(page, `id="cancel"`) {
		t.Fatalf("an open dashboard: %d, want the execution with its cancel button:\n%s", resp.StatusCode, page)
	}
	resp, _ = f.do(t, "GET", "/login", "", nil)
	if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/" {
		t.Fatalf("/login of an open dashboard: %d to %q, want 303 to /", resp.StatusCode, resp.Header.Get("Location"))
	}
	csrf := f.csrfOf(t, "/executions/01RUN", "")
	if resp, _ := f.do(t, "POST", "/executions/01RUN/cancel", "", url.Values{}); resp.StatusCode != http.StatusForbidden {
		t.Fatalf("an open dashboard's cancel without the CSRF token: %d, want 403", resp.StatusCode)
	}
	f.do(t, "POST", "/executions/01RUN/cancel", "", url.Values{"csrf": {csrf}})
	if got := f.cancelled(); len(got) != 1 || got[0] != "01RUN by dashboard" {
		t.Fatalf("cancels %v, want one by the dashboard", got)
	}
}

func TestTheCookieAuthenticatesTheEventStreamsOnly(t *testing.T) {
	t.Parallel()
	f := setup(t, true, false)
	f.do(t, "GET", "/api/v1/stream?type=ExecutionRequested", "tok-viewer", nil)
	f.do(t, "GET", "/api/v1/executions", "tok-viewer", nil)
	f.do(t, "POST", "/api/v1/executions/01RUN/cancel", "tok-operator", url.Values{})
	f.do(t, "GET", "/api/v1/stream", "tok-viewer", nil, "Authorization", "Bearer tok-operator")
	f.do(t, "GET", "/api/v1/executions/01RUN/output", "tok-viewer", nil)
	f.do(t, "GET", "/api/v1/executions/01RUN/output/more", "tok-viewer", nil)
	f.do(t, "GET", "/api/v1/executions/01RUN", "tok-viewer", nil)
	f.mu.Lock()
	defer f.mu.Unlock()
	want := []string{
		"GET /api/v1/stream Bearer tok-viewer",
		"GET /api/v1/executions ",
		"POST /api/v1/executions/01RUN/cancel ",
		"GET /api/v1/stream Bearer tok-operator",
		"GET /api/v1/executions/01RUN/output Bearer tok-viewer",
		"GET /api/v1/executions/01RUN/output/more ",
		"GET /api/v1/executions/01RUN ",
	}
	if strings.Join(f.apiAuth, "\n") != strings.Join(want, "\n") {
		t.Fatalf("the API saw:\n%s\nwant:\n%s", strings.Join(f.apiAuth, "\n"), strings.Join(want, "\n"))
	}
}

func TestListFiltersAreCheckedAndKept(t *testing.T) {
	t.Parallel()
	f := setup(t, true, false)
	resp, body := f.do(t, "GET", "/executions?status=nonsense", "tok-viewer", nil)
	if resp.StatusCode != http.StatusBadRequest || !strings.Contains(body, "nonsense") {
		t.Fatalf("an unknown status: %d, want 400 naming it:\n%s", resp.StatusCode, body)
	}
	resp, body = f.do(t, "GET", "/executions?status=running&action=core.local&since=2026-01-02T03:04", "tok-viewer", nil)
	if resp.StatusCode != http.StatusOK || !strings.Contains(body, `value="core.local"`) || !strings.Contains(body, `id="x-01RUN"`) ||
		!strings.Contains(body, `value="2026-01-02T03:04"`) {
		t.Fatalf("a filtered list: %d, want the row and the filter kept in the form:\n%s", resp.StatusCode, body)
	}
}

// TestVendoredHtmx keeps static/README.md's sum true of the file embedded.
func TestVendoredHtmx(t *testing.T) {
	t.Parallel()
	b, err := os.ReadFile("static/htmx.min.js")
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(b)
	const want = "d6fdc75f204e6bdefa99b69bf1e6d4ac69b8a364f77929f45c13476b4000f717" // htmx.org@2.0.11 dist/htmx.min.js
	if got := hex.EncodeToString(sum[:]); got != want {
		t.Fatalf("static/htmx.min.js has sha256 %s, want %s (update static/README.md with the version)", got, want)
	}
	readme, _ := os.ReadFile("static/README.md")
	if !strings.Contains(string(readme), want) {
		t.Fatal("static/README.md does not record the sha256 of static/htmx.min.js")
	}
}

func TestSecretParametersAreMaskedAsTheAPIMasksThem(t *testing.T) {
	t.Parallel()
	f := setup(t, true, false)
	_, page := f.do(t, "GET", "/executions/01RUN", "tok-viewer", nil)
	if !strings.Contains(page, "********") || strings.Contains(page, "c2VhbGVkLWJsb2I") {
		t.Fatalf("the sealed parameter is not masked:\n%s", page)
	}
}

func TestOverviewCountsByStatusAndListPages(t *testing.T) {
	t.Parallel()
	f := setup(t, true, false)
	_, page := f.do(t, "GET", "/", "tok-viewer", nil)
	for _, want := range []string{`href="/executions?status=running">running <strong>1</strong>`, `href="/executions?status=completed">completed <strong>41</strong>`,
		`all <strong>42</strong>`, `id="x-01RUN"`} {
		if !strings.Contains(page, want) {
			t.Errorf("the overview lacks %s", want)
		}
	}
	_, page = f.do(t, "GET", "/executions?action=core.local", "tok-viewer", nil)
	next := regexp.MustCompile(`href="([^"]+)" rel="next"`).FindStringSubmatch(page)
	if next == nil || !strings.HasPrefix(next[1], "/executions?action=core.local&amp;cursor=") {
		t.Fatalf("the list has no link to its next page keeping the filter:\n%s", page)
	}
	resp, page := f.do(t, "GET", strings.ReplaceAll(next[1], "&amp;", "&"), "tok-viewer", nil)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("the next page: %d\n%s", resp.StatusCode, page)
	}
	if strings.Contains(page, `rel="next"`) || !strings.Contains(page, `href="/executions?action=core.local">← Newest`) {
		t.Fatalf("the last page offers a next page, or no way back to the first:\n%s", page)
	}
}
