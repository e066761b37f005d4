package esdbstore

import (
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"github.com/EventStore/EventStore-Client-Go/v4/esdb"
	"github.com/google/uuid"
	"github.com/oklog/ulid/v2"

	"github.com/attune-go/attune/adapters/eventstore"
	"github.com/attune-go/attune/domain/event"
)

// envelope is what EventStoreDB keeps as an event's (user) metadata: every field of our
// envelope that has no native ESDB slot. RecordedAt is ours, not the server's CreatedDate,
// because it is stamped before the hash is computed and the hash covers it.
type envelope struct {
	SchemaVersion int            `json:"schema_version"`
	Metadata      event.Metadata `json:"metadata"`
	RecordedAt    time.Time      `json:"recorded_at"`
	PrevHash      []byte         `json:"prev_hash,omitempty"`
	Hash          []byte         `json:"hash"`
	// ESDB's own conventions, so its $by_correlation_id projection and UI follow our causal
	// tree. Informational only: Metadata above is what we read back.
	ESDBCorrelationID string `json:"$correlationId,omitempty"`
	ESDBCausationID   string `json:"$causationId,omitempty"`
}

// expectedRevision maps an expected stream state to ESDB's. Our versions start at 1, ESDB's
// revisions at 0.
func expectedRevision(e eventstore.Expected) esdb.ExpectedRevision {
	switch {
	case e.IsAny():
		return esdb.Any{}
	case e.Version() == 0:
		return esdb.NoStream{}
	default:
		return esdb.Revision(uint64(e.Version() - 1))
	}
}

// version returns our stream version of an ESDB event.
func version(ev *esdb.RecordedEvent) int64 { return int64(ev.EventNumber) + 1 }

// toPosition converts an ESDB $all position to our cursor.
func toPosition(p esdb.Position) eventstore.Position {
	return eventstore.Position{Major: p.Commit, Minor: p.Prepare}
}

// fromPosition converts our cursor to where an ESDB read or subscription of $all starts.
func fromPosition(p eventstore.Position) esdb.AllPosition {
	if p == eventstore.Start {
		return esdb.Start{}
	}
	return esdb.Position{Commit: p.Major, Prepare: p.Minor}
}

// isSystem reports whether an event of $all is ESDB's own bookkeeping ($-prefixed type or
// stream: stream metadata, projections, links, statistics), which is not part of our log.
func isSystem(ev *esdb.RecordedEvent) bool {
	return strings.HasPrefix(ev.EventType, "$") || strings.HasPrefix(ev.StreamID, "$")
}

// encode turns a recorded event (hash already computed) into what ESDB stores.
func encode(r eventstore.Recorded) (esdb.EventData, error) {
	md, err := json.Marshal(envelope{
		SchemaVersion:     r.SchemaVersion,
		Metadata:          r.Metadata,
		RecordedAt:        r.RecordedAt,
		PrevHash:          r.PrevHash,
		Hash:              r.Hash,
		ESDBCorrelationID: r.Metadata.CorrelationID,
		ESDBCausationID:   r.Metadata.CausationID,
	})
	if err != nil {
		return esdb.EventData{}, fmt.Errorf("encode metadata of event %s: %w", r.ID, err)
	}
	return esdb.EventData{
		EventID:     uuid.UUID(r.ID), // a ULID is 16 bytes, like a UUID: the id survives unchanged
		EventType:   r.Type,
		ContentType: esdb.ContentTypeJson,
		Data:        r.Data,
		Metadata:    md,
	}, nil
}

// decode rebuilds our envelope from an event ESDB returned.
func decode(ev *esdb.RecordedEvent) (eventstore.Recorded, error) {
	var env envelope
	if err := json.Unmarshal(ev.UserMetadata, &env); err != nil {
		return eventstore.Recorded{}, fmt.Errorf("decode metadata of %s@%d (%s): %w", ev.StreamID, version(ev), ev.EventID, err)
	}
	if len(env.Hash) == 0 {
		return eventstore.Recorded{}, fmt.Errorf("decode %s@%d (%s): no hash in its metadata: not written by attune", ev.StreamID, version(ev), ev.EventID)
	}
	return eventstore.Recorded{
		ID:            ulid.ULID(ev.EventID),
		StreamID:      ev.StreamID,
		StreamVersion: version(ev),
		Type:          ev.EventType,
		SchemaVersion: env.SchemaVersion,
		Data:          ev.Data,
		Metadata:      env.Metadata,
		RecordedAt:    env.RecordedAt,
		Position:      toPosition(ev.Position),
		PrevHash:      env.PrevHash,
		Hash:          env.Hash,
	}, nil
}
