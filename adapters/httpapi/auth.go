package httpapi

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"

	"github.com/attune-go/attune/adapters/auth"
)

// Access control: with Config.Auth set, every request but those to public routes carries
// Authorization: Bearer att_…; no token or a bad one answers 401 "unauthorized", a token
// whose role is too small 403 "forbidden". The least role of each route is in routeAccess,
// the one table; the check runs in ServeHTTP on the pattern the mux matched, so it covers
// every route however it was registered (ExtraRoutes included) and the 404 fallback too.
// Tokens are read from the header only, never from the query string, which proxies and
// access logs keep.

// Codes of access-control answers (see errors.go for the others).
const (
	CodeUnauthorized = "unauthorized"
	CodeForbidden    = "forbidden"
)

// Authenticator checks a bearer token: *auth.Store is one. An error wrapping
// auth.ErrInvalidToken answers 401; any other error 500 (the answer is unknown).
type Authenticator interface {
	Authenticate(ctx context.Context, token string) (auth.Principal, error)
}

// AuthenticatorFunc lets a function be an Authenticator.
type AuthenticatorFunc func(ctx context.Context, token string) (auth.Principal, error)

// Authenticate calls f.
func (f AuthenticatorFunc) Authenticate(ctx context.Context, token string) (auth.Principal, error) {
	return f(ctx, token)
}

// access is what a route asks of its caller: nothing, or a token of at least role.
type access struct {
	public bool
	role   auth.Role
}

var (
	accessPublic   = access{public: true}
	accessViewer   = access{role: auth.Viewer}
	accessOperator = access{role: auth.Operator}
	accessAdmin    = access{role: auth.Admin}
)

// routeAccess is the least role of every route pattern, exactly as registered. A route
// missing from it needs an admin (fail closed) and fails TestEveryRouteIsInTheAccessTable:
// decide its role here when you add one.
var routeAccess = map[string]access{
	// Probes of load balancers and orchestrators carry no token.
	"GET /healthz": accessPublic,
	"GET /readyz":  accessPublic,
	// Webhook senders (GitHub, Alertmanager…) cannot hold Attune tokens: a webhook is
	// authenticated by its HMAC signature, checked by the webhook handler.
	"POST /api/v1/webhooks/{trigger}": accessPublic,
	// The API's description, for client generators and explorers before they hold a token;
	// it tells nothing the routes themselves do not.
	"GET /api/v1/openapi.json": accessPublic,

	"GET /api/v1/executions":              accessViewer,
	"GET /api/v1/executions/{id}":         accessViewer,
	"GET /api/v1/executions/{id}/history": accessViewer,
	"GET /api/v1/stream":                  accessViewer,
	"GET /api/v1/log":                     accessViewer,
	// The workflow tree read model (workflow_routes.go).
	"GET /api/v1/executions/{id}/workflow": accessViewer,
	// An execution's live output: who may read the execution (and its final output) may
	// read it as it grows.
	"GET /api/v1/executions/{id}/output": accessViewer,
	// The catalogue and pipeline read models (catalog_routes.go).
	"GET /api/v1/packs":             accessViewer,
	"GET /api/v1/packs/{ref}":       accessViewer,
	"GET /api/v1/actions":           accessViewer,
	"GET /api/v1/actions/{ref}":     accessViewer,
	"GET /api/v1/triggers":          accessViewer,
	"GET /api/v1/triggers/{ref}":    accessViewer,
	"GET /api/v1/rules":             accessViewer,
	"GET /api/v1/rules/{ref}":       accessViewer,
	"GET /api/v1/policies":          accessViewer,
	"GET /api/v1/policies/{ref}":    accessViewer,
	"GET /api/v1/events":            accessViewer,
	"GET /api/v1/events/{id}":       accessViewer,
	"GET /api/v1/enforcements":      accessViewer,
	"GET /api/v1/enforcements/{id}": accessViewer,
	"GET /api/v1/workers":           accessViewer,
	"GET /api/v1/traces/{event_id}": accessViewer,
	// Inquiries (inquiry_routes.go). Any token may try to answer: the inquiry itself names
	// who may (its roles and tokens; neither: operator and above), and the respond use case
	// answers 403 for anybody else.
	"GET /api/v1/inquiries":               accessViewer,
	"GET /api/v1/inquiries/{id}":          accessViewer,
	"POST /api/v1/inquiries/{id}/respond": accessViewer,
	// Metrics name actions, rules and workers and show the load: not for everyone. A
	// Prometheus scrape job sends a viewer token (its authorization.credentials).
	"GET /metrics": accessViewer,
	// The key-value store (kv_routes.go): a viewer reads names and non-secret values; secret
	// values are redacted, and decrypting one (?decrypt=true) needs an admin.
	"GET /api/v1/keys":                    accessViewer,
	"GET /api/v1/keys/system/{name}":      accessViewer,
	"GET /api/v1/keys/pack/{pack}/{name}": accessViewer,
	// An operator sets and deletes non-secret keys; secret ones (setting, overwriting or
	// deleting) need an admin, which the use case checks against the key's current state.
	"PUT /api/v1/keys/system/{name}":         accessOperator,
	"PUT /api/v1/keys/pack/{pack}/{name}":    accessOperator,
	"DELETE /api/v1/keys/system/{name}":      accessOperator,
	"DELETE /api/v1/keys/pack/{pack}/{name}": accessOperator,
	// Anything else: 401 before 404, so an anonymous caller learns nothing by probing.
	"/": accessViewer,

	"POST /api/v1/executions":                 accessOperator,
	"POST /api/v1/executions/{id}/cancel":     accessOperator,
	"POST /api/v1/executions/{id}/rerun":      accessOperator,
	"POST /api/v1/executions/{id}/pause":      accessOperator,
	"POST /api/v1/executions/{id}/resume":     accessOperator,
	"POST /api/v1/rules/{ref}/enable":         accessOperator,
	"POST /api/v1/rules/{ref}/disable":        accessOperator,
	"POST /api/v1/rules/{ref}/test":           accessOperator,
	"POST /api/v1/packs":                      accessAdmin, // runs code from the server's disk
	"DELETE /api/v1/packs/{ref}":              accessAdmin,
	"GET /api/v1/tokens":                      accessAdmin,
	"POST /api/v1/tokens":                     accessAdmin,
	"POST /api/v1/tokens/{id_or_name}/revoke": accessAdmin,
}

