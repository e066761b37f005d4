package loadbench

import (
	"cmp"
	"context"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/attune-go/attune/adapters/postgres/pgtest"
	"github.com/attune-go/attune/cmd/attune/internal/benchlog"
	"github.com/attune-go/attune/cmd/attune/internal/measure"
)

// scale is what a run offers.
type scale struct {
	rates     []float64
	duration  time.Duration
	logs      []int // events already in the log; one server per size
	transport string
	audit     bool // `attune audit verify` after the load (minutes on a million events)
	// strict fails the test unless every request was accepted and completed and the CPU
	// figures were measured: the smoke scale proves the harness works (never a speed).
	strict bool
}

// scaleFromEnv reads ATTUNE_LOADBENCH (full: the numbers; otherwise the smoke
// scale) and the overrides documented in doc.go.
func scaleFromEnv(t *testing.T) scale {
	sc := scale{rates: []float64{20}, duration: 3 * time.Second, logs: []int{3000}, transport: "inprocess", audit: true, strict: true}
	if os.Getenv("ATTUNE_LOADBENCH") == "full" {
		sc = scale{rates: []float64{50, 100, 200, 400, 800}, duration: 20 * time.Second, logs: []int{0, 1_000_000}, transport: "inprocess"}
	}
	if v := os.Getenv("ATTUNE_LOADBENCH_RATES"); v != "" {
		sc.rates = nil
		for _, f := range strings.Split(v, ",") {
			r, err := strconv.ParseFloat(strings.TrimSpace(f), 64)
			if err != nil || r <= 0 {
				t.Fatalf("ATTUNE_LOADBENCH_RATES=%q: want positive numbers separated by commas", v)
			}
			sc.rates = append(sc.rates, r)
		}
	}
	if v := os.Getenv("ATTUNE_LOADBENCH_DURATION"); v != "" {
		d, err := time.ParseDuration(v)
		if err != nil || d <= 0 {
			t.Fatalf("ATTUNE_LOADBENCH_DURATION=%q: want a duration such as 20s", v)
		}
		sc.duration = d
	}
	if v := os.Getenv("ATTUNE_LOADBENCH_LOG_EVENTS"); v != "" {
		sc.logs = nil
		for _, f := range strings.Split(v, ",") {
			n, err := strconv.Atoi(strings.TrimSpace(f))
			if err != nil || n < 0 {
				t.Fatalf("ATTUNE_LOADBENCH_LOG_EVENTS=%q: want numbers of events separated by commas", v)
			}
			sc.logs = append(sc.logs, n)
		}
	}
	if v := os.Getenv("ATTUNE_LOADBENCH_TRANSPORT"); v != "" {
		if v != "inprocess" && v != "rabbitmq" {
			t.Fatalf("ATTUNE_LOADBENCH_TRANSPORT=%q: want inprocess or rabbitmq", v)
		}
		sc.transport = v
	}
	if v := os.Getenv("ATTUNE_LOADBENCH_AUDIT"); v != "" {
		sc.audit = v == "1"
	}
	return sc
}

// step is one rate's outcome.
type step struct {
	rate          float64
	offered       offered
	finished      int // of the accepted, those that ended before the drain deadline
	completed     int // of those, completed
	notCompleted  map[string]int
	completedRate float64
	p50, p99      time.Duration
	serveCPU      time.Duration
	pgCPU         time.Duration
}

// Sustained: see the package doc.
func (s step) sustained() bool {
	accepted := len(s.offered.ids)
	return s.offered.failed == 0 && s.offered.skipped == 0 && accepted > 0 && s.completed == accepted &&
		s.completedRate >= 0.95*s.rate && s.p99 < time.Second
}

