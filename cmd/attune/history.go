package main

import (
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/attune-go/attune/adapters/eventstore"
)

func historyCommand(cfg *config) *cobra.Command {
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "history STREAM",
		Short: "Show one stream's events in order, with what caused each",
		Example: "  attune history execution-01JD3Q7V9X8K2M4N6P8R0T2V4W\n" +
			"  attune history rule-examples.on_error_ping --json",
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			pool, store, err := openStore(cmd.Context(), *cfg)
			if err != nil {
				return err
			}
			defer pool.Close()
			events, err := store.ReadStream(cmd.Context(), args[0])
			if err != nil {
				return fmt.Errorf("read stream %s: %w", args[0], err)
			}
			if len(events) == 0 {
				return &exitError{code: 4, err: fmt.Errorf("stream %q has no events", args[0])}
			}
			if asJSON {
				return writeEnvelopesJSON(cmd.OutOrStdout(), events)
			}
			return writeHistory(cmd.OutOrStdout(), events)
		},
	}
	cmd.Flags().BoolVar(&asJSON, "json", false, "print the envelopes as JSON")
	cfg.bindDatabase(cmd.Flags())
	return cmd
}

// writeHistory prints one block per event: a header line, its causation, then the payload.
func writeHistory(w io.Writer, events []eventstore.Recorded) error {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	for _, e := range events {
		fmt.Fprintf(tw, "#%d\t%s\t%s\tevent %s\tposition %s\n", e.StreamVersion, e.Type,
			e.RecordedAt.UTC().Format(time.RFC3339Nano), e.ID, e.Position)
		var cause []string
		if e.Metadata.CausationID != "" {
			cause = append(cause, "caused by "+e.Metadata.CausationID)
		}
		if e.Metadata.CorrelationID != "" {
			cause = append(cause, "correlation "+e.Metadata.CorrelationID)
		}
		if e.Metadata.Actor != "" {
			cause = append(cause, "actor "+e.Metadata.Actor)
		}
		if e.Metadata.TraceTag != "" {
			cause = append(cause, "trace "+e.Metadata.TraceTag)
		}
		if len(cause) > 0 {
			fmt.Fprintf(tw, "\t%s\n", strings.Join(cause, ", "))
		}
		fmt.Fprintf(tw, "\t%s\n", e.Data)
	}
	return tw.Flush()
}

// envelope is the JSON form of a recorded event shown to users (CLI --json, API).
type envelope struct {
	EventID       string          `json:"event_id"`
	StreamID      string          `json:"stream_id"`
	StreamVersion int64           `json:"stream_version"`
	Type          string          `json:"type"`
	SchemaVersion int             `json:"schema_version"`
	Data          json.RawMessage `json:"data"`
	Metadata      any             `json:"metadata"`
	RecordedAt    time.Time       `json:"recorded_at"`
	Position      string          `json:"position"`
	Hash          string          `json:"hash"`
}

func writeEnvelopesJSON(w io.Writer, events []eventstore.Recorded) error {
	out := make([]envelope, 0, len(events))
	for _, e := range events {
		out = append(out, envelope{
			EventID: e.ID.String(), StreamID: e.StreamID, StreamVersion: e.StreamVersion,
			Type: e.Type, SchemaVersion: e.SchemaVersion, Data: e.Data, Metadata: e.Metadata,
			RecordedAt: e.RecordedAt.UTC(), Position: e.Position.String(), Hash: fmt.Sprintf("%x", e.Hash),
		})
	}
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(out)
}
