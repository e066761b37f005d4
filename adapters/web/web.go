// Package web is Attune's dashboard: server-rendered HTML pages (html/template) with htmx
// and a few lines of JavaScript that follow the API's live event stream. It is served by
// `attune serve` at / beside the API, from assets embedded in the binary.
//
// The dashboard decides nothing and owns no data: it reads the read models through the same
// functions the API is given (httpapi.Config's), masks what the API masks (httpapi's views),
// and changes state only through the API's use cases (cancel, pause, resume, answering an
// inquiry, switching a rule; the rule test records nothing). Who may see or
// do what is the API's role table (httpapi.RouteAccess): each page names the API route it
// stands for.
package web

import (
	"cmp"
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/attune-go/attune/adapters/auth"
	"github.com/attune-go/attune/adapters/eventstore"
	"github.com/attune-go/attune/adapters/httpapi"
	"github.com/attune-go/attune/domain/execution"
	"github.com/attune-go/attune/domain/pack"
	"github.com/attune-go/attune/projections/catalog"
	"github.com/attune-go/attune/projections/executions"
	"github.com/attune-go/attune/projections/inquiries"
	"github.com/attune-go/attune/projections/policies"
	"github.com/attune-go/attune/projections/workers"
	"github.com/attune-go/attune/projections/workflows"
)

// CookieName is the cookie that holds the dashboard's API token.
const CookieName = "attune_token"

// csrfField is the hidden form field (and header) that carries the CSRF token.
const csrfField = "csrf"

// Config wires the dashboard to the API and to the functions the API is given.
type Config struct {
	Logger *slog.Logger
	// API serves /api/…, /healthz, /readyz and /metrics (httpapi.New). The dashboard lets
	// its cookie stand for a bearer token on GET /api/v1/stream only, for its live pages.
	API http.Handler
	// Auth checks tokens, as the API does (*auth.Store); nil: the dashboard is open, like
	// the API under --no-auth.
	Auth httpapi.Authenticator

	// Read models: the same functions httpapi.Config holds.
	ListExecutions func(ctx context.Context, f executions.Filter) (executions.Page, error)
	GetExecution   func(ctx context.Context, id string) (executions.Execution, error)
	ReadStream     func(ctx context.Context, stream string) ([]eventstore.Recorded, error)
	// CountByStatus counts executions per status for the overview (*readmodel.DB's
	// CountExecutionsByStatus); nil leaves the counts out.
	CountByStatus func(ctx context.Context) (map[execution.Status]int64, error)

	// Use cases: the same functions httpapi.Config holds; nil hides the button.
	CancelExecution func(ctx context.Context, id, actor string) error
	PauseExecution  func(ctx context.Context, id, actor string) (execution.Status, error)
	ResumeExecution func(ctx context.Context, id, actor string) (execution.Status, error)
	// RerunExecution is POST /api/v1/executions/{id}/rerun's use case (with from_task and
	// failed_items for a workflow); nil hides the re-run button.
	RerunExecution func(ctx context.Context, id string, req httpapi.RerunRequest) (executionID string, err error)
	// GetWorkflow is GET /api/v1/executions/{id}/workflow's read model (*readmodel.DB's
	// GetWorkflow): a workflow's page shows its nested tree; nil shows the flat child list.
	GetWorkflow func(ctx context.Context, executionID string) (workflows.Tree, error)
	// ExecutionsPerMinute counts the executions created in [since, until) per minute and status
	// (*readmodel.DB's ExecutionsPerMinute): the overview's chart; nil leaves it out.
	ExecutionsPerMinute func(ctx context.Context, since, until time.Time) (map[time.Time]map[execution.Status]int64, error)
	// Head is the log's head position and Checkpoints each reader's (the relay's and every
	// projection's): the audit page shows them; nil Head leaves the page out.
	Head        func(ctx context.Context) (eventstore.Position, error)
	Checkpoints func(ctx context.Context) (map[string]eventstore.Position, error)
	// Inquiries, rules, packs, workers and policies (inquiries.go, rules.go, catalog.go): the
	// same functions httpapi.Config holds; a nil one leaves its page (or button) out.
	ListInquiries  func(ctx context.Context, f inquiries.Filter) (inquiries.Page, error)
	GetInquiry     func(ctx context.Context, id string) (inquiries.Inquiry, error)
	RespondInquiry httpapi.RespondInquiryFunc
	ListComponents func(ctx context.Context, f catalog.ComponentFilter) (catalog.ComponentPage, error)
	GetComponent   func(ctx context.Context, kind pack.Kind, ref string) (catalog.Component, error)
	ListPacks      func(ctx context.Context, f catalog.PackFilter) (catalog.PackPage, error)
	GetPack        func(ctx context.Context, ref string) (catalog.Pack, error)
	SetRuleEnabled func(ctx context.Context, ref string, enabled bool, actor string) error
	TestRule       func(ctx context.Context, ref string, event json.RawMessage) (any, error)
	ListWorkers    func(ctx context.Context, f workers.Filter) (workers.Page, error)
	ListPolicies   func(ctx context.Context, f policies.Filter) (policies.Page, error)
	// Ready is /readyz's check (each reader's lag behind the log): the overview shows it.
	Ready func(ctx context.Context) (ok bool, checks map[string]string)

	// Now is the clock (an inquiry past its deadline takes no answer); default time.Now.
	Now func() time.Time

	// Classify maps a use case's error to the API's answer (the app's classifiers), so a
	// refused cancel says what the API would say; nil answers 500 with the error's text.
	Classify func(error) *httpapi.Error
}

