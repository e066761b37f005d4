package worker

import (
	"encoding/json"
	"fmt"

	"github.com/attune-go/attune/adapters/paramschema"
	"github.com/attune-go/attune/adapters/runtime"
	"github.com/attune-go/attune/domain/execution"
	"github.com/attune-go/attune/domain/pack"
)

// outputInvalid is StackStorm's message for a run whose output breaks its action's
// output_schema; the result's error says what.
const outputInvalid = "Error validating output. See error output for more details."

// checkOutput fails a completed run whose output (req.OutputKey of its result) breaks the
// action's output_schema, as StackStorm does: the status becomes failed and the result
// {error, message}; stdout and stderr stay as the run wrote them. A run that did not
// complete, or an action without a schema, is left as it is.
func checkOutput(req runtime.Request, o runtime.Outcome) runtime.Outcome {
	if len(req.OutputSchema) == 0 || req.OutputKey == "" || o.Status != execution.Completed {
		return o
	}
	var output any
	if len(o.Result) > 0 {
		res, err := pack.DecodeValue(o.Result)
		if err != nil {
			return invalidOutput(o, fmt.Sprintf("the result is not JSON: %v", err))
		}
		if m, ok := res.(map[string]any); ok {
			output = m[req.OutputKey]
		}
	}
	if err := paramschema.Check(req.OutputSchema, output); err != nil {
		return invalidOutput(o, fmt.Sprintf("%s: %v", req.OutputKey, err))
	}
	return o
}

func invalidOutput(o runtime.Outcome, why string) runtime.Outcome {
	res, err := json.Marshal(map[string]string{"error": why, "message": outputInvalid})
	if err != nil {
		res = nil
	}
	o.Status, o.Result, o.Reason = execution.Failed, res, "output_schema: "+why
	return o
}
