package apiclient_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"

	"github.com/attune-go/attune/adapters/apiclient"
)

// flakyServer drops the connection of the first `drops` requests without an answer, as a
// server killed mid-request does, and answers the rest; it records each request's key.
func flakyServer(t *testing.T, drops int) (*apiclient.Client, func() []string) {
	t.Helper()
	var (
		mu   sync.Mutex
		keys []string
	)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		keys = append(keys, r.Header.Get("Idempotency-Key"))
		n := len(keys)
		mu.Unlock()
		if n <= drops {
			conn, _, err := w.(http.Hijacker).Hijack()
			if err == nil {
				_ = conn.Close()
			}
			return
		}
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusCreated)
		_, _ = w.Write([]byte(`{"id":"01EXECUTION","action":"core.noop","status":"requested"}`))
	}))
	t.Cleanup(srv.Close)
	c, err := apiclient.New(srv.URL, "")
	if err != nil {
		t.Fatal(err)
	}
	return c, func() []string { mu.Lock(); defer mu.Unlock(); return append([]string(nil), keys...) }
}

func TestRunRetriesALostConnectionWithTheSameKey(t *testing.T) {
	t.Parallel()
	c, keys := flakyServer(t, 2)
	x, err := c.Run(context.Background(), "core.noop", nil)
	if err != nil || x.ID != "01EXECUTION" {
		t.Fatalf("Run = %+v, %v; want the execution the third attempt answered", x, err)
	}
	got := keys()
	if len(got) != 3 || got[0] == "" || got[1] != got[0] || got[2] != got[0] {
		t.Errorf("keys sent = %q; want three attempts with one non-empty key", got)
	}

	if _, err := c.Run(context.Background(), "core.noop", nil); err != nil {
		t.Fatal(err)
	}
	if got := keys(); got[3] == got[0] {
		t.Errorf("a second Run reused the first one's key %q: every invocation is a new request", got[0])
	}
}

func TestARequestWithoutAKeyIsNeverRetried(t *testing.T) {
	t.Parallel()
	c, keys := flakyServer(t, 1)
	err := c.Do(context.Background(), http.MethodPost, "/api/v1/executions/01X/rerun", nil, nil)
	if err == nil {
		t.Fatal("Do on a dropped connection succeeded")
	}
	if got := keys(); len(got) != 1 {
		t.Errorf("%d attempts of a request without a key; want 1 (a retry could create twice)", len(got))
	}
}
