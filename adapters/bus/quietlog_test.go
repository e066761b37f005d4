package bus

import (
	"bytes"
	"errors"
	"log/slog"
	"strings"
	"testing"

	"github.com/ThreeDotsLabs/watermill"
)

func TestRepeatedWatermillErrorsAreLoggedOnce(t *testing.T) {
	t.Parallel()
	var buf bytes.Buffer
	l := newQuietErrors(watermill.NewSlogLogger(slog.New(slog.NewTextHandler(&buf, nil))))
	consumer := l.With(watermill.LogFields{"consumer": 3})
	for range 100 {
		l.Error("Failed to prepare consume", errors.New("channel closed"), nil)
		consumer.Error("Failed to prepare consume", errors.New("channel closed"), nil)
	}
	l.Error("Cannot reconnect to AMQP, retrying", errors.New("connection refused"), nil)
	if n := strings.Count(buf.String(), "Failed to prepare consume"); n != 1 {
		t.Errorf("200 repeats of one error logged %d times, want once:\n%s", n, buf.String())
	}
	if n := strings.Count(buf.String(), "Cannot reconnect"); n != 1 {
		t.Errorf("another error logged %d times, want once", n)
	}
}
