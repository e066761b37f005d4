package decide

import (
	"fmt"

	"github.com/attune-go/attune/adapters/eventstore"
	"github.com/attune-go/attune/domain/execution"
)

// FoldExecution folds an execution's stream (execution.FromEvents); ErrNoStream when it
// holds nothing.
func FoldExecution(stream string, recorded []eventstore.Recorded) (*execution.Execution, error) {
	if len(recorded) == 0 {
		return nil, fmt.Errorf("%s: %w", stream, ErrNoStream)
	}
	events, err := Decode(recorded)
	if err != nil {
		return nil, err
	}
	return execution.FromEvents(events)
}

// Executions is the path for execution streams.
func Executions(log Log) Loop[*execution.Execution] {
	return Loop[*execution.Execution]{Log: log, Fold: FoldExecution}
}
