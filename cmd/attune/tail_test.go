package main

import (
	"context"
	"encoding/json"
	"errors"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/attune-go/attune/adapters/eventstore"
	"github.com/attune-go/attune/adapters/httpapi"
	"github.com/attune-go/attune/adapters/memstore"
	"github.com/attune-go/attune/domain/event"
	"github.com/attune-go/attune/domain/execution"
)

// tailServer serves the API's history, stream and log routes on an in-memory log.
func tailServer(t *testing.T) (*memstore.Store, string) {
	t.Helper()
	s := memstore.New(memstore.Config{})
	srv := httptest.NewServer(httpapi.New(httpapi.Config{
		ReadStream: s.ReadStream, Subscribe: s.Subscribe, Head: s.Head, ReadAll: s.ReadAll,
	}))
	t.Cleanup(srv.Close)
	return s, srv.URL
}

func appendTo(t *testing.T, s eventstore.Store, id string, events ...event.Event) {
	t.Helper()
	var ps []eventstore.Proposed
	for _, e := range events {
		p, err := eventstore.NewProposed(e, event.Metadata{Actor: "test", TraceTag: "tag-" + id})
		if err != nil {
			t.Fatal(err)
		}
		ps = append(ps, p)
	}
	if _, err := s.Append(context.Background(), execution.StreamID(id), eventstore.Any, ps...); err != nil {
		t.Fatal(err)
	}
}

func changed(id string, from, to execution.Status, reason string) event.Event {
	return execution.ExecutionStatusChanged{ExecutionID: id, From: from, To: to, Reason: reason}
}

// command is the CLI running in the background; its output grows meanwhile.
type command struct {
	out  *syncBuffer
	done chan struct{} // closed when run has returned err
	err  error
	stop context.CancelFunc
}

// background runs the CLI until it returns or the test ends.
func background(t *testing.T, args ...string) *command {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	c := &command{out: &syncBuffer{}, done: make(chan struct{}), stop: cancel}
	go func() {
		defer close(c.done)
		c.err = run(ctx, args, c.out, c.out)
	}()
	t.Cleanup(func() {
		cancel()
		<-c.done
	})
	return c
}

func waitOutput(t *testing.T, out *syncBuffer, want string) {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for !strings.Contains(out.String(), want) {
		if time.Now().After(deadline) {
			t.Fatalf("output lacks %q after 15s:\n%s", want, out.String())
		}
		time.Sleep(5 * time.Millisecond) // polling the command's output
	}
}

func (c *command) wait(t *testing.T) error {
	t.Helper()
	select {
	case <-c.done:
		return c.err
	case <-time.After(15 * time.Second):
		t.Fatalf("command still running 15s later; output:\n%s", c.out.String())
		return nil
	}
}

func TestExecutionTailFollowsTheExecutionUntilItEnds(t *testing.T) {
	t.Parallel()
	s, url := tailServer(t)
	appendTo(t, s, "x1",
		execution.ExecutionRequested{ExecutionID: "x1", Action: "core.local"},
		changed("x1", execution.Requested, execution.Scheduling, ""))

	cmd := background(t, "execution", "tail", "x1", "--events", "--url", url)
	out := cmd.out
	waitOutput(t, out, "#2  ExecutionStatusChanged") // the history is out: the stream is open
	appendTo(t, s, "other", execution.ExecutionRequested{ExecutionID: "other", Action: "core.noop"})
	appendTo(t, s, "x1", changed("x1", execution.Scheduling, execution.Scheduled, ""))
	appendTo(t, s, "x1", changed("x1", execution.Scheduled, execution.Running, ""), changed("x1", execution.Running, execution.Failed, "exit status 3"))

	err := cmd.wait(t)
	var exit *exitError
	if !errors.As(err, &exit) || exit.code != 1 || !strings.Contains(err.Error(), "execution x1 ended failed: exit status 3") {
		t.Fatalf("tail of a failed execution returned %v, want exit code 1 naming the status and reason", err)
	}
	var got []string
	for _, l := range strings.Split(strings.TrimSpace(out.String()), "\n") {
		f := strings.Fields(l)
		if len(f) < 3 {
			t.Fatalf("line %q: want time, version, type, data", l)
		}
		got = append(got, f[1]+" "+f[2])
	}
	want := "#1 ExecutionRequested\n#2 ExecutionStatusChanged\n#3 ExecutionStatusChanged\n#4 ExecutionStatusChanged\n#5 ExecutionStatusChanged"
	if strings.Join(got, "\n") != want {
		t.Fatalf("tail printed\n%s\nwant\n%s\n(output:\n%s)", strings.Join(got, "\n"), want, out.String())
	}
	if !strings.Contains(out.String(), `"to":"failed"`) {
		t.Errorf("output lacks the payload:\n%s", out.String())
	}
}

