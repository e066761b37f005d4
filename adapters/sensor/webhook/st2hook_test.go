package webhook_test

import (
	"context"
	"encoding/json"
	"log/slog"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/attune-go/attune/adapters/memstore"
	"github.com/attune-go/attune/adapters/sensor/webhook"
	"github.com/attune-go/attune/domain/pack"
	"github.com/attune-go/attune/domain/trigger"
)

// hookSetup serves StackStorm urls: "sample" and "signed" have rules listening, at most two
// calls per url in ten seconds; ATTUNE_WEBHOOK_SECRET_SIGNED is set.
func hookSetup(t *testing.T) bundle {
	t.Helper()
	store := guarded(t, memstore.New(memstore.Config{}))
	st2 := pack.Trigger{Ref: webhook.St2Trigger, Type: pack.TriggerWebhook, RateLimit: &pack.RateLimit{Requests: 2, Seconds: 10},
		PayloadSchema: pack.Params{"body": {}, "headers": {Type: pack.ParamObject}}}
	h := webhook.New(webhook.Config{
		Store: store,
		Triggers: webhook.TriggerLookupFunc(func(_ context.Context, ref string) (pack.Trigger, bool, error) {
			if ref == webhook.St2Trigger {
				return st2, true, nil
			}
			tr, ok := triggers[ref]
			return tr, ok, nil
		}),
		Hooks: func(_ context.Context, url string) (pack.Trigger, bool, error) {
			return st2, url == "sample" || url == "signed", nil
		},
		Secrets: webhook.EnvSecrets(func(name string) (string, bool) {
			return secret, name == "ATTUNE_WEBHOOK_SECRET_SIGNED"
		}),
		Logger: slog.New(slog.DiscardHandler),
		Now:    func() time.Time { return now },
	})
	mux := http.NewServeMux()
	h.Register(mux)
	return bundle{mux: mux, store: store}
}

func TestAStackStormWebhookURLFiresBodyAndHeadersWithoutCredentials(t *testing.T) {
	t.Parallel()
	b := hookSetup(t)
	rec := b.post("sample", `[1, {"n": 12345678901234567890}]`, "Authorization", "Bearer hunter2", "X-Event", "push", "Cookie", "s=1")
	if rec.Code != http.StatusAccepted {
		t.Fatalf("status %d %s, want 202", rec.Code, rec.Body)
	}
	var ok webhook.Accepted
	if err := json.Unmarshal(rec.Body.Bytes(), &ok); err != nil {
		t.Fatal(err)
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
	if got.Trigger != webhook.St2Trigger || got.URL != "sample" || got.Source != trigger.Webhook {
		t.Fatalf("event %+v: want trigger %s, url sample", got, webhook.St2Trigger)
	}
	want := `{"body":[1,{"n":12345678901234567890}],"headers":{"Content-Type":"application/json","X-Event":"push"}}`
	if string(got.Payload) != want {
		t.Fatalf("payload %s\nwant    %s", got.Payload, want)
	}
	if strings.Contains(string(got.Payload), "hunter2") {
		t.Fatal("a credential header reached the log")
	}
}

func TestAStackStormWebhookURLKeepsTheGateOfAttuneWebhooks(t *testing.T) {
	t.Parallel()
	b := hookSetup(t)
	for _, c := range []struct {
		url, body string
		header    []string
		status    int
		code      string
	}{
		{"nobody-listens", `{}`, nil, http.StatusNotFound, "unknown_trigger"},
		// The trigger itself is no url: posting to it would fire every StackStorm webhook rule.
		{webhook.St2Trigger, `{}`, nil, http.StatusNotFound, "unknown_trigger"},
		{"signed", `{}`, nil, http.StatusUnauthorized, "bad_signature"},
		{"sample", `not json`, nil, http.StatusBadRequest, "invalid_json"},
	} {
		rec := b.post(c.url, c.body, c.header...)
		if rec.Code != c.status || codeOf(t, rec) != c.code {
			t.Errorf("%s %q: status %d %s, want %d %s", c.url, c.body, rec.Code, rec.Body, c.status, c.code)
		}
	}
	if rec := b.post("signed", `{"a":1}`, webhook.SignatureHeader, webhook.Sign(secret, []byte(`{"a":1}`), now)); rec.Code != http.StatusAccepted {
		t.Fatalf("signed with the url's secret: status %d %s", rec.Code, rec.Body)
	}
	// The rate is counted per url (before the body is read: the bad JSON spent one of sample's
	// two calls); signed's budget is its own.
	for i, want := range []int{http.StatusAccepted, http.StatusTooManyRequests} {
		if rec := b.post("sample", `{}`); rec.Code != want {
			t.Fatalf("sample call %d: status %d %s, want %d", i+1, rec.Code, rec.Body, want)
		}
	}
	if n := b.logLen(t); n != 2 {
		t.Fatalf("%d events, want 2 (the refused calls record nothing)", n)
	}
}
