package main

import (
	"bufio"
	"context"
	"encoding/json"
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

	"github.com/attune-go/attune/adapters/httpapi"
	"github.com/attune-go/attune/domain/execution"
)

// stampAction writes "start <n> <host> <unix seconds>" when it starts and "end …" when it
// ends, sleeping `sleep` seconds between: the action's own account of when it ran.
const stampAction = `import json, sys, time
p = json.load(sys.stdin)
def stamp(what):
    with open(p['out'], 'a') as f:
        f.write('%s %d %s %.6f\n' % (what, p['n'], p.get('host', '-'), time.time()))
stamp('start')
time.sleep(p.get('sleep', 0))
stamp('end')
print(json.dumps({'n': p['n']}))
`

func stampParams(hosts bool) string {
	s := "parameters:\n  n: {type: integer, required: true}\n  out: {type: string, required: true}\n  sleep: {type: number}\n"
	if hosts {
		s += "  host: {type: string}\n"
	}
	return s
}

// policyPack has one action per scenario, each under its own policy.
func policyPack(t *testing.T) string {
	t.Helper()
	files := map[string]string{
		"pack.yaml":                "ref: pol\nversion: 1.0.0\n",
		"actions/stamp.py":         stampAction,
		"policies/serial.yaml":     "name: serial\naction: pol.serial\ntype: concurrency\nconcurrency: {threshold: 1, mode: enqueue}\n",
		"policies/per_host.yaml":   "name: per_host\naction: pol.keyed\ntype: concurrency\nconcurrency: {threshold: 1, attributes: [host]}\n",
		"policies/guard.yaml":      "name: guard\naction: pol.guarded\ntype: concurrency\nconcurrency: {threshold: 1, mode: cancel}\n",
		"policies/two_per_5s.yaml": "name: two_per_5s\naction: pol.rated\ntype: rate_limit\nrate_limit: {limit: 2, window: 5}\n",
	}
	for _, a := range []string{"serial", "keyed", "guarded", "rated"} {
		files["actions/"+a+".yaml"] = "name: " + a + "\nrunner_type: python\nentry_point: stamp.py\n" + stampParams(a == "keyed")
	}
	return writePack(t, files)
}

// span is one run as the action saw it.
type span struct {
	n          int
	host       string
	start, end time.Time
}

func readSpans(t *testing.T, file string) []span {
	t.Helper()
	f, err := os.Open(file)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	byN := map[int]*span{}
	var order []int
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) != 4 {
			t.Fatalf("stamp line %q", sc.Text())
		}
		n, _ := strconv.Atoi(fields[1])
		secs, _ := strconv.ParseFloat(fields[3], 64)
		at := time.Unix(0, int64(secs*1e9))
		sp := byN[n]
		if sp == nil {
			sp = &span{n: n, host: fields[2]}
			byN[n] = sp
			order = append(order, n)
		}
		switch fields[0] {
		case "start":
			if !sp.start.IsZero() {
				t.Errorf("run %d started twice", n)
			}
			sp.start = at
		case "end":
			sp.end = at
		}
	}
	out := make([]span, 0, len(order))
	for _, n := range order {
		out = append(out, *byN[n])
	}
	slices.SortFunc(out, func(a, b span) int { return a.start.Compare(b.start) })
	return out
}

// overlap reports whether two runs were running at the same moment.
func overlap(a, b span) bool { return a.start.Before(b.end) && b.start.Before(a.end) }

func (s *system) runStamp(action string, n int, out string, sleep float64, host string) httpapi.Execution {
	s.t.Helper()
	params := map[string]json.RawMessage{
		"n": json.RawMessage(strconv.Itoa(n)), "out": mustJSON(out), "sleep": mustJSON(sleep),
	}
	if host != "" {
		params["host"] = mustJSON(host)
	}
	// Only the 201 is waited for, as a shell loop of `attune run` would: POST answers once the
	// request is on the log, before the scheduler has seen it, and the bus may hand the next
	// request to the scheduler first. Admission keeps request order all the same.
	x, err := s.api.Run(context.Background(), action, params)
	if err != nil {
		s.t.Fatalf("run %s #%d: %v", action, n, err)
	}
	return x
}

func mustJSON(v any) json.RawMessage {
	b, _ := json.Marshal(v)
	return b
}

