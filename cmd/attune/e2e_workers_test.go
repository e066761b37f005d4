package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/attune-go/attune/adapters/bus"
	"github.com/attune-go/attune/adapters/bus/bustest"
	"github.com/attune-go/attune/adapters/checkpoint"
	"github.com/attune-go/attune/adapters/eventstore"
	"github.com/attune-go/attune/adapters/relay"
	"github.com/attune-go/attune/domain/execution"
	admissionh "github.com/attune-go/attune/handlers/admission"
	cancelerh "github.com/attune-go/attune/handlers/canceler"
	schedulerh "github.com/attune-go/attune/handlers/scheduler"
	workflowh "github.com/attune-go/attune/handlers/workflow"
)

// metrics returns the lines of the server's /metrics.
func (s *system) metrics() []string {
	s.t.Helper()
	req, _ := http.NewRequest(http.MethodGet, s.url+"/metrics", nil)
	req.Header.Set("Authorization", "Bearer "+s.adminToken())
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		s.t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return strings.Split(string(body), "\n")
}

// relayCaughtUp reports whether the relay's checkpoint is at the end of the visible log.
func (s *system) relayCaughtUp() bool {
	return slices.Contains(s.metrics(), `attune_reader_lag_events{reader="`+relay.Name+`"} 0`)
}

// handlerTopic maps the server's handlers to the event type of which each gets every event
// ("" for those it does not check). The worker's handler of ExecutionScheduled gets every
// one only because the server runs the one worker.
func handlerTopic(handler string) string {
	switch {
	case handler == "rulematch":
		return "EventFired"
	case handler == "enforce":
		return "EnforcementCreated"
	case handler == "scheduler", handler == "workflow_start":
		return "ExecutionRequested"
	case handler == "canceler", handler == "admission", handler == "workflow_advance":
		return "ExecutionStatusChanged"
	case strings.HasPrefix(handler, "worker.") && strings.HasSuffix(handler, ".cancel"):
		return "" // only the cancels addressed to its worker reach it
	case strings.HasPrefix(handler, "worker."):
		return "ExecutionScheduled"
	}
	return ""
}

// handledTwice reports whether, by the server's metrics, every handler finished (attempts
// minus failures) at least twice as many events as the log holds of its type.
func (s *system) handledTwice(log []eventstore.Recorded) bool {
	s.t.Helper()
	done := map[string]float64{}
	for _, line := range s.metrics() {
		for metric, sign := range map[string]float64{"attune_handler_duration_seconds_count": 1, "attune_handler_errors_total": -1} {
			rest, ok := strings.CutPrefix(line, metric+`{handler="`)
			if !ok {
				continue
			}
			handler, value, _ := strings.Cut(rest, `"} `)
			v, _ := strconv.ParseFloat(value, 64)
			done[handler] += sign * v
		}
	}
	perType := countTypes(log, nil)
	// A status handler's queue takes only the changes its keys match (bus.AddStatusHandler).
	statusKeys := map[string][]string{"scheduler": schedulerh.Keys, "workflow_start": workflowh.StartKeys,
		"canceler": cancelerh.Keys, "admission": admissionh.Keys, "workflow_advance": workflowh.AdvanceKeys}
	seen := 0
	for handler, n := range done {
		topic := handlerTopic(handler)
		if topic == "" {
			continue
		}
		seen++
		want := perType[topic]
		if keys, ok := statusKeys[handler]; ok {
			bindings := bus.StatusBindings(keys)
			want = countTypes(log, func(e eventstore.Recorded) bool {
				key := bus.RoutingKey(e)
				return slices.ContainsFunc(bindings, func(b string) bool { return bus.Matches(b, key) })
			})[topic]
		}
		if n < float64(2*want) {
			return false
		}
	}
	return seen >= 7 // the six handlers of serve and its worker's
}

// Workers as their own processes need RabbitMQ: the in-process bus cannot reach them. These
// scenarios therefore run on RabbitMQ only.

// workerArgs are the arguments of `attune worker` joining sys.
func (s *system) workerArgs(runtimes string) []string {
	return []string{"worker", "--allow-root-actions", "--database-url", s.dbURL, "--schema", s.schema.Name, "--amqp-url", s.amqpURL, "--bus-prefix", s.busPrefix,
		"--bus-queue-expiry", bustest.QueueExpiry.String(), "--secret-key-file", s.keyFile, "--runtimes", runtimes, "--heartbeat-interval", "500ms", "--log-level", "warn"}
}

