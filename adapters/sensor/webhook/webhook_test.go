package webhook_test

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/attune-go/attune/adapters/eventschema"
	"github.com/attune-go/attune/adapters/eventstore"
	"github.com/attune-go/attune/adapters/memstore"
	"github.com/attune-go/attune/adapters/sensor/webhook"
	"github.com/attune-go/attune/domain/pack"
	"github.com/attune-go/attune/domain/trigger"
)

const secret = "s3cr3t-for-tests"

var triggers = map[string]pack.Trigger{
	"examples.ping": {Ref: "examples.ping", Type: pack.TriggerWebhook, PayloadSchema: pack.Params{
		"level": {Type: pack.ParamString},
		"msg":   {Type: pack.ParamString, Required: true},
		"count": {Type: pack.ParamInteger},
	}},
	"examples.signed": {Ref: "examples.signed", Type: pack.TriggerWebhook},
	"core.webhook":    {Ref: "core.webhook", Type: pack.TriggerWebhook},
	"core.crontimer":  {Ref: "core.crontimer", Type: pack.TriggerTimer},
}

type bundle struct {
	mux   *http.ServeMux
	store eventstore.Store
}

func setup(t *testing.T) bundle {
	t.Helper()
	store := guarded(t, memstore.New(memstore.Config{}))
	h := webhook.New(webhook.Config{
		Store: store,
		Triggers: webhook.TriggerLookupFunc(func(_ context.Context, ref string) (pack.Trigger, bool, error) {
			if ref == "examples.broken" {
				return pack.Trigger{}, false, errors.New("read model down")
			}
			tr, ok := triggers[ref]
			return tr, ok, nil
		}),
		Secrets: webhook.EnvSecrets(func(name string) (string, bool) {
			if name == "ATTUNE_WEBHOOK_SECRET_EXAMPLES_SIGNED" {
				return secret, true
			}
			return "", false
		}),
		MaxBody: 1024,
		Logger:  slog.New(slog.DiscardHandler),
	})
	mux := http.NewServeMux()
	h.Register(mux)
	return bundle{mux: mux, store: store}
}

func (b bundle) post(trigger, body string, header ...string) *httptest.ResponseRecorder {
	req := httptest.NewRequest(http.MethodPost, "/api/v1/webhooks/"+trigger, strings.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	rec := httptest.NewRecorder()
	b.mux.ServeHTTP(rec, req)
	return rec
}

func (b bundle) logLen(t *testing.T) int {
	t.Helper()
	recs, err := b.store.ReadAll(context.Background(), eventstore.Start, 100)
	if err != nil {
		t.Fatalf("read the log: %v", err)
	}
	return len(recs)
}

func TestAWebhookFiresAnEvent(t *testing.T) {
	t.Parallel()
	b := setup(t)
	rec := b.post("examples.ping", `{"level": "error", "msg": "disk full", "count": 12345678901234567890, "extra": [1]}`)
	if rec.Code != http.StatusAccepted {
		t.Fatalf("status %d %s, want 202", rec.Code, rec.Body)
	}
	var ok webhook.Accepted
	if err := json.Unmarshal(rec.Body.Bytes(), &ok); err != nil || ok.EventID == "" {
		t.Fatalf("body %s: want {\"event_id\": ...}", rec.Body)
	}

	recs, err := b.store.ReadStream(context.Background(), trigger.StreamID(ok.EventID))
	if err != nil || len(recs) != 1 {
		t.Fatalf("stream of the event: %d events, %v", len(recs), err)
	}
	e, err := recs[0].Decode()
	if err != nil {
		t.Fatal(err)
	}
	got := e.(*trigger.EventFired)
	if got.EventID != ok.EventID || got.Trigger != "examples.ping" || got.Source != trigger.Webhook || got.Rule != "" {
		t.Errorf("event %+v", got)
	}
	// The payload is recorded as sent (compacted): a big integer keeps every digit.
	if want := `{"level":"error","msg":"disk full","count":12345678901234567890,"extra":[1]}`; string(got.Payload) != want {
		t.Errorf("payload %s, want %s", got.Payload, want)
	}
	if md := recs[0].Metadata; md.CorrelationID != ok.EventID || md.Actor != "webhook" {
		t.Errorf("metadata %+v: want correlation = the event id, actor webhook", md)
	}
}

func TestAnEmptyBodyIsAnEmptyPayload(t *testing.T) {
	t.Parallel()
	b := setup(t)
	if rec := b.post("core.webhook", ""); rec.Code != http.StatusAccepted {
		t.Fatalf("status %d %s, want 202", rec.Code, rec.Body)
	}
	if rec := b.post("examples.ping", ""); rec.Code != http.StatusUnprocessableEntity {
		t.Fatalf("status %d %s: an empty body lacks the required msg, want 422", rec.Code, rec.Body)
	}
}

func TestASignedWebhookNeedsAGoodSignature(t *testing.T) {
	t.Parallel()
	b := setup(t)
	body := `{"sha": "abc123"}`
	rec := b.post("examples.signed", body, webhook.SignatureHeader, webhook.Sign(secret, []byte(body)))
	if rec.Code != http.StatusAccepted {
		t.Fatalf("good signature: status %d %s, want 202", rec.Code, rec.Body)
	}
	// Hex case does not matter; the MAC does.
	upper := "sha256=" + strings.ToUpper(strings.TrimPrefix(webhook.Sign(secret, []byte(body)), "sha256="))
	if rec := b.post("examples.signed", body, webhook.SignatureHeader, upper); rec.Code != http.StatusAccepted {
		t.Fatalf("upper-case hex: status %d %s, want 202", rec.Code, rec.Body)
	}
	if n := b.logLen(t); n != 2 {
		t.Fatalf("%d events, want 2", n)
	}
}

func TestRefusedWebhooksRecordNothing(t *testing.T) {
	t.Parallel()
	body := `{"sha": "abc123"}`
	cases := []struct {
		name, trigger, body string
		header              []string
		status              int
		code, field         string
	}{
		{"malformed JSON", "examples.ping", `{"msg": "x"`, nil, 400, "invalid_json", ""},
		{"trailing data", "examples.ping", `{"msg": "x"} {}`, nil, 400, "invalid_json", ""},
		{"not an object", "examples.ping", `["msg"]`, nil, 400, "invalid_json", ""},
		{"required field missing", "examples.ping", `{"level": "error"}`, nil, 422, "validation_failed", "msg"},
		{"wrong type", "examples.ping", `{"msg": "x", "count": 1.5}`, nil, 422, "validation_failed", "count"},
		{"unknown trigger", "examples.nope", `{}`, nil, 404, "unknown_trigger", ""},
		{"not a webhook trigger", "core.crontimer", `{}`, nil, 404, "unknown_trigger", ""},
		{"too large", "core.webhook", `{"x": "` + strings.Repeat("a", 2000) + `"}`, nil, 413, "payload_too_large", ""},
		{"missing signature", "examples.signed", body, nil, 401, "bad_signature", ""},
		{"signature of another body", "examples.signed", body, []string{webhook.SignatureHeader, webhook.Sign(secret, []byte(`{}`))}, 401, "bad_signature", ""},
		{"signature with another secret", "examples.signed", body, []string{webhook.SignatureHeader, webhook.Sign("guess", []byte(body))}, 401, "bad_signature", ""},
		{"signature without its scheme", "examples.signed", body, []string{webhook.SignatureHeader, strings.TrimPrefix(webhook.Sign(secret, []byte(body)), "sha256=")}, 401, "bad_signature", ""},
		{"signature not hex", "examples.signed", body, []string{webhook.SignatureHeader, "sha256=zz"}, 401, "bad_signature", ""},
		{"trigger lookup fails", "examples.broken", `{}`, nil, 500, "internal_error", ""},
		// This handler keeps no keys: a client relying on one must hear so, not be ignored.
		{"an idempotency key it cannot keep", "core.webhook", `{}`, []string{"Idempotency-Key", "k1"}, 400, "bad_request", ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			b := setup(t)
			rec := b.post(c.trigger, c.body, c.header...)
			var got webhook.Error
			if err := json.Unmarshal(rec.Body.Bytes(), &got); err != nil {
				t.Fatalf("body %q is not a JSON error: %v", rec.Body, err)
			}
			if rec.Code != c.status || string(got.Code) != c.code || got.Field != c.field || got.Message == "" {
				t.Errorf("got %d %+v, want %d code %s field %q", rec.Code, got, c.status, c.code, c.field)
			}
			if ct := rec.Header().Get("Content-Type"); ct != "application/json" {
				t.Errorf("Content-Type %q", ct)
			}
			if n := b.logLen(t); n != 0 {
				t.Errorf("%d events recorded for a refused webhook", n)
			}
		})
	}
}

