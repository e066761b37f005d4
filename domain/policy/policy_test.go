package policy_test

import (
	"math"
	"testing"
	"time"

	"github.com/oklog/ulid/v2"

	"github.com/attune-go/attune/domain/policy"
)

func TestRetryDelay(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		spec    policy.RetrySpec
		attempt int
		want    time.Duration
	}{
		{"fixed", policy.RetrySpec{DelaySeconds: 5}, 4, 5 * time.Second},
		{"no delay", policy.RetrySpec{Backoff: policy.Exponential}, 3, 0},
		{"exponential, first retry", policy.RetrySpec{DelaySeconds: 2, Backoff: policy.Exponential}, 1, 2 * time.Second},
		{"exponential, fourth retry", policy.RetrySpec{DelaySeconds: 2, Backoff: policy.Exponential}, 4, 16 * time.Second},
		{"exponential, capped", policy.RetrySpec{DelaySeconds: 2, Backoff: policy.Exponential, MaxDelaySeconds: 10}, 4, 10 * time.Second},
		{"fixed, capped", policy.RetrySpec{DelaySeconds: 20, MaxDelaySeconds: 10}, 1, 10 * time.Second},
		{"exponential, saturating instead of overflowing", policy.RetrySpec{DelaySeconds: 3600, Backoff: policy.Exponential}, 200, time.Duration(math.MaxInt64)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			if got := tt.spec.Delay(tt.attempt); got != tt.want {
				t.Fatalf("Delay(%d) = %s, want %s", tt.attempt, got, tt.want)
			}
		})
	}
}

func TestRetryIDIsOnePerFailedExecutionAndAttempt(t *testing.T) {
	t.Parallel()
	failed := ulid.MustParse("01JQ3V5E8G7ZKX2N4P6R8T0W2Y")
	first := policy.RetryID(failed, 1)
	if first != policy.RetryID(failed, 1) {
		t.Fatal("one attempt derived two ids")
	}
	if first == policy.RetryID(failed, 2) || first == failed {
		t.Fatal("attempts collide")
	}
}

func TestParsersAcceptExactlyTheirNames(t *testing.T) {
	t.Parallel()
	for _, s := range []string{"concurrency", "rate_limit", "retry"} {
		if _, err := policy.ParseType(s); err != nil {
			t.Errorf("type %q: %v", s, err)
		}
	}
	for _, s := range []string{"enqueue", "cancel"} {
		if _, err := policy.ParseMode(s); err != nil {
			t.Errorf("mode %q: %v", s, err)
		}
	}
	for _, s := range []string{"fixed", "exponential"} {
		if _, err := policy.ParseBackoff(s); err != nil {
			t.Errorf("backoff %q: %v", s, err)
		}
	}
	for _, bad := range []string{"", "Retry", "ratelimit", "queue", "linear"} {
		_, e1 := policy.ParseType(bad)
		_, e2 := policy.ParseMode(bad)
		_, e3 := policy.ParseBackoff(bad)
		if e1 == nil || e2 == nil || e3 == nil {
			t.Errorf("%q accepted (type %v, mode %v, backoff %v)", bad, e1, e2, e3)
		}
	}
}
