package web_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/attune-go/attune/adapters/answerschema"
	"github.com/attune-go/attune/adapters/auth"
	"github.com/attune-go/attune/adapters/eventstore"
	"github.com/attune-go/attune/adapters/httpapi"
	"github.com/attune-go/attune/adapters/web"
	"github.com/attune-go/attune/domain/execution"
	"github.com/attune-go/attune/domain/inquiry"
	"github.com/attune-go/attune/domain/pack"
	"github.com/attune-go/attune/projections/catalog"
	"github.com/attune-go/attune/projections/executions"
	"github.com/attune-go/attune/projections/inquiries"
	"github.com/attune-go/attune/projections/policies"
	"github.com/attune-go/attune/projections/workers"
)

// more is a dashboard over inquiries, rules, packs, workers and policies, recording what
// the use cases were asked. Its respond use case checks the answer with the real schema
// checker (adapters/answerschema), as the app's does.
type more struct {
	*fixture
	mu       sync.Mutex
	answers  []string // "id by actor: answer"
	switches []string // "ref enabled by actor"
}

func (m *more) answered() []string {
	m.mu.Lock()
	defer m.mu.Unlock()
	return append([]string(nil), m.answers...)
}

func (m *more) switched() []string {
	m.mu.Lock()
	defer m.mu.Unlock()
	return append([]string(nil), m.switches...)
}

var (
	flatSchema = `{"approved": {"type": "boolean", "required": true}, "count": {"type": "integer", "description": "how many"},
		"env": {"type": "string", "enum": ["prod", "staging"], "required": true}, "note": {"type": "string"}}`
	nestedSchema = `{"type": "object", "properties": {"servers": {"type": "array", "items": {"type": "string"}}, "why": {"anyOf": [{"type": "string"}, {"type": "null"}]}}, "required": ["servers"]}`
)

