// Package eventschema checks event payloads against their JSON Schemas (schemas/events), so a
// payload that no reader of the immutable log could decode never reaches it.
package eventschema

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"regexp"
	"slices"
	"strconv"
	"strings"

	"github.com/santhosh-tekuri/jsonschema/v6"
	"github.com/santhosh-tekuri/jsonschema/v6/kind"
	"golang.org/x/text/language"
	"golang.org/x/text/message"

	"github.com/attune-go/attune/schemas"
)

// BaseURL prefixes every event schema's $id.
const BaseURL = "https://attune-go.github.io/attune/schemas/events/"

var (
	// ErrUnknownEventType is matched by the error for a type that has no schema.
	ErrUnknownEventType = errors.New("unknown event type")
	// ErrUnknownSchemaVersion is matched by the error for a known type at a version that has
	// no schema.
	ErrUnknownSchemaVersion = errors.New("unknown event schema version")
	// ErrInvalidEvent is matched by every *InvalidEventError.
	ErrInvalidEvent = errors.New("invalid event")
)

// InvalidEventError says which field of which event type breaks its schema.
type InvalidEventError struct {
	Type          string
	SchemaVersion int
	// Field is a JSON Pointer into the payload ("/to", "/actions/0/runner_type"); empty when
	// the payload as a whole is wrong (not JSON, not an object).
	Field  string
	Reason string
}

func (e *InvalidEventError) Error() string {
	field := e.Field
	if field == "" {
		field = "the payload"
	}
	return fmt.Sprintf("invalid %s (schema v%d): %s: %s", e.Type, e.SchemaVersion, field, e.Reason)
}

// Is makes errors.Is(err, ErrInvalidEvent) hold.
func (e *InvalidEventError) Is(target error) bool { return target == ErrInvalidEvent }

// Validator holds the compiled schema of every event type and version. It is safe for
// concurrent use.
type Validator struct {
	schemas map[schemaKey]*jsonschema.Schema
	printer *message.Printer
}

type schemaKey struct {
	eventType string
	version   int
}

// fileName is <Type>.json for version 1 and <Type>.v<N>.json for a later version N.
var fileName = regexp.MustCompile(`^([A-Z][A-Za-z0-9]*)(?:\.v([1-9][0-9]*))?\.json$`)

// New compiles the embedded schemas/events.
func New() (*Validator, error) {
	sub, err := fs.Sub(schemas.Events, "events")
	if err != nil {
		return nil, fmt.Errorf("open embedded event schemas: %w", err)
	}
	return Load(sub)
}

