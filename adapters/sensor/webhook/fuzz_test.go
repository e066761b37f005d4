package webhook_test

import (
	"context"
	"encoding/json"
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

// FuzzWebhook sends fuzzed requests: trigger ref, body, signature header (or, when sign is
// set, a good signature of the body so the fuzzer gets past it), content type and remote
// address. Whatever arrives, the answer is 202 with exactly one EventFired recorded (and it
// passes the event schema: the store is guarded), or a 4xx with a code and a message and
// nothing recorded — never a 5xx, never a panic.
func FuzzWebhook(f *testing.F) {
	body := `{"level": "error", "msg": "disk full", "count": 12345678901234567890, "extra": [1]}`
	f.Add("examples.ping", body, "", false, "application/json", "192.0.2.1:1234")
	f.Add("examples.ping", `{"msg": 7}`, "", false, "application/json", "192.0.2.1:1234")
	f.Add("examples.ping", "", "", false, "", "192.0.2.1:1234")
	f.Add("core.webhook", "", "", false, "", "192.0.2.1:1234")
	f.Add("core.webhook", `[1, 2]`, "", false, "text/plain", "192.0.2.1:1234")
	f.Add("examples.signed", body, "", true, "application/json", "192.0.2.1:1234")
	f.Add("examples.signed", body, "sha256="+strings.Repeat("a", 64), false, "application/json", "192.0.2.1:1234")
	f.Add("examples.signed", body, "t=1796634000,v1=zz", false, "application/json", "192.0.2.1:1234")
	f.Add("examples.signed", body, "t=1796634000,v1=00,v1=01", false, "application/json", "192.0.2.1:1234")
	f.Add("examples.inside", `{}`, "", false, "application/json", "10.1.2.3:5678")
	f.Add("examples.inside", `{}`, "", false, "application/json", "[2001:db8::1]:80")
	f.Add("examples.slow", `{}`, "", false, "application/json", "not an address")
	f.Add("core.crontimer", `{}`, "", false, "application/json", "192.0.2.1:1234")
	f.Add("no.such", `{"a": "\u0000\ud800"}`, "", false, "application/json", "192.0.2.1:1234")

	v, err := eventschema.New()
	if err != nil {
		f.Fatalf("load event schemas: %v", err)
	}
	f.Fuzz(func(t *testing.T, ref, body, sigHeader string, sign bool, contentType, remote string) {
		store := eventschema.Guard(memstore.New(memstore.Config{}), v)
		h := webhook.New(webhook.Config{
			Store: store,
			Triggers: webhook.TriggerLookupFunc(func(_ context.Context, ref string) (pack.Trigger, bool, error) {
				tr, ok := triggers[ref]
				return tr, ok, nil
			}),
			Secrets: webhook.EnvSecrets(func(name string) (string, bool) {
				return secret, name == "ATTUNE_WEBHOOK_SECRET_EXAMPLES_SIGNED"
			}),
			MaxBody: 1024,
			Logger:  slog.New(slog.DiscardHandler),
			Now:     func() time.Time { return now },
		})
		req := httptest.NewRequest(http.MethodPost, "/api/v1/webhooks/x", strings.NewReader(body))
		req.SetPathValue("trigger", ref)
		req.RemoteAddr = remote
		req.Header.Set("Content-Type", contentType)
		if sign {
			sigHeader = webhook.Sign(secret, []byte(body), now)
		}
		if sigHeader != "" {
			req.Header.Set(webhook.SignatureHeader, sigHeader)
		}
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)

		recs, err := store.ReadAll(context.Background(), eventstore.Start, 10)
		if err != nil {
			t.Fatalf("read the log: %v", err)
		}
		switch {
		case rec.Code == http.StatusAccepted:
			var ok webhook.Accepted
			if err := json.Unmarshal(rec.Body.Bytes(), &ok); err != nil || ok.EventID == "" {
				t.Fatalf("202 with body %s: want {\"event_id\": ...}", rec.Body)
			}
			if len(recs) != 1 {
				t.Fatalf("202, and %d events recorded; want exactly one", len(recs))
			}
			e, err := recs[0].Decode()
			if err != nil {
				t.Fatalf("decode the recorded event: %v", err)
			}
			fired, isFired := e.(*trigger.EventFired)
			if !isFired || fired.EventID != ok.EventID || fired.Trigger != ref {
				t.Fatalf("recorded %#v for trigger %q, answered id %s", e, ref, ok.EventID)
			}
		case rec.Code >= 400 && rec.Code < 500:
			var refused webhook.Error
			if err := json.Unmarshal(rec.Body.Bytes(), &refused); err != nil || refused.Code == "" || refused.Message == "" {
				t.Fatalf("%d with body %s: want {code, message}", rec.Code, rec.Body)
			}
			if refused.Code.Status() != rec.Code {
				t.Fatalf("%d answered with code %s, whose status is %d", rec.Code, refused.Code, refused.Code.Status())
			}
			if len(recs) != 0 {
				t.Fatalf("refused with %d %s, yet %d events recorded", rec.Code, refused.Code, len(recs))
			}
		default:
			body, _ := io.ReadAll(rec.Result().Body)
			t.Fatalf("status %d %s: want 202 or a 4xx for a request the caller controls", rec.Code, body)
		}
	})
}