// TestLoad is the steady-load benchmark: smoke scale in the normal run, the scale
// with ATTUNE_LOADBENCH=full (see doc.go).
func TestLoad(t *testing.T) {
	sc := scaleFromEnv(t)
	bin := buildAttune(t, t.TempDir())
	ctx := context.Background()
	var report strings.Builder
	fmt.Fprintf(&report, "## Steady load through `attune serve` (%s bus, core.noop, %s per rate)\n\n", sc.transport, sc.duration)
	for _, events := range sc.logs {
		t.Run(fmt.Sprintf("events=%d", events), func(t *testing.T) {
			steps, highest, l := loadOneLog(ctx, t, bin, sc, events)
			writeTable(&report, l, steps, highest)
		})
	}
	t.Logf("\n%s", report.String())
	dir := cmp.Or(os.Getenv("ATTUNE_BENCH_REPORT_DIR"), t.TempDir())
	if err := os.WriteFile(filepath.Join(dir, "loadbench.md"), []byte(report.String()), 0o644); err != nil {
		t.Error(err)
	}
}

// loadOneLog starts a server on a clone of the events-event template and steps through the
// rates until one is not sustained.
func loadOneLog(ctx context.Context, t *testing.T, bin string, sc scale, events int) ([]step, float64, *benchlog.Log) {
	l, err := benchlog.Clone(ctx, pgtest.URL(), events, t.Logf)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := l.Drop(context.Background(), pgtest.URL()); err != nil {
			t.Error(err)
		}
	})
	probe, err := measure.Connect(ctx, l.URL, benchlog.Schema, "attune-loadbench-probe", 2, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(probe.Close)
	srv := startServe(t, bin, l.URL, benchlog.Schema, sc.transport)
	client := newClient()
	// Warm up (not measured): the first requests pay for connections, caches and plans.
	warm := offer(ctx, client, srv.url, srv.token, 20, time.Second)
	if _, err := measure.WaitFinished(ctx, probe, warm.ids, time.Now().Add(time.Minute)); err != nil || warm.failed > 0 {
		t.Fatalf("warm-up: %d of %d requests failed (%s), %v", warm.failed, warm.sent, warm.firstErr, err)
	}
	var (
		steps   []step
		highest float64
	)
	for _, rate := range sc.rates {
		s := runStep(ctx, t, srv, probe, client, rate, sc.duration)
		steps = append(steps, s)
		t.Logf("events=%d rate=%g/s: sent %d, accepted %d, completed %d, %.1f completed/s, p50 %s, p99 %s, serve %.2f ms CPU/exec, PostgreSQL %.2f ms CPU/exec, sustained %v",
			events, rate, s.offered.sent, len(s.offered.ids), s.completed, s.completedRate, s.p50, s.p99,
			perExec(s.serveCPU, s.completed), perExec(s.pgCPU, s.completed), s.sustained())
		if sc.strict {
			if s.offered.failed > 0 || s.offered.skipped > 0 || s.completed != len(s.offered.ids) || s.completed == 0 {
				t.Errorf("rate %g/s: %d sent, %d failed (%s), %d skipped, %d accepted, %d completed (others: %v)", rate, s.offered.sent,
					s.offered.failed, s.offered.firstErr, s.offered.skipped, len(s.offered.ids), s.completed, s.notCompleted)
			}
			if s.serveCPU <= 0 || s.pgCPU <= 0 {
				t.Errorf("rate %g/s: CPU not measured: serve %s, PostgreSQL backends %s", rate, s.serveCPU, s.pgCPU)
			}
		}
		if !s.sustained() {
			break
		}
		highest = rate
	}
	if sc.audit {
		out, err := srv.audit(ctx)
		if err != nil {
			t.Fatalf("%v\n%s", err, out)
		}
		t.Logf("audit verify on the log after the load:\n%s", strings.TrimSpace(out))
	}
	return steps, highest, l
}