// Load compiles every schema file at the root of fsys. A file whose name does not follow
// <Type>.json / <Type>.v<N>.json is an error, not silently ignored.
func Load(fsys fs.FS) (*Validator, error) {
	entries, err := fs.ReadDir(fsys, ".")
	if err != nil {
		return nil, fmt.Errorf("list event schemas: %w", err)
	}
	c := jsonschema.NewCompiler()
	c.DefaultDraft(jsonschema.Draft2020)
	c.AssertFormat()
	c.UseLoader(noRemote{})
	urls := map[schemaKey]string{}
	var errs []error
	for _, e := range entries {
		if e.IsDir() {
			continue
		}
		k, err := parseFileName(e.Name())
		if err != nil {
			errs = append(errs, err)
			continue
		}
		if _, dup := urls[k]; dup {
			errs = append(errs, fmt.Errorf("event schema %s: %s v%d is defined twice", e.Name(), k.eventType, k.version))
			continue
		}
		url, err := addResource(c, fsys, e.Name())
		if err != nil {
			errs = append(errs, err)
			continue
		}
		urls[k] = url
	}
	v := &Validator{schemas: make(map[schemaKey]*jsonschema.Schema, len(urls)), printer: message.NewPrinter(language.English)}
	for k, url := range urls {
		sch, err := c.Compile(url)
		if err != nil {
			errs = append(errs, fmt.Errorf("compile event schema %s v%d: %w", k.eventType, k.version, err))
			continue
		}
		v.schemas[k] = sch
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	return v, nil
}

func parseFileName(name string) (schemaKey, error) {
	m := fileName.FindStringSubmatch(name)
	if m == nil || m[2] == "1" { // version 1 is <Type>.json, so one version has one name
		return schemaKey{}, fmt.Errorf("event schema %q: want <Type>.json or <Type>.v<N>.json (N ≥ 2)", name)
	}
	k := schemaKey{eventType: m[1], version: 1}
	if m[2] != "" {
		n, err := strconv.Atoi(m[2])
		if err != nil {
			return schemaKey{}, fmt.Errorf("event schema %q: version: %w", name, err)
		}
		k.version = n
	}
	return k, nil
}

// addResource registers one schema under the URL its $id must declare, so references
// between schemas and error messages use the published address.
func addResource(c *jsonschema.Compiler, fsys fs.FS, name string) (string, error) {
	raw, err := fs.ReadFile(fsys, name)
	if err != nil {
		return "", fmt.Errorf("read event schema %s: %w", name, err)
	}
	doc, err := jsonschema.UnmarshalJSON(bytes.NewReader(raw))
	if err != nil {
		return "", fmt.Errorf("parse event schema %s: %w", name, err)
	}
	url := BaseURL + name
	if obj, ok := doc.(map[string]any); !ok || obj["$id"] != url {
		return "", fmt.Errorf("event schema %s: $id must be %q", name, url)
	}
	if err := c.AddResource(url, doc); err != nil {
		return "", fmt.Errorf("add event schema %s: %w", name, err)
	}
	return url, nil
}

// noRemote keeps compilation hermetic: a $ref outside the embedded files is an error rather
// than a network or disk read at startup.
type noRemote struct{}

func (noRemote) Load(url string) (any, error) {
	return nil, fmt.Errorf("schema %s is not one of the embedded event schemas", url)
}

// Versions lists the schema versions known for an event type, ascending.
func (v *Validator) Versions(eventType string) []int {
	var out []int
	for k := range v.schemas {
		if k.eventType == eventType {
			out = append(out, k.version)
		}
	}
	slices.Sort(out)
	return out
}

// Types lists the event types that have a schema, sorted.
func (v *Validator) Types() []string {
	var out []string
	for k := range v.schemas {
		if !slices.Contains(out, k.eventType) {
			out = append(out, k.eventType)
		}
	}
	slices.Sort(out)
	return out
}

// Validate checks one payload against the schema of its type and version. It returns an
// *InvalidEventError naming the first offending field, or an error matching
// ErrUnknownEventType / ErrUnknownSchemaVersion.
func (v *Validator) Validate(eventType string, schemaVersion int, data []byte) error {
	sch, ok := v.schemas[schemaKey{eventType, schemaVersion}]
	if !ok {
		if len(v.Versions(eventType)) == 0 {
			return fmt.Errorf("validate %q: %w", eventType, ErrUnknownEventType)
		}
		return fmt.Errorf("validate %s v%d (known: %v): %w", eventType, schemaVersion, v.Versions(eventType), ErrUnknownSchemaVersion)
	}
	inst, err := jsonschema.UnmarshalJSON(bytes.NewReader(data))
	if err != nil {
		return &InvalidEventError{Type: eventType, SchemaVersion: schemaVersion, Reason: "not valid JSON: " + err.Error()}
	}
	err = sch.Validate(inst)
	if err == nil {
		return nil
	}
	var ve *jsonschema.ValidationError
	if !errors.As(err, &ve) {
		return fmt.Errorf("validate %s v%d: %w", eventType, schemaVersion, err)
	}
	field, reason := v.explain(firstLeaf(ve))
	return &InvalidEventError{Type: eventType, SchemaVersion: schemaVersion, Field: field, Reason: reason}
}

// firstLeaf is the most specific failure: the first cause without causes of its own.
func firstLeaf(e *jsonschema.ValidationError) *jsonschema.ValidationError {
	for len(e.Causes) > 0 {
		e = e.Causes[0]
	}
	return e
}

// explain names the field a leaf failure is about. A missing or unexpected property is
// reported at that property, not at the object that lacks or holds it.
func (v *Validator) explain(e *jsonschema.ValidationError) (field, reason string) {
	loc := e.InstanceLocation
	switch k := e.ErrorKind.(type) {
	case *kind.Required:
		return pointer(append(loc[:len(loc):len(loc)], k.Missing[0])), "required but missing"
	case *kind.AdditionalProperties:
		return pointer(append(loc[:len(loc):len(loc)], k.Properties[0])), "not a property of this event"
	case *kind.FalseSchema:
		// The schemas forbid a property with false only where another one excludes it.
		return pointer(loc), "not allowed together with the other fields"
	}
	return pointer(loc), e.ErrorKind.LocalizedString(v.printer)
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