// Server is the dashboard's http.Handler; it passes API requests on to Config.API.
type Server struct {
	cfg     Config
	log     *slog.Logger
	mux     *http.ServeMux
	csrfKey []byte
	pages   *pages
}

// New builds the dashboard. It panics without an API (a wiring error).
func New(cfg Config) *Server {
	if cfg.API == nil || cfg.ListExecutions == nil || cfg.GetExecution == nil {
		panic("web: New needs the API handler, ListExecutions and GetExecution")
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	key := make([]byte, 32)
	_, _ = rand.Read(key) // crypto/rand never fails (Go 1.24+)
	s := &Server{cfg: cfg, log: cmp.Or(cfg.Logger, slog.Default()), mux: http.NewServeMux(), csrfKey: key, pages: mustParse()}
	s.routes()
	return s
}

// isAPI reports whether a path belongs to the API rather than to the dashboard.
func isAPI(path string) bool {
	switch path {
	case "/healthz", "/readyz", "/metrics":
		return true
	}
	return path == "/api" || strings.HasPrefix(path, "/api/")
}

func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if isAPI(r.URL.Path) {
		s.cfg.API.ServeHTTP(w, streamCookie(r))
		return
	}
	w.Header().Set("X-Frame-Options", "DENY")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.Header().Set("Referrer-Policy", "same-origin")
	w.Header().Set("Content-Security-Policy", "default-src 'self'; style-src 'self'; script-src 'self'; img-src 'self' data:; frame-ancestors 'none'; form-action 'self'")
	s.mux.ServeHTTP(w, r)
}

// streamCookie lets the dashboard's cookie authenticate the two event streams its pages
// follow (an EventSource cannot send headers): GET /api/v1/stream and an execution's live
// output, GET /api/v1/executions/{id}/output. Only those, only GET, and only when no
// Authorization header is sent: they read, so a forged cross-site request could change
// nothing, and the cookie is SameSite=Strict besides. Every other API route still wants the
// bearer header.
func streamCookie(r *http.Request) *http.Request {
	if r.Method != http.MethodGet || !isStream(r.URL.Path) || r.Header.Get("Authorization") != "" {
		return r
	}
	c, err := r.Cookie(CookieName)
	if err != nil || c.Value == "" {
		return r
	}
	r = r.Clone(r.Context())
	r.Header.Set("Authorization", "Bearer "+c.Value)
	return r
}

// isStream says whether path is one of the event streams the dashboard's cookie may open.
func isStream(path string) bool {
	if path == "/api/v1/stream" {
		return true
	}
	id, ok := strings.CutPrefix(path, "/api/v1/executions/")
	if !ok {
		return false
	}
	id, ok = strings.CutSuffix(id, "/output")
	return ok && id != "" && !strings.Contains(id, "/")
}

