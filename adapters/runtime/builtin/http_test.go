package builtin_test

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/attune-go/attune/adapters/runtime/builtin"
	"github.com/attune-go/attune/domain/execution"
)

// echoServer answers with what it received, as JSON, and with the status the path names.
func echoServer(t *testing.T) *httptest.Server {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		switch r.URL.Path {
		case "/broken":
			w.Header().Set("Content-Type", "text/plain")
			w.WriteHeader(http.StatusInternalServerError)
			_, _ = io.WriteString(w, "database on fire")
			return
		case "/text":
			w.Header().Set("Content-Type", "text/plain; charset=utf-8")
			_, _ = io.WriteString(w, `{"looks": "like json"}`)
			return
		case "/hang":
			<-r.Context().Done()
			return
		}
		w.Header().Set("Content-Type", "application/json")
		w.Header().Add("X-Seen", "a")
		w.Header().Add("X-Seen", "b")
		w.WriteHeader(http.StatusCreated)
		_ = json.NewEncoder(w).Encode(map[string]string{
			"method": r.Method, "token": r.Header.Get("X-Token"), "type": r.Header.Get("Content-Type"), "body": string(body),
		})
	}))
	t.Cleanup(srv.Close)
	return srv
}

func TestHTTPCompletesOn2xx(t *testing.T) {
	t.Parallel()
	srv := echoServer(t)
	o := setup(t, builtin.Config{}).Run(t.Context(), request("core.http",
		`{"url": "`+srv.URL+`/things", "method": "post", "headers": {"X-Token": "t1"}, "body": {"name": "x"}}`))
	if o.Status != execution.Completed {
		t.Fatalf("status %s, reason %q", o.Status, o.Reason)
	}
	res := decoded(t, o.Result).(map[string]any)
	if res["status_code"] != 201.0 || res["headers"].(map[string]any)["X-Seen"] != "a, b" {
		t.Errorf("result %v", res)
	}
	want := map[string]any{"method": "POST", "token": "t1", "type": "application/json", "body": `{"name": "x"}`}
	if !reflect.DeepEqual(res["body"], want) {
		t.Errorf("body %v, want the JSON decoded: %v", res["body"], want)
	}
}

func TestHTTPSendsAStringBodyAsIs(t *testing.T) {
	t.Parallel()
	srv := echoServer(t)
	o := setup(t, builtin.Config{}).Run(t.Context(), request("core.http", `{"url": "`+srv.URL+`", "method": "PUT", "body": "plain"}`))
	body := decoded(t, o.Result).(map[string]any)["body"].(map[string]any)
	if body["body"] != "plain" || body["type"] != "" || body["method"] != "PUT" {
		t.Errorf("server saw %v", body)
	}
}

func TestHTTPKeepsANonJSONBodyAsText(t *testing.T) {
	t.Parallel()
	srv := echoServer(t)
	o := setup(t, builtin.Config{}).Run(t.Context(), request("core.http", `{"url": "`+srv.URL+`/text"}`))
	if body := decoded(t, o.Result).(map[string]any)["body"]; body != `{"looks": "like json"}` {
		t.Errorf("body %#v, want the text", body)
	}
}

func TestHTTPFailsOnNon2xx(t *testing.T) {
	t.Parallel()
	srv := echoServer(t)
	o := setup(t, builtin.Config{}).Run(t.Context(), request("core.http", `{"url": "`+srv.URL+`/broken"}`))
	if o.Status != execution.Failed || o.Reason != "core.http: GET returned HTTP 500 Internal Server Error" {
		t.Errorf("status %s, reason %q", o.Status, o.Reason)
	}
	res := decoded(t, o.Result).(map[string]any)
	if res["status_code"] != 500.0 || res["body"] != "database on fire" {
		t.Errorf("result %v: want the response kept", res)
	}
}

func TestHTTPCapsTheBody(t *testing.T) {
	t.Parallel()
	srv := echoServer(t)
	o := setup(t, builtin.Config{MaxBodyBytes: 10}).Run(t.Context(), request("core.http", `{"url": "`+srv.URL+`"}`))
	body := decoded(t, o.Result).(map[string]any)["body"]
	if !o.Truncated || len(body.(string)) != 10 {
		t.Errorf("truncated %v, body %#v: want 10 bytes of text", o.Truncated, body)
	}
}

func TestHTTPFailsWithoutAResponse(t *testing.T) {
	t.Parallel()
	srv := httptest.NewServer(http.NotFoundHandler())
	srv.Close() // nothing listens there any more
	o := setup(t, builtin.Config{}).Run(t.Context(), request("core.http", `{"url": "`+srv.URL+`/x?token=SECRET"}`))
	if o.Status != execution.Failed || !strings.Contains(o.Reason, "GET request failed") || strings.Contains(o.Reason, "SECRET") {
		t.Errorf("status %s, reason %q: want failed, without the URL", o.Status, o.Reason)
	}
	for _, params := range []string{`{}`, `{"url": "ftp://x"}`, `{"url": "/relative"}`} {
		if o := setup(t, builtin.Config{}).Run(t.Context(), request("core.http", params)); o.Status != execution.Failed {
			t.Errorf("%s: status %s, want failed", params, o.Status)
		}
	}
}

func TestHTTPTimesOut(t *testing.T) {
	t.Parallel()
	srv := echoServer(t)
	req := request("core.http", `{"url": "`+srv.URL+`/hang"}`)
	req.Timeout = 100 * time.Millisecond
	o := setup(t, builtin.Config{}).Run(t.Context(), req)
	if o.Status != execution.Timeout || o.Reason != "timed out after 100ms" {
		t.Errorf("status %s, reason %q", o.Status, o.Reason)
	}
}