func setupMore(t *testing.T) *more {
	t.Helper()
	m := &more{fixture: &fixture{}}
	now := time.Now()
	asks := map[string]inquiries.Inquiry{
		"01ASK": {ID: "01ASK", ExecutionID: "01ASK", Schema: json.RawMessage(flatSchema), SchemaKind: inquiry.SchemaFlat,
			Status: inquiry.Pending, CreatedAt: now, ExpiresAt: now.Add(time.Hour)},
		"01JSON": {ID: "01JSON", ExecutionID: "01JSON", Schema: json.RawMessage(nestedSchema), SchemaKind: inquiry.SchemaJSON,
			Status: inquiry.Pending, CreatedAt: now, ExpiresAt: now.Add(time.Hour), Roles: []string{"viewer"}},
		"01DONE": {ID: "01DONE", ExecutionID: "01DONE", Schema: json.RawMessage(flatSchema), SchemaKind: inquiry.SchemaFlat,
			Status: inquiry.Responded, Responder: "otto", Response: json.RawMessage(`{"approved":true,"env":"prod"}`), CreatedAt: now, ExpiresAt: now.Add(time.Hour)},
	}
	ask := executions.Execution{ID: "01ASK", Action: inquiry.AskAction, Status: execution.Pending, CreatedAt: now, UpdatedAt: now}
	rules := []catalog.Component{
		{Kind: pack.KindRule, Ref: "ops.on_alert", Pack: "ops", Trigger: "ops.alert", Action: "ops.page", Enabled: true, FileEnabled: true,
			Definition: json.RawMessage(`{"ref":"ops.on_alert","trigger":"ops.alert","action":"ops.page","file":"rules/on_alert.yaml"}`)},
		{Kind: pack.KindRule, Ref: "ops.on_quiet", Pack: "ops", Trigger: "ops.alert", Action: "ops.page", Enabled: false,
			Definition: json.RawMessage(`{"ref":"ops.on_quiet","trigger":"ops.alert","action":"ops.page"}`)},
	}
	action := catalog.Component{Kind: pack.KindAction, Ref: "ops.page", Pack: "ops",
		Definition: json.RawMessage(`{"ref":"ops.page","runner_type":"local","entry_point":"page.sh","entry_point_sha256":"9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08","parameters":{"who":{"type":"string"}}}`)}
	cfg := web.Config{
		API: http.NotFoundHandler(),
		ListExecutions: func(context.Context, executions.Filter) (executions.Page, error) {
			return executions.Page{Items: []executions.Execution{ask}}, nil
		},
		GetExecution: func(_ context.Context, id string) (executions.Execution, error) {
			if id == ask.ID {
				return ask, nil
			}
			return executions.Execution{}, executions.ErrNotFound
		},
		ReadStream: func(context.Context, string) ([]eventstore.Recorded, error) { return nil, nil },
		ListInquiries: func(_ context.Context, f inquiries.Filter) (inquiries.Page, error) {
			var p inquiries.Page
			for _, id := range []string{"01ASK", "01JSON", "01DONE"} {
				if x := asks[id]; len(f.Status) == 0 || x.Status == f.Status[0] {
					p.Items = append(p.Items, x)
				}
			}
			return p, nil
		},
		GetInquiry: func(_ context.Context, id string) (inquiries.Inquiry, error) {
			if x, ok := asks[id]; ok {
				return x, nil
			}
			return inquiries.Inquiry{}, inquiries.ErrNotFound
		},
		RespondInquiry: func(_ context.Context, id string, p *auth.Principal, actor string, answer json.RawMessage) (httpapi.InquiryAnswer, error) {
			x := asks[id]
			if x.Status != inquiry.Pending {
				return httpapi.InquiryAnswer{}, &inquiry.ClosedError{ID: id, Status: x.Status}
			}
			if len(x.Roles) == 0 && (p == nil || !p.Role.Allows(auth.Operator)) {
				return httpapi.InquiryAnswer{}, fmt.Errorf("token %q: %w", actor, inquiry.ErrNotAllowed)
			}
			sch, err := answerschema.CompileAs(x.SchemaKind, x.Schema)
			if err != nil {
				return httpapi.InquiryAnswer{}, err
			}
			got, err := sch.Check(answer)
			if err != nil {
				return httpapi.InquiryAnswer{}, err
			}
			m.mu.Lock()
			m.answers = append(m.answers, id+" by "+actor+": "+string(got))
			m.mu.Unlock()
			return httpapi.InquiryAnswer{InquiryID: id, Status: inquiry.Responded, Responder: actor, Response: got}, nil
		},
		ListComponents: func(_ context.Context, f catalog.ComponentFilter) (catalog.ComponentPage, error) {
			if f.Kind != pack.KindRule {
				return catalog.ComponentPage{}, nil
			}
			return catalog.ComponentPage{Items: rules}, nil
		},
		GetComponent: func(_ context.Context, kind pack.Kind, ref string) (catalog.Component, error) {
			for _, c := range append(rules, action) {
				if c.Kind == kind && c.Ref == ref {
					return c, nil
				}
			}
			return catalog.Component{}, catalog.ErrNotFound
		},
		ListPacks: func(context.Context, catalog.PackFilter) (catalog.PackPage, error) {
			return catalog.PackPage{Items: []catalog.Pack{{Ref: "ops", Version: "1.2.0", Digest: "sha256:packdigest",
				Components: []pack.Component{{Kind: pack.KindAction, Ref: "ops.page"}}}}}, nil
		},
		GetPack: func(_ context.Context, ref string) (catalog.Pack, error) {
			if ref != "ops" {
				return catalog.Pack{}, catalog.ErrNotFound
			}
			return catalog.Pack{Ref: "ops", Version: "1.2.0", Digest: "sha256:packdigest", Components: []pack.Component{
				{Kind: pack.KindAction, Ref: "ops.page"}, {Kind: pack.KindRule, Ref: "ops.on_alert"}}}, nil
		},
		SetRuleEnabled: func(_ context.Context, ref string, enabled bool, actor string) error {
			m.mu.Lock()
			defer m.mu.Unlock()
			m.switches = append(m.switches, fmt.Sprintf("%s %v by %s", ref, enabled, actor))
			return nil
		},
		TestRule: func(_ context.Context, ref string, event json.RawMessage) (any, error) {
			var e struct {
				Payload struct {
					Severity string `json:"severity"`
				} `json:"payload"`
			}
			_ = json.Unmarshal(event, &e)
			ok := e.Payload.Severity == "high"
			return map[string]any{"rule": ref, "trigger": "ops.alert", "action": "ops.page", "enabled": true, "matched": ok,
				"checks": []map[string]any{{"path": "payload.severity", "ok": ok, "reason": fmt.Sprintf("%q equals \"high\": %v", e.Payload.Severity, ok)}}}, nil
		},
		ListWorkers: func(context.Context, workers.Filter) (workers.Page, error) {
			return workers.Page{Items: []workers.Worker{{ID: "01W", Name: "w-one", Host: "box", Runtimes: []string{"local", "python"}, MaxConcurrency: 4,
				Status: workers.Registered, Heartbeat: &workers.Heartbeat{LastSeen: time.Date(2026, 12, 1, 9, 30, 0, 0, time.UTC), Running: 3}}}}, nil
		},
		ListPolicies: func(context.Context, policies.Filter) (policies.Page, error) {
			return policies.Page{Items: []policies.View{
				{Policy: policies.Policy{Ref: "ops.one_at_a_time", Action: "ops.page", Type: "concurrency", Enabled: true},
					Counts: policies.Counts{Running: 1, Queued: 5, Delayed: 2}},
				{Policy: policies.Policy{Ref: "ops.idle", Action: "ops.page", Type: "concurrency", Enabled: true}}}}, nil
		},
		Ready: func(context.Context) (bool, map[string]string) {
			return false, map[string]string{"relay": "ok", "projection:executions": "behind the log by 12s (more than 10s) at 1/2"}
		},
		Classify: func(err error) *httpapi.Error {
			var (
				bad    *answerschema.FieldError
				closed *inquiry.ClosedError
			)
			switch {
			case errors.Is(err, inquiry.ErrNotAllowed):
				return &httpapi.Error{Status: http.StatusForbidden, Code: httpapi.CodeForbidden, Message: err.Error()}
			case errors.As(err, &bad):
				return &httpapi.Error{Status: http.StatusBadRequest, Code: httpapi.CodeInvalidAnswer, Field: bad.Field, Message: err.Error()}
			case errors.As(err, &closed):
				return &httpapi.Error{Status: http.StatusConflict, Code: httpapi.CodeInquiryClosed, Message: err.Error()}
			}
			return nil
		},
		Auth: httpapi.AuthenticatorFunc(func(_ context.Context, token string) (auth.Principal, error) {
			if p, ok := principals[token]; ok {
				return p, nil
			}
			return auth.Principal{}, fmt.Errorf("%w: unknown token", auth.ErrInvalidToken)
		}),
	}
	m.srv = httptest.NewServer(web.New(cfg))
	t.Cleanup(m.srv.Close)
	return m
}