// workerRuntimes reads from the log which runtimes each registered worker offers.
func (s *system) workerRuntimes() map[string][]string {
	out := map[string][]string{}
	for _, e := range s.logEvents() {
		if e.Type != "WorkerRegistered" {
			continue
		}
		var w struct {
			WorkerID     string `json:"worker_id"`
			Capabilities struct {
				Runtimes []string `json:"runtimes"`
			} `json:"capabilities"`
		}
		_ = json.Unmarshal(e.Data, &w)
		out[w.WorkerID] = w.Capabilities.Runtimes
	}
	return out
}

func TestE2EWorkersReceiveOnlyWhatTheyCanRun(t *testing.T) {
	t.Parallel()
	sys := startSystem(t, "rabbitmq", []string{e2ePack(t)}, "--no-worker")
	sys.runInBackground(sys.workerArgs("shell"))
	sys.runInBackground(sys.workerArgs("python"))
	sys.eventually(30*time.Second, "two workers registered", func() bool { return len(sys.workerRuntimes()) == 2 })

	ctx := context.Background()
	var ids []string
	for i := range 4 {
		x, err := sys.api.Run(ctx, "e2e.needs", map[string]json.RawMessage{"name": json.RawMessage(`"shell"`)})
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, x.ID)
		y, err := sys.api.Run(ctx, "e2e.add", map[string]json.RawMessage{"a": json.RawMessage(strconv.Itoa(i)), "b": json.RawMessage(`1`)})
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, y.ID)
	}
	runtimes := sys.workerRuntimes()
	for _, id := range ids {
		x := sys.waitTerminal(id)
		if x.Status != execution.Completed {
			t.Errorf("%s %s: %s (%s)", x.Action, x.ID, x.Status, x.Reason)
			continue
		}
		want := map[string]string{"e2e.needs": "shell", "e2e.add": "python"}[x.Action]
		if got := runtimes[x.Worker]; len(got) != 1 || got[0] != want {
			t.Errorf("%s ran on worker %s offering %v; want the %s worker", x.Action, x.Worker, got, want)
		}
	}
}

// TestE2EAKilledWorkersRunIsAbandonedAndItsBacklogRunsElsewhere kills a worker process
// (SIGKILL, no goodbye) while it runs one execution and holds another, placed on it but not
// started. What may have run ends abandoned, and its action process dies with the worker;
// what never started is placed again and completes on the next worker.
func TestE2EAKilledWorkersRunIsAbandonedAndItsBacklogRunsElsewhere(t *testing.T) {
	t.Parallel()
	sys := startSystem(t, "rabbitmq", []string{e2ePack(t)}, "--no-worker")

	// One slot: the second execution waits in the worker's backlog behind the nap.
	cmd := exec.Command(os.Args[0], append(sys.workerArgs("python"), "--max-concurrency", "1")...)
	cmd.Env = append(os.Environ(), "ATTUNE_E2E_MAIN=1")
	cmd.Stdout, cmd.Stderr = sys.logs, sys.logs
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	sys.eventually(30*time.Second, "the worker registered", func() bool { return len(sys.workerRuntimes()) == 1 })

	ctx := context.Background()
	pidfile := filepath.Join(t.TempDir(), "pid")
	nap, err := sys.api.Run(ctx, "e2e.nap", map[string]json.RawMessage{"pidfile": json.RawMessage(strconv.Quote(pidfile))})
	if err != nil {
		t.Fatal(err)
	}
	sys.eventually(30*time.Second, "the nap to run", func() bool {
		got, err := sys.api.Execution(ctx, nap.ID)
		return err == nil && got.Status == execution.Running
	})
	backlog, err := sys.api.Run(ctx, "e2e.add", map[string]json.RawMessage{"a": json.RawMessage(`2`), "b": json.RawMessage(`3`)})
	if err != nil {
		t.Fatal(err)
	}
	var killed string
	sys.eventually(30*time.Second, "the second execution placed on the busy worker", func() bool {
		got, err := sys.api.Execution(ctx, backlog.ID)
		killed = got.Worker
		return err == nil && got.Status == execution.Scheduled
	})
	napPID, err := strconv.Atoi(strings.TrimSpace(readWhenWritten(t, pidfile)))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = syscall.Kill(napPID, syscall.SIGKILL) }) // if the test fails before it is gone
	if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	_ = cmd.Wait()
	// The action process does not outlive its worker.
	sys.eventually(10*time.Second, "the nap's process to die with its worker", func() bool { return processGone(napPID) })

	sys.runInBackground(sys.workerArgs("python"))
	got := sys.waitTerminal(nap.ID)
	if got.Status != execution.Abandoned || got.Worker != killed || !strings.Contains(got.Reason, killed) {
		t.Fatalf("the killed worker's run: %s on %s (%s); want abandoned naming worker %s", got.Status, got.Worker, got.Reason, killed)
	}
	done := sys.waitTerminal(backlog.ID)
	if done.Status != execution.Completed || done.Worker == killed || done.Worker == "" {
		t.Fatalf("the killed worker's backlog: %s on %q (%s); want completed on the next worker", done.Status, done.Worker, done.Reason)
	}
	lost, placedAgain := false, false
	for _, e := range sys.logEvents() {
		if e.Type == "WorkerDeregistered" && field(e, "lost") == "true" && field(e, "worker_id") == killed {
			lost = true
		}
		if e.StreamID == execution.StreamID(backlog.ID) && field(e, "from") == "scheduled" && field(e, "to") == "scheduling" &&
			strings.Contains(field(e, "reason"), "before it started the run; placed again") {
			placedAgain = true
		}
	}
	if !lost || !placedAgain {
		t.Errorf("the log records worker %s lost: %t, the backlog placed again with its reason: %t; want both", killed, lost, placedAgain)
	}
}

