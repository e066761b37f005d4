package eventschema_test

import (
	"encoding/json"
	"errors"
	"slices"
	"strings"
	"testing"
	"testing/fstest"

	"github.com/attune-go/attune/adapters/eventschema"
)

const (
	execID  = "01JQ3V5E8G7ZKX2N4P6R8T0W2Y"
	eventID = "01JQ3V5E8G7ZKX2N4P6R8T0W30"
)

func TestValidateNamesTheTypeAndTheOffendingField(t *testing.T) {
	t.Parallel()
	v := newValidator(t)
	pack := func(component string) string {
		return `{"ref":"examples","version":"1.0.0",` + component + `}`
	}
	tests := []struct {
		name, typ, data  string
		field, reasonHas string
	}{
		{"status outside the state machine", "ExecutionStatusChanged",
			`{"execution_id":"` + execID + `","from":"running","to":"flying"}`, "/to", "must be one of"},
		{"required field missing", "ExecutionStatusChanged",
			`{"execution_id":"` + execID + `","from":"running"}`, "/to", "required"},
		{"unknown field", "ExecutionStatusChanged",
			`{"execution_id":"` + execID + `","from":"running","to":"completed","surprise":1}`, "/surprise", "not a property"},
		{"id that is not a ULID", "ExecutionRequested",
			`{"execution_id":"exec-1","action":"core.echo"}`, "/execution_id", "does not match pattern"},
		{"parameters missing", "EnforcementCreated",
			`{"enforcement_id":"` + execID + `","rule":"a.r","trigger":"a.t","event_id":"` + eventID + `","action":"a.x"}`,
			"/parameters", "required"},
		{"parameters not an object", "EnforcementCreated",
			`{"enforcement_id":"` + execID + `","rule":"a.r","trigger":"a.t","event_id":"` + eventID + `","action":"a.x","parameters":"x=1"}`,
			"/parameters", "want object"},
		{"timestamp that is not one", "EventFired",
			`{"event_id":"` + eventID + `","trigger":"core.webhook","payload":{},"source":"api","occurred_at":"yesterday"}`,
			"/occurred_at", "date-time"},
		{"unknown source", "EventFired",
			`{"event_id":"` + eventID + `","trigger":"core.webhook","payload":{},"source":"carrier pigeon"}`, "/source", "must be one of"},
		{"timer event for no rule", "EventFired",
			`{"event_id":"` + eventID + `","trigger":"core.intervaltimer","payload":{},"source":"timer"}`, "/rule", "required"},
		{"workflow action without its graph", "PackRegistered",
			pack(`"actions":[{"ref":"examples.deploy","name":"deploy","runner_type":"workflow"}]`), "/actions/0/workflow", "required"},
		{"script action without its script", "PackRegistered",
			pack(`"actions":[{"ref":"examples.a","name":"a","runner_type":"node"}]`), "/actions/0/entry_point", "required"},
		{"nested enum", "PackRegistered",
			pack(`"actions":[{"ref":"examples.a","name":"a","runner_type":"perl"}]`), "/actions/0/runner_type", "must be one of"},
		{"secret parameter with a plaintext default", "PackRegistered",
			pack(`"actions":[{"ref":"examples.a","name":"a","runner_type":"shell","parameters":{"token":{"secret":true,"default":"s3cr3t"}}}]`),
			"/actions/0/parameters/token/default", "does not match pattern"},
		{"policy without the spec of its type", "PackRegistered",
			pack(`"policies":[{"ref":"examples.p","name":"p","enabled":true,"action":"examples.a","type":"retry"}]`),
			"/policies/0/retry", "required"},
		{"policy with the spec of another type", "PackRegistered",
			pack(`"policies":[{"ref":"examples.p","name":"p","enabled":true,"action":"examples.a","type":"retry",
				"retry":{"on":["failed"],"max_retries":1},"concurrency":{"threshold":1,"mode":"enqueue"}}]`),
			"/policies/0/concurrency", "not allowed"},
		{"rule with criteria and an expression", "PackRegistered",
			pack(`"rules":[{"ref":"examples.r","name":"r","enabled":true,"trigger":"core.webhook","action":"core.echo",
				"criteria":{"payload.x":{"type":"exists"}},"expression":"{{ true }}"}]`),
			"/rules/0/expression", "not allowed"},
		{"field name escaped as a JSON Pointer", "PackRegistered",
			pack(`"rules":[{"ref":"examples.r","name":"r","enabled":true,"trigger":"core.webhook","action":"core.echo",
				"criteria":{"payload/x~y":{"type":"Equals"}}}]`),
			"/rules/0/criteria/payload~1x~0y/type", "does not match pattern"},
		{"pack version that is not semantic", "PackRegistered", `{"ref":"examples","version":"latest"}`, "/version", "pattern"},
		{"payload that is not an object", "RuleEnabled", `["examples.r"]`, "", "want object"},
		{"payload that is not JSON", "RuleEnabled", `{"rule":`, "", "not valid JSON"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			err := v.Validate(tt.typ, 1, []byte(tt.data))
			var invalid *eventschema.InvalidEventError
			if !errors.As(err, &invalid) {
				t.Fatalf("Validate = %v, want an *InvalidEventError", err)
			}
			if invalid.Type != tt.typ || invalid.Field != tt.field || !strings.Contains(invalid.Reason, tt.reasonHas) {
				t.Fatalf("got type %q field %q reason %q; want type %q field %q reason containing %q",
					invalid.Type, invalid.Field, invalid.Reason, tt.typ, tt.field, tt.reasonHas)
			}
			if !errors.Is(err, eventschema.ErrInvalidEvent) {
				t.Fatalf("%v does not match ErrInvalidEvent", err)
			}
			if !strings.Contains(err.Error(), tt.typ) {
				t.Fatalf("message %q does not name the type", err)
			}
		})
	}
}