func mustContain(t *testing.T, what, body string, wants ...string) {
	t.Helper()
	for _, w := range wants {
		if !strings.Contains(body, w) {
			t.Errorf("%s lacks %q:\n%s", what, w, body)
		}
	}
}

func mustLack(t *testing.T, what, body string, nots ...string) {
	t.Helper()
	for _, n := range nots {
		if strings.Contains(body, n) {
			t.Errorf("%s has %q, which it should not:\n%s", what, n, body)
		}
	}
}

func TestInquiryFormIsMadeFromItsSchema(t *testing.T) {
	t.Parallel()
	m := setupMore(t)
	resp, list := m.do(t, "GET", "/inquiries", "tok-operator", nil)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET /inquiries: %d", resp.StatusCode)
	}
	mustContain(t, "the pending list", list, `href="/inquiries/01ASK"`, `href="/inquiries/01JSON"`, `href="/inquiries"`)
	mustLack(t, "the pending list", list, `href="/inquiries/01DONE"`)

	_, page := m.do(t, "GET", "/inquiries/01ASK", "tok-operator", nil)
	mustContain(t, "the flat schema's form", page,
		`<input type="checkbox" id="a-approved" name="approved"`,
		`<input type="number" step="1" id="a-count" name="count"`,
		`<select id="a-env" name="env"`, `<option value="&#34;prod&#34;" >prod</option>`,
		`<input type="text" id="a-note" name="note"`, "how many")

	_, page = m.do(t, "GET", "/inquiries/01JSON", "tok-viewer", nil)
	mustContain(t, "a JSON Schema the form cannot spell out", page, `<textarea id="a-answer" name="answer"`)

	_, page = m.do(t, "GET", "/executions/01ASK", "tok-viewer", nil)
	mustContain(t, "the core.ask execution", page, `href="/inquiries/01ASK" id="inquiry-link"`)
}

