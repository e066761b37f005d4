// Package httpapi is Attune's HTTP API under /api/v1: JSON in and out, one error shape with
// stable codes (errors.go), and handlers that only translate — every decision is made by the
// use cases the composition root passes in as functions.
package httpapi

import (
	"cmp"
	"context"
	"encoding/json"
	"log/slog"
	"net/http"

	"github.com/attune-go/attune/adapters/eventstore"
	"github.com/attune-go/attune/projections/executions"
)

// RunRequest is the body of POST /api/v1/executions.
type RunRequest struct {
	Action     string          `json:"action"`
	Parameters json.RawMessage `json:"parameters,omitempty"`
	TraceTag   string          `json:"trace_tag,omitempty"`
	Actor      string          `json:"-"`
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

	RunAction       func(ctx context.Context, req RunRequest) (executionID string, err error)
	CancelExecution func(ctx context.Context, id, actor string) error
	RerunExecution  func(ctx context.Context, id, actor string) (executionID string, err error)
	LoadPack        func(ctx context.Context, req PackLoadRequest) (any, error)
	SetRuleEnabled  func(ctx context.Context, ref string, enabled bool, actor string) error
	TestRule        func(ctx context.Context, ref string, event json.RawMessage) (any, error)
	Webhooks        http.Handler // POST /api/v1/webhooks/{trigger}
	ExtraRoutes     func(mux *http.ServeMux)
}

// Server is the API's http.Handler.
type Server struct {
	cfg Config
	log *slog.Logger
	mux *http.ServeMux
}

// New builds the router.
func New(cfg Config) *Server {
	cfg.MaxBody = cmp.Or(cfg.MaxBody, 1<<20)
	s := &Server{cfg: cfg, log: cmp.Or(cfg.Logger, slog.Default()), mux: http.NewServeMux()}
	s.routes()
	return s
}

func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) { s.mux.ServeHTTP(w, r) }

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
	s.handle("POST /api/v1/packs", s.cfg.LoadPack != nil, s.loadPack)
	s.handle("POST /api/v1/rules/{ref}/enable", s.cfg.SetRuleEnabled != nil, s.ruleEnabled(true))
	s.handle("POST /api/v1/rules/{ref}/disable", s.cfg.SetRuleEnabled != nil, s.ruleEnabled(false))
	s.handle("POST /api/v1/rules/{ref}/test", s.cfg.TestRule != nil, s.testRule)
	if s.cfg.Webhooks != nil {
		s.mux.Handle("POST /api/v1/webhooks/{trigger}", s.cfg.Webhooks)
	}
	if s.cfg.ExtraRoutes != nil {
		s.cfg.ExtraRoutes(s.mux)
	}
	s.mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
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

// actor names who made a request. Until tokens exist (access control), it is the client's
// claim, recorded for the audit trail.
func actor(r *http.Request) string {
	if a := r.Header.Get("X-Attune-Actor"); a != "" {
		return a
	}
	return "api"
}