func TestValidateAcceptsAMinimalEvent(t *testing.T) {
	t.Parallel()
	v := newValidator(t)
	if err := v.Validate("ExecutionStatusChanged", 1, []byte(`{"execution_id":"`+execID+`","from":"running","to":"completed"}`)); err != nil {
		t.Fatalf("a valid event was rejected: %v", err)
	}
}

func TestValidateRejectsUnknownTypesAndVersions(t *testing.T) {
	t.Parallel()
	v := newValidator(t)
	err := v.Validate("ExecutionTeleported", 1, []byte(`{}`))
	if !errors.Is(err, eventschema.ErrUnknownEventType) || !strings.Contains(err.Error(), "ExecutionTeleported") {
		t.Fatalf("unknown type: got %v, want ErrUnknownEventType naming it", err)
	}
	err = v.Validate("ExecutionRequested", 2, []byte(`{}`))
	if !errors.Is(err, eventschema.ErrUnknownSchemaVersion) || errors.Is(err, eventschema.ErrUnknownEventType) {
		t.Fatalf("unknown version: got %v, want ErrUnknownSchemaVersion only", err)
	}
}

func TestLoadReadsLaterVersionsFromTheirOwnFiles(t *testing.T) {
	t.Parallel()
	v, err := eventschema.Load(fstest.MapFS{
		"Pinged.json":    {Data: []byte(schemaDoc("Pinged.json", `"required":["at"]`))},
		"Pinged.v2.json": {Data: []byte(schemaDoc("Pinged.v2.json", `"required":["at","by"]`))},
	})
	if err != nil {
		t.Fatalf("load: %v", err)
	}
	if got := v.Versions("Pinged"); !slices.Equal(got, []int{1, 2}) {
		t.Fatalf("versions %v, want [1 2]", got)
	}
	if err := v.Validate("Pinged", 1, []byte(`{"at":1}`)); err != nil {
		t.Fatalf("v1: %v", err)
	}
	var invalid *eventschema.InvalidEventError
	if err := v.Validate("Pinged", 2, []byte(`{"at":1}`)); !errors.As(err, &invalid) || invalid.Field != "/by" || invalid.SchemaVersion != 2 {
		t.Fatalf("v2 without by: got %v, want /by missing at version 2", err)
	}
}

func TestLoadRefusesSchemasItCannotTrust(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name, file, doc, errHas string
	}{
		{"file name without a type", "readme.json", schemaDoc("readme.json", ""), "want <Type>.json"},
		{"version 1 under a second name", "Pinged.v1.json", schemaDoc("Pinged.v1.json", ""), "want <Type>.json"},
		{"$id that is not its address", "Pinged.json", schemaDoc("Other.json", ""), "$id must be"},
		{"reference outside the embedded files", "Pinged.json",
			schemaDoc("Pinged.json", `"properties":{"x":{"$ref":"https://example.com/x.json"}}`), "not one of the embedded"},
		{"not JSON", "Pinged.json", `{"$id":`, "parse event schema Pinged.json"},
		{"not a schema", "Pinged.json", schemaDoc("Pinged.json", `"type":"integer-ish"`), "compile event schema Pinged"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			_, err := eventschema.Load(fstest.MapFS{tt.file: {Data: []byte(tt.doc)}})
			if err == nil || !strings.Contains(err.Error(), tt.errHas) {
				t.Fatalf("Load = %v, want an error containing %q", err, tt.errHas)
			}
		})
	}
}

func schemaDoc(file, extra string) string {
	doc := `{"$schema":"https://json-schema.org/draft/2020-12/schema","$id":"` + eventschema.BaseURL + file + `","type":"object"`
	if extra != "" {
		doc += "," + extra
	}
	return doc + "}"
}

// BenchmarkValidate measures what the guard adds to every append.
func BenchmarkValidate(b *testing.B) {
	v, err := eventschema.New()
	if err != nil {
		b.Fatal(err)
	}
	for _, e := range samples() {
		if e.EventType() != "ExecutionStatusChanged" && e.EventType() != "PackRegistered" {
			continue
		}
		data, _ := json.Marshal(e)
		b.Run(e.EventType(), func(b *testing.B) {
			b.SetBytes(int64(len(data)))
			for b.Loop() {
				if err := v.Validate(e.EventType(), 1, data); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
