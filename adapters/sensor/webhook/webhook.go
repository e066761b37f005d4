// Package webhook turns POST /api/v1/webhooks/{trigger} into EventFired: the JSON body is the
// payload, checked against the trigger's payload_schema and, when the trigger has a secret,
// authenticated by an HMAC-SHA256 signature of a timestamp and the raw body (signature.go),
// from the networks the trigger allows, at the rate it allows (gate.go).
package webhook

import (
	"bytes"
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"time"

	"github.com/oklog/ulid/v2"

	"github.com/attune-go/attune/adapters/eventstore"
	"github.com/attune-go/attune/adapters/idempotency"
	"github.com/attune-go/attune/adapters/safetext"
	"github.com/attune-go/attune/adapters/sensor"
	"github.com/attune-go/attune/domain/ident"
	"github.com/attune-go/attune/domain/pack"
	"github.com/attune-go/attune/domain/trigger"
)

// Pattern is the route of the endpoint (Go 1.22 ServeMux syntax).
const Pattern = "POST /api/v1/webhooks/{trigger}"

// Actor is the metadata actor of webhook events.
const Actor = "webhook"

// DefaultMaxBody caps a webhook body.
const DefaultMaxBody = 1 << 20

// TriggerLookup finds a registered trigger by ref (a read model of the packs).
type TriggerLookup interface {
	Trigger(ctx context.Context, ref string) (t pack.Trigger, found bool, err error)
}

// TriggerLookupFunc adapts a function to TriggerLookup.
type TriggerLookupFunc func(ctx context.Context, ref string) (pack.Trigger, bool, error)

// Trigger implements TriggerLookup.
func (f TriggerLookupFunc) Trigger(ctx context.Context, ref string) (pack.Trigger, bool, error) {
	return f(ctx, ref)
}

// Config wires a Handler.
type Config struct {
	Store    eventstore.Store // required
	Triggers TriggerLookup    // required
	// Secrets returns a trigger's HMAC secret; nil means no trigger requires a signature.
	// The server passes EnvSecrets(nil).
	Secrets SecretLookup
	// Keys remembers Idempotency-Key headers (*idempotency.Store); nil refuses the header
	// rather than ignore it, since a client sending it relies on it.
	Keys    KeyClaimer
	MaxBody int64        // bytes; default DefaultMaxBody
	Logger  *slog.Logger // default slog.Default()
	// DefaultRateLimit applies to webhook triggers that declare no rate_limit; zero:
	// DefaultRequests per second.
	DefaultRateLimit pack.RateLimit
	Now              func() time.Time // time.Now if nil
	// Hooks tells whether an enabled rule of a StackStorm pack listens on a url (trigger
	// core.st2.webhook, parameters {url}): /api/v1/webhooks/{url} then fires it (st2hook.go).
	// Nil serves no url.
	Hooks HookLookup
}

// KeyClaimer returns the id a request with an idempotency key creates: fresh for a new key,
// the first request's for a retry (idempotency.Store).
type KeyClaimer interface {
	Claim(ctx context.Context, scope, key, hash, fresh string) (string, error)
}

// Handler serves Pattern.
type Handler struct {
	store    eventstore.Store
	triggers TriggerLookup
	secrets  SecretLookup
	keys     KeyClaimer
	maxBody  int64
	log      *slog.Logger
	limits   *limiters
	now      func() time.Time
	hooks    HookLookup
}

// New returns the handler. It panics on a missing dependency (a wiring error).
func New(cfg Config) *Handler {
	if cfg.Store == nil || cfg.Triggers == nil {
		panic("webhook.New: nil Store or Triggers")
	}
	if cfg.Secrets == nil {
		cfg.Secrets = func(string) (string, bool) { return "", false }
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	return &Handler{
		store:    cfg.Store,
		triggers: cfg.Triggers,
		secrets:  cfg.Secrets,
		keys:     cfg.Keys,
		maxBody:  cmp.Or(cfg.MaxBody, DefaultMaxBody),
		log:      cmp.Or(cfg.Logger, slog.Default()),
		limits:   newLimiters(cfg.DefaultRateLimit),
		now:      cfg.Now,
		hooks:    cfg.Hooks,
	}
}

// Register adds the handler to mux under Pattern.
func (h *Handler) Register(mux *http.ServeMux) { mux.Handle(Pattern, h) }

// Accepted is the body of a 202 answer.
type Accepted struct {
	EventID string `json:"event_id"`
}

// ServeHTTP records one webhook call as an EventFired and answers 202 with its id, or refuses
// it with an Error and records nothing.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	ref := r.PathValue("trigger")
	id, err := h.accept(r, ref)
	if err != nil {
		var e *Error
		if errors.As(err, &e) {
			h.log.Info("webhook refused", slog.String("trigger", ref), slog.String("code", string(e.Code)), slog.String("reason", e.Message))
		} else {
			h.log.Error("webhook failed", slog.String("trigger", ref), slog.Any("error", err))
		}
		writeError(w, err)
		return
	}
	h.log.Info("webhook event fired", slog.String("trigger", ref), slog.String("event_id", id))
	writeJSON(w, http.StatusAccepted, Accepted{EventID: id})
}