func TestInquiryAnswerGoesThroughTheRespondUseCase(t *testing.T) {
	t.Parallel()
	m := setupMore(t)
	csrf := m.csrfOf(t, "/inquiries/01ASK", "tok-operator")
	good := url.Values{"approved": {"on"}, "count": {"3"}, "env": {`"prod"`}, "note": {"ship it"}}

	resp, _ := m.do(t, "POST", "/inquiries/01ASK/respond", "tok-operator", good)
	if resp.StatusCode != http.StatusForbidden || len(m.answered()) != 0 {
		t.Fatalf("an answer without the CSRF token: %d, answers %v; want 403 and none", resp.StatusCode, m.answered())
	}

	bad := url.Values{"csrf": {csrf}, "count": {"three"}, "env": {`"prod"`}}
	resp, page := m.do(t, "POST", "/inquiries/01ASK/respond", "tok-operator", bad)
	if resp.StatusCode != http.StatusBadRequest || len(m.answered()) != 0 {
		t.Fatalf("a bad answer: %d, answers %v; want 400 and none", resp.StatusCode, m.answered())
	}
	mustContain(t, "the refused answer's form", page, `<p class="error" id="e-count" role="alert">`, `aria-invalid="true" aria-describedby="e-count"`, `value="three"`)

	good.Set("csrf", csrf)
	resp, _ = m.do(t, "POST", "/inquiries/01ASK/respond", "tok-operator", good)
	if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/inquiries/01ASK?answered=1" {
		t.Fatalf("a good answer: %d to %q, want 303 back to the inquiry", resp.StatusCode, resp.Header.Get("Location"))
	}
	if got, want := m.answered(), []string{`01ASK by otto: {"approved":true,"count":3,"env":"prod","note":"ship it"}`}; fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("answers %q, want %q", got, want)
	}

	resp, page = m.do(t, "POST", "/inquiries/01DONE/respond", "tok-operator", good)
	if resp.StatusCode != http.StatusConflict {
		t.Fatalf("answering an answered inquiry: %d, want 409", resp.StatusCode)
	}
	mustContain(t, "the closed inquiry's page", page, `id="answer-error"`, "responded")

	resp, page = m.do(t, "POST", "/inquiries/01JSON/respond", "tok-viewer", url.Values{"csrf": {m.csrfOf(t, "/inquiries/01JSON", "tok-viewer")}, "answer": {`{"servers": [`}})
	if resp.StatusCode != http.StatusBadRequest {
		t.Fatalf("an answer that is not JSON: %d, want 400", resp.StatusCode)
	}
	mustContain(t, "the JSON answer's form", page, `id="e-answer"`, "not valid JSON")
}

func TestViewerSeesNoAnswerFormItMayNotUse(t *testing.T) {
	t.Parallel()
	m := setupMore(t)
	csrf := m.csrfOf(t, "/inquiries/01ASK", "tok-viewer")
	_, page := m.do(t, "GET", "/inquiries/01ASK", "tok-viewer", nil)
	mustLack(t, "the viewer's page of an operator's inquiry", page, `action="/inquiries/01ASK/respond"`)
	mustContain(t, "the viewer's page of an operator's inquiry", page, "may not answer")

	resp, page := m.do(t, "POST", "/inquiries/01ASK/respond", "tok-viewer", url.Values{"csrf": {csrf}, "approved": {"on"}, "env": {`"prod"`}})
	if resp.StatusCode != http.StatusForbidden || len(m.answered()) != 0 {
		t.Fatalf("a viewer's answer: %d, answers %v; want 403 and none", resp.StatusCode, m.answered())
	}
	mustContain(t, "the refusal", page, "not allowed to answer")
}

