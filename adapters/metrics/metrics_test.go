package metrics_test

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/attune-go/attune/adapters/bus"
	"github.com/attune-go/attune/adapters/eventstore"
	"github.com/attune-go/attune/adapters/httpapi"
	"github.com/attune-go/attune/adapters/memstore"
	"github.com/attune-go/attune/adapters/metrics"
	"github.com/attune-go/attune/domain/event"
	"github.com/attune-go/attune/domain/execution"
)

func newMetrics(t *testing.T, cfg metrics.Config) *metrics.Metrics {
	t.Helper()
	cfg.Logger = slog.New(slog.DiscardHandler)
	m, err := metrics.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// scrape fetches GET /metrics from the API serving m, as Prometheus would.
func scrape(t *testing.T, m *metrics.Metrics) string {
	t.Helper()
	srv := httptest.NewServer(httpapi.New(httpapi.Config{Metrics: m.HTTPHandler()}))
	defer srv.Close()
	resp, err := srv.Client().Get(srv.URL + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != http.StatusOK || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/plain") {
		t.Fatalf("GET /metrics: %d %s\n%s", resp.StatusCode, resp.Header.Get("Content-Type"), body)
	}
	return string(body)
}

// wantLines checks that each sample line is in the scrape, exactly.
func wantLines(t *testing.T, body string, lines ...string) {
	t.Helper()
	have := map[string]bool{}
	for _, l := range strings.Split(body, "\n") {
		have[l] = true
	}
	for _, l := range lines {
		if !have[l] {
			t.Errorf("scrape lacks %q", l)
		}
	}
	if t.Failed() {
		t.Logf("scrape:\n%s", grep(body, "attune_"))
	}
}

func grep(body, prefix string) string {
	var out []string
	for _, l := range strings.Split(body, "\n") {
		if strings.HasPrefix(l, prefix) {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}

func proposed(t *testing.T, e event.Event) eventstore.Proposed {
	t.Helper()
	p, err := eventstore.NewProposed(e, event.Metadata{Actor: "test"})
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func requested(id string) event.Event {
	return execution.ExecutionRequested{ExecutionID: id, Action: "core.echo"}
}

func running(id string) event.Event {
	return execution.ExecutionStatusChanged{ExecutionID: id, From: execution.Scheduled, To: execution.Running}
}

func TestStoreCountsAppendedEventsByType(t *testing.T) {
	t.Parallel()
	m := newMetrics(t, metrics.Config{})
	s := m.Store(memstore.New(memstore.Config{}))
	ctx := context.Background()

	if _, err := s.Append(ctx, "execution-a", eventstore.NoStream, proposed(t, requested("a")), proposed(t, running("a"))); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Append(ctx, "execution-b", eventstore.NoStream, proposed(t, requested("b"))); err != nil {
		t.Fatal(err)
	}
	// Refused: counts as a conflict, not as appended events.
	_, err := s.Append(ctx, "execution-b", eventstore.NoStream, proposed(t, requested("b")))
	var conflict *eventstore.VersionConflictError
	if !errors.As(err, &conflict) {
		t.Fatalf("second append to a new stream: %v, want a version conflict", err)
	}
	if all, err := s.ReadAll(ctx, eventstore.Start, 10); err != nil || len(all) != 3 {
		t.Fatalf("reads through the wrapped store: %d events, %v; want 3", len(all), err)
	}

	body := scrape(t, m)
	wantLines(t, body,
		`attune_events_appended_total{type="ExecutionRequested"} 2`,
		`attune_events_appended_total{type="ExecutionStatusChanged"} 1`,
		`attune_event_append_conflicts_total 1`,
	)
	if !strings.Contains(body, "go_goroutines ") || !strings.Contains(body, "process_") {
		t.Error("scrape lacks the Go runtime and process metrics")
	}
}

func TestStoreCountsAMultiStreamAppendEntryByEntry(t *testing.T) {
	t.Parallel()
	m := newMetrics(t, metrics.Config{})
	s := m.Store(memstore.New(memstore.Config{}))
	ctx := context.Background()
	if _, err := s.Append(ctx, "execution-b", eventstore.NoStream, proposed(t, requested("b"))); err != nil {
		t.Fatal(err)
	}
	results, err := s.AppendMany(ctx, []eventstore.StreamAppend{
		{Stream: "execution-a", Expected: eventstore.NoStream, Events: []eventstore.Proposed{proposed(t, requested("a")), proposed(t, running("a"))}},
		{Stream: "execution-b", Expected: eventstore.NoStream, Events: []eventstore.Proposed{proposed(t, requested("b"))}},
	})
	if err != nil || results[0].Err == nil && results[1].Err == nil {
		t.Fatalf("append many: %v, %+v; want the second entry refused", err, results)
	}
	wantLines(t, scrape(t, m),
		`attune_events_appended_total{type="ExecutionRequested"} 2`,
		`attune_events_appended_total{type="ExecutionStatusChanged"} 1`,
		`attune_event_append_conflicts_total 1`,
	)
}

// Handler metrics come through bus.Config.Instrument: every attempt is timed, every failed
// one counted, retries included. Deliveries (bus.Config.Deliveries) count the message once.
func TestHandlerRunsAreTimedAndFailuresCounted(t *testing.T) {
	t.Parallel()
	m := newMetrics(t, metrics.Config{})
	ctx := context.Background()
	b, err := bus.New(ctx, bus.Config{
		Logger:     slog.New(slog.DiscardHandler),
		Instrument: m.Handler,
		Deliveries: m.Delivered,
		Retry:      bus.Retry{MaxRetries: 3, InitialInterval: time.Millisecond, MaxInterval: time.Millisecond},
	})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	r := b.NewRouter()
	var attempts atomic.Int32
	r.AddHandler("test.flaky", "ExecutionRequested", func(ctx context.Context, e eventstore.Recorded) error {
		if attempts.Add(1) == 1 {
			return errors.New("not this time")
		}
		return nil
	})
	r.AddHandler("test.idle", "ExecutionStatusChanged", func(context.Context, eventstore.Recorded) error { return nil })
	if err := r.Start(ctx); err != nil {
		t.Fatal(err)
	}
	defer r.Close()

	s := memstore.New(memstore.Config{})
	if _, err := s.Append(ctx, "execution-a", eventstore.NoStream, proposed(t, requested("a"))); err != nil {
		t.Fatal(err)
	}
	events, err := s.ReadAll(ctx, eventstore.Start, 1)
	if err != nil {
		t.Fatal(err)
	}
	// In process, Publish returns once every handler has acknowledged the event.
	if err := b.Publish(ctx, events...); err != nil {
		t.Fatal(err)
	}
	if n := attempts.Load(); n != 2 {
		t.Fatalf("handler ran %d times, want 2 (a failure, then the retry)", n)
	}
	wantLines(t, scrape(t, m),
		`attune_handler_duration_seconds_count{handler="test.flaky"} 2`,
		`attune_handler_errors_total{handler="test.flaky"} 1`,
		`attune_bus_deliveries_total{handler="test.flaky"} 1`,
		// Registered but never run: its series are there, at zero.
		`attune_handler_duration_seconds_count{handler="test.idle"} 0`,
		`attune_handler_errors_total{handler="test.idle"} 0`,
		`attune_bus_deliveries_total{handler="test.idle"} 0`,
	)
}

func TestHandlerPanicCountsAsAFailureAndStillPanics(t *testing.T) {
	t.Parallel()
	m := newMetrics(t, metrics.Config{})
	h := m.Handler("test.panicky", func(context.Context, eventstore.Recorded) error { panic("boom") })
	func() {
		defer func() {
			if p := recover(); p != "boom" {
				t.Errorf("recovered %v, want the handler's own panic", p)
			}
		}()
		_ = h(context.Background(), eventstore.Recorded{})
	}()
	wantLines(t, scrape(t, m),
		`attune_handler_errors_total{handler="test.panicky"} 1`,
		`attune_handler_duration_seconds_count{handler="test.panicky"} 1`,
	)
}

func TestGaugesAreComputedAtScrapeTime(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	t0 := time.Date(2026, 5, 1, 9, 0, 0, 0, time.UTC)
	var tick atomic.Int64
	// Event n is recorded at t0 + n seconds.
	s := memstore.New(memstore.Config{Now: func() time.Time { return t0.Add(time.Duration(tick.Add(1)) * time.Second) }})
	for _, id := range []string{"a", "b", "c", "d", "e"} {
		if _, err := s.Append(ctx, "execution-"+id, eventstore.NoStream, proposed(t, requested(id))); err != nil {
			t.Fatal(err)
		}
	}
	all, err := s.ReadAll(ctx, eventstore.Start, 10)
	if err != nil {
		t.Fatal(err)
	}
	at := func(p eventstore.Position) func(context.Context) (eventstore.Position, error) {
		return func(context.Context) (eventstore.Position, error) { return p, nil }
	}
	counts := map[execution.Status]int64{execution.Running: 2, execution.Completed: 5}
	m := newMetrics(t, metrics.Config{
		ReadAll: s.ReadAll,
		Readers: map[string]func(context.Context) (eventstore.Position, error){
			"relay":      at(all[1].Position), // applied 2 of 5: the oldest it lacks is event 3, at t0+3s
			"executions": at(all[4].Position), // caught up
			"slow":       metrics.CheckpointOf(func(context.Context, string) (eventstore.Position, error) { return eventstore.Start, nil }, "slow"),
		},
		LagCap:             4,
		Now:                func() time.Time { return t0.Add(100 * time.Second) },
		ExecutionsByStatus: func(context.Context) (map[execution.Status]int64, error) { return counts, nil },
		OldestByStatus: func(_ context.Context, statuses ...execution.Status) (map[execution.Status]time.Time, error) {
			if slices.Contains(statuses, execution.Completed) {
				return nil, errors.New("asked for a terminal status")
			}
			return map[execution.Status]time.Time{execution.Scheduled: t0.Add(40 * time.Second), execution.Running: t0}, nil
		},
		PolicyCounts: func(context.Context) (map[string]metrics.PolicyCounts, error) {
			return map[string]metrics.PolicyCounts{"examples.one_at_a_time": {Running: 1, Queued: 3}, "examples.again": {}}, nil
		},
	})
	wantLines(t, scrape(t, m),
		`attune_reader_lag_events{reader="relay"} 3`,
		`attune_reader_lag_seconds{reader="relay"} 97`,
		`attune_reader_lag_events{reader="executions"} 0`,
		`attune_reader_lag_seconds{reader="executions"} 0`,
		`attune_reader_lag_events{reader="slow"} 4`, // capped
		`attune_reader_lag_seconds{reader="slow"} 99`,
		`attune_executions{status="running"} 2`,
		`attune_executions{status="completed"} 5`,
		`attune_executions{status="failed"} 0`,
		`attune_execution_oldest_age_seconds{status="running"} 100`,
		`attune_execution_oldest_age_seconds{status="scheduled"} 60`,
		`attune_execution_oldest_age_seconds{status="requested"} 0`,
		`attune_policy_queue_depth{policy="examples.one_at_a_time"} 3`,
		`attune_policy_running{policy="examples.one_at_a_time"} 1`,
		`attune_policy_queue_depth{policy="examples.again"} 0`,
		`attune_policy_running{policy="examples.again"} 0`,
	)

	// Computed anew at each scrape.
	counts = map[execution.Status]int64{execution.Completed: 7}
	wantLines(t, scrape(t, m), `attune_executions{status="completed"} 7`, `attune_executions{status="running"} 0`)
}

// A source that fails leaves its gauge out of that scrape; the rest is still served.
func TestFailingSourceLeavesTheRestServed(t *testing.T) {
	t.Parallel()
	m := newMetrics(t, metrics.Config{
		ExecutionsByStatus: func(context.Context) (map[execution.Status]int64, error) {
			return nil, errors.New("read model down")
		},
	})
	s := m.Store(memstore.New(memstore.Config{}))
	if _, err := s.Append(context.Background(), "execution-a", eventstore.NoStream, proposed(t, requested("a"))); err != nil {
		t.Fatal(err)
	}
	body := scrape(t, m)
	wantLines(t, body, `attune_events_appended_total{type="ExecutionRequested"} 1`)
	if strings.Contains(body, "attune_executions{") {
		t.Errorf("scrape has executions gauges although their source failed:\n%s", grep(body, "attune_executions"))
	}
}

func TestConfigRejectsReadersWithoutReadAll(t *testing.T) {
	t.Parallel()
	_, err := metrics.New(metrics.Config{
		Readers: map[string]func(context.Context) (eventstore.Position, error){"relay": nil},
		LagCap:  -1,
	})
	if err == nil {
		t.Fatal("config with readers, no ReadAll, a nil reader and a negative cap accepted")
	}
	for _, want := range []string{"ReadAll", `reader "relay"`, "lag cap -1"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not mention %q", err, want)
		}
	}
}

func TestAStalledProjectionShowsAsOneUntilItResumes(t *testing.T) {
	t.Parallel()
	var stalled atomic.Bool
	stalled.Store(true)
	m := newMetrics(t, metrics.Config{Stalled: func() map[string]bool {
		return map[string]bool{"projection:events": stalled.Load(), "projection:executions": false}
	}})
	wantLines(t, scrape(t, m), `attune_projection_stalled{projection="projection:events"} 1`, `attune_projection_stalled{projection="projection:executions"} 0`)
	stalled.Store(false)
	wantLines(t, scrape(t, m), `attune_projection_stalled{projection="projection:events"} 0`)
}
