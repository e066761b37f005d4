package bus

import (
	"encoding/hex"
	"encoding/json"
	"fmt"
	"time"

	"github.com/ThreeDotsLabs/watermill/message"
	"github.com/oklog/ulid/v2"

	"github.com/attune-go/attune/adapters/eventstore"
	"github.com/attune-go/attune/domain/event"
)

// Watermill metadata keys. Correlation uses watermill's own key so middleware.CorrelationID
// carries it to anything a handler produces.
const (
	MetaType          = "type"
	MetaStreamID      = "stream_id"
	MetaCorrelationID = "correlation_id"
	MetaCausationID   = "causation_id"
)

// envelope is the payload of every message: the whole recorded event, so a consumer needs
// nothing but the message to act (and the log to check what it reads is still current).
type envelope struct {
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

// Topic is the topic an event is published to: its wire type.
func Topic(r eventstore.Recorded) string { return r.Type }

// NewMessage maps a recorded event to a watermill message: the UUID is the event id, the
// payload the full envelope as JSON, and the metadata repeats what routing and tracing read.
func NewMessage(r eventstore.Recorded) (*message.Message, error) {
	payload, err := json.Marshal(envelope{
		EventID:       r.ID.String(),
		StreamID:      r.StreamID,
		StreamVersion: r.StreamVersion,
		Type:          r.Type,
		SchemaVersion: r.SchemaVersion,
		Data:          r.Data,
		Metadata:      r.Metadata,
		RecordedAt:    r.RecordedAt,
		Position:      r.Position.String(),
		PrevHash:      hex.EncodeToString(r.PrevHash),
		Hash:          hex.EncodeToString(r.Hash),
	})
	if err != nil {
		return nil, fmt.Errorf("encode event %s (%s) as a message: %w", r.ID, r.Type, err)
	}
	msg := message.NewMessage(r.ID.String(), payload)
	msg.Metadata.Set(MetaType, r.Type)
	msg.Metadata.Set(MetaStreamID, r.StreamID)
	if r.Metadata.CorrelationID != "" {
		msg.Metadata.Set(MetaCorrelationID, r.Metadata.CorrelationID)
	}
	if r.Metadata.CausationID != "" {
		msg.Metadata.Set(MetaCausationID, r.Metadata.CausationID)
	}
	return msg, nil
}

// Decode reads the recorded event back from a message made by NewMessage.
func Decode(msg *message.Message) (eventstore.Recorded, error) {
	var env envelope
	if err := json.Unmarshal(msg.Payload, &env); err != nil {
		return eventstore.Recorded{}, fmt.Errorf("decode message %s: %w", msg.UUID, err)
	}
	id, err := ulid.ParseStrict(env.EventID)
	if err != nil {
		return eventstore.Recorded{}, fmt.Errorf("decode message %s: event id: %w", msg.UUID, err)
	}
	pos, err := eventstore.ParsePosition(env.Position)
	if err != nil {
		return eventstore.Recorded{}, fmt.Errorf("decode message %s: position: %w", msg.UUID, err)
	}
	prev, err := hex.DecodeString(env.PrevHash)
	if err != nil {
		return eventstore.Recorded{}, fmt.Errorf("decode message %s: prev_hash: %w", msg.UUID, err)
	}
	hash, err := hex.DecodeString(env.Hash)
	if err != nil {
		return eventstore.Recorded{}, fmt.Errorf("decode message %s: hash: %w", msg.UUID, err)
	}
	if len(prev) == 0 {
		prev = nil
	}
	return eventstore.Recorded{
		ID:            id,
		StreamID:      env.StreamID,
		StreamVersion: env.StreamVersion,
		Type:          env.Type,
		SchemaVersion: env.SchemaVersion,
		Data:          env.Data,
		Metadata:      env.Metadata,
		RecordedAt:    env.RecordedAt,
		Position:      pos,
		PrevHash:      prev,
		Hash:          hash,
	}, nil
}
