package workflowdef

import (
	"encoding/json"

	"github.com/attune-go/attune/domain/execution"
)

// ItemResult is how one item of a with-items task ended: its status and its result (nil
// while it has not ended).
type ItemResult struct {
	Status execution.Status
	Result any
}

// Items are a with-items task's item results in item order, as the engine hands them to
// TaskResult, which shapes them as the workflow's dialect reads them.
type Items []ItemResult

// results is Attune's shape: the list of every item's result.
func (it Items) results() []any {
	out := make([]any, len(it))
	for i, r := range it {
		out[i] = r.Result
	}
	return out
}

// orquesta is StackStorm's shape: {items: [{status, result}, …]}, so that
// task(t).result.items.select($.result.stdout) reads what it reads in StackStorm. An item
// that has not ended is null, as StackStorm leaves it.
func (it Items) orquesta() map[string]any {
	out := make([]any, len(it))
	for i, r := range it {
		if r.Status == "" {
			continue
		}
		status := string(r.Status)
		switch r.Status {
		case execution.Completed:
			status = "succeeded"
		case execution.Cancelled:
			status = "canceled"
		}
		out[i] = map[string]any{"status": status, "result": r.Result}
	}
	return map[string]any{"items": out}
}

// MarshalJSON writes the list of the items' results, should Items ever be written whole.
func (it Items) MarshalJSON() ([]byte, error) { return json.Marshal(it.results()) }