// accept checks in the order that reveals the least to an unauthenticated caller: the trigger
// must exist before its body is read, and the signature must hold before the body is parsed.
func (h *Handler) accept(r *http.Request, ref string) (string, error) {
	ctx := r.Context()
	t, found, err := h.triggers.Trigger(ctx, ref)
	if err != nil {
		return "", fmt.Errorf("look up trigger %q: %w", ref, err)
	}
	url := ""
	switch {
	case !found:
		if t, url, err = h.hook(ctx, ref); err != nil {
			return "", err
		}
	case ref == St2Trigger:
		return "", refuse(CodeUnknownTrigger, "%s is served at /api/v1/webhooks/{url}, the url its rules name", ref)
	case t.Type != pack.TriggerWebhook:
		return "", refuse(CodeUnknownTrigger, "trigger %q is a %s trigger, not a webhook", ref, t.Type)
	}
	if err := allowedSource(t, r.RemoteAddr); err != nil {
		return "", err
	}
	if err := h.limits.take(t, h.now()); err != nil {
		return "", err
	}
	key, err := idempotencyKey(r, h.keys != nil)
	if err != nil {
		return "", err
	}
	body, err := h.readBody(r)
	if err != nil {
		return "", err
	}
	id := ulid.Make().String()
	if secret, ok := h.secrets(ref); ok {
		sig, err := checkSignature(secret, body, r.Header.Get(SignatureHeader), h.now())
		if err != nil {
			return "", err
		}
		// One signature, one event: the event's id derives from the signature, so a
		// replayed request appends into a stream that exists and is refused by the log.
		id = ident.At(sig.at, "webhook", ref, sig.mac).String()
	}
	var (
		payload map[string]any
		raw     json.RawMessage
	)
	if url != "" {
		payload, raw, err = hookPayload(body, r.Header)
	} else {
		payload, raw, err = decodePayload(body)
	}
	if err != nil {
		return "", err
	}
	if err := sensor.ValidatePayload(t.PayloadSchema, payload); err != nil {
		var fe *sensor.FieldError
		if errors.As(err, &fe) {
			return "", &Error{Code: CodeValidation, Message: fe.Error(), Field: fe.Field}
		}
		return "", refuse(CodeValidation, "%v", err)
	}
	if key != "" {
		// Webhooks are public (the HMAC authenticates the sender), so the trigger is the scope.
		id, err = h.keys.Claim(ctx, Pattern+"|"+ref, key, idempotency.Hash(raw), id)
		if errors.Is(err, idempotency.ErrKeyReused) {
			return "", refuse(CodeIdempotencyKeyReused, "this %s was first sent with a different body; send a new key for a new event", idempotency.Header)
		}
		if err != nil {
			return "", err
		}
	}
	e := trigger.EventFired{EventID: id, Trigger: ref, Payload: raw, Source: trigger.Webhook}
	if url != "" {
		e.Trigger, e.URL = St2Trigger, url
	}
	if err := sensor.Fire(ctx, h.store, e, Actor); err != nil {
		var conflict *eventstore.VersionConflictError
		switch {
		case key != "" && errors.As(err, &conflict):
			// A retry of a call whose event is recorded already: the key makes it safe, and a
			// replay carrying the key gets the same answer and creates nothing either.
			return id, nil
		case errors.As(err, &conflict):
			return "", refuse(CodeReplayed, "this signed request was accepted before (event %s): sign each call anew", id)
		}
		return "", err
	}
	return id, nil
}

// idempotencyKey returns the request's Idempotency-Key, "" when none was sent; a key that is
// sent must be usable and supported, never silently ignored.
func idempotencyKey(r *http.Request, supported bool) (string, error) {
	values, sent := r.Header[http.CanonicalHeaderKey(idempotency.Header)]
	switch {
	case !sent:
		return "", nil
	case !supported:
		return "", refuse(CodeBadRequest, "this server does not keep %s headers", idempotency.Header)
	case len(values) != 1:
		return "", refuse(CodeBadRequest, "send one %s header, not %d", idempotency.Header, len(values))
	}
	if err := idempotency.CheckKey(values[0]); err != nil {
		return "", refuse(CodeBadRequest, "%v", err)
	}
	return values[0], nil
}

func (h *Handler) readBody(r *http.Request) ([]byte, error) {
	if r.ContentLength > h.maxBody {
		return nil, refuse(CodePayloadTooLarge, "body of %d bytes is over the %d byte limit", r.ContentLength, h.maxBody)
	}
	body, err := io.ReadAll(io.LimitReader(r.Body, h.maxBody+1))
	if err != nil {
		return nil, fmt.Errorf("read webhook body: %w", err)
	}
	if int64(len(body)) > h.maxBody {
		return nil, refuse(CodePayloadTooLarge, "body is over the %d byte limit", h.maxBody)
	}
	return body, nil
}

// decodePayload reads the body as one JSON object, returned decoded (to validate) and
// compacted (to record, as sent: the numbers keep every digit). An empty body is the empty
// payload, so a bare `curl -X POST` can fire a trigger that needs no fields.
func decodePayload(body []byte) (map[string]any, json.RawMessage, error) {
	if len(bytes.TrimSpace(body)) == 0 {
		return map[string]any{}, json.RawMessage(`{}`), nil
	}
	p, err := sensor.DecodeObject(body)
	switch {
	case errors.Is(err, sensor.ErrNotObject):
		return nil, nil, refuse(CodeInvalidJSON, "body must be a JSON object")
	case err != nil:
		return nil, nil, refuse(CodeInvalidJSON, "body is not JSON: %v", err)
	}
	// The payload reaches read models as jsonb, which refuses a NUL (json.Compact keeps the
	// \u0000 escape) and invalid UTF-8 (decoding above replaced it silently): refuse both here,
	// naming the field, rather than record an event no projection can apply.
	if bad := safetext.JSON(body, "", nil); bad != nil {
		return nil, nil, &Error{Code: CodeInvalidText, Message: bad.Error(), Field: bad.Field}
	}
	var compact bytes.Buffer
	if err := json.Compact(&compact, body); err != nil {
		return nil, nil, refuse(CodeInvalidJSON, "body is not JSON: %v", err)
	}
	return p, compact.Bytes(), nil
}
