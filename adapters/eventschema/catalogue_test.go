package eventschema_test

import (
	"encoding/json"
	"io/fs"
	"maps"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/attune-go/attune/adapters/eventschema"
	"github.com/attune-go/attune/domain/catalog"
	"github.com/attune-go/attune/domain/event"
	"github.com/attune-go/attune/domain/execution"
	"github.com/attune-go/attune/domain/inquiry"
	"github.com/attune-go/attune/domain/kv"
	"github.com/attune-go/attune/domain/pack"
	"github.com/attune-go/attune/domain/policy"
	"github.com/attune-go/attune/domain/trigger"
	"github.com/attune-go/attune/domain/workflow"
	"github.com/attune-go/attune/schemas"
)

// These tests keep three descriptions of every event in step: the Go payload types, the
// catalogue, and the JSON Schemas that the guard enforces on the log.

func TestEveryCatalogueTypeHasASchemaAndEverySchemaAType(t *testing.T) {
	t.Parallel()
	v := newValidator(t)
	if got, want := v.Types(), catalog.Types(); !slices.Equal(got, want) {
		t.Fatalf("schema types differ from the catalogue:\n schemas:   %v\n catalogue: %v", got, want)
	}
	for _, typ := range catalog.Types() {
		e, _ := catalog.New(typ)
		if e.EventType() != typ {
			t.Errorf("catalog.New(%q) makes a %s", typ, e.EventType())
		}
		if ver := event.SchemaVersionOf(e); !slices.Contains(v.Versions(typ), ver) {
			t.Errorf("%s is written at schema version %d, but schemas exist for %v", typ, ver, v.Versions(typ))
		}
	}
}

func TestEverySampleValidatesAndRoundTripsThroughTheCatalogue(t *testing.T) {
	t.Parallel()
	v := newValidator(t)
	var covered []string
	for _, e := range samples() {
		typ := e.EventType()
		covered = append(covered, typ)
		data, err := json.Marshal(e)
		if err != nil {
			t.Fatalf("marshal %s: %v", typ, err)
		}
		if err := v.Validate(typ, event.SchemaVersionOf(e), data); err != nil {
			t.Errorf("sample %s does not satisfy its schema: %v\n%s", typ, err, data)
		}
		decoded, ok := catalog.New(typ)
		if !ok {
			t.Errorf("sample %s is not in the catalogue", typ)
			continue
		}
		if err := json.Unmarshal(data, decoded); err != nil {
			t.Errorf("decode %s: %v", typ, err)
			continue
		}
		again, _ := json.Marshal(decoded)
		if string(again) != string(data) {
			t.Errorf("%s changes through decode and encode:\n before %s\n after  %s", typ, data, again)
		}
	}
	slices.Sort(covered)
	if want := catalog.Types(); !slices.Equal(covered, want) {
		t.Fatalf("samples cover %v, the catalogue is %v", covered, want)
	}
}

// TestGoTypesAndSchemasDeclareTheSameFields compares, for every type, the set of JSON paths
// the Go type can write with the set the schema declares, and the fields each object
// requires with the ones Go always writes. A field added on one side only fails here, before
// the guard rejects it in production or a reader meets a field no schema documents.
func TestGoTypesAndSchemasDeclareTheSameFields(t *testing.T) {
	t.Parallel()
	for _, typ := range catalog.Types() {
		e, _ := catalog.New(typ)
		goFields, goRequired := goShape(reflect.TypeOf(e))
		doc := readSchema(t, typ)
		schemaFields, schemaRequired := schemaShape(doc)
		if diff := setDiff(goFields, schemaFields); diff != "" {
			t.Errorf("%s: Go fields and schema properties differ:\n%s", typ, diff)
		}
		for _, obj := range slices.Sorted(maps.Keys(merge(goRequired, schemaRequired))) {
			if g, s := goRequired[obj], schemaRequired[obj]; !slices.Equal(g, s) {
				t.Errorf("%s: object %q: schema requires %v, Go always writes %v (omitempty ⇔ optional)", typ, "/"+obj, s, g)
			}
		}
	}
}

func TestSamplesSetEveryField(t *testing.T) {
	t.Parallel()
	for _, e := range samples() {
		goFields, _ := goShape(reflect.TypeOf(e))
		data, _ := json.Marshal(e)
		var inst any
		if err := json.Unmarshal(data, &inst); err != nil {
			t.Fatal(err)
		}
		set := map[string]bool{}
		instanceShape(inst, "", goFields, set)
		var missing []string
		for f := range goFields {
			if !set[f] {
				missing = append(missing, f)
			}
		}
		if len(missing) > 0 {
			slices.Sort(missing)
			t.Errorf("sample %s leaves %v unset: it cannot prove the schema accepts them", e.EventType(), missing)
		}
	}
}

