package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/attune-go/attune/adapters/httpapi"
	"github.com/attune-go/attune/domain/execution"
)

// lineClock records when each complete line written to it arrived.
type lineClock struct {
	mu      sync.Mutex
	partial bytes.Buffer
	lines   []string
	at      []time.Time
}

func (l *lineClock) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	now := time.Now()
	l.partial.Write(p)
	for {
		line, err := l.partial.ReadString('\n')
		if err != nil {
			l.partial.Reset()
			l.partial.WriteString(line)
			return len(p), nil
		}
		l.lines, l.at = append(l.lines, strings.TrimSuffix(line, "\n")), append(l.at, now)
	}
}

func (l *lineClock) arrival(line string) (time.Time, bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	for i, s := range l.lines {
		if s == line {
			return l.at[i], true
		}
	}
	return time.Time{}, false
}

func (l *lineClock) text() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return strings.Join(l.lines, "\n") + "\n" + l.partial.String()
}

// An action printing a line a second is seen line by line by `attune execution tail`, each
// line before the action ended; its secret parameter is masked in the chunks as in the final
// output; a stream resumed after a seq repeats nothing; the chunks go once the TTL passed.
func TestE2EExecutionTailShowsOutputLineByLine(t *testing.T) {
	t.Parallel()
	const token = "tok-9f8e7d6c5b4a"
	dir := writePack(t, map[string]string{
		"pack.yaml": "ref: live\nversion: 1.0.0\ndescription: live output\n",
		"actions/ticks.yaml": "name: ticks\nrunner_type: python\nentry_point: ticks.py\n" +
			"parameters:\n  token: {type: string, secret: true, required: true}\n",
		"actions/ticks.py": "import json, sys, time\np = json.load(sys.stdin)\n" +
			"print('token is ' + p['token'], flush=True)\n" +
			"print('on stderr: ' + p['token'], file=sys.stderr, flush=True)\n" +
			"for i in range(1, 5):\n    print('tick %d' % i, flush=True)\n    time.sleep(1)\n",
	})
	sys := startSystem(t, "inprocess", []string{dir}, "--output-ttl", "2s")
	ctx := context.Background()
	x, err := sys.api.Run(ctx, "live.ticks", map[string]json.RawMessage{"token": json.RawMessage(`"` + token + `"`)})
	if err != nil {
		t.Fatal(err)
	}

	var stdout, stderr lineClock
	if err := run(ctx, []string{"execution", "tail", x.ID, "--url", sys.url, "--config", sys.cliConfig}, &stdout, &stderr); err != nil {
		t.Fatalf("attune execution tail: %v\nstdout:\n%s\nstderr:\n%s", err, stdout.text(), stderr.text())
	}
	done, err := sys.api.Execution(ctx, x.ID)
	if err != nil || done.Status != execution.Completed || done.FinishedAt == nil {
		t.Fatalf("execution %s: %+v, %v; want completed", x.ID, done, err)
	}
	var prev time.Time
	for i := 1; i <= 4; i++ {
		at, ok := stdout.arrival(fmt.Sprintf("tick %d", i))
		if !ok {
			t.Fatalf("tail never printed tick %d; stdout:\n%s", i, stdout.text())
		}
		if !at.Before(*done.FinishedAt) {
			t.Errorf("tick %d arrived at %s, not before the action ended at %s", i, at.Format(time.RFC3339Nano), done.FinishedAt.Format(time.RFC3339Nano))
		}
		if i > 1 && at.Sub(prev) < 500*time.Millisecond {
			t.Errorf("tick %d arrived %s after tick %d: not line by line", i, at.Sub(prev), i-1)
		}
		prev = at
	}
	if _, ok := stdout.arrival("token is ********"); !ok || strings.Contains(stdout.text()+stderr.text(), token) {
		t.Errorf("the secret is not masked in the live output:\nstdout:\n%s\nstderr:\n%s", stdout.text(), stderr.text())
	}
	if _, ok := stderr.arrival("on stderr: ********"); !ok {
		t.Errorf("stderr did not go to stderr, masked:\n%s", stderr.text())
	}
	if _, ok := stderr.arrival(fmt.Sprintf("execution %s completed (exit code 0)", x.ID)); !ok {
		t.Errorf("tail did not end with the final status:\n%s", stderr.text())
	}

	// The JSON form has every chunk; their stdout is the final, masked output.
	page := outputPage(t, sys, x.ID, 0)
	var all strings.Builder
	for _, c := range page.Chunks {
		if c.Stream == "stdout" {
			all.WriteString(c.Data)
		}
	}
	if !page.Done || all.String() != done.Stdout || len(page.Chunks) < 3 {
		t.Fatalf("JSON form: done %v, %d chunks, stdout %q; want done, the final stdout %q in several chunks", page.Done, len(page.Chunks), all.String(), done.Stdout)
	}
	// Resumed after the second chunk (Last-Event-ID), the stream sends each later chunk once.
	after := page.Chunks[1].Seq
	var seqs []int64
	var ended httpapi.OutputEnd
	err = sys.api.FollowOutput(ctx, x.ID, after, func(c httpapi.OutputChunk) error {
		seqs = append(seqs, c.Seq)
		return nil
	}, func(e httpapi.OutputEnd) error { ended = e; return nil })
	if err != nil {
		t.Fatal(err)
	}
	var want []int64
	for _, c := range page.Chunks[2:] {
		want = append(want, c.Seq)
	}
	if fmt.Sprint(seqs) != fmt.Sprint(want) || ended.Status != execution.Completed {
		t.Fatalf("resumed after %d: seqs %v, end %+v; want %v then completed", after, seqs, ended, want)
	}
	raw := sseAfter(t, sys, x.ID, after, sys.tokenFor("viewer")) // a viewer may read it
	if n := strings.Count(raw, "event: output\n"); n != len(want) || !strings.HasSuffix(raw, "\n\n") || !strings.Contains(raw, "event: end\n") {
		t.Fatalf("raw SSE resumed with Last-Event-ID %d: %d output events, want %d:\n%s", after, n, len(want), raw)
	}

	// Past the TTL the sweep empties the table of this execution's chunks.
	sys.eventually(30*time.Second, "the sweep to delete the chunks", func() bool {
		return len(outputPage(t, sys, x.ID, 0).Chunks) == 0
	})
}

func outputPage(t *testing.T, sys *system, id string, after int64) httpapi.OutputPage {
	t.Helper()
	page, err := sys.api.Output(context.Background(), id, after)
	if err != nil {
		t.Fatal(err)
	}
	return page
}

// sseAfter reads the raw event stream resumed with Last-Event-ID after, to its end.
func sseAfter(t *testing.T, sys *system, id string, after int64, token string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, sys.url+"/api/v1/executions/"+id+"/output", nil)
	req.Header.Set("Accept", "text/event-stream")
	req.Header.Set("Last-Event-ID", fmt.Sprint(after))
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var b bytes.Buffer
	if _, err := b.ReadFrom(resp.Body); err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != http.StatusOK || resp.Header.Get("Content-Type") != "text/event-stream" {
		t.Fatalf("GET output as SSE: %d %s\n%s", resp.StatusCode, resp.Header.Get("Content-Type"), b.String())
	}
	return b.String()
}