func TestRulesSwitchAndTestByRole(t *testing.T) {
	t.Parallel()
	m := setupMore(t)
	_, page := m.do(t, "GET", "/rules", "tok-viewer", nil)
	mustContain(t, "the viewer's rules", page, "ops.on_alert", "ops.on_quiet", "rules/on_alert.yaml")
	mustLack(t, "the viewer's rules", page, `action="/rules/ops.on_alert/disable"`, `action="/rules/ops.on_quiet/enable"`, `action="/rules/test"`)

	_, page = m.do(t, "GET", "/rules", "tok-operator", nil)
	mustContain(t, "the operator's rules", page, `action="/rules/ops.on_alert/disable"`, `action="/rules/ops.on_quiet/enable"`, `action="/rules/test"`)
	mustLack(t, "the operator's rules", page, `action="/rules/ops.on_alert/enable"`)

	csrf := m.csrfOf(t, "/rules", "tok-operator")
	resp, _ := m.do(t, "POST", "/rules/ops.on_alert/disable", "tok-operator", url.Values{})
	if resp.StatusCode != http.StatusForbidden || len(m.switched()) != 0 {
		t.Fatalf("a disable without the CSRF token: %d, switches %v", resp.StatusCode, m.switched())
	}
	resp, _ = m.do(t, "POST", "/rules/ops.on_alert/disable", "tok-viewer", url.Values{"csrf": {m.csrfOf(t, "/rules", "tok-viewer")}})
	if resp.StatusCode != http.StatusForbidden || len(m.switched()) != 0 {
		t.Fatalf("a viewer's disable: %d, switches %v", resp.StatusCode, m.switched())
	}
	resp, _ = m.do(t, "POST", "/rules/ops.on_alert/disable", "tok-operator", url.Values{"csrf": {csrf}})
	if resp.StatusCode != http.StatusSeeOther || fmt.Sprint(m.switched()) != "[ops.on_alert false by otto]" {
		t.Fatalf("an operator's disable: %d, switches %v", resp.StatusCode, m.switched())
	}
	_, page = m.do(t, "GET", resp.Header.Get("Location"), "tok-operator", nil)
	mustContain(t, "the page after a switch", page, "<strong>ops.on_alert</strong> disabled: recorded")

	resp, _ = m.do(t, "POST", "/rules/test", "tok-operator", url.Values{"rule": {"ops.on_alert"}, "event": {`{}`}})
	if resp.StatusCode != http.StatusForbidden {
		t.Fatalf("a rule test without the CSRF token: %d, want 403", resp.StatusCode)
	}
	resp, page = m.do(t, "POST", "/rules/test", "tok-operator", url.Values{"csrf": {csrf}, "rule": {"ops.on_alert"}, "event": {`{"payload": {"severity": "low"}}`}})
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("a rule test: %d", resp.StatusCode)
	}
	mustContain(t, "the rule test's report", page, `id="test-report"`, "does not match", "<code>payload.severity</code>", "✗ fails", `&#34;low&#34; equals &#34;high&#34;: false`)
	resp, page = m.do(t, "POST", "/rules/test", "tok-operator", url.Values{"csrf": {csrf}, "rule": {"ops.on_alert"}, "event": {`{"payload": `}})
	if resp.StatusCode != http.StatusBadRequest {
		t.Fatalf("a rule test of broken JSON: %d, want 400", resp.StatusCode)
	}
	mustContain(t, "the refused rule test", page, `id="test-error"`, "not valid JSON")
}

func TestPacksWorkersPoliciesAndTheOverview(t *testing.T) {
	t.Parallel()
	m := setupMore(t)
	for _, c := range []struct {
		path  string
		wants []string
	}{
		{"/packs", []string{`href="/packs/ops"`, "1.2.0", "sha256:packdigest", "1 actions"}},
		{"/packs/ops", []string{"ops.page", "page.sh", "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08", "rules/on_alert.yaml", "&#34;parameters&#34;"}},
		{"/workers", []string{"w-one", "local, python", "3 / 4", "2026-12-01 09:30:00Z"}},
		{"/policies", []string{"ops.one_at_a_time", "<td>5</td>", `status=delayed">2</a>`}},
		{"/", []string{`<strong id="held">7</strong>`, "ops.one_at_a_time <strong>5</strong> queued", "behind the log by 12s", "relay</span> caught up",
			`href="/inquiries"`, `href="/rules"`, `href="/packs"`, `href="/workers"`, `href="/policies"`}},
	} {
		resp, page := m.do(t, "GET", c.path, "tok-viewer", nil)
		if resp.StatusCode != http.StatusOK {
			t.Errorf("GET %s: %d", c.path, resp.StatusCode)
		}
		mustContain(t, c.path, page, c.wants...)
	}
	if resp, _ := m.do(t, "GET", "/packs/nope", "tok-viewer", nil); resp.StatusCode != http.StatusNotFound {
		t.Errorf("GET /packs/nope: %d, want 404", resp.StatusCode)
	}
	if resp, _ := m.do(t, "GET", "/workers", "", nil); resp.StatusCode != http.StatusSeeOther {
		t.Errorf("GET /workers without a session: %d, want 303 to the login", resp.StatusCode)
	}
}