// runStep offers rate for d, waits for the executions to end (at most max(30 s, 2d) after
// the offering), and measures.
func runStep(ctx context.Context, t *testing.T, srv *serve, probe *pgxpool.Pool, client *http.Client, rate float64, d time.Duration) step {
	t.Helper()
	backends := measure.NewBackends(probe, srv.appName)
	if err := backends.Start(ctx, 250*time.Millisecond); err != nil {
		t.Fatal(err)
	}
	cpu0, err := measure.ProcessCPU(srv.pid())
	if err != nil {
		t.Fatal(err)
	}
	s := step{rate: rate}
	s.offered = offer(ctx, client, srv.url, srv.token, rate, d)
	s.finished, err = measure.WaitFinished(ctx, probe, s.offered.ids, time.Now().Add(max(30*time.Second, 2*d)))
	if err != nil {
		t.Fatal(err)
	}
	cpu1, err := measure.ProcessCPU(srv.pid())
	if err != nil {
		t.Fatal(err)
	}
	s.serveCPU = cpu1 - cpu0
	if s.pgCPU, _, err = backends.Stop(ctx); err != nil {
		t.Fatal(err)
	}
	xs, err := measure.Executions(ctx, probe, s.offered.ids)
	if err != nil {
		t.Fatal(err)
	}
	s.notCompleted = map[string]int{}
	from, to := s.offered.start.Add(d/4), s.offered.start.Add(d)
	inWindow := 0
	for _, x := range xs {
		if x.Status != "completed" {
			s.notCompleted[x.Status]++
			continue
		}
		s.completed++
		if !x.Finished.Before(from) && !x.Finished.After(to) {
			inWindow++
		}
	}
	s.completedRate = float64(inWindow) / to.Sub(from).Seconds()
	lat := measure.Latencies(xs)
	if unfinished := len(s.offered.ids) - len(lat); unfinished > 0 {
		// Not finished by the deadline: slower than any that did, so the percentiles count them
		// as the longest.
		last := max(time.Since(s.offered.start), measure.Percentile(lat, 1))
		for range unfinished {
			lat = append(lat, last)
		}
	}
	s.p50, s.p99 = measure.Percentile(lat, 0.50), measure.Percentile(lat, 0.99)
	return s
}

func perExec(d time.Duration, n int) float64 {
	if n == 0 {
		return 0
	}
	return measure.Ms(d) / float64(n)
}

func writeTable(w *strings.Builder, l *benchlog.Log, steps []step, highest float64) {
	fmt.Fprintf(w, "### Log of %d events before the load\n\n", l.Events)
	fmt.Fprintln(w, "| offered/s | sent | accepted | completed | completed/s | p50 ms | p99 ms | serve CPU ms/exec | PostgreSQL CPU ms/exec | sustained |")
	fmt.Fprintln(w, "|---:|---:|---:|---:|---:|---:|---:|---:|---:|:--|")
	for _, s := range steps {
		note := ""
		if s.offered.failed > 0 || s.offered.skipped > 0 {
			note = fmt.Sprintf(" (%d failed, %d skipped: %s)", s.offered.failed, s.offered.skipped, s.offered.firstErr)
		}
		if len(s.notCompleted) > 0 {
			note += fmt.Sprintf(" (not completed: %v)", s.notCompleted)
		}
		fmt.Fprintf(w, "| %g | %d | %d | %d | %.1f | %.0f | %.0f | %.2f | %.2f | %s%s |\n", s.rate, s.offered.sent, len(s.offered.ids),
			s.completed, s.completedRate, measure.Ms(s.p50), measure.Ms(s.p99),
			perExec(s.serveCPU, s.completed), perExec(s.pgCPU, s.completed), yesNo(s.sustained()), note)
	}
	if highest > 0 {
		fmt.Fprintf(w, "\nHighest rate sustained: **%g/s**.\n\n", highest)
	} else {
		fmt.Fprintf(w, "\nNo rate offered was sustained.\n\n")
	}
}

func yesNo(b bool) string {
	if b {
		return "yes"
	}
	return "no"
}
