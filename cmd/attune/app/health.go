package app

import (
	"context"
	"encoding/json"
	"net/http"
	"time"
)

func (s *Server) routes() http.Handler {
	mux := http.NewServeMux()
	// Liveness: the process answers. Nothing else, so an orchestrator never restarts a
	// server only because its database is briefly away.
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) {
		writeJSON(w, http.StatusOK, map[string]string{"status": "ok"})
	})
	mux.HandleFunc("GET /readyz", s.readyz)
	return mux
}

// readyz answers 200 once every role runs and the database answers, 503 otherwise, naming
// each check so an operator sees what is missing.
func (s *Server) readyz(w http.ResponseWriter, r *http.Request) {
	checks := map[string]string{"roles": "ok", "database": "ok"}
	ok := true
	if !s.ready.Load() {
		checks["roles"], ok = "starting", false
	}
	ctx, cancel := context.WithTimeout(r.Context(), 2*time.Second)
	defer cancel()
	if err := s.cfg.Pool.Ping(ctx); err != nil {
		checks["database"], ok = err.Error(), false
	}
	status := http.StatusOK
	if !ok {
		status = http.StatusServiceUnavailable
	}
	writeJSON(w, status, map[string]any{"ready": ok, "checks": checks})
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v) // the client went away; nothing to tell it
}
