package app

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/attune-go/attune/adapters/packloader"
	"github.com/attune-go/attune/domain/kv"
	"github.com/attune-go/attune/handlers/keystore"
	"github.com/attune-go/attune/projections/keys"

	"github.com/attune-go/attune/adapters/eventstore"
	"github.com/attune-go/attune/adapters/httpapi"
	"github.com/attune-go/attune/adapters/idempotency"
	"github.com/attune-go/attune/adapters/liveoutput"
	"github.com/attune-go/attune/adapters/relay"
	"github.com/attune-go/attune/adapters/safetext"
	"github.com/attune-go/attune/adapters/web"
	"github.com/attune-go/attune/domain/execution"
	"github.com/attune-go/attune/domain/workflow"
	"github.com/attune-go/attune/handlers/cancel"
	"github.com/attune-go/attune/handlers/packs"
	"github.com/attune-go/attune/handlers/pause"
	"github.com/attune-go/attune/handlers/request"
	"github.com/attune-go/attune/projections"
)

func (s *Server) routes(stopping <-chan struct{}) http.Handler {
	var authn httpapi.Authenticator
	if !s.cfg.NoAuth {
		authn = s.tokens
	}
	api := httpapi.Config{
		Logger:         s.log,
		Classifiers:    []httpapi.Classifier{classify, classifyInquiry},
		Ready:          s.readiness,
		GetExecution:   s.models.GetExecution,
		ListExecutions: s.models.ListExecutions,
		ReadStream:     s.store.ReadStream,
		ReadOutput: func(ctx context.Context, id string, after int64, limit int) ([]httpapi.OutputChunk, error) {
			chunks, err := liveoutput.New(s.cfg.Pool).Read(ctx, id, after, limit)
			out := make([]httpapi.OutputChunk, len(chunks))
			for i, c := range chunks {
				out[i] = httpapi.OutputChunk{Seq: c.Seq, Stream: c.Stream, Data: c.Data, At: c.At}
			}
			return out, err
		},
		RunAction: func(ctx context.Context, req httpapi.RunRequest) (httpapi.Execution, error) {
			r, err := request.Submit(ctx, s.store, s.registry, s.box, request.Run{
				Action: req.Action, Parameters: req.Parameters, Actor: req.Actor, TraceTag: req.TraceTag,
				ClaimID: s.claimExecutionID(req),
			})
			if err != nil {
				return httpapi.Execution{}, err
			}
			if !r.New {
				// A retry with the Idempotency-Key of an earlier request: that execution may
				// have run meanwhile, and the read model shows how (one read, no wait).
				if x, err := s.models.GetExecution(ctx, r.ID); err == nil {
					return httpapi.ExecutionView(x), nil
				}
			}
			return httpapi.RequestedView(r.Event, r.Status, r.Metadata.TraceTag, r.CreatedAt, r.UpdatedAt), nil
		},
		CancelExecution: func(ctx context.Context, id, actor string) error {
			_, err := cancel.Cancel(ctx, s.store, id, actor)
			return err
		},
		RerunExecution: func(ctx context.Context, id string, req httpapi.RerunRequest) (string, error) {
			if req.FromTask == "" {
				return request.Rerun(ctx, s.store, s.registry, s.box, id, req.Parameters, req.Actor)
			}
			return request.RerunFromTask(ctx, s.store, s.registry, s.box, request.RerunFrom{
				ExecutionID: id, Task: req.FromTask, FailedItems: req.FailedItems, Overrides: req.Parameters, Actor: req.Actor,
			})
		},
		PauseExecution: func(ctx context.Context, id, actor string) (execution.Status, error) {
			return pause.Pause(ctx, s.store, id, actor)
		},
		ResumeExecution: func(ctx context.Context, id, actor string) (execution.Status, error) {
			return pause.Resume(ctx, s.store, id, actor)
		},
		LoadPack: func(ctx context.Context, req httpapi.PackLoadRequest) (any, error) {
			res, err := s.loadPack(ctx, req.Path, req.Actor)
			if err != nil {
				return nil, err
			}
			out := map[string]any{"pack": res.Ref, "outcome": res.Outcome, "version": res.Version, "retired": res.Retired}
			if len(res.Warnings) > 0 {
				out["warnings"] = res.Warnings
			}
			return out, nil
		},
		DeletePack: func(ctx context.Context, ref, actor string) (any, error) {
			if ref == packloader.CoreRef {
				return nil, &httpapi.Error{Status: http.StatusBadRequest, Code: httpapi.CodeBadRequest, Field: "ref",
					Message: "the core pack ships with attune and cannot be deleted"}
			}
			res, err := packs.Retire(ctx, s.store, ref, "deleted by "+actor, actor)
			if err != nil {
				return nil, err
			}
			return map[string]any{"pack": res.Ref, "outcome": res.Outcome, "version": res.Version, "retired": res.Retired}, nil
		},
		SetRuleEnabled: func(ctx context.Context, ref string, enabled bool, actor string) error {
			_, err := packs.SetRuleEnabled(ctx, s.store, ref, enabled, actor)
			return err
		},
		TestRule: func(ctx context.Context, ref string, event json.RawMessage) (any, error) {
			// A dry run reads each key from its stream: it sees a key set a moment ago.
			return request.TestRuleReading(ctx, s.registry, keystore.StreamReader{Log: s.store}, s.box, ref, testPayload(event))
		},
		Webhooks: s.webhooks(),

		Subscribe: s.raw.Subscribe,
		Head:      s.raw.Head,
		ReadAll:   s.raw.ReadAll,
		Metrics:   s.metrics.HTTPHandler(),
		Stopping:  stopping,

		Auth:        authn,
		CreateToken: s.tokens.Create,
		ListTokens:  s.tokens.List,
		RevokeToken: s.tokens.Revoke,

		GetPack: s.models.GetPack, ListPacks: s.models.ListPacks,
		GetComponent: s.models.GetComponent, ListComponents: s.models.ListComponents,
		GetTriggerEvent: s.models.GetTriggerEvent, ListTriggerEvents: s.models.ListTriggerEvents,
		GetEnforcement: s.models.GetEnforcement, ListEnforcements: s.models.ListEnforcements,
		ListWorkers: s.models.ListWorkers, Trace: s.models.Trace,
		GetPolicy: s.models.GetPolicy, ListPolicies: s.models.ListPolicies,
		GetWorkflow:   s.models.GetWorkflow,
		ListInquiries: s.models.ListInquiries, GetInquiry: s.models.GetInquiry, RespondInquiry: s.respondInquiry,
		ListKeys: s.models.ListKeys,
		GetKey: func(ctx context.Context, r kv.Ref) (keys.Key, error) {
			return keystore.GetKey(ctx, s.store, r, time.Now())
		},
		OpenKey: func(k keys.Key) (json.RawMessage, error) {
			return s.box.OpenAt(k.Value, keystore.Binding(k.Ref()))
		},
		SetKey: func(ctx context.Context, req httpapi.KeySetRequest) (kv.KeySet, error) {
			return keystore.SetKey(ctx, s.store, s.box, keystore.Set{Ref: req.Ref, Value: req.Value, Secret: req.Secret,
				TTL: req.TTL, Actor: req.Actor, Admin: req.Admin}, time.Now())
		},
		DeleteKey: func(ctx context.Context, r kv.Ref, actor string, admin bool) error {
			return keystore.DeleteKey(ctx, s.store, r, actor, admin, time.Now())
		},
	}
	// The dashboard at / beside the API: the same read models, use cases and tokens.
	return web.New(web.Config{
		Logger: s.log, API: httpapi.New(api), Auth: authn,
		ListExecutions: api.ListExecutions, GetExecution: api.GetExecution, ReadStream: api.ReadStream,
		CountByStatus:       s.models.CountExecutionsByStatus,
		ExecutionsPerMinute: s.models.ExecutionsPerMinute,
		CancelExecution:     api.CancelExecution, PauseExecution: api.PauseExecution, ResumeExecution: api.ResumeExecution,
		RerunExecution: api.RerunExecution, GetWorkflow: api.GetWorkflow,
		Head: s.raw.Head, Checkpoints: s.readerCheckpoints,
		ListInquiries: api.ListInquiries, GetInquiry: api.GetInquiry, RespondInquiry: api.RespondInquiry,
		ListComponents: api.ListComponents, GetComponent: api.GetComponent, ListPacks: api.ListPacks, GetPack: api.GetPack,
		SetRuleEnabled: api.SetRuleEnabled, TestRule: api.TestRule,
		ListWorkers: api.ListWorkers, ListPolicies: api.ListPolicies, Ready: api.Ready,
		Classify: func(err error) *httpapi.Error {
			for _, c := range api.Classifiers {
				if e := c(err); e != nil {
					return e
				}
			}
			return nil
		},
	})
}

