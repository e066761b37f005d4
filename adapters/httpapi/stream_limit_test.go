package httpapi_test

import (
	"encoding/json"
	"net/http"
	"testing"
	"time"

	"github.com/attune-go/attune/adapters/httpapi"
)

// Live streams are capped per caller: past the cap a caller gets 429 with Retry-After, and a
// place frees when one of its streams closes.
func TestStreamsPastTheCallersCapAnswer429(t *testing.T) {
	t.Parallel()
	srv := feedServer(t, newMemStore(t), func(c *httpapi.Config) { c.MaxStreamsPerCaller = 2 })
	first := openStream(t, srv, "", nil)
	openStream(t, srv, "", nil)

	third := func() (*http.Response, httpapi.Error) {
		t.Helper()
		resp, err := srv.Client().Get(srv.URL + "/api/v1/stream")
		if err != nil {
			t.Fatal(err)
		}
		var e httpapi.Error
		if resp.StatusCode != http.StatusOK {
			_ = json.NewDecoder(resp.Body).Decode(&e)
		}
		resp.Body.Close()
		return resp, e
	}
	resp, e := third()
	if resp.StatusCode != http.StatusTooManyRequests || e.Code != httpapi.CodeTooManyStreams || resp.Header.Get("Retry-After") == "" {
		t.Fatalf("third stream: %d %q Retry-After %q, want 429 too_many_streams with Retry-After", resp.StatusCode, e.Code, resp.Header.Get("Retry-After"))
	}
	first.close()
	// The server frees the place when it notices the client left: poll until it has.
	deadline := time.Now().Add(waitLimit)
	for {
		resp, _ := third()
		if resp.StatusCode == http.StatusOK {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("after a stream closed a new one still answers %d", resp.StatusCode)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// limit=0 (or less) is refused, not served as "the default page".
func TestLimitZeroIsRefused(t *testing.T) {
	t.Parallel()
	srv := feedServer(t, newMemStore(t))
	for _, path := range []string{"/api/v1/log?limit=0", "/api/v1/log?limit=-1"} {
		resp, err := srv.Client().Get(srv.URL + path)
		if err != nil {
			t.Fatal(err)
		}
		var e httpapi.Error
		_ = json.NewDecoder(resp.Body).Decode(&e)
		resp.Body.Close()
		if resp.StatusCode != http.StatusBadRequest || e.Field != "limit" {
			t.Errorf("GET %s: %d field %q, want 400 on limit", path, resp.StatusCode, e.Field)
		}
	}
}