func TestOnlyPostIsRouted(t *testing.T) {
	t.Parallel()
	b := setup(t)
	rec := httptest.NewRecorder()
	b.mux.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/api/v1/webhooks/core.webhook", nil))
	if rec.Code != http.StatusMethodNotAllowed {
		t.Fatalf("GET: status %d, want 405", rec.Code)
	}
}

func TestSecretsComeFromTheEnvironment(t *testing.T) {
	t.Parallel()
	if got := webhook.SecretEnvVar("examples.my-hook"); got != "ATTUNE_WEBHOOK_SECRET_EXAMPLES_MY_HOOK" {
		t.Fatalf("SecretEnvVar = %s", got)
	}
	env := map[string]string{"ATTUNE_WEBHOOK_SECRET_EXAMPLES_MY_HOOK": "x", "ATTUNE_WEBHOOK_SECRET_EXAMPLES_EMPTY": ""}
	lookup := webhook.EnvSecrets(func(k string) (string, bool) { v, ok := env[k]; return v, ok })
	if s, ok := lookup("examples.my-hook"); !ok || s != "x" {
		t.Errorf("examples.my-hook: %q %v", s, ok)
	}
	if _, ok := lookup("examples.empty"); ok {
		t.Error("an empty variable counts as a secret")
	}
	if _, ok := lookup("examples.unset"); ok {
		t.Error("an unset variable counts as a secret")
	}
}

func TestATooLargeBodyOfUnknownLengthIsRefused(t *testing.T) {
	t.Parallel()
	b := setup(t)
	// A chunked body announces no length: the cap applies while reading.
	body := io.MultiReader(strings.NewReader(`{"x": "`), strings.NewReader(strings.Repeat("a", 2000)+`"}`))
	req := httptest.NewRequest(http.MethodPost, "/api/v1/webhooks/core.webhook", body)
	rec := httptest.NewRecorder()
	b.mux.ServeHTTP(rec, req)
	if rec.Code != http.StatusRequestEntityTooLarge || !strings.Contains(rec.Body.String(), `"payload_too_large"`) {
		t.Fatalf("status %d %s, want 413 payload_too_large", rec.Code, rec.Body)
	}
	if n := b.logLen(t); n != 0 {
		t.Fatalf("%d events recorded", n)
	}
}

// guarded checks every appended event against its published JSON Schema
// (schemas/events/EventFired.json): what a sensor records is what consumers were promised.
func guarded(t *testing.T, s eventstore.Store) eventstore.Store {
	t.Helper()
	v, err := eventschema.New()
	if err != nil {
		t.Fatalf("load event schemas: %v", err)
	}
	return eventschema.Guard(s, v)
}