// session is who is looking at a page.
type session struct {
	principal auth.Principal
	open      bool   // no access control (--no-auth)
	token     string // the cookie's token; "" when open
}

// may reports whether the session holds the role the API route pattern needs.
func (ss session) may(apiPattern string) bool {
	if ss.open {
		return true
	}
	role, public := httpapi.RouteAccess(apiPattern)
	return public || ss.principal.Role.Allows(role)
}

func (ss session) actor() string {
	if ss.open {
		return "dashboard"
	}
	return ss.principal.Name
}

// errLogin means the request carries no valid token: pages send the browser to /login.
var errLogin = errors.New("log in first")

// session authenticates the request's cookie.
func (s *Server) session(r *http.Request) (session, error) {
	if s.cfg.Auth == nil {
		return session{open: true}, nil
	}
	c, err := r.Cookie(CookieName)
	if err != nil || c.Value == "" {
		return session{}, errLogin
	}
	p, err := s.cfg.Auth.Authenticate(r.Context(), c.Value)
	if errors.Is(err, auth.ErrInvalidToken) {
		return session{}, errLogin
	}
	if err != nil {
		return session{}, fmt.Errorf("authenticate dashboard session: %w", err)
	}
	return session{principal: p, token: c.Value}, nil
}

// csrfToken is the token a session's forms carry: an HMAC of the session's API token under a
// key made when the server started, so it cannot be guessed or computed from outside, and
// changes with the login. Open dashboards (and the login form) use a fixed subject.
func (s *Server) csrfToken(subject string) string {
	m := hmac.New(sha256.New, s.csrfKey)
	m.Write([]byte("attune-dashboard-csrf\x00" + subject))
	return base64.RawURLEncoding.EncodeToString(m.Sum(nil))
}

func (ss session) csrfSubject() string {
	switch {
	case ss.open:
		return "open"
	case ss.token == "":
		return loginSubject // the login form: no session yet
	}
	return "token:" + ss.token
}

// checkPost refuses a POST that another site may have forged: a cross-origin Origin (or,
// without one, Referer) header, or a form without this session's CSRF token.
func (s *Server) checkPost(r *http.Request, subject string) error {
	if err := sameOrigin(r); err != nil {
		return err
	}
	got := r.PostFormValue(csrfField)
	if got == "" {
		got = r.Header.Get("X-CSRF-Token")
	}
	if !hmac.Equal([]byte(got), []byte(s.csrfToken(subject))) {
		return errors.New("the form's CSRF token is missing or stale: reload the page and try again")
	}
	return nil
}

// sameOrigin checks Origin, or Referer when a browser sends no Origin, against the request's
// host. A request with neither (curl, an old browser) relies on the CSRF token alone.
func sameOrigin(r *http.Request) error {
	from := r.Header.Get("Origin")
	if from == "" {
		from = r.Header.Get("Referer")
	}
	if from == "" {
		return nil
	}
	u, err := url.Parse(from)
	if err != nil || u.Host != r.Host {
		return fmt.Errorf("a form posted from %q, not from this dashboard (%s), is refused", from, r.Host)
	}
	return nil
}

// setToken keeps the token in the browser: HttpOnly (no script reads it), SameSite=Strict
// (no other site's request carries it), Secure when the connection is TLS.
func setToken(w http.ResponseWriter, r *http.Request, token string) {
	http.SetCookie(w, &http.Cookie{Name: CookieName, Value: token, Path: "/", HttpOnly: true,
		SameSite: http.SameSiteStrictMode, Secure: r.TLS != nil})
}

func clearToken(w http.ResponseWriter, r *http.Request) {
	http.SetCookie(w, &http.Cookie{Name: CookieName, Value: "", Path: "/", MaxAge: -1, HttpOnly: true,
		SameSite: http.SameSiteStrictMode, Secure: r.TLS != nil})
}

// localPath keeps a post-login redirect on this site.
func localPath(next string) string {
	if !strings.HasPrefix(next, "/") || strings.HasPrefix(next, "//") || strings.HasPrefix(next, "/\\") || strings.HasPrefix(next, "/login") {
		return "/"
	}
	return next
}
