package policy_test

import (
	"testing"
	"time"

	"github.com/oklog/ulid/v2"

	"github.com/attune-go/attune/domain/execution"
	"github.com/attune-go/attune/domain/policy"
)

func TestDecideRetry(t *testing.T) {
	t.Parallel()
	const id = "01JQ3V5E8G7ZKX2N4P6R8T0W2Y"
	now := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	spec := policy.RetrySpec{On: []execution.Status{execution.Failed, execution.Timeout}, MaxRetries: 2, DelaySeconds: 3, Backoff: policy.Exponential}
	tests := []struct {
		name        string
		x           policy.Ended
		wantAttempt int // 0: no retry
		wantWait    time.Duration
	}{
		{"first failure", policy.Ended{ID: id, Status: execution.Failed}, 1, 3 * time.Second},
		{"second failure backs off", policy.Ended{ID: id, Status: execution.Timeout, RetryAttempt: 1}, 2, 6 * time.Second},
		{"chain used up", policy.Ended{ID: id, Status: execution.Failed, RetryAttempt: 2}, 0, 0},
		{"status not listed", policy.Ended{ID: id, Status: execution.Abandoned}, 0, 0},
		{"completed is final", policy.Ended{ID: id, Status: execution.Completed}, 0, 0},
		{"cancelled is final", policy.Ended{ID: id, Status: execution.Cancelled}, 0, 0},
		{"not terminal", policy.Ended{ID: id, Status: execution.Running}, 0, 0},
		{"workflow task keeps the workflow's retry", policy.Ended{ID: id, Status: execution.Failed, ParentID: "P"}, 0, 0},
		{"retried already", policy.Ended{ID: id, Status: execution.Failed, Retried: true}, 0, 0},
		{"cancelled, however it ended", policy.Ended{ID: id, Status: execution.Abandoned, Cancelled: true}, 0, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got, ok, err := spec.DecideRetry("examples.again", tt.x, now)
			if err != nil {
				t.Fatal(err)
			}
			if ok != (tt.wantAttempt > 0) {
				t.Fatalf("retry = %v, want %v (%+v)", ok, tt.wantAttempt > 0, got)
			}
			if !ok {
				return
			}
			want := policy.RetryID(ulid.MustParse(id), tt.wantAttempt).String()
			if got.Attempt != tt.wantAttempt || got.RetryExecutionID != want || got.ExecutionID != id || got.Policy != "examples.again" {
				t.Fatalf("decided %+v, want attempt %d as %s", got, tt.wantAttempt, want)
			}
			if w := got.NotBefore.Sub(now); w != tt.wantWait {
				t.Fatalf("not_before %s after the failure, want %s", w, tt.wantWait)
			}
		})
	}
}

func TestDecideRetryWithoutDelayLeavesNotBeforeUnset(t *testing.T) {
	t.Parallel()
	spec := policy.RetrySpec{On: []execution.Status{execution.Failed}, MaxRetries: 1}
	got, ok, err := spec.DecideRetry("p.r", policy.Ended{ID: "01JQ3V5E8G7ZKX2N4P6R8T0W2Y", Status: execution.Failed}, time.Now())
	if err != nil || !ok || !got.NotBefore.IsZero() {
		t.Fatalf("got %+v ok=%v err=%v, want a retry with no not_before", got, ok, err)
	}
}

func TestRetryRequestCopiesTheFailedRequest(t *testing.T) {
	t.Parallel()
	failed := execution.ExecutionRequested{ExecutionID: "A", Action: "p.act", RunnerType: "shell", Rule: "p.rule",
		EnforcementID: "E", RerunOf: "OLD", RetryOf: "Z", RetryAttempt: 1, TimeoutSeconds: 7}
	nb := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	got, err := policy.ExecutionRetryScheduled{ExecutionID: "A", RetryExecutionID: "B", Attempt: 2, NotBefore: nb}.Retry(failed)
	if err != nil {
		t.Fatal(err)
	}
	want := execution.ExecutionRequested{ExecutionID: "B", Action: "p.act", RunnerType: "shell", Rule: "p.rule",
		EnforcementID: "E", RetryOf: "A", RetryAttempt: 2, TimeoutSeconds: 7, NotBefore: nb}
	if got.ExecutionID != want.ExecutionID || got.RetryOf != want.RetryOf || got.RetryAttempt != want.RetryAttempt ||
		got.RerunOf != "" || !got.NotBefore.Equal(nb) || got.Rule != want.Rule || got.EnforcementID != "E" || got.TimeoutSeconds != 7 {
		t.Fatalf("retry request %+v, want %+v", got, want)
	}
	if _, err := (policy.ExecutionRetryScheduled{ExecutionID: "X"}).Retry(failed); err == nil {
		t.Fatal("a retry built from another execution's request")
	}
}
