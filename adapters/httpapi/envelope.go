package httpapi

import (
	"encoding/hex"
	"encoding/json"
	"time"

	"github.com/attune-go/attune/adapters/eventstore"
	"github.com/attune-go/attune/domain/event"
)

// Envelope is the JSON form of a recorded event, for the API and the CLI's --json.
type Envelope struct {
	EventID       string          `json:"event_id"`
	StreamID      string          `json:"stream_id"`
	StreamVersion int64           `json:"stream_version"`
	Type          string          `json:"type"`
	SchemaVersion int             `json:"schema_version"`
	Data          json.RawMessage `json:"data"`
	Metadata      event.Metadata  `json:"metadata"`
	RecordedAt    time.Time       `json:"recorded_at"`
	Position      string          `json:"position"`
	PrevHash      string          `json:"prev_hash,omitempty"`
	Hash          string          `json:"hash"`
}

// EnvelopeOf converts a recorded event.
func EnvelopeOf(e eventstore.Recorded) Envelope {
	return Envelope{
		EventID: e.ID.String(), StreamID: e.StreamID, StreamVersion: e.StreamVersion,
		Type: e.Type, SchemaVersion: e.SchemaVersion, Data: e.Data, Metadata: e.Metadata,
		RecordedAt: e.RecordedAt.UTC(), Position: e.Position.String(),
		PrevHash: hex.EncodeToString(e.PrevHash), Hash: hex.EncodeToString(e.Hash),
	}
}
