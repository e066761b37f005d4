package main

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/attune-go/attune/adapters/eventstore"
	"github.com/attune-go/attune/adapters/httpapi"
)

// retryPack has an action that fails until its n-th run (counting its runs in a file, its own
// record of running) and one that always fails, each under a retry policy of two retries.
func retryPack(t *testing.T) string {
	return writePack(t, map[string]string{
		"pack.yaml": "ref: retryp\nversion: 1.0.0\n",
		"actions/flaky.yaml": "name: flaky\nrunner_type: python\nentry_point: flaky.py\n" +
			"parameters:\n  file: {type: string, required: true}\n  succeed_at: {type: integer, required: true}\n",
		"actions/flaky.py": "import json, sys\np = json.load(sys.stdin)\nopen(p['file'], 'a').write('ran\\n')\n" +
			"n = open(p['file']).read().count('ran')\nprint(json.dumps({'run': n}))\nsys.exit(0 if n >= p['succeed_at'] else 1)\n",
		"policies/again_flaky.yaml": "name: again_flaky\naction: retryp.flaky\ntype: retry\n" +
			"retry: {on: [failed, timeout], max_retries: 2, delay: 1, backoff: exponential, max_delay: 1}\n",
		"policies/again_doomed.yaml": "name: again_doomed\naction: retryp.doomed\ntype: retry\nretry: {on: [failed], max_retries: 2}\n",
		"actions/doomed.yaml":        "name: doomed\nrunner_type: python\nentry_point: doomed.py\nparameters:\n  file: {type: string, required: true}\n",
		"actions/doomed.py":          "import json, sys\np = json.load(sys.stdin)\nopen(p['file'], 'a').write('ran\\n')\nsys.exit(3)\n",
	})
}

// chain follows an execution's retries to the end: every execution of the chain, in order,
// each terminal and the last not retried (yet: the caller's barrier settles that).
func (s *system) chain(first string) []httpapi.Execution {
	s.t.Helper()
	var out []httpapi.Execution
	id := first
	for id != "" {
		x := s.waitTerminal(id)
		if x.Status != "completed" && len(out) < 2 {
			// A failure before the chain's end is retried: wait until the read model shows it.
			s.eventually(30*time.Second, "execution "+id+" shows the retry scheduled for it", func() bool {
				got, err := s.api.Execution(context.Background(), id)
				x = got
				return err == nil && got.RetriedBy != ""
			})
		}
		out = append(out, x)
		id = x.RetriedBy
	}
	return out
}

