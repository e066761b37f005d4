package executions

import "encoding/json"

// Requested is an execution the read model still shows requested: its ExecutionRequested
// has not been acted on yet (admission keeps request order with it: handlers/admission).
type Requested struct {
	ID         string
	Parameters json.RawMessage
}

// MaxRequested bounds one look-up of requested executions.
const MaxRequested = 1000