func (s *system) auditVerify() {
	s.t.Helper()
	out, _, err := attune(s.t, "audit", "verify", "--database-url", s.dbURL, "--schema", s.schema.Name, "--catch-up-wait", "10s")
	if err != nil {
		s.t.Errorf("audit verify: %v\n%s", err, out)
	}
}

// TestE2EPoliciesLimitConcurrencyAndRate runs the four policy scenarios side by side on one
// server per bus, each on its own action: serialised, keyed, cancel mode, rate limit.
func TestE2EPoliciesLimitConcurrencyAndRate(t *testing.T) {
	t.Parallel()
	for _, transport := range transports {
		t.Run(transport, func(t *testing.T) {
			t.Parallel()
			sys := startSystem(t, transport, []string{policyPack(t)}, "--max-concurrency", "8")
			dir := t.TempDir()
			file := func(name string) string { return filepath.Join(dir, name) }
			var all []string
			wait := func(xs ...httpapi.Execution) []httpapi.Execution {
				var out []httpapi.Execution
				for _, x := range xs {
					all = append(all, x.ID)
					out = append(out, sys.waitTerminal(x.ID))
				}
				return out
			}
			var serial, keyed, rated []httpapi.Execution
			for n := range 5 {
				serial = append(serial, sys.runStamp("pol.serial", n, file("serial"), 1, ""))
			}
			for n, host := range []string{"a", "b", "a", "b"} {
				keyed = append(keyed, sys.runStamp("pol.keyed", n, file("keyed"), 1, host))
			}
			first := sys.runStamp("pol.guarded", 0, file("guarded"), 3, "")
			sys.eventually(30*time.Second, "the guarded action to start", func() bool {
				_, err := os.Stat(file("guarded"))
				return err == nil
			})
			second := sys.runStamp("pol.guarded", 1, file("guarded"), 0, "")
			for n := range 6 {
				rated = append(rated, sys.runStamp("pol.rated", n, file("rated"), 0, ""))
			}

			// Cancel mode: the newcomer is refused, naming the policy; the first completes.
			guarded := wait(first, second)
			if guarded[0].Status != execution.Completed || guarded[1].Status != execution.Cancelled ||
				!strings.Contains(guarded[1].Reason, "policy pol.guard") {
				t.Errorf("guarded: first %s, second %s (%q); want completed, and cancelled naming pol.guard",
					guarded[0].Status, guarded[1].Status, guarded[1].Reason)
			}

			// Concurrency 1: never two at once, started in request order.
			for _, x := range wait(serial...) {
				if x.Status != execution.Completed {
					t.Errorf("serial %s: %s (%s)", x.ID, x.Status, x.Reason)
				}
			}
			spans := readSpans(t, file("serial"))
			var order []int
			for i, sp := range spans {
				order = append(order, sp.n)
				if i > 0 && overlap(spans[i-1], sp) {
					t.Errorf("serial runs %d and %d overlap: %+v %+v", spans[i-1].n, sp.n, spans[i-1], sp)
				}
			}
			if !slices.Equal(order, []int{0, 1, 2, 3, 4}) {
				t.Errorf("serial runs started in the order %v, want request order", order)
			}

			// Keyed: one host serialised, the two hosts side by side.
			wait(keyed...)
			byN := map[int]span{}
			for _, sp := range readSpans(t, file("keyed")) {
				byN[sp.n] = sp
			}
			if len(byN) != 4 {
				t.Fatalf("keyed: %d runs stamped, want 4", len(byN))
			}
			if overlap(byN[0], byN[2]) || overlap(byN[1], byN[3]) {
				t.Errorf("one host's runs overlap: %+v", byN)
			}
			if !overlap(byN[0], byN[1]) {
				t.Errorf("hosts a and b did not run side by side: %+v %+v", byN[0], byN[1])
			}
			if !byN[0].start.Before(byN[2].start) || !byN[1].start.Before(byN[3].start) {
				t.Errorf("one host's runs out of request order: %+v", byN)
			}

			// Rate limit: at most 2 starts in any 5 s window, all 6 run.
			for _, x := range wait(rated...) {
				if x.Status != execution.Completed {
					t.Errorf("rated %s: %s (%s)", x.ID, x.Status, x.Reason)
				}
			}
			starts := readSpans(t, file("rated"))
			if len(starts) != 6 {
				t.Fatalf("rated: %d runs stamped, want 6", len(starts))
			}
			// The engine admits at most 2 in any 5 s (by the claims on the log); the action's
			// process starts each a dispatch later, which varies by some hundred milliseconds.
			// Admission, not the process start, is what the limit counts.
			var claims []time.Time
			for _, e := range sys.logEvents() {
				if e.Type == "PolicySlotClaimed" && field(e, "policy") == "pol.two_per_5s" {
					at, err := time.Parse(time.RFC3339Nano, field(e, "at"))
					if err != nil {
						t.Fatalf("claim without a time: %s", e.Data)
					}
					claims = append(claims, at)
				}
			}
			slices.SortFunc(claims, func(a, b time.Time) int { return a.Compare(b) })
			if len(claims) != 6 {
				t.Fatalf("rated: %d claims, want 6", len(claims))
			}
			for i := 2; i < len(starts); i++ {
				if gap := claims[i].Sub(claims[i-2]); gap < 5*time.Second {
					t.Errorf("rated: admissions %d and %d only %s apart: 3 in a 5 s window", i-2, i, gap)
				}
				// The processes' own starts: a dispatch on a loaded machine took up to half a
				// second, so allow a second of it.
				if gap := starts[i].start.Sub(starts[i-2].start); gap < 4*time.Second {
					t.Errorf("rated: starts %d and %d only %s apart: 3 in a 5 s window", i-2, i, gap)
				}
			}
			if total := starts[5].start.Sub(starts[0].start); total > 15*time.Second {
				t.Errorf("rated: 6 starts took %s, want about 10s", total)
			}
			sys.auditVerify()
		})
	}
}

