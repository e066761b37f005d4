package metrics

import (
	"context"
	"fmt"
	"maps"
	"slices"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/attune-go/attune/adapters/eventstore"
	"github.com/attune-go/attune/domain/execution"
)

// CheckpointOf returns the checkpoint function of one reader from a checkpoint store's load
// (checkpoint.Store.Load, readmodel.DB.Checkpoint), for Config.Readers.
func CheckpointOf(load func(ctx context.Context, name string) (eventstore.Position, error), name string) func(context.Context) (eventstore.Position, error) {
	return func(ctx context.Context) (eventstore.Position, error) { return load(ctx, name) }
}

// scrapeCollector computes the gauges that are queries, when Prometheus scrapes: nothing
// has to keep them up to date between scrapes.
type scrapeCollector struct {
	cfg                               Config
	lagEvents, lagSeconds, executions *prometheus.Desc
	stalled                           *prometheus.Desc
	oldest                            *prometheus.Desc
	queueDepth, policyRunning         *prometheus.Desc
}

func newScrapeCollector(cfg Config) *scrapeCollector {
	return &scrapeCollector{
		cfg: cfg,
		lagEvents: prometheus.NewDesc("attune_reader_lag_events",
			fmt.Sprintf("Events in the log after the reader's checkpoint, counted up to %d.", cfg.LagCap),
			[]string{"reader"}, nil),
		lagSeconds: prometheus.NewDesc("attune_reader_lag_seconds",
			"Age of the oldest event the reader has not applied yet; 0 when it is caught up.",
			[]string{"reader"}, nil),
		executions: prometheus.NewDesc("attune_executions",
			"Executions in the read model, by status.",
			[]string{"status"}, nil),
		stalled: prometheus.NewDesc("attune_projection_stalled",
			"1 while the projection is stopped at an event it cannot apply (the log names it), else 0.",
			[]string{"projection"}, nil),
		oldest: prometheus.NewDesc("attune_execution_oldest_age_seconds",
			"Age of the oldest execution in each status that is not terminal; 0 when none is.",
			[]string{"status"}, nil),
		queueDepth: prometheus.NewDesc("attune_policy_queue_depth",
			"Executions waiting in the policy's queue for a slot or a rate window (joined, not yet admitted or released), by live policy.",
			[]string{"policy"}, nil),
		policyRunning: prometheus.NewDesc("attune_policy_running",
			"Executions holding a slot of the policy, by live policy.",
			[]string{"policy"}, nil),
	}
}

func (c *scrapeCollector) Describe(ch chan<- *prometheus.Desc) {
	if len(c.cfg.Readers) > 0 {
		ch <- c.lagEvents
		ch <- c.lagSeconds
	}
	if c.cfg.ExecutionsByStatus != nil {
		ch <- c.executions
	}
	if c.cfg.Stalled != nil {
		ch <- c.stalled
	}
	if c.cfg.OldestByStatus != nil {
		ch <- c.oldest
	}
	if c.cfg.PolicyCounts != nil {
		ch <- c.queueDepth
		ch <- c.policyRunning
	}
}

func (c *scrapeCollector) Collect(ch chan<- prometheus.Metric) {
	// Collect has no context: the scrape's queries get their own deadline.
	ctx, cancel := context.WithTimeout(context.Background(), c.cfg.ScrapeTimeout)
	defer cancel()
	for _, name := range slices.Sorted(maps.Keys(c.cfg.Readers)) {
		c.collectLag(ctx, ch, name)
	}
	if c.cfg.ExecutionsByStatus != nil {
		c.collectExecutions(ctx, ch)
	}
	if c.cfg.Stalled != nil {
		for name, stalled := range c.cfg.Stalled() {
			v := 0.0
			if stalled {
				v = 1
			}
			ch <- prometheus.MustNewConstMetric(c.stalled, prometheus.GaugeValue, v, name)
		}
	}
	if c.cfg.OldestByStatus != nil {
		c.collectOldest(ctx, ch)
	}
	if c.cfg.PolicyCounts != nil {
		c.collectPolicies(ctx, ch)
	}
}

// collectPolicies exports each live policy's queue depth and running count.
func (c *scrapeCollector) collectPolicies(ctx context.Context, ch chan<- prometheus.Metric) {
	counts, err := c.cfg.PolicyCounts(ctx)
	if err != nil {
		ch <- prometheus.NewInvalidMetric(c.queueDepth, err)
		return
	}
	for _, ref := range slices.Sorted(maps.Keys(counts)) {
		n := counts[ref]
		ch <- prometheus.MustNewConstMetric(c.queueDepth, prometheus.GaugeValue, float64(n.Queued), ref)
		ch <- prometheus.MustNewConstMetric(c.policyRunning, prometheus.GaugeValue, float64(n.Running), ref)
	}
}

// collectOldest exports the age of the oldest execution of every non-terminal status: a
// status whose age keeps growing past its deadline (ARCHITECTURE.md) is one nothing moves on.
func (c *scrapeCollector) collectOldest(ctx context.Context, ch chan<- prometheus.Metric) {
	var waiting []execution.Status
	for _, st := range execution.Statuses {
		if !st.Terminal() {
			waiting = append(waiting, st)
		}
	}
	oldest, err := c.cfg.OldestByStatus(ctx, waiting...)
	if err != nil {
		ch <- prometheus.NewInvalidMetric(c.oldest, err)
		return
	}
	now := c.cfg.Now()
	for _, st := range waiting {
		age := 0.0
		if at, ok := oldest[st]; ok {
			age = max(0, now.Sub(at).Seconds())
		}
		ch <- prometheus.MustNewConstMetric(c.oldest, prometheus.GaugeValue, age, string(st))
	}
}

// collectLag reads at most LagCap events after the reader's checkpoint: their number is the
// lag in events, and the first one's age the lag in time — which, unlike the time since the
// last applied event, stays 0 while the log is quiet.
func (c *scrapeCollector) collectLag(ctx context.Context, ch chan<- prometheus.Metric, name string) {
	at, err := c.cfg.Readers[name](ctx)
	if err != nil {
		ch <- prometheus.NewInvalidMetric(c.lagEvents, fmt.Errorf("load checkpoint of %s: %w", name, err))
		return
	}
	behind, err := c.cfg.ReadAll(ctx, at, c.cfg.LagCap)
	if err != nil {
		ch <- prometheus.NewInvalidMetric(c.lagEvents, fmt.Errorf("read the log behind %s: %w", name, err))
		return
	}
	seconds := 0.0
	if len(behind) > 0 {
		seconds = max(0, c.cfg.Now().Sub(behind[0].RecordedAt).Seconds())
	}
	ch <- prometheus.MustNewConstMetric(c.lagEvents, prometheus.GaugeValue, float64(len(behind)), name)
	ch <- prometheus.MustNewConstMetric(c.lagSeconds, prometheus.GaugeValue, seconds, name)
}

func (c *scrapeCollector) collectExecutions(ctx context.Context, ch chan<- prometheus.Metric) {
	counts, err := c.cfg.ExecutionsByStatus(ctx)
	if err != nil {
		ch <- prometheus.NewInvalidMetric(c.executions, err)
		return
	}
	// Every status, 0 included, so a dashboard's series do not come and go.
	for _, st := range execution.Statuses {
		ch <- prometheus.MustNewConstMetric(c.executions, prometheus.GaugeValue, float64(counts[st]), string(st))
	}
	for st, n := range counts {
		if _, err := execution.ParseStatus(string(st)); err != nil {
			ch <- prometheus.MustNewConstMetric(c.executions, prometheus.GaugeValue, float64(n), string(st))
		}
	}
}