// TestSchemaEnumsAreTheGoConstants checks every enum of every schema against the Go list it
// mirrors. Enums live in $defs under a name listed here, so none escapes the check.
func TestSchemaEnumsAreTheGoConstants(t *testing.T) {
	t.Parallel()
	var terminal []execution.Status
	for _, s := range execution.Statuses {
		if s.Terminal() {
			terminal = append(terminal, s)
		}
	}
	want := map[string][]string{
		"execution_status": names(execution.Statuses),
		"terminal_status":  names(terminal),
		"retry_on":         names(policy.RetryOn),
		"policy_type":      names(policy.Types),
		"policy_mode":      names(policy.Modes),
		"backoff":          names(policy.Backoffs),
		"runner_type":      names(pack.RunnerTypes),
		"trigger_type":     names(pack.TriggerTypes),
		"param_type":       names(pack.ParamTypes),
		"component_kind":   names(pack.Kinds),
		"event_source":     names(trigger.Sources),
		"waiting_status":   names(workflow.WaitingStatuses),
		"schema_kind":      names(inquiry.SchemaKinds),
		"kv_scope":         names(kv.Scopes),
	}
	var known []string
	for _, values := range want {
		known = append(known, values...)
	}
	for _, typ := range catalog.Types() {
		walk(readSchema(t, typ), "", func(path string, node map[string]any) {
			enum, ok := node["enum"].([]any)
			if !ok {
				return
			}
			var got []string
			for _, v := range enum {
				s, _ := v.(string)
				got = append(got, s)
			}
			if strings.Contains(path, "/if/") {
				// A condition narrows a declared enum: its values must exist, not be complete.
				for _, g := range got {
					if !slices.Contains(known, g) {
						t.Errorf("%s: condition at %s tests %q, which no Go constant names", typ, path, g)
					}
				}
				return
			}
			def, inDefs := strings.CutPrefix(path, "/$defs/")
			if !inDefs || strings.Contains(def, "/") {
				t.Errorf("%s: enum at %s: move it to $defs under a name this test checks", typ, path)
				return
			}
			expected, ok := want[def]
			if !ok {
				t.Errorf("%s: enum $defs/%s: tell this test which Go constants it mirrors", typ, def)
				return
			}
			if !slices.Equal(got, expected) {
				t.Errorf("%s: $defs/%s enum is %v, Go says %v", typ, def, got, expected)
			}
		})
	}
}

func names[T ~string](vs []T) []string {
	out := make([]string, len(vs))
	for i, v := range vs {
		out[i] = string(v)
	}
	return out
}

func newValidator(t *testing.T) *eventschema.Validator {
	t.Helper()
	v, err := eventschema.New()
	if err != nil {
		t.Fatalf("compile the embedded schemas: %v", err)
	}
	return v
}

func readSchema(t *testing.T, typ string) map[string]any {
	t.Helper()
	data, err := fs.ReadFile(schemas.Events, "events/"+typ+".json")
	if err != nil {
		t.Fatalf("read schema of %s: %v", typ, err)
	}
	var doc map[string]any
	if err := json.Unmarshal(data, &doc); err != nil {
		t.Fatalf("parse schema of %s: %v", typ, err)
	}
	return doc
}

var (
	rawMessageType = reflect.TypeFor[json.RawMessage]()
	timeType       = reflect.TypeFor[time.Time]()
)

// goShape lists the JSON paths a Go type can write ("/actions/[]/parameters/{}/type": []
// for array elements, {} for map values) and, per object path, the fields it always writes.
// json.RawMessage and time.Time are leaves.
func goShape(t reflect.Type) (fields map[string]bool, required map[string][]string) {
	fields, required = map[string]bool{}, map[string][]string{}
	var visit func(t reflect.Type, prefix string)
	visit = func(t reflect.Type, prefix string) {
		for t.Kind() == reflect.Pointer {
			t = t.Elem()
		}
		if t == rawMessageType || t == timeType {
			return
		}
		switch t.Kind() {
		case reflect.Struct:
			zero, _ := json.Marshal(reflect.New(t).Interface())
			var keys map[string]json.RawMessage
			_ = json.Unmarshal(zero, &keys)
			required[prefix] = slices.Sorted(maps.Keys(keys))
			for i := range t.NumField() {
				f := t.Field(i)
				name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
				if !f.IsExported() || name == "-" {
					continue
				}
				if name == "" {
					name = f.Name
				}
				fields[prefix+"/"+name] = true
				visit(f.Type, prefix+"/"+name)
			}
		case reflect.Slice, reflect.Array:
			visit(t.Elem(), prefix+"/[]")
		case reflect.Map:
			visit(t.Elem(), prefix+"/{}")
		}
	}
	visit(t, "")
	delete(fields, "")
	return fields, trimRoot(required)
}