func accessFor(pattern string) access {
	if a, ok := routeAccess[pattern]; ok {
		return a
	}
	if pattern == "" { // the mux matched nothing (a redirect, a 405): no secret to protect
		return accessViewer
	}
	return accessAdmin
}

// authorize lets a request through (with its principal in its context) or answers it.
func (s *Server) authorize(w http.ResponseWriter, r *http.Request) (*http.Request, bool) {
	if s.cfg.Auth == nil {
		return r, true
	}
	_, pattern := s.mux.Handler(r)
	need := accessFor(pattern)
	if need.public {
		return r, true
	}
	token, ok := bearerToken(r)
	if !ok {
		w.Header().Set("WWW-Authenticate", `Bearer realm="attune"`)
		writeJSON(w, http.StatusUnauthorized, &Error{Code: CodeUnauthorized,
			Message: "this API needs a token: send Authorization: Bearer att_… (`attune token create`, or the token `attune serve` wrote to the CLI config file)"})
		return nil, false
	}
	p, err := s.cfg.Auth.Authenticate(r.Context(), token)
	if errors.Is(err, auth.ErrInvalidToken) {
		w.Header().Set("WWW-Authenticate", `Bearer realm="attune", error="invalid_token"`)
		writeJSON(w, http.StatusUnauthorized, &Error{Code: CodeUnauthorized, Message: err.Error()})
		return nil, false
	}
	if err != nil {
		s.writeError(w, r, fmt.Errorf("authenticate request: %w", err))
		return nil, false
	}
	if !p.Role.Allows(need.role) {
		writeJSON(w, http.StatusForbidden, &Error{Code: CodeForbidden,
			Message: fmt.Sprintf("%s %s needs role %s; token %q has role %s", r.Method, r.URL.Path, need.role, p.Name, p.Role)})
		return nil, false
	}
	return r.WithContext(auth.WithPrincipal(r.Context(), p)), true
}

// bearerToken reads an Authorization: Bearer header (RFC 6750; the scheme is
// case-insensitive).
func bearerToken(r *http.Request) (string, bool) {
	scheme, token, ok := strings.Cut(r.Header.Get("Authorization"), " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") {
		return "", false
	}
	token = strings.TrimSpace(token)
	return token, token != ""
}

// routeMux is the router, recording every pattern registered on it so tests can check
// that each one has an entry in routeAccess.
type routeMux struct {
	*http.ServeMux
	patterns []string
	paths    *http.ServeMux      // every path without its method
	methods  map[string][]string // path → the methods it answers
}

func newRouteMux() *routeMux {
	return &routeMux{ServeMux: http.NewServeMux(), paths: http.NewServeMux(), methods: map[string][]string{}}
}

func (m *routeMux) Handle(pattern string, h http.Handler) {
	m.patterns = append(m.patterns, pattern)
	m.ServeMux.Handle(pattern, h)
	if method, path, ok := strings.Cut(pattern, " "); ok {
		if _, known := m.methods[path]; !known {
			m.paths.Handle(path, http.NotFoundHandler())
		}
		m.methods[path] = append(m.methods[path], method)
	}
}

// methodsFor lists the methods of the route whose path matches r's, for a 405: the catch-all
// route "/" would otherwise hide ServeMux's own 405 behind a 404.
func (m *routeMux) methodsFor(r *http.Request) []string {
	_, path := m.paths.Handler(r)
	return m.methods[path]
}

func (m *routeMux) HandleFunc(pattern string, h func(http.ResponseWriter, *http.Request)) {
	m.Handle(pattern, http.HandlerFunc(h))
}

// Routes lists the patterns of the routes this server offers (ExtraRoutes' not included),
// sorted.
func (s *Server) Routes() []string {
	return slices.Sorted(slices.Values(s.mux.patterns))
}

// RouteAccess reports what the API route pattern (as registered, e.g.
// "POST /api/v1/executions/{id}/cancel") asks of its caller: public, or a token of at least
// role. Other front ends (the dashboard, adapters/web) ask it so that one table decides who
// may do what, whichever door a request comes through.
func RouteAccess(pattern string) (role auth.Role, public bool) {
	a := accessFor(pattern)
	return a.role, a.public
}
