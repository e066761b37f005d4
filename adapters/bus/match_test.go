package bus_test

import (
	"testing"

	"github.com/attune-go/attune/adapters/bus"
)

func TestMatchesAsATopicExchange(t *testing.T) {
	t.Parallel()
	cases := []struct {
		binding, key string
		want         bool
	}{
		{"", "anything", true},
		{"#", "unaddressed.running", true},
		{"worker.#", "worker.w1", true},
		{"worker.#", "worker.w1.a", true},
		{"worker.#", "unaddressed.canceling", false},
		{"unaddressed.canceling", "unaddressed.canceling", true},
		{"unaddressed.canceling", "unaddressed.cancelled", false},
		{"unaddressed", "unaddressed.running", false},
		{"unaddressed.*", "unaddressed.running", true},
		{"unaddressed.*", "unaddressed", false},
		{"worker.w1", "worker.w1", true},
		{"worker.w1", "worker.w12", false},
	}
	for _, c := range cases {
		if got := bus.Matches(c.binding, c.key); got != c.want {
			t.Errorf("Matches(%q, %q) = %v, want %v", c.binding, c.key, got, c.want)
		}
	}
}
