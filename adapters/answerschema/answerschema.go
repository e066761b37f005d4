// Package answerschema compiles the schema of an inquiry's answer and checks answers against
// it. The schema is either Attune's flat parameter schema (name → {type, required, enum,
// default …}, checked by the same rules as an action's parameters) or a JSON Schema (draft
// 2020-12, through santhosh-tekuri/jsonschema, no remote references) whose top level is an
// object schema; inquiry.DetectSchemaKind tells which. Either way an answer is a JSON object,
// so a workflow reads it as task.<name>.result.<field>. A failure is a *FieldError whose
// Field is the JSON Pointer of the offending value in the answer.
package answerschema

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"

	"github.com/santhosh-tekuri/jsonschema/v6"
	"github.com/santhosh-tekuri/jsonschema/v6/kind"
	"golang.org/x/text/language"
	"golang.org/x/text/message"

	"github.com/attune-go/attune/domain/inquiry"
	"github.com/attune-go/attune/domain/pack"
)

// FieldError is an answer that breaks the schema: Field is the JSON Pointer of the value
// ("" for the answer as a whole), Reason what was wanted.
type FieldError struct {
	Field  string
	Reason string
}

func (e *FieldError) Error() string {
	if e.Field == "" {
		return "answer: " + e.Reason
	}
	return fmt.Sprintf("answer %s: %s", e.Field, e.Reason)
}

// Schema is a compiled answer schema.
type Schema struct {
	kind inquiry.SchemaKind
	flat pack.Params
	js   *jsonschema.Schema
}

// Kind says how the schema was read.
func (s *Schema) Kind() inquiry.SchemaKind { return s.kind }

// Compile detects the schema's kind and compiles it; an error says what is wrong with it.
func Compile(raw json.RawMessage) (*Schema, error) {
	k, err := inquiry.DetectSchemaKind(raw)
	if err != nil {
		return nil, err
	}
	return CompileAs(k, raw)
}

// CompileAs compiles a schema of a known kind (as recorded in InquiryCreated).
func CompileAs(k inquiry.SchemaKind, raw json.RawMessage) (*Schema, error) {
	switch k {
	case inquiry.SchemaFlat:
		return compileFlat(raw)
	case inquiry.SchemaJSON:
		return compileJSON(raw)
	}
	return nil, fmt.Errorf("unknown schema kind %q", k)
}

