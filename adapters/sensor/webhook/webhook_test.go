package webhook_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/attune-go/attune/adapters/eventschema"
	"github.com/attune-go/attune/adapters/eventstore"
	"github.com/attune-go/attune/adapters/memstore"
	"github.com/attune-go/attune/adapters/sensor/webhook"
	"github.com/attune-go/attune/domain/pack"
	"github.com/attune-go/attune/domain/trigger"
)

const secret = "s3cr3t-for-tests"

// now is the server's clock in these tests.
var now = time.Date(2026, 12, 7, 9, 0, 0, 0, time.UTC)

var triggers = map[string]pack.Trigger{
	"examples.ping": {Ref: "examples.ping", Type: pack.TriggerWebhook, PayloadSchema: pack.Params{
		"level": {Type: pack.ParamString},
		"msg":   {Type: pack.ParamString, Required: true},
		"count": {Type: pack.ParamInteger},
	}},
	"examples.signed": {Ref: "examples.signed", Type: pack.TriggerWebhook},
	"examples.inside": {Ref: "examples.inside", Type: pack.TriggerWebhook, AllowFrom: []string{"10.0.0.0/8", "192.0.2.7"}},
	"examples.slow":   {Ref: "examples.slow", Type: pack.TriggerWebhook, RateLimit: &pack.RateLimit{Requests: 2, Seconds: 10}},
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
		Now:     func() time.Time { return now },
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
	rec := b.post("examples.signed", body, webhook.SignatureHeader, webhook.Sign(secret, []byte(body), now))
	if rec.Code != http.StatusAccepted {
		t.Fatalf("good signature: status %d %s, want 202", rec.Code, rec.Body)
	}
	// Hex case does not matter; the MAC does. A minute later is a new signature.
	later := webhook.Sign(secret, []byte(body), now.Add(-time.Minute))
	ts, v1, _ := strings.Cut(later, ",v1=")
	if rec := b.post("examples.signed", body, webhook.SignatureHeader, ts+",v1="+strings.ToUpper(v1)); rec.Code != http.StatusAccepted {
		t.Fatalf("upper-case hex: status %d %s, want 202", rec.Code, rec.Body)
	}
	// While a secret is rotated the sender signs with both; one match is enough.
	rotTS, good, _ := strings.Cut(webhook.Sign(secret, []byte(body), now.Add(-2*time.Minute)), ",v1=")
	old := strings.Repeat("0", 64)
	if rec := b.post("examples.signed", body, webhook.SignatureHeader, rotTS+",v1="+old+",v1="+good); rec.Code != http.StatusAccepted {
		t.Fatalf("two v1 entries, the second good: status %d %s, want 202", rec.Code, rec.Body)
	}
	if n := b.logLen(t); n != 3 {
		t.Fatalf("%d events, want 3", n)
	}
}

// A captured request cannot be replayed: not while its time is within the tolerance (the
// signature was seen), and not after (the time is stale).
func TestASignedRequestIsAcceptedOnce(t *testing.T) {
	t.Parallel()
	b := setup(t)
	body := `{"sha": "abc123"}`
	sig := webhook.Sign(secret, []byte(body), now.Add(-30*time.Second))
	if rec := b.post("examples.signed", body, webhook.SignatureHeader, sig); rec.Code != http.StatusAccepted {
		t.Fatalf("first call: status %d %s, want 202", rec.Code, rec.Body)
	}
	for range 3 {
		rec := b.post("examples.signed", body, webhook.SignatureHeader, sig)
		if got := codeOf(t, rec); rec.Code != http.StatusConflict || got != "replayed" {
			t.Fatalf("replay: status %d %q, want 409 replayed", rec.Code, got)
		}
	}
	for _, off := range []time.Duration{-6 * time.Minute, 6 * time.Minute} {
		rec := b.post("examples.signed", body, webhook.SignatureHeader, webhook.Sign(secret, []byte(body), now.Add(off)))
		if got := codeOf(t, rec); rec.Code != http.StatusUnauthorized || got != "stale_signature" {
			t.Fatalf("signed %s from now: status %d %q, want 401 stale_signature", off, rec.Code, got)
		}
	}
	if n := b.logLen(t); n != 1 {
		t.Fatalf("%d events, want 1", n)
	}
}

