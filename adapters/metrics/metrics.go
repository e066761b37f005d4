// Package metrics exposes Attune's Prometheus metrics: events appended by type (a decorator
// of the event store), handler latency and errors (a wrapper of bus handlers, installed with
// bus.Config.Instrument), how far each reader of the log (the relay, the projections) is
// behind, and executions by status — the last two computed when Prometheus scrapes.
//
// Every metric lives on the Metrics value's own registry, never on the global one, so two
// servers in one process (tests) do not share counters. Wiring, in a composition root:
//
//	m, err := metrics.New(metrics.Config{ReadAll: store.ReadAll, Readers: …, ExecutionsByStatus: rm.CountExecutionsByStatus})
//	store := m.Store(rawStore)                       // what every component appends through
//	b, err := bus.New(ctx, bus.Config{Instrument: m.Handler, …})
//	api := httpapi.New(httpapi.Config{Metrics: m.HTTPHandler(), …})
package metrics

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/attune-go/attune/adapters/eventstore"
	"github.com/attune-go/attune/domain/execution"
)

// Config says where the scrape-time gauges come from. Every source is optional: without
// one, its gauge is simply not exported.
type Config struct {
	Logger *slog.Logger
	// Readers gives, by persisted name, the checkpoint of each reader of the log whose lag
	// is exported (CheckpointOf builds one from a checkpoint store). Needs ReadAll.
	Readers map[string]func(ctx context.Context) (eventstore.Position, error)
	// ReadAll reads the log after a position (eventstore.Store.ReadAll): how lag is measured.
	ReadAll func(ctx context.Context, after eventstore.Position, limit int) ([]eventstore.Recorded, error)
	// ExecutionsByStatus counts the executions of the read model in each status
	// (readmodel.DB.CountExecutionsByStatus).
	ExecutionsByStatus func(ctx context.Context) (map[execution.Status]int64, error)
	// Stalled says, by projection name, whether each projection this process runs is stalled
	// at an event it cannot apply (projections.Runner.Stalled): attune_projection_stalled.
	Stalled func() map[string]bool
	// OldestByStatus returns, for each status given that some execution is in, when its
	// oldest execution was created (readmodel.DB.OldestByStatus): the age of the oldest
	// execution not yet ended, by status, is how a stuck one shows.
	OldestByStatus func(ctx context.Context, statuses ...execution.Status) (map[execution.Status]time.Time, error)
	// PolicyCounts returns every live policy's counts (readmodel.DB.CountPolicyMembers, adapted):
	// attune_policy_queue_depth and attune_policy_running. Nil leaves them out.
	PolicyCounts func(ctx context.Context) (map[string]PolicyCounts, error)
	// LagCap is the most events read behind one reader per scrape; a lag of LagCap means
	// "at least that many". Default 1000: one scrape reads at most that many rows per reader.
	LagCap int
	// ScrapeTimeout bounds the queries of one scrape; default 5s.
	ScrapeTimeout time.Duration
	// Now is the clock lag in seconds is measured with; default time.Now.
	Now func() time.Time
}

// Validate reports every problem with the configuration.
func (c Config) Validate() error {
	var errs []error
	if len(c.Readers) > 0 && c.ReadAll == nil {
		errs = append(errs, errors.New("readers given without ReadAll to measure their lag with"))
	}
	for name, f := range c.Readers {
		if f == nil {
			errs = append(errs, fmt.Errorf("reader %q: nil checkpoint function", name))
		}
	}
	if c.LagCap < 0 {
		errs = append(errs, fmt.Errorf("lag cap %d, want > 0 (0: default)", c.LagCap))
	}
	if c.ScrapeTimeout < 0 {
		errs = append(errs, fmt.Errorf("scrape timeout %s, want > 0 (0: default)", c.ScrapeTimeout))
	}
	return errors.Join(errs...)
}

// Metrics holds the registry and the instruments that components update.
type Metrics struct {
	cfg Config
	log *slog.Logger
	reg *prometheus.Registry

	appended  *prometheus.CounterVec
	conflicts prometheus.Counter
	duration  *prometheus.HistogramVec
	failures  *prometheus.CounterVec
	delivered *prometheus.CounterVec
}

// New makes the registry with every metric, the Go runtime's and the process's included.
func New(cfg Config) (*Metrics, error) {
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("metrics config: %w", err)
	}
	cfg.LagCap = cmp.Or(cfg.LagCap, 1000)
	cfg.ScrapeTimeout = cmp.Or(cfg.ScrapeTimeout, 5*time.Second)
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	m := &Metrics{
		cfg: cfg,
		log: cmp.Or(cfg.Logger, slog.Default()),
		reg: prometheus.NewRegistry(),
		appended: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "attune_events_appended_total",
			Help: "Events appended to the log by this process, by type.",
		}, []string{"type"}),
		conflicts: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "attune_event_append_conflicts_total",
			Help: "Appends refused because the stream was not at the expected version (a concurrent writer won).",
		}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "attune_handler_duration_seconds",
			Help:    "Time one attempt of a handler took on one event, by handler; failed attempts included.",
			Buckets: prometheus.DefBuckets,
		}, []string{"handler"}),
		failures: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "attune_handler_errors_total",
			Help: "Handler attempts that failed (returned an error or panicked), by handler; each retry counts.",
		}, []string{"handler"}),
		delivered: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "attune_bus_deliveries_total",
			Help: "Messages the bus handed to a handler, by handler; retries of one delivery count once, redeliveries again.",
		}, []string{"handler"}),
	}
	m.reg.MustRegister(
		m.appended, m.conflicts, m.duration, m.failures, m.delivered,
		newScrapeCollector(cfg),
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
	)
	return m, nil
}

// Registry is where other components may register their own collectors.
func (m *Metrics) Registry() *prometheus.Registry { return m.reg }

// HTTPHandler serves the metrics in the Prometheus text format (GET /metrics). A gauge whose
// source fails is left out of that scrape, and the failure logged; the rest is served.
func (m *Metrics) HTTPHandler() http.Handler {
	return promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{
		ErrorLog:      errorLog{m.log},
		ErrorHandling: promhttp.ContinueOnError,
		Registry:      m.reg, // counts its own errors in promhttp_metric_handler_errors_total
	})
}

// errorLog is promhttp's logger on slog.
type errorLog struct{ log *slog.Logger }

func (l errorLog) Println(v ...any) { l.log.Warn("metrics scrape: " + fmt.Sprint(v...)) }

// PolicyCounts are one policy's executions now, for the policy gauges.
type PolicyCounts struct {
	Running int64 // holding a slot
	Queued  int64 // waiting in its queue
}
