package execution

// CancelTarget is where a cancel takes an execution in status s; ok is false when a cancel
// has nothing to do there (canceling already, or ended).
func CancelTarget(s Status) (to Status, ok bool) {
	switch s {
	case Running, Pausing, Paused:
		// A running action's worker kills the run and reports how it ended; a held workflow
		// goes canceling too: the engine cancels what it still holds or waits for (held runs,
		// a pending inquiry, paused sub-workflows) and ends it.
		return Canceling, true
	case Requested, Delayed, Scheduling, Scheduled, Pending:
		// Nothing runs it (a pending inquiry only waits for an answer): cancelled at once.
		return Cancelled, true
	}
	return "", false
}

// Cancel decides the move a cancel asked for by reason makes: running (or a held workflow)
// to canceling, anything not started yet to cancelled. ok is false when there is nothing to
// do: canceling already, or ended (Status().Terminal() tells which).
func (x *Execution) Cancel(reason string) (ch ExecutionStatusChanged, ok bool, err error) {
	to, ok := CancelTarget(x.status)
	if !ok {
		return ExecutionStatusChanged{}, false, nil
	}
	ch, err = x.Transition(to, Outcome{Reason: reason})
	return ch, err == nil, err
}