func TestAWebhookAcceptsOnlyItsNetworks(t *testing.T) {
	t.Parallel()
	b := setup(t)
	for _, tt := range []struct {
		from string
		want int
	}{
		{"10.1.2.3:5555", http.StatusAccepted},
		{"192.0.2.7:5555", http.StatusAccepted},
		{"[::ffff:10.9.9.9]:5555", http.StatusAccepted},
		{"192.0.2.8:5555", http.StatusForbidden},
		{"[2001:db8::1]:5555", http.StatusForbidden},
	} {
		req := httptest.NewRequest(http.MethodPost, "/api/v1/webhooks/examples.inside", strings.NewReader(`{}`))
		req.RemoteAddr = tt.from
		rec := httptest.NewRecorder()
		b.mux.ServeHTTP(rec, req)
		if rec.Code != tt.want {
			t.Errorf("from %s: status %d %s, want %d", tt.from, rec.Code, rec.Body, tt.want)
		}
		if tt.want == http.StatusForbidden && codeOf(t, rec) != "forbidden_source" {
			t.Errorf("from %s: code %q, want forbidden_source", tt.from, codeOf(t, rec))
		}
	}
	if n := b.logLen(t); n != 3 {
		t.Fatalf("%d events, want 3", n)
	}
}

func TestAWebhookPastItsRateAnswers429WithRetryAfter(t *testing.T) {
	t.Parallel()
	b := setup(t)
	for i := range 2 {
		if rec := b.post("examples.slow", `{}`); rec.Code != http.StatusAccepted {
			t.Fatalf("call %d: status %d %s, want 202", i+1, rec.Code, rec.Body)
		}
	}
	rec := b.post("examples.slow", `{}`)
	if got := codeOf(t, rec); rec.Code != http.StatusTooManyRequests || got != "rate_limited" || rec.Header().Get("Retry-After") != "5" {
		t.Fatalf("third call: status %d %q Retry-After %q, want 429 rate_limited after 5 s (2 per 10 s)", rec.Code, got, rec.Header().Get("Retry-After"))
	}
	if n := b.logLen(t); n != 2 {
		t.Fatalf("%d events, want 2", n)
	}
}

func codeOf(t *testing.T, rec *httptest.ResponseRecorder) string {
	t.Helper()
	var e webhook.Error
	_ = json.Unmarshal(rec.Body.Bytes(), &e)
	return string(e.Code)
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
		{"signature of another body", "examples.signed", body, []string{webhook.SignatureHeader, webhook.Sign(secret, []byte(`{}`), now)}, 401, "bad_signature", ""},
		{"signature with another secret", "examples.signed", body, []string{webhook.SignatureHeader, webhook.Sign("guess", []byte(body), now)}, 401, "bad_signature", ""},
		{"signature of another time", "examples.signed", body, []string{webhook.SignatureHeader, strings.Replace(webhook.Sign(secret, []byte(body), now), "t=", "t=1", 1)}, 401, "stale_signature", ""},
		{"signature without its time", "examples.signed", body, []string{webhook.SignatureHeader, strings.Split(webhook.Sign(secret, []byte(body), now), ",")[1]}, 401, "bad_signature", ""},
		{"the old scheme without a time", "examples.signed", body, []string{webhook.SignatureHeader, "sha256=" + strings.Repeat("a", 64)}, 401, "bad_signature", ""},
		{"signature not hex", "examples.signed", body, []string{webhook.SignatureHeader, "t=" + fmt.Sprint(now.Unix()) + ",v1=zz"}, 401, "bad_signature", ""},
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

func TestAWebhookWithTextNoReadModelCanHoldIsRefusedNamingTheFieldAndRecordsNothing(t *testing.T) {
	t.Parallel()
	b := setup(t)
	for _, c := range []struct{ name, body, field string }{
		{"an escaped NUL", `{"msg":"disk \u0000 full"}`, "/msg"},
		{"a NUL deep in an extra field", `{"msg":"ok","extra":{"list":["a","\u0000"]}}`, "/extra/list/1"},
		{"invalid UTF-8", "{\"msg\":\"caf\xe9\"}", "/msg"},
		{"a lone surrogate", `{"msg":"\udead"}`, "/msg"},
	} {
		rec := b.post("examples.ping", c.body)
		var got webhook.Error
		_ = json.Unmarshal(rec.Body.Bytes(), &got)
		if rec.Code != http.StatusBadRequest || got.Code != webhook.CodeInvalidText || got.Field != c.field {
			t.Errorf("%s: %d %s, want 400 invalid_text at %s", c.name, rec.Code, rec.Body, c.field)
		}
	}
	if n := b.logLen(t); n != 0 {
		t.Fatalf("%d events recorded, want none", n)
	}
}
