package httpapi_test

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"

	"github.com/attune-go/attune/adapters/httpapi"
	"github.com/attune-go/attune/projections/executions"
)

// FuzzClientInput sends what a client controls to the routes that decode it: the body of
// POST /api/v1/executions, the query of GET /api/v1/executions, and the path and body of
// POST /api/v1/rules/{ref}/test. The use cases are stubs that accept whatever reaches them —
// except that the list stub refuses, as an unclassified error (a 500), a filter the read
// model would reject: the handler must have refused it first. So: never a 5xx, and every
// 4xx is {code, message}.
func FuzzClientInput(f *testing.F) {
	f.Add(`{"action": "core.echo", "parameters": {"message": "hi"}, "trace_tag": "t"}`, "status=running,failed&limit=10", "p.r", `{"level": "error"}`)
	f.Add(`{"action": ""}`, "limit=0", "p.r", ``)
	f.Add(`{"action": "core.echo", "nope": 1}`, "since=2026-11-23T09:00:00Z&until=2026-11-22T09:00:00Z", "p.r", `{} {}`)
	f.Add(`{"action": 7}`, "status=bogus", "", `[1`)
	f.Add(`{"action": "core.echo"} trailing`, "cursor=not-a-cursor&limit=abc", "a b", `"\xff"`)
	f.Add("{\"action\": \"\xff\xfe\"}", "action=%ff&trace_tag=%00", "x%2Fy", `{"a": "\u0000"}`)
	f.Add(`null`, "limit=99999999999999999999", "p.r", `null`)
	f.Add(strings.Repeat(`[`, 5000), "since=yesterday", "p.r", strings.Repeat(`{"a":`, 3000))

	cfg := httpapi.Config{
		Logger:  slog.New(slog.DiscardHandler),
		MaxBody: 4096,
		RunAction: func(context.Context, httpapi.RunRequest) (httpapi.Execution, error) {
			return httpapi.Execution{ID: "01JXAMPLE0000000000000000"}, nil
		},
		ListExecutions: func(_ context.Context, f executions.Filter) (executions.Page, error) {
			if err := f.Validate(); err != nil {
				return executions.Page{}, fmt.Errorf("the read model refuses the filter: %w", err)
			}
			return executions.Page{}, nil
		},
		TestRule: func(_ context.Context, ref string, event json.RawMessage) (any, error) {
			return map[string]any{"rule": ref, "event": event}, nil
		},
	}
	srv := httpapi.New(cfg)
	f.Fuzz(func(t *testing.T, runBody, query, ref, ruleBody string) {
		run := httptest.NewRequest(http.MethodPost, "/api/v1/executions", strings.NewReader(runBody))
		list := httptest.NewRequest(http.MethodGet, "/api/v1/executions", nil)
		list.URL.RawQuery = query
		test := httptest.NewRequest(http.MethodPost, "/api/v1/rules/p.r/test", strings.NewReader(ruleBody))
		test.URL.Path = "/api/v1/rules/" + ref + "/test"
		test.URL.RawPath = "/api/v1/rules/" + url.PathEscape(ref) + "/test"
		for _, req := range []*http.Request{run, list, test} {
			req.Header.Set("Content-Type", "application/json")
			rec := httptest.NewRecorder()
			srv.ServeHTTP(rec, req)
			what := req.Method + " " + req.URL.String()
			if rec.Code >= 500 {
				t.Fatalf("%s: status %d %s: a client's input must never be a server error", what, rec.Code, rec.Body)
			}
			if rec.Code >= 400 {
				var e struct{ Code, Message string }
				if err := json.Unmarshal(rec.Body.Bytes(), &e); err != nil || e.Code == "" || e.Message == "" {
					t.Fatalf("%s: status %d with body %q: want {code, message}", what, rec.Code, rec.Body)
				}
			}
		}
	})
}