func TestE2ERetryPolicy(t *testing.T) {
	t.Parallel()
	forEachTransport(t, func(t *testing.T, transport string) {
		sys := startSystem(t, transport, []string{retryPack(t)})
		ctx := context.Background()
		dir := t.TempDir()
		runs := func(file string) int {
			b, _ := os.ReadFile(file)
			return strings.Count(string(b), "ran\n")
		}
		cli := func(args ...string) string {
			t.Helper()
			out, stderr, err := attune(t, append(args, "--url", sys.url, "--config", sys.cliConfig)...)
			if err != nil {
				t.Fatalf("attune %v: %v\n%s%s", args, err, out, stderr)
			}
			return out
		}

		// Exhausted: max_retries 2 and it always fails: three linked executions, all failed.
		doomedFile := filepath.Join(dir, "doomed")
		d, err := sys.api.Run(ctx, "retryp.doomed", map[string]json.RawMessage{"file": jsonString(doomedFile)})
		if err != nil {
			t.Fatal(err)
		}
		doomed := sys.chain(d.ID)

		// Twice then success: the third run completes.
		flakyFile := filepath.Join(dir, "flaky")
		f, err := sys.api.Run(ctx, "retryp.flaky", map[string]json.RawMessage{"file": jsonString(flakyFile), "succeed_at": json.RawMessage(`3`)})
		if err != nil {
			t.Fatal(err)
		}
		flaky := sys.chain(f.ID)

		events := sys.barrier()
		for name, c := range map[string]struct {
			xs   []httpapi.Execution
			file string
			last string
		}{"doomed": {doomed, doomedFile, "failed"}, "flaky": {flaky, flakyFile, "completed"}} {
			if len(c.xs) != 3 {
				t.Fatalf("%s: a chain of %d executions, want 3: %+v", name, len(c.xs), c.xs)
			}
			for i, x := range c.xs {
				want := "failed"
				if i == 2 {
					want = c.last
				}
				if string(x.Status) != want {
					t.Errorf("%s: execution %d (%s) ended %s, want %s", name, i+1, x.ID, x.Status, want)
				}
				if i > 0 && (x.RetryOf != c.xs[i-1].ID || x.RetryAttempt != i) {
					t.Errorf("%s: execution %d retry_of %q attempt %d, want %s attempt %d", name, i+1, x.RetryOf, x.RetryAttempt, c.xs[i-1].ID, i)
				}
				if i == 0 && (x.RetryOf != "" || x.RetryAttempt != 0) {
					t.Errorf("%s: the first execution says it retries %q", name, x.RetryOf)
				}
			}
			if n := runs(c.file); n != 3 {
				t.Errorf("%s: the action ran %d times, want 3", name, n)
			}
			requested := countTypes(events, func(e eventstore.Recorded) bool {
				return e.Type == "ExecutionRequested" && strings.Contains(string(e.Data), c.file)
			})["ExecutionRequested"]
			if requested != 3 {
				t.Errorf("%s: %d executions requested, want 3: no fourth", name, requested)
			}
		}
		last := doomed[2]
		for _, e := range events {
			if e.Type == "ExecutionRetryScheduled" && e.StreamID == "execution-"+last.ID {
				t.Errorf("the last execution of an exhausted chain was retried: %s", e.Data)
			}
		}
		// The flaky retries waited for their delay (not_before, released by the reaper).
		if countTypes(events, func(e eventstore.Recorded) bool {
			return e.Type == "ExecutionDelayed" && (e.StreamID == "execution-"+flaky[1].ID || e.StreamID == "execution-"+flaky[2].ID)
		})["ExecutionDelayed"] != 2 {
			t.Errorf("the flaky chain's retries were not held back for their delay")
		}

		// The CLI shows the link and the policies.
		if out := cli("execution", "get", flaky[1].ID); !strings.Contains(out, "retry of") || !strings.Contains(out, flaky[0].ID) ||
			!strings.Contains(out, "retried by") || !strings.Contains(out, flaky[2].ID) {
			t.Errorf("execution get does not show both links:\n%s", out)
		}
		sys.eventually(30*time.Second, "the policies read model counts both chains' retries", func() bool {
			p, err := sys.api.Policy(ctx, "retryp.again_doomed")
			q, err2 := sys.api.Policy(ctx, "retryp.again_flaky")
			return err == nil && err2 == nil && p.RetriesScheduled == 2 && q.RetriesScheduled == 2
		})
		if out := cli("policy", "list", "--pack", "retryp"); !strings.Contains(out, "retryp.again_doomed") || !strings.Contains(out, "retryp.again_flaky") || !strings.Contains(out, "RETRIES") {
			t.Errorf("policy list does not show the pack's policies:\n%s", out)
		}
		var got httpapi.Policy
		var spec struct {
			MaxRetries int `json:"max_retries"`
		}
		err = json.Unmarshal([]byte(cli("policy", "get", "retryp.again_flaky", "--json")), &got)
		if err == nil {
			err = json.Unmarshal(got.Spec, &spec)
		}
		if err != nil || got.Type != "retry" || got.Action != "retryp.flaky" || !got.Enabled || got.File != "policies/again_flaky.yaml" ||
			spec.MaxRetries != 2 || got.RetriesScheduled != 2 {
			t.Errorf("policy get --json = %+v (%v)", got, err)
		}

		out, _, err := attune(t, "audit", "verify", "--database-url", sys.dbURL, "--schema", sys.schema.Name, "--catch-up-wait", "10s")
		if err != nil {
			t.Errorf("audit verify after the retries: %v\n%s", err, out)
		}
	})
}