func TestExecutionTailOfAnEndedExecutionPrintsItsHistory(t *testing.T) {
	t.Parallel()
	s, url := tailServer(t)
	appendTo(t, s, "done",
		execution.ExecutionRequested{ExecutionID: "done", Action: "core.noop"},
		changed("done", execution.Requested, execution.Running, ""),
		changed("done", execution.Running, execution.Completed, ""))
	stdout, _, err := attune(t, "execution", "tail", "done", "--events", "--url", url, "--json")
	if err != nil {
		t.Fatalf("tail of a completed execution: %v", err)
	}
	lines := strings.Split(strings.TrimSpace(stdout), "\n")
	if len(lines) != 3 {
		t.Fatalf("--json printed %d lines, want one per event (3):\n%s", len(lines), stdout)
	}
	for i, l := range lines {
		var e httpapi.Envelope
		if err := json.Unmarshal([]byte(l), &e); err != nil || e.StreamVersion != int64(i+1) {
			t.Fatalf("line %d %q: %v, want the envelope of version %d", i, l, err, i+1)
		}
	}

	_, _, err = attune(t, "execution", "tail", "nosuch", "--events", "--url", url)
	if err == nil || !strings.Contains(err.Error(), `execution "nosuch" not found`) {
		t.Fatalf("tail of an unknown execution: %v, want not found", err)
	}
}

func TestEventsTailFollowsTheFilteredLog(t *testing.T) {
	t.Parallel()
	s, url := tailServer(t)
	appendTo(t, s, "old", changed("old", execution.Requested, execution.Running, ""))
	head, err := s.Head(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	// Starting after the head fixes the start, whenever the command gets to connect.
	cmd := background(t, "events", "tail", "--type", "ExecutionStatusChanged", "--trace-tag", "tag-b", "--after", head.String(), "--url", url, "--json")
	appendTo(t, s, "a", execution.ExecutionRequested{ExecutionID: "a"}, changed("a", execution.Requested, execution.Running, ""))
	appendTo(t, s, "b", execution.ExecutionRequested{ExecutionID: "b"}, changed("b", execution.Requested, execution.Running, ""))
	appendTo(t, s, "b", changed("b", execution.Running, execution.Completed, ""))
	out := cmd.out
	waitOutput(t, out, `"to":"completed"`)
	cmd.stop()
	if err := cmd.wait(t); err != nil {
		t.Fatalf("events tail stopped by the user returned %v, want nil", err)
	}
	var got []string
	for _, l := range strings.Split(strings.TrimSpace(out.String()), "\n") {
		var e httpapi.Envelope
		if err := json.Unmarshal([]byte(l), &e); err != nil {
			t.Fatalf("line %q: %v", l, err)
		}
		got = append(got, e.StreamID+" "+e.Type)
	}
	want := "execution-b ExecutionStatusChanged\nexecution-b ExecutionStatusChanged"
	if strings.Join(got, "\n") != want {
		t.Fatalf("events tail printed\n%s\nwant\n%s", strings.Join(got, "\n"), want)
	}
}
