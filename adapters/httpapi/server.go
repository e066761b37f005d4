// Package httpapi is Attune's HTTP API under /api/v1: JSON in and out, one error shape with
// stable codes (errors.go), and handlers that only translate — every decision is made by the
// use cases the composition root passes in as functions.
package httpapi

import (
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"github.com/attune-go/attune/adapters/auth"
	"github.com/attune-go/attune/adapters/eventstore"
	"github.com/attune-go/attune/domain/execution"
	"github.com/attune-go/attune/domain/kv"
	"github.com/attune-go/attune/domain/pack"
	"github.com/attune-go/attune/projections/catalog"
	"github.com/attune-go/attune/projections/causality"
	"github.com/attune-go/attune/projections/enforcements"
	"github.com/attune-go/attune/projections/events"
	"github.com/attune-go/attune/projections/executions"
	"github.com/attune-go/attune/projections/inquiries"
	"github.com/attune-go/attune/projections/keys"
	"github.com/attune-go/attune/projections/policies"
	"github.com/attune-go/attune/projections/workers"
	"github.com/attune-go/attune/projections/workflows"
)

// RunRequest is the body of POST /api/v1/executions.
type RunRequest struct {
	Action     string          `json:"action"`
	Parameters json.RawMessage `json:"parameters,omitempty"`
	TraceTag   string          `json:"trace_tag,omitempty"`
	Actor      string          `json:"-"`
	// IdempotencyKey is the request's Idempotency-Key header, checked (empty: none sent).
	IdempotencyKey string `json:"-"`
	// Caller scopes the key: the authenticating token's id, else the actor, so two clients
	// that happen to pick the same key never receive each other's execution.
	Caller string `json:"-"`
}

// PackLoadRequest is the body of POST /api/v1/packs: a pack directory on the server's host.
type PackLoadRequest struct {
	Path  string `json:"path"`
	Actor string `json:"-"`
}