// schemaShape lists the same for a schema: properties (through $ref, allOf/anyOf/oneOf and
// then/else, whose properties are declared too), items as [], additionalProperties as {}.
// Only an object's own required counts: a conditional requirement is an extra rule, not a
// field Go must always write.
func schemaShape(root map[string]any) (fields map[string]bool, required map[string][]string) {
	fields, required = map[string]bool{}, map[string][]string{}
	var visit func(node any, prefix string, conditional bool)
	visit = func(node any, prefix string, conditional bool) {
		m, ok := node.(map[string]any)
		if !ok {
			return // a boolean schema declares nothing
		}
		if ref, ok := m["$ref"].(string); ok {
			name := strings.TrimPrefix(ref, "#/$defs/")
			visit(root["$defs"].(map[string]any)[name], prefix, conditional)
		}
		if props, ok := m["properties"].(map[string]any); ok {
			for k, v := range props {
				if v != false {
					fields[prefix+"/"+k] = true
				}
				visit(v, prefix+"/"+k, false)
			}
		}
		if req, ok := m["required"].([]any); ok && !conditional {
			for _, r := range req {
				required[prefix] = append(required[prefix], r.(string))
			}
			slices.Sort(required[prefix])
		} else if _, obj := m["properties"]; obj && !conditional {
			if _, seen := required[prefix]; !seen {
				required[prefix] = nil
			}
		}
		if items, ok := m["items"]; ok {
			visit(items, prefix+"/[]", false)
		}
		if ap, ok := m["additionalProperties"].(map[string]any); ok {
			visit(ap, prefix+"/{}", false)
		}
		for _, kw := range []string{"allOf", "anyOf", "oneOf"} {
			if list, ok := m[kw].([]any); ok {
				for _, sub := range list {
					visit(sub, prefix, true)
				}
			}
		}
		for _, kw := range []string{"then", "else"} {
			if sub, ok := m[kw]; ok {
				visit(sub, prefix, true)
			}
		}
	}
	visit(root, "", false)
	return fields, trimRoot(required)
}

// instanceShape lists the paths a decoded JSON value sets, reading objects at map paths as
// maps.
func instanceShape(v any, prefix string, goFields map[string]bool, set map[string]bool) {
	switch v := v.(type) {
	case map[string]any:
		isMap := goFields[prefix+"/{}"] || hasPrefix(goFields, prefix+"/{}/")
		for k, child := range v {
			p := prefix + "/" + k
			if isMap {
				p = prefix + "/{}"
			}
			set[p] = true
			instanceShape(child, p, goFields, set)
		}
	case []any:
		for _, child := range v {
			set[prefix+"/[]"] = true
			instanceShape(child, prefix+"/[]", goFields, set)
		}
	}
}

func hasPrefix(set map[string]bool, prefix string) bool {
	for k := range set {
		if strings.HasPrefix(k, prefix) {
			return true
		}
	}
	return false
}

// walk calls fn for every schema object in doc, with its JSON Pointer.
func walk(node any, path string, fn func(string, map[string]any)) {
	switch n := node.(type) {
	case map[string]any:
		fn(path, n)
		for k, v := range n {
			walk(v, path+"/"+k, fn)
		}
	case []any:
		for i, v := range n {
			walk(v, path+"/"+strings.Repeat("#", i+1), fn)
		}
	}
}

func trimRoot(m map[string][]string) map[string][]string {
	out := make(map[string][]string, len(m))
	for k, v := range m {
		out[strings.TrimPrefix(k, "/")] = v
	}
	return out
}

func merge(a, b map[string][]string) map[string][]string {
	out := maps.Clone(a)
	maps.Copy(out, b)
	return out
}

func setDiff(goFields, schemaFields map[string]bool) string {
	var b strings.Builder
	for _, f := range slices.Sorted(maps.Keys(goFields)) {
		if !schemaFields[f] {
			b.WriteString("  only in Go:     " + f + "\n")
		}
	}
	for _, f := range slices.Sorted(maps.Keys(schemaFields)) {
		if !goFields[f] {
			b.WriteString("  only in schema: " + f + "\n")
		}
	}
	return b.String()
}
