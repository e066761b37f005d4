package eventschema_test

import (
	"encoding/json"
	"testing"

	"github.com/attune-go/attune/adapters/eventschema"
	"github.com/attune-go/attune/adapters/eventstore"
	"github.com/attune-go/attune/domain/event"
)

// FuzzValidateAndDecode hands the validator and the decoder arbitrary type, version and data,
// as a corrupted or hostile row of the log would. Neither panics, and whatever the schema
// accepts the catalogue decodes, and encodes again into what the schema accepts: the schema
// (what the Guard lets in) and the Go types (what every reader folds) agree.
func FuzzValidateAndDecode(f *testing.F) {
	for _, e := range samples() {
		data, err := json.Marshal(e)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(e.EventType(), event.SchemaVersionOf(e), data)
	}
	f.Add("ExecutionRequested", 1, []byte(`{}`))
	f.Add("NoSuchEvent", 1, []byte(`{"a": 1}`))
	f.Add("PackRegistered", 99, []byte(`null`))
	f.Add("EventFired", 1, []byte("{\"event_id\": \"\xff\"}"))

	v, err := eventschema.New()
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, typ string, version int, data []byte) {
		rec := eventstore.Recorded{StreamID: "s-1", Type: typ, Data: data}
		decoded, decodeErr := rec.Decode()
		if err := v.Validate(typ, version, data); err != nil {
			return
		}
		if decodeErr != nil {
			t.Fatalf("the schema accepts %s v%d %s, the catalogue cannot decode it: %v", typ, version, data, decodeErr)
		}
		again, err := json.Marshal(decoded)
		if err != nil {
			t.Fatalf("encode the decoded %s: %v", typ, err)
		}
		if version == event.SchemaVersionOf(decoded) {
			if err := v.Validate(typ, version, again); err != nil {
				t.Fatalf("%s v%d %s decodes and encodes as %s, which the schema refuses: %v", typ, version, data, again, err)
			}
		}
	})
}