// readerCheckpoints is where each reader of the log stands: the relay and every projection
// (the readers /readyz checks), for the dashboard's audit page.
func (s *Server) readerCheckpoints(ctx context.Context) (map[string]eventstore.Position, error) {
	out := map[string]eventstore.Position{}
	cp, err := s.checkpoints.Load(ctx, relay.Name)
	if err != nil {
		return nil, fmt.Errorf("read the relay's checkpoint: %w", err)
	}
	out[relay.Name] = cp
	for _, p := range projections.All() {
		if out[p.Name], err = s.models.Checkpoint(ctx, p.Name); err != nil {
			return nil, fmt.Errorf("read projection %s's checkpoint: %w", p.Name, err)
		}
	}
	return out, nil
}

// claimExecutionID returns how a request with an Idempotency-Key gets its execution's id (nil
// without a key: a fresh id). The key is scoped by route, action and caller; the hash covers
// what the execution is made of, so the same key with another body is refused.
func (s *Server) claimExecutionID(req httpapi.RunRequest) func(context.Context, string) (string, error) {
	if req.IdempotencyKey == "" {
		return nil
	}
	scope := "POST /api/v1/executions|" + req.Action + "|" + req.Caller
	hash := idempotency.Hash([]byte(req.Action), idempotency.Canonical(req.Parameters), []byte(req.TraceTag))
	return func(ctx context.Context, fresh string) (string, error) {
		return s.keys.Claim(ctx, scope, req.IdempotencyKey, hash, fresh)
	}
}