// Config wires the API to the use cases and read models. A nil function disables its route
// (it answers 404), so roles that lack a capability simply do not offer it.
type Config struct {
	Logger      *slog.Logger
	Classifiers []Classifier
	MaxBody     int64 // bytes; default 1 MiB

	Ready func(ctx context.Context) (ok bool, checks map[string]string)

	GetExecution   func(ctx context.Context, id string) (executions.Execution, error)
	ListExecutions func(ctx context.Context, f executions.Filter) (executions.Page, error)
	ReadStream     func(ctx context.Context, stream string) ([]eventstore.Recorded, error)

	// RunAction records the execution and returns it as the answer shows it: built from what
	// the request appended (handlers/request.Submit), so the answer waits for no read model.
	RunAction       func(ctx context.Context, req RunRequest) (Execution, error)
	CancelExecution func(ctx context.Context, id, actor string) error
	RerunExecution  func(ctx context.Context, id string, req RerunRequest) (executionID string, err error)
	// PauseExecution and ResumeExecution pause and resume a workflow execution (handlers/pause).
	// Each returns the status the request left the workflow in, which the answer carries
	// (the read model may not have caught up with it yet).
	PauseExecution  func(ctx context.Context, id, actor string) (execution.Status, error)
	ResumeExecution func(ctx context.Context, id, actor string) (execution.Status, error)
	LoadPack        func(ctx context.Context, req PackLoadRequest) (any, error)
	// DeletePack retires a pack and every component it has (DELETE /api/v1/packs/{ref}).
	DeletePack     func(ctx context.Context, ref, actor string) (any, error)
	SetRuleEnabled func(ctx context.Context, ref string, enabled bool, actor string) error
	TestRule       func(ctx context.Context, ref string, event json.RawMessage) (any, error)
	Webhooks       http.Handler // POST /api/v1/webhooks/{trigger}
	ExtraRoutes    func(mux *http.ServeMux)

	// Subscribe follows the log after a position (eventstore.Store.Subscribe): it serves
	// GET /api/v1/stream, the live event stream. It needs Head or ReadAll.
	Subscribe func(ctx context.Context, after eventstore.Position, fn func(context.Context, []eventstore.Recorded) error) error
	// Head returns the position of the last visible event, where a stream opened without a
	// cursor starts (pgstore and memstore Store.Head). When nil, the stream reads the log to
	// its end with ReadAll to find it.
	Head func(ctx context.Context) (eventstore.Position, error)
	// ReadAll reads the global log after a cursor (eventstore.Store.ReadAll): it serves
	// GET /api/v1/log, the raw log for auditors.
	ReadAll func(ctx context.Context, after eventstore.Position, limit int) ([]eventstore.Recorded, error)
	// StreamHeartbeat is how often the stream sends a comment line, so proxies and clients
	// keep a quiet connection; default 15s.
	StreamHeartbeat time.Duration
	// Metrics serves GET /metrics (Prometheus text format, adapters/metrics).
	Metrics http.Handler
	// Stopping, once closed, ends every open stream: http.Server.Shutdown waits for running
	// handlers, and a stream never ends by itself. Pass the serving context's Done().
	Stopping <-chan struct{}
	// MaxStreamsPerCaller and MaxStreams cap the live streams open at once, per token (or
	// per client address without access control) and in all: each holds a subscription and
	// its buffered batches. DefaultMaxStreamsPerCaller and DefaultMaxStreams if 0.
	MaxStreamsPerCaller int
	MaxStreams          int

	// Auth, when set, requires a bearer token with the role routeAccess (auth.go) names on
	// every route but the public ones, and makes the token's name the actor of requests;
	// nil serves everyone (tests of other things, a trusted network).
	Auth Authenticator
	// CreateToken, ListTokens and RevokeToken serve /api/v1/tokens, admin only
	// (*auth.Store's Create, List and Revoke).
	CreateToken func(ctx context.Context, n auth.NewToken) (auth.Token, string, error)
	ListTokens  func(ctx context.Context) ([]auth.Token, error)
	RevokeToken func(ctx context.Context, idOrName, by string) (auth.Token, error)

	// The catalogue and pipeline read models (catalog_routes.go); *readmodel.DB has a method
	// of each name. GetPack and ListPacks serve /api/v1/packs; GetComponent and
	// ListComponents the actions, triggers and rules; GetTriggerEvent and ListTriggerEvents
	// /api/v1/events; GetEnforcement and ListEnforcements /api/v1/enforcements; ListWorkers
	// /api/v1/workers; Trace /api/v1/traces/{event_id}.
	GetPack           func(ctx context.Context, ref string) (catalog.Pack, error)
	ListPacks         func(ctx context.Context, f catalog.PackFilter) (catalog.PackPage, error)
	GetComponent      func(ctx context.Context, kind pack.Kind, ref string) (catalog.Component, error)
	ListComponents    func(ctx context.Context, f catalog.ComponentFilter) (catalog.ComponentPage, error)
	GetTriggerEvent   func(ctx context.Context, id string) (events.Event, error)
	ListTriggerEvents func(ctx context.Context, f events.Filter) (events.Page, error)
	GetEnforcement    func(ctx context.Context, id string) (enforcements.Enforcement, error)
	ListEnforcements  func(ctx context.Context, f enforcements.Filter) (enforcements.Page, error)
	ListWorkers       func(ctx context.Context, f workers.Filter) (workers.Page, error)
	Trace             func(ctx context.Context, eventID string) (causality.Trace, error)

	// ReadOutput reads the live output of an execution after a seq (adapters/liveoutput's
	// Store.Read): GET /api/v1/executions/{id}/output (output_routes.go). Needs GetExecution.
	ReadOutput func(ctx context.Context, executionID string, after int64, limit int) ([]OutputChunk, error)

	// GetWorkflow serves GET /api/v1/executions/{id}/workflow, the workflow tree
	// (workflow_routes.go; *readmodel.DB's GetWorkflow); workflows.ErrNotFound answers 404.
	GetWorkflow func(ctx context.Context, executionID string) (workflows.Tree, error)

	// GetPolicy and ListPolicies serve /api/v1/policies (policy_routes.go; *readmodel.DB's
	// methods of those names); policies.ErrNotFound answers 404.
	GetPolicy    func(ctx context.Context, ref string) (policies.View, error)
	ListPolicies func(ctx context.Context, f policies.Filter) (policies.Page, error)
	// ListInquiries and GetInquiry serve the inquiries read model (*readmodel.DB's), and
	// RespondInquiry records an answer: /api/v1/inquiries (inquiry_routes.go).
	ListInquiries  func(ctx context.Context, f inquiries.Filter) (inquiries.Page, error)
	GetInquiry     func(ctx context.Context, id string) (inquiries.Inquiry, error)
	RespondInquiry RespondInquiryFunc
	// The key-value store (kv_routes.go): ListKeys reads the kv read model (*readmodel.DB),
	// GetKey one key (keys.ErrNotFound answers 404; keystore.GetKey reads its stream), OpenKey decrypts a secret key's value
	// for an admin who asks, SetKey and DeleteKey are the use cases (handlers/keystore).
	ListKeys  func(ctx context.Context, f keys.Filter) (keys.Page, error)
	GetKey    func(ctx context.Context, r kv.Ref) (keys.Key, error)
	OpenKey   func(k keys.Key) (json.RawMessage, error)
	SetKey    func(ctx context.Context, req KeySetRequest) (kv.KeySet, error)
	DeleteKey func(ctx context.Context, r kv.Ref, actor string, admin bool) error
}

// Server is the API's http.Handler.
type Server struct {
	cfg     Config
	log     *slog.Logger
	mux     *routeMux
	streams *streamLimiter
}

