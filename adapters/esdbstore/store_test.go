package esdbstore_test

import (
	"context"
	"io"
	"log/slog"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/attune-go/attune/adapters/esdbstore"
	"github.com/attune-go/attune/adapters/eventstore"
	"github.com/attune-go/attune/adapters/eventstore/eventstoretest"
)

func TestConformance(t *testing.T) {
	t.Parallel()
	url := os.Getenv("ATTUNE_ESDB_URL")
	if url == "" {
		t.Skip("ATTUNE_ESDB_URL not set: EventStoreDB conformance not run (no server can be installed here)")
	}
	eventstoretest.Run(t, func(t *testing.T) eventstore.Store {
		s, err := esdbstore.New(t.Context(), esdbstore.Config{URL: url})
		if err != nil {
			t.Fatalf("connect to %s: %v", url, err)
		}
		t.Cleanup(func() { _ = s.Close() })
		return s
	})
}

func TestNewRejectsBadConfig(t *testing.T) {
	t.Parallel()
	quiet := slog.New(slog.NewTextHandler(io.Discard, nil))
	tests := []struct {
		name string
		cfg  esdbstore.Config
		want string
	}{
		{"no url", esdbstore.Config{}, "empty URL"},
		{"negative batch", esdbstore.Config{URL: "esdb://127.0.0.1:2113", BatchSize: -1}, "batch size -1"},
		{"not an esdb url", esdbstore.Config{URL: "http://127.0.0.1:2113"}, "parse eventstoredb url"},
		// Nothing listens on port 1: New must say so now, not at the first append.
		{"unreachable server", esdbstore.Config{URL: "esdb://127.0.0.1:1?tls=false&maxDiscoverAttempts=1", Logger: quiet}, "connect to eventstoredb"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
			defer cancel()
			s, err := esdbstore.New(ctx, tt.cfg)
			if err == nil {
				_ = s.Close()
				t.Fatalf("New(%+v) succeeded, want an error", tt.cfg)
			}
			if !strings.Contains(err.Error(), tt.want) {
				t.Errorf("New error %q, want it to say %q", err, tt.want)
			}
		})
	}
}