// readWhenWritten polls until path holds something and returns it.
func readWhenWritten(t *testing.T, path string) string {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		if b, err := os.ReadFile(path); err == nil && len(b) > 0 {
			return string(b)
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s was not written", path)
		}
		time.Sleep(25 * time.Millisecond) // polling the file
	}
}

// processGone reports whether pid no longer runs: it does not exist, or it is a zombie
// nobody has reaped yet (dead all the same).
func processGone(pid int) bool {
	if err := syscall.Kill(pid, 0); errors.Is(err, syscall.ESRCH) {
		return true
	}
	stat, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return true
	}
	i := bytes.LastIndexByte(stat, ')')
	return i > 0 && i+2 < len(stat) && stat[i+2] == 'Z'
}

func TestE2EDuplicateDeliveriesDuplicateNothing(t *testing.T) {
	t.Parallel()
	sys := startSystem(t, "rabbitmq", []string{e2ePack(t)})

	// A second relay, with its own checkpoint and no leader lock, publishes every event of the
	// log a second time into the same exchanges: every handler receives every message twice.
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	dup, err := bus.New(ctx, bus.Config{AMQPURL: sys.amqpURL, Prefix: sys.busPrefix, QueueExpiry: bustest.QueueExpiry})
	if err != nil {
		t.Fatal(err)
	}
	defer dup.Close()
	rl, err := relay.New(relay.Config{Store: sys.log, Checkpoints: checkpoint.NewMemory(), Publisher: dup, Name: "duplicate"})
	if err != nil {
		t.Fatal(err)
	}
	relayDone := make(chan struct{})
	go func() { defer close(relayDone); _ = rl.Run(ctx) }()
	defer func() { cancel(); <-relayDone }()

	var events []string
	for range 5 {
		events = append(events, sys.webhook("e2e.multi", map[string]any{}))
	}
	var direct []string
	for i := range 5 {
		x, err := sys.api.Run(context.Background(), "e2e.add", map[string]json.RawMessage{"a": json.RawMessage(strconv.Itoa(i)), "b": json.RawMessage(`1`)})
		if err != nil {
			t.Fatal(err)
		}
		direct = append(direct, x.ID)
	}
	sys.eventually(60*time.Second, "all 20 executions to end", func() bool {
		xs := sys.executions(url.Values{})
		done := 0
		for _, x := range xs {
			if x.Status.Terminal() {
				done++
			}
		}
		return done >= 20
	})
	// Barrier: every handler has finished every event of its type twice (once per relay), so
	// no duplicate is still on its way and the log below holds whatever they appended.
	sys.eventually(60*time.Second, "every handler to finish both copies of every event", func() bool {
		return sys.handledTwice(sys.logEvents())
	})

	log := sys.logEvents()
	for _, ev := range events {
		n := countTypes(log, func(e eventstore.Recorded) bool { return field(e, "event_id") == ev })
		if n["EnforcementCreated"] != 3 || n["ExecutionRequested"] != 3 {
			t.Errorf("event %s delivered twice: %v; want 3 enforcements and 3 executions", ev, n)
		}
	}
	if xs := sys.executions(url.Values{}); len(xs) != 20 {
		t.Errorf("%d executions, want exactly 20 (15 from rules, 5 direct)", len(xs))
	}
	runs := map[string]int{}
	for _, e := range log {
		if e.Type == "ExecutionStatusChanged" && field(e, "to") == "running" {
			runs[field(e, "execution_id")]++
		}
	}
	for _, id := range direct {
		if x := sys.waitTerminal(id); x.Status != execution.Completed || runs[id] != 1 {
			t.Errorf("execution %s: %s, ran %d times; want completed, run once", id, x.Status, runs[id])
		}
	}
}
