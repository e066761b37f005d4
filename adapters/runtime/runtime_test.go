package runtime_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/attune-go/attune/adapters/runtime"
	"github.com/attune-go/attune/domain/execution"
)

func TestInterruptedTellsTimeoutFromCancel(t *testing.T) {
	t.Parallel()
	timedOut, stop := runtime.WithTimeout(t.Context(), time.Nanosecond)
	defer stop()
	<-timedOut.Done()

	parent, cancelParent := context.WithCancelCause(t.Context())
	cancelled, stop2 := runtime.WithTimeout(parent, time.Hour)
	defer stop2()
	cancelParent(errors.New("requested by alice"))

	plain, cancelPlain := context.WithCancel(t.Context())
	cancelPlain()

	for name, tt := range map[string]struct {
		ctx    context.Context
		status execution.Status
		reason string
	}{
		"deadline":     {timedOut, execution.Timeout, "timed out after 1ns"},
		"with a cause": {cancelled, execution.Cancelled, "cancelled: requested by alice"},
		"plain cancel": {plain, execution.Cancelled, "cancelled"},
	} {
		status, reason := runtime.Interrupted(tt.ctx)
		if status != tt.status || reason != tt.reason {
			t.Errorf("%s: %s %q, want %s %q", name, status, reason, tt.status, tt.reason)
		}
	}
}