func compileFlat(raw json.RawMessage) (*Schema, error) {
	var fields map[string]json.RawMessage
	if err := json.Unmarshal(raw, &fields); err != nil {
		return nil, fmt.Errorf("flat schema: %w", err)
	}
	if len(fields) == 0 {
		return nil, errors.New("flat schema: it names no field; an answer needs at least one")
	}
	ps := pack.Params{}
	var errs []error
	for _, name := range slices.Sorted(maps.Keys(fields)) {
		dec := json.NewDecoder(bytes.NewReader(fields[name]))
		dec.DisallowUnknownFields()
		var p pack.Param
		if err := dec.Decode(&p); err != nil {
			errs = append(errs, fmt.Errorf("flat schema field %q: want a spec {type, required, enum, default …} (a JSON Schema needs \"type\": \"object\" at its top): %v", name, err))
			continue
		}
		if p.Type != "" {
			if _, err := pack.ParseParamType(string(p.Type)); err != nil {
				errs = append(errs, fmt.Errorf("flat schema field %q: %w", name, err))
				continue
			}
		}
		if p.Secret {
			errs = append(errs, fmt.Errorf("flat schema field %q: an answer is recorded in the log and shown as the task's result; it cannot be secret", name))
			continue
		}
		if p.Default != nil {
			v, err := pack.DecodeValue(p.Default)
			if err != nil {
				errs = append(errs, fmt.Errorf("flat schema field %q: default is not JSON", name))
				continue
			}
			if perr := p.Check(name, v); perr != nil {
				errs = append(errs, fmt.Errorf("flat schema field %q: default: %s", name, perr.Reason))
				continue
			}
		}
		ps[name] = p
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	return &Schema{kind: inquiry.SchemaFlat, flat: ps}, nil
}

const schemaURL = "inquiry-answer.json"

func compileJSON(raw json.RawMessage) (*Schema, error) {
	doc, err := jsonschema.UnmarshalJSON(bytes.NewReader(raw))
	if err != nil {
		return nil, fmt.Errorf("JSON Schema: %w", err)
	}
	if m, ok := doc.(map[string]any); !ok || m["type"] != "object" {
		return nil, errors.New(`JSON Schema: its top level must say "type": "object" (an answer is an object, read as task.<name>.result.<field>)`)
	}
	c := jsonschema.NewCompiler()
	c.DefaultDraft(jsonschema.Draft2020)
	// format and content keywords are annotations by default in 2020-12: asserted here, so a
	// schema's "format": "email" is a check, not a comment nobody enforces.
	c.AssertFormat()
	c.AssertContent()
	c.UseLoader(noRemote{})
	if err := c.AddResource(schemaURL, doc); err != nil {
		return nil, fmt.Errorf("JSON Schema: %w", err)
	}
	sch, err := c.Compile(schemaURL)
	if err != nil {
		return nil, fmt.Errorf("JSON Schema: %w", err)
	}
	return &Schema{kind: inquiry.SchemaJSON, js: sch}, nil
}

type noRemote struct{}

func (noRemote) Load(url string) (any, error) {
	return nil, fmt.Errorf("an answer schema may not refer to another document (%s)", url)
}

// Check validates an answer and returns it as it is to be recorded: a flat schema's
// defaults applied, keys sorted. A failure is a *FieldError.
func (s *Schema) Check(answer json.RawMessage) (json.RawMessage, error) {
	v, err := pack.DecodeValue(answer)
	if err != nil {
		return nil, &FieldError{Reason: "not valid JSON: " + err.Error()}
	}
	obj, ok := v.(map[string]any)
	if !ok {
		return nil, &FieldError{Reason: "want a JSON object, got " + pack.KindOf(v)}
	}
	if s.kind == inquiry.SchemaFlat {
		return s.checkFlat(obj)
	}
	inst, err := jsonschema.UnmarshalJSON(bytes.NewReader(answer))
	if err != nil {
		return nil, &FieldError{Reason: "not valid JSON: " + err.Error()}
	}
	if err := s.js.Validate(inst); err != nil {
		var ve *jsonschema.ValidationError
		if !errors.As(err, &ve) {
			return nil, &FieldError{Reason: err.Error()}
		}
		return nil, explain(firstLeaf(ve))
	}
	return canonical(obj)
}

func (s *Schema) checkFlat(obj map[string]any) (json.RawMessage, error) {
	for _, name := range slices.Sorted(maps.Keys(obj)) {
		if _, ok := s.flat[name]; !ok {
			return nil, &FieldError{Field: pointer([]string{name}),
				Reason: "not a field of this answer (it takes " + strings.Join(slices.Sorted(maps.Keys(s.flat)), ", ") + ")"}
		}
	}
	if err := s.flat.Validate(obj); err != nil {
		var invalid pack.InvalidParamsError
		if errors.As(err, &invalid) && len(invalid) > 0 {
			return nil, &FieldError{Field: paramPointer(invalid[0].Param), Reason: invalid[0].Reason}
		}
		return nil, &FieldError{Reason: err.Error()}
	}
	for name, p := range s.flat {
		if _, given := obj[name]; !given && p.Default != nil {
			v, _ := pack.DecodeValue(p.Default) // checked by compileFlat
			obj[name] = v
		}
	}
	return canonical(obj)
}

// paramPointer turns a parameter name as pack names it (items[2]) into a JSON Pointer.
func paramPointer(name string) string {
	var tokens []string
	base, rest, _ := strings.Cut(name, "[")
	tokens = append(tokens, base)
	for rest != "" {
		var idx string
		idx, rest, _ = strings.Cut(rest, "]")
		tokens = append(tokens, idx)
		rest = strings.TrimPrefix(rest, "[")
	}
	return pointer(tokens)
}

func canonical(obj map[string]any) (json.RawMessage, error) {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(obj); err != nil {
		return nil, &FieldError{Reason: err.Error()}
	}
	return json.RawMessage(bytes.TrimSpace(b.Bytes())), nil
}

func firstLeaf(e *jsonschema.ValidationError) *jsonschema.ValidationError {
	for len(e.Causes) > 0 {
		e = e.Causes[0]
	}
	return e
}

var printer = message.NewPrinter(language.English)

// explain names the field a leaf failure is about: a missing or unexpected property at that
// property, not at the object that lacks or holds it.
func explain(e *jsonschema.ValidationError) *FieldError {
	loc := e.InstanceLocation
	switch k := e.ErrorKind.(type) {
	case *kind.Required:
		return &FieldError{Field: pointer(append(loc[:len(loc):len(loc)], k.Missing[0])), Reason: "required but missing"}
	case *kind.AdditionalProperties:
		return &FieldError{Field: pointer(append(loc[:len(loc):len(loc)], k.Properties[0])), Reason: "not a field of this answer"}
	}
	return &FieldError{Field: pointer(loc), Reason: e.ErrorKind.LocalizedString(printer)}
}

// pointer renders RFC 6901 JSON Pointer tokens.
func pointer(tokens []string) string {
	var b strings.Builder
	for _, t := range tokens {
		b.WriteByte('/')
		b.WriteString(strings.NewReplacer("~", "~0", "/", "~1").Replace(t))
	}
	return b.String()
}
