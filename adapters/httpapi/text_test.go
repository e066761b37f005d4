package httpapi_test

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/attune-go/attune/adapters/httpapi"
	"github.com/attune-go/attune/projections/executions"
)

// Text a read model cannot hold is refused at the door with 400 and the field, before any use
// case runs: nothing reaches the log, and PostgreSQL never sees a NUL as a query argument.
func TestTheAPIRefusesTextAReadModelCannotHoldNamingTheField(t *testing.T) {
	t.Parallel()
	ran := 0
	api := httpapi.New(httpapi.Config{
		RunAction: func(context.Context, httpapi.RunRequest) (httpapi.Execution, error) {
			ran++
			return httpapi.Execution{ID: "x"}, nil
		},
		GetExecution: func(_ context.Context, id string) (executions.Execution, error) {
			return executions.Execution{}, executions.ErrNotFound
		},
		ListExecutions: func(context.Context, executions.Filter) (executions.Page, error) { return executions.Page{}, nil },
	})
	cases := []struct {
		name, method, target, body string
		code, field                string
	}{
		{"a NUL in a parameter", "POST", "/api/v1/executions", `{"action":"core.echo","parameters":{"msg":"a\u0000b"}}`, httpapi.CodeInvalidText, "/parameters/msg"},
		{"a NUL in a parameter's name", "POST", "/api/v1/executions", `{"action":"core.echo","parameters":{"m\u0000":1}}`, httpapi.CodeInvalidText, "/parameters"},
		{"invalid UTF-8 in a parameter", "POST", "/api/v1/executions", "{\"action\":\"core.echo\",\"parameters\":{\"msg\":\"\xff\"}}", httpapi.CodeInvalidText, "/parameters/msg"},
		{"invalid UTF-8 in the trace tag", "POST", "/api/v1/executions", "{\"action\":\"core.echo\",\"trace_tag\":\"\xc3\"}", httpapi.CodeInvalidText, "/trace_tag"},
		{"a 900 KB trace tag", "POST", "/api/v1/executions", `{"action":"core.echo","trace_tag":"` + strings.Repeat("t", 900_000) + `"}`, httpapi.CodeTooLong, "/trace_tag"},
		{"a NUL in a path id", "GET", "/api/v1/executions/ab%00cd", "", httpapi.CodeInvalidText, "path"},
		{"invalid UTF-8 in a path id", "GET", "/api/v1/executions/ab%FF", "", httpapi.CodeInvalidText, "path"},
		{"a NUL in a query filter", "GET", "/api/v1/executions?trace_tag=a%00", "", httpapi.CodeInvalidText, "trace_tag"},
	}
	for _, c := range cases {
		rec := httptest.NewRecorder()
		api.ServeHTTP(rec, httptest.NewRequest(c.method, c.target, strings.NewReader(c.body)))
		var got httpapi.Error
		_ = json.Unmarshal(rec.Body.Bytes(), &got)
		if rec.Code != http.StatusBadRequest || got.Code != c.code || got.Field != c.field {
			t.Errorf("%s: %d %.200s, want 400 %s at %q", c.name, rec.Code, rec.Body, c.code, c.field)
		}
	}
	if ran != 0 {
		t.Fatalf("the run use case ran %d times for refused requests", ran)
	}
	// A long trace tag within the limit and non-ASCII text are fine.
	rec := httptest.NewRecorder()
	api.ServeHTTP(rec, httptest.NewRequest("POST", "/api/v1/executions",
		strings.NewReader(`{"action":"core.echo","trace_tag":"`+strings.Repeat("é", 128)+`","parameters":{"msg":"d\u00e9j\u00e0 \ud83d\ude00"}}`)))
	if rec.Code != http.StatusCreated || ran != 1 {
		t.Fatalf("a valid request: %d %s, want 201", rec.Code, rec.Body)
	}
}