// TestE2EAPolicyQueueSurvivesTheServerBeingKilled kills `attune serve` (SIGKILL) while one
// run of a concurrency-1 action holds the slot and three wait in its queue, starts it again,
// and checks the three queued runs each run once, in request order, one at a time.
func TestE2EAPolicyQueueSurvivesTheServerBeingKilled(t *testing.T) {
	t.Parallel()
	for _, transport := range transports {
		t.Run(transport, func(t *testing.T) {
			t.Parallel()
			pack := policyPack(t)
			sys := prepareSystem(t, transport)
			start := func() *exec.Cmd {
				cmd := exec.Command(os.Args[0], sys.serveArgs([]string{pack}, "--max-concurrency", "4")...)
				cmd.Env = append(os.Environ(), "ATTUNE_E2E_MAIN=1")
				cmd.Stdout, cmd.Stderr = sys.logs, sys.logs
				if err := cmd.Start(); err != nil {
					t.Fatal(err)
				}
				t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
				return cmd
			}
			first := start()
			sys.connect()
			out := filepath.Join(t.TempDir(), "serial")
			var xs []httpapi.Execution
			for n := range 4 {
				xs = append(xs, sys.runStamp("pol.serial", n, out, 1.5, ""))
			}
			sys.eventually(30*time.Second, "one run holding the slot and three queued", func() bool {
				n := map[execution.Status]int{}
				for _, x := range sys.executions(url.Values{"action": {"pol.serial"}}) {
					n[x.Status]++
				}
				return n[execution.Delayed] == 3
			})
			if err := first.Process.Signal(syscall.SIGKILL); err != nil {
				t.Fatal(err)
			}
			_ = first.Wait()
			start()
			sys.waitReady()

			for _, x := range xs[1:] {
				if got := sys.waitTerminal(x.ID); got.Status != execution.Completed {
					t.Errorf("queued run %s: %s (%s)", x.ID, got.Status, got.Reason)
				}
			}
			var queued []span
			for _, sp := range readSpans(t, out) {
				if sp.n > 0 {
					queued = append(queued, sp)
				}
			}
			var order []int
			for i, sp := range queued {
				order = append(order, sp.n)
				if i > 0 && overlap(queued[i-1], sp) {
					t.Errorf("queued runs %d and %d overlap", queued[i-1].n, sp.n)
				}
			}
			if !slices.Equal(order, []int{1, 2, 3}) {
				t.Errorf("queued runs started %v, want [1 2 3], once each", order)
			}
			sys.auditVerify()
			if t.Failed() {
				for _, x := range sys.executions(url.Values{"action": {"pol.serial"}}) {
					t.Logf("%s %s %s", x.ID, x.Status, x.Reason)
				}
			}
		})
	}
}
