package workflowdef_test

import (
	"encoding/json"
	"testing"

	"github.com/attune-go/attune/adapters/workflowdef"
	"github.com/attune-go/attune/domain/execution"
)

// FuzzParse parses fuzzed definitions. Parse never panics, and a definition it accepts can
// be run: it has a start task, every do target exists, every task is reachable from a start
// task, durations are not negative, and its templates render against a scope (an error is
// fine — a missing parameter — a panic is not).
func FuzzParse(f *testing.F) {
	f.Add(example)
	for _, def := range []string{
		`{"tasks": {"a": {"action": "x.y", "next": [{"do": ["b"]}]}}}`,
		`{"tasks": {"a": {"action": "x.y"}, "b": {"action": "x.y", "next": [{"do": "c"}]}, "c": {"action": "x.y", "next": [{"do": "b"}]}}}`,
		`{"tasks": {"a": {}}}`,
		`{"tasks": {}}`,
		`{"tasks": {"a": {"action": "x.y", "next": [{"do": "b"}]}, "b": {"action": "x.y", "join": 2}}}`,
		`{"tasks": {"a": {"action": "x.y", "retry": {"count": 1, "backoff": "fibonacci"}}}}`,
		`{"tasks": {"a": {"action": "x.y", "input": {"m": "{{ parameters. }}"}}}}`,
		`{"tasks": {"a": {"action": "x.y", "input": {"m": "{{ event.payload }}"}}}}`,
		`{"tasks": {"a": {"action": "x.y", "nxt": []}}}`,
		`{"tasks": {"a": {"action": "x.y", "retry": {"count": 100, "delay": 31536000, "backoff": "exponential"}}}}`,
		`{"tasks": {"a": {"action": "x.y", "with": "{{ parameters.hosts }}", "timeout": 1e300, "delay": 0.5, "retry": {"count": 3, "delay": 2, "backoff": "exponential"}, "next": [{"when": "{{ failed() }}", "publish": {"n": "{{ length(vars) }}"}, "do": "b"}]}, "b": {"action": "x.y", "join": "all"}}}`,
	} {
		f.Add(def)
	}
	f.Fuzz(func(t *testing.T, def string) {
		w, err := workflowdef.Parse(json.RawMessage(def))
		if err != nil {
			return
		}
		start := w.Start()
		if len(start) == 0 {
			t.Fatal("an accepted workflow has no start task")
		}
		seen := map[string]bool{}
		queue := start
		for len(queue) > 0 {
			name := queue[0]
			queue = queue[1:]
			task, ok := w.Task(name)
			if !ok {
				t.Fatalf("a transition leads to task %q, which does not exist", name)
			}
			if seen[name] {
				continue
			}
			seen[name] = true
			if task.Timeout < 0 || task.Delay < 0 || task.Retry.Delay < 0 || task.Retry.Count < 0 || task.Concurrency < 0 {
				t.Fatalf("task %s accepted with a negative duration or count: %+v", name, task)
			}
			for _, attempt := range []int{2, 3, 33, 64, task.Retry.Count + 1} {
				if attempt < 2 || attempt > task.Retry.Count+1 {
					continue
				}
				if d := task.Retry.After(attempt); d < 0 {
					t.Fatalf("task %s: retry delay before attempt %d is negative: %v", name, attempt, d)
				}
			}
			for _, tr := range task.Next {
				queue = append(queue, tr.Do...)
			}
		}
		for _, name := range w.Tasks() {
			if !seen[name] {
				t.Fatalf("task %s is accepted but no start task reaches it", name)
			}
		}
		// The templates run against an empty scope and a full one; errors are the
		// workflow's to report, panics are ours.
		for _, s := range []workflowdef.Scope{{}, {
			Parameters: map[string]any{"region": "eu", "hosts": []any{"a", "b"}},
			Vars:       map[string]any{"greeting": "hello", "hosts": []any{"a"}},
			Status:     execution.Completed, Result: map[string]any{"hosts": []any{"a"}},
			Item: "a", Index: 0,
		}} {
			_, _ = w.Vars(s)
			_, _ = w.Output(s)
			for _, name := range w.Tasks() {
				task, _ := w.Task(name)
				_, _ = task.Input(s)
				_, _ = task.Items(s)
				for _, tr := range task.Next {
					_, _ = tr.Holds(s)
					_, _ = tr.Publish(s)
				}
			}
		}
	})
}
