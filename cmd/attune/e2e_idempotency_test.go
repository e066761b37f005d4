package main

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/attune-go/attune/adapters/auth/clientconfig"
	"github.com/attune-go/attune/adapters/eventstore"
	"github.com/attune-go/attune/adapters/httpapi"
)

// idemAnswer is one answer of the API: its status and body.
type idemAnswer struct {
	status int
	body   map[string]any
}

// post sends a JSON body with an admin token and an Idempotency-Key (none when key is nil).
func (s *system) post(path string, key *string, body string) idemAnswer {
	s.t.Helper()
	req, err := http.NewRequest(http.MethodPost, s.url+path, strings.NewReader(body))
	if err != nil {
		s.t.Error(err)
		return idemAnswer{}
	}
	req.Header.Set("Authorization", "Bearer "+s.adminToken())
	req.Header.Set("Content-Type", "application/json")
	if key != nil {
		req.Header.Set("Idempotency-Key", *key)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		s.t.Error(err)
		return idemAnswer{}
	}
	defer resp.Body.Close()
	var a idemAnswer
	a.status = resp.StatusCode
	_ = json.NewDecoder(resp.Body).Decode(&a.body)
	return a
}

// adminToken is the token the first start wrote where the CLI reads it.
func (s *system) adminToken() string {
	file, err := clientconfig.Load(s.cliConfig)
	if err != nil {
		s.t.Error(err)
	}
	return file.Token
}

// barrier runs an execution without a key and waits for its end: once the projection has
// it, everything the log committed before it is visible, so counting the log afterwards
// proves an absence without waiting for time to pass.
func (s *system) barrier() []eventstore.Recorded {
	s.t.Helper()
	x, err := s.api.Run(context.Background(), "core.noop", nil)
	if err != nil {
		s.t.Fatalf("run the barrier: %v", err)
	}
	s.waitTerminal(x.ID)
	return s.logEvents()
}

func TestE2EARetriedRequestWithAnIdempotencyKeyRunsOnce(t *testing.T) {
	t.Parallel()
	marks := t.TempDir()
	counting := writePack(t, map[string]string{
		"pack.yaml": "ref: idem\nversion: 1.0.0\n",
		// Each run appends a line to the file it is given: the action's own record of running.
		"actions/mark.yaml": "name: mark\nrunner_type: python\nentry_point: mark.py\n" +
			"parameters:\n  file: {type: string, required: true}\n",
		"actions/mark.py":    "import json, sys\np = json.load(sys.stdin)\nopen(p['file'], 'a').write('ran\\n')\n",
		"triggers/hook.yaml": "name: hook\ntype: webhook\n",
	})
	sys := startSystem(t, "inprocess", []string{counting})
	ranTimes := func(file string) int {
		b, _ := os.ReadFile(file)
		return strings.Count(string(b), "ran\n")
	}
	requested := func(events []eventstore.Recorded, file string) int {
		return countTypes(events, func(e eventstore.Recorded) bool { return bytes.Contains(e.Data, []byte(file)) })["ExecutionRequested"]
	}
	run := func(file string) string { return `{"action":"idem.mark","parameters":{"file":"` + file + `"}}` }
	key := func(k string) *string { return &k }

	// Sequential retries: the same answer every time, one execution, one run.
	seq := filepath.Join(marks, "sequential")
	first := sys.post("/api/v1/executions", key("retry-1"), run(seq))
	if first.status != http.StatusCreated || first.body["id"] == nil || first.body["action"] != "idem.mark" {
		t.Fatalf("first request = %d %v, want 201 with the execution", first.status, first.body)
	}
	id, _ := first.body["id"].(string)
	sys.waitTerminal(id)
	for i := range 2 {
		again := sys.post("/api/v1/executions", key("retry-1"), run(seq))
		if again.status != first.status || again.body["id"] != id || again.body["action"] != "idem.mark" {
			t.Errorf("retry %d = %d %v; want %d with execution %s, as the first answer", i, again.status, again.body, first.status, id)
		}
	}

	// Concurrent first requests: ten clients, one key, one execution.
	conc := filepath.Join(marks, "concurrent")
	answers := make([]idemAnswer, 10)
	var wg sync.WaitGroup
	for i := range answers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			answers[i] = sys.post("/api/v1/executions", key("retry-2"), run(conc))
		}()
	}
	wg.Wait()
	concID, _ := answers[0].body["id"].(string)
	for i, a := range answers {
		if a.status != http.StatusCreated || a.body["id"] != concID || concID == "" {
			t.Errorf("concurrent request %d = %d %v; want 201 with the one execution %s", i, a.status, a.body["id"], concID)
		}
	}
	if concID != "" {
		sys.waitTerminal(concID)
	}

	// The same key with another body is refused; bad keys are refused before anything runs.
	if a := sys.post("/api/v1/executions", key("retry-1"), run(filepath.Join(marks, "other"))); a.status != http.StatusUnprocessableEntity || a.body["code"] != httpapi.CodeIdempotencyKeyReused {
		t.Errorf("same key, other body = %d %v; want 422 %s", a.status, a.body, httpapi.CodeIdempotencyKeyReused)
	}
	for name, bad := range map[string]string{"empty": "", "too long": strings.Repeat("k", 256), "non-ASCII": "clé"} {
		if a := sys.post("/api/v1/executions", key(bad), run(filepath.Join(marks, "bad"))); a.status != http.StatusBadRequest || a.body["field"] != "Idempotency-Key" {
			t.Errorf("%s key = %d %v; want 400 naming the Idempotency-Key", name, a.status, a.body)
		}
	}

	// A webhook retried with its key fires one event.
	hook1 := sys.post("/api/v1/webhooks/idem.hook", key("hook-1"), `{"n": 1}`)
	hook2 := sys.post("/api/v1/webhooks/idem.hook", key("hook-1"), `{"n": 1}`)
	if hook1.status != http.StatusAccepted || hook2.status != hook1.status || hook1.body["event_id"] == nil || hook2.body["event_id"] != hook1.body["event_id"] {
		t.Errorf("webhook twice with one key = %d %v, then %d %v; want 202 with the same event", hook1.status, hook1.body, hook2.status, hook2.body)
	}
	if a := sys.post("/api/v1/webhooks/idem.hook", key("hook-1"), `{"n": 2}`); a.status != http.StatusUnprocessableEntity || a.body["code"] != "idempotency_key_reused" {
		t.Errorf("webhook, same key, other body = %d %v; want 422 idempotency_key_reused", a.status, a.body)
	}

	events := sys.barrier()
	for file, want := range map[string]int{seq: 1, conc: 1, filepath.Join(marks, "other"): 0, filepath.Join(marks, "bad"): 0} {
		if n := requested(events, file); n != want {
			t.Errorf("%s: %d executions requested, want %d", filepath.Base(file), n, want)
		}
		if n := ranTimes(file); n != want {
			t.Errorf("%s: the action ran %d times, want %d", filepath.Base(file), n, want)
		}
	}
	fired := countTypes(events, func(e eventstore.Recorded) bool { return bytes.Contains(e.Data, []byte(`"idem.hook"`)) })["EventFired"]
	if fired != 1 {
		t.Errorf("the webhook fired %d events, want 1", fired)
	}
}
