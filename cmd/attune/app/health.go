package app

import (
	"context"
	"errors"
	"net/http"
	"time"

	"github.com/attune-go/attune/adapters/httpapi"
	"github.com/attune-go/attune/handlers/cancel"
)

func (s *Server) routes() http.Handler {
	return httpapi.New(httpapi.Config{
		Logger:         s.log,
		Classifiers:    []httpapi.Classifier{classify},
		Ready:          s.readiness,
		GetExecution:   s.models.GetExecution,
		ListExecutions: s.models.ListExecutions,
		ReadStream:     s.store.ReadStream,
		CancelExecution: func(ctx context.Context, id, actor string) error {
			_, err := cancel.Cancel(ctx, s.store, id, actor)
			return err
		},
	})
}

// readiness is ready once every role runs and the database answers; each check is named so
// an operator sees what is missing.
func (s *Server) readiness(ctx context.Context) (bool, map[string]string) {
	checks := map[string]string{"roles": "ok", "database": "ok"}
	ok := true
	if !s.ready.Load() {
		checks["roles"], ok = "starting", false
	}
	ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	if err := s.cfg.Pool.Ping(ctx); err != nil {
		checks["database"], ok = err.Error(), false
	}
	return ok, checks
}

// classify maps the use cases' errors to API answers: the one place that does.
func classify(err error) *httpapi.Error {
	var finished *cancel.FinishedError
	switch {
	case errors.Is(err, cancel.ErrNotFound):
		return &httpapi.Error{Status: http.StatusNotFound, Code: httpapi.CodeNotFound, Message: err.Error()}
	case errors.As(err, &finished):
		return &httpapi.Error{Status: http.StatusConflict, Code: httpapi.CodeConflict, Message: err.Error()}
	}
	return nil
}