// New builds the router.
func New(cfg Config) *Server {
	cfg.MaxBody = cmp.Or(cfg.MaxBody, 1<<20)
	cfg.MaxStreamsPerCaller = cmp.Or(cfg.MaxStreamsPerCaller, DefaultMaxStreamsPerCaller)
	cfg.MaxStreams = cmp.Or(cfg.MaxStreams, DefaultMaxStreams)
	s := &Server{cfg: cfg, log: cmp.Or(cfg.Logger, slog.Default()), mux: newRouteMux(), streams: newStreamLimiter(cfg.MaxStreamsPerCaller, cfg.MaxStreams)}
	s.routes()
	return s
}

func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if bad := checkURL(r); bad != nil {
		s.writeError(w, r, bad)
		return
	}
	if r, ok := s.authorize(w, r); ok {
		s.mux.ServeHTTP(w, r)
	}
}

func (s *Server) handle(pattern string, enabled bool, h func(http.ResponseWriter, *http.Request) error) {
	if !enabled {
		return
	}
	s.mux.HandleFunc(pattern, func(w http.ResponseWriter, r *http.Request) {
		if err := h(w, r); err != nil {
			s.writeError(w, r, err)
		}
	})
}

func (s *Server) routes() {
	s.mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) {
		writeJSON(w, http.StatusOK, map[string]string{"status": "ok"})
	})
	s.handle("GET /readyz", s.cfg.Ready != nil, s.readyz)

	s.handle("POST /api/v1/executions", s.cfg.RunAction != nil, s.runAction)
	s.handle("GET /api/v1/executions", s.cfg.ListExecutions != nil, s.listExecutions)
	s.handle("GET /api/v1/executions/{id}", s.cfg.GetExecution != nil, s.getExecution)
	s.handle("GET /api/v1/executions/{id}/history", s.cfg.ReadStream != nil, s.executionHistory)
	s.handle("POST /api/v1/executions/{id}/cancel", s.cfg.CancelExecution != nil, s.cancelExecution)
	s.handle("POST /api/v1/executions/{id}/rerun", s.cfg.RerunExecution != nil, s.rerunExecution)
	s.handle("POST /api/v1/executions/{id}/pause", s.cfg.PauseExecution != nil, s.pauseExecution)
	s.handle("POST /api/v1/executions/{id}/resume", s.cfg.ResumeExecution != nil, s.resumeExecution)
	s.handle("POST /api/v1/packs", s.cfg.LoadPack != nil, s.loadPack)
	s.handle("DELETE /api/v1/packs/{ref}", s.cfg.DeletePack != nil, s.deletePack)
	s.handle("POST /api/v1/rules/{ref}/enable", s.cfg.SetRuleEnabled != nil, s.ruleEnabled(true))
	s.handle("POST /api/v1/rules/{ref}/disable", s.cfg.SetRuleEnabled != nil, s.ruleEnabled(false))
	s.handle("POST /api/v1/rules/{ref}/test", s.cfg.TestRule != nil, s.testRule)
	if s.cfg.Webhooks != nil {
		s.mux.Handle("POST /api/v1/webhooks/{trigger}", s.cfg.Webhooks)
	}
	s.registerFeedRoutes()
	s.registerCatalogRoutes()
	s.registerWorkflowRoutes()
	s.registerOutputRoutes()
	s.registerPolicyRoutes()
	s.registerInquiryRoutes()
	s.registerKeyRoutes()
	s.registerTokenRoutes()
	s.registerOpenAPIRoute()
	if s.cfg.ExtraRoutes != nil {
		s.cfg.ExtraRoutes(s.mux.ServeMux)
	}
	s.mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		if allowed := s.mux.methodsFor(r); len(allowed) > 0 {
			w.Header().Set("Allow", strings.Join(allowed, ", "))
			s.writeError(w, r, &Error{Status: http.StatusMethodNotAllowed, Code: CodeMethodNotAllowed,
				Message: fmt.Sprintf("%s %s: this route answers %s", r.Method, r.URL.Path, strings.Join(allowed, ", "))})
			return
		}
		s.writeError(w, r, notFound("route", r.Method+" "+r.URL.Path))
	})
}

func (s *Server) readyz(w http.ResponseWriter, r *http.Request) error {
	ok, checks := s.cfg.Ready(r.Context())
	status := http.StatusOK
	if !ok {
		status = http.StatusServiceUnavailable
	}
	writeJSON(w, status, map[string]any{"ready": ok, "checks": checks})
	return nil
}

// actor names who made a request, for the audit trail: with access control on, the name
// of the token that authenticated it, never a claim of the client; without it, the client's
// X-Attune-Actor header.
func actor(r *http.Request) string {
	if p, ok := auth.PrincipalFrom(r.Context()); ok {
		return p.Name
	}
	if a := r.Header.Get("X-Attune-Actor"); a != "" {
		return a
	}
	return "api"
}