// testPayload accepts either an event ({"payload": {…}}) or the payload itself.
func testPayload(raw json.RawMessage) json.RawMessage {
	var wrapped struct {
		Payload json.RawMessage `json:"payload"`
	}
	if json.Unmarshal(raw, &wrapped) == nil && len(wrapped.Payload) > 0 {
		return wrapped.Payload
	}
	return raw
}

// classify maps the use cases' errors to API answers: the one place that does.
func classify(err error) *httpapi.Error {
	var (
		finished *cancel.FinishedError
		invalid  *request.ValidationError
		badPack  *packLoadError
		badText  *safetext.Error
		refused  *workflow.Refusal
		running  *request.NotFinishedError
		badKey   *kv.FieldError
		noRole   *keystore.ForbiddenError
	)
	switch {
	case errors.Is(err, idempotency.ErrKeyReused):
		return &httpapi.Error{Status: http.StatusUnprocessableEntity, Code: httpapi.CodeIdempotencyKeyReused, Field: idempotency.Header,
			Message: "this Idempotency-Key was first sent with a different request; send a new key for a new request"}
	case errors.As(err, &refused):
		return &httpapi.Error{Status: http.StatusConflict, Code: refused.Code, Message: err.Error()}
	case errors.As(err, &running):
		return &httpapi.Error{Status: http.StatusConflict, Code: httpapi.CodeNotFinished, Message: err.Error()}
	case errors.Is(err, cancel.ErrNotFound), errors.Is(err, request.ErrUnknownExecution), errors.Is(err, pause.ErrNotFound):
		return &httpapi.Error{Status: http.StatusNotFound, Code: httpapi.CodeNotFound, Message: err.Error()}
	case errors.Is(err, request.ErrUnknownAction):
		return &httpapi.Error{Status: http.StatusNotFound, Code: httpapi.CodeNotFound, Field: "action", Message: err.Error()}
	case errors.Is(err, request.ErrUnknownRule), errors.Is(err, packs.ErrUnknownRule), errors.Is(err, packs.ErrUnknownPack):
		return &httpapi.Error{Status: http.StatusNotFound, Code: httpapi.CodeNotFound, Message: err.Error()}
	case errors.As(err, &finished):
		return &httpapi.Error{Status: http.StatusConflict, Code: httpapi.CodeConflict, Message: err.Error()}
	case errors.As(err, &invalid):
		field := invalid.Field
		if field != "" {
			field = "parameters." + field
		}
		return &httpapi.Error{Status: http.StatusUnprocessableEntity, Code: httpapi.CodeValidation, Field: field, Message: err.Error()}
	case errors.As(err, &badText): // the guard before the log: a NUL, invalid UTF-8, an over-long indexed field
		return httpapi.TextError(badText)
	case errors.As(err, &badKey):
		return &httpapi.Error{Status: http.StatusBadRequest, Code: httpapi.CodeBadRequest, Field: badKey.Field, Message: err.Error()}
	case errors.As(err, &noRole):
		return &httpapi.Error{Status: http.StatusForbidden, Code: httpapi.CodeForbidden, Message: err.Error()}
	case errors.Is(err, kv.ErrNotFound), errors.Is(err, keys.ErrNotFound):
		return &httpapi.Error{Status: http.StatusNotFound, Code: httpapi.CodeNotFound, Message: err.Error()}
	case errors.As(err, &badPack):
		return &httpapi.Error{Status: http.StatusUnprocessableEntity, Code: httpapi.CodeValidation, Message: err.Error()}
	case transient(err):
		// An outage, not a bug: the client may retry (nothing was recorded), and /readyz says
		// what is down.
		return &httpapi.Error{Status: http.StatusServiceUnavailable, Code: httpapi.CodeUnavailable, Message: "the database is unavailable; retry shortly"}
	}
	return nil
}
