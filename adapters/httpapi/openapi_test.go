package httpapi

import (
	"encoding"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/attune-go/attune/adapters/auth"
	"github.com/attune-go/attune/adapters/idempotency"
	"github.com/attune-go/attune/domain/event"
	"github.com/attune-go/attune/domain/pack"
)

// openAPIDoc fetches the document the way a client does: without a token, from a server
// that requires one.
func openAPIDoc(t *testing.T) map[string]any {
	t.Helper()
	rec := httptest.NewRecorder()
	New(fullConfig(t)).ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/api/v1/openapi.json", nil))
	if rec.Code != http.StatusOK || !strings.HasPrefix(rec.Header().Get("Content-Type"), "application/json") {
		t.Fatalf("GET /api/v1/openapi.json without a token: %d %q %s", rec.Code, rec.Header().Get("Content-Type"), rec.Body)
	}
	var doc map[string]any
	if err := json.Unmarshal(rec.Body.Bytes(), &doc); err != nil {
		t.Fatalf("the OpenAPI document is not JSON: %v", err)
	}
	return doc
}

func obj(v any) map[string]any { m, _ := v.(map[string]any); return m }

func list(v any) []any { l, _ := v.([]any); return l }

// resolve follows a local $ref ("#/components/schemas/Execution") to what it names.
func resolve(t *testing.T, doc map[string]any, v any) map[string]any {
	t.Helper()
	m := obj(v)
	for m != nil && m["$ref"] != nil {
		ref, _ := m["$ref"].(string)
		var cur any = doc
		for _, part := range strings.Split(strings.TrimPrefix(ref, "#/"), "/") {
			cur = obj(cur)[part]
		}
		if cur == nil {
			t.Fatalf("$ref %q resolves to nothing", ref)
		}
		m = obj(cur)
	}
	return m
}

var httpMethods = []string{"get", "put", "post", "delete", "options", "head", "patch", "trace"}

// operations lists the document's operations as router patterns, "GET /api/v1/executions/{id}".
func operations(doc map[string]any) map[string]map[string]any {
	ops := map[string]map[string]any{}
	for path, item := range obj(doc["paths"]) {
		for method, op := range obj(item) {
			if slices.Contains(httpMethods, method) {
				ops[strings.ToUpper(method)+" "+path] = obj(op)
			}
		}
	}
	return ops
}

func TestOpenAPIIsA31Document(t *testing.T) {
	t.Parallel()
	doc := openAPIDoc(t)
	if doc["openapi"] != "3.1.0" {
		t.Errorf("openapi = %v, want 3.1.0", doc["openapi"])
	}
	if info := obj(doc["info"]); info["title"] == nil || info["version"] == nil {
		t.Errorf("info lacks title or version: %v", info)
	}
	if len(obj(doc["paths"])) == 0 || len(list(doc["servers"])) == 0 {
		t.Error("the document has no paths or no servers")
	}
	bearer := obj(obj(obj(doc["components"])["securitySchemes"])["bearer"])
	if bearer["type"] != "http" || bearer["scheme"] != "bearer" {
		t.Errorf("securitySchemes.bearer = %v, want an http bearer scheme", bearer)
	}
	// Every $ref points at something: a dangling one breaks every client generator.
	var walk func(v any)
	walk = func(v any) {
		switch v := v.(type) {
		case map[string]any:
			if _, ok := v["$ref"]; ok {
				resolve(t, doc, v)
			}
			for _, x := range v {
				walk(x)
			}
		case []any:
			for _, x := range v {
				walk(x)
			}
		}
	}
	walk(doc)
}

func TestOpenAPIDocumentsEveryRouteAndOnlyThem(t *testing.T) {
	t.Parallel()
	ops := operations(openAPIDoc(t))
	registered := map[string]bool{}
	for _, p := range New(fullConfig(t)).Routes() {
		if !strings.Contains(p, " ") {
			continue // the catch-all 404, no route of its own
		}
		registered[p] = true
		if ops[p] == nil {
			t.Errorf("route %q is not in openapi.json: document it", p)
		}
	}
	for p, op := range ops {
		if !registered[p] {
			t.Errorf("openapi.json documents %q, which a fully configured server does not route", p)
			continue
		}
		// The document tells clients which token a route needs: it must say what
		// routeAccess enforces.
		need := accessFor(p)
		sec, hasSec := op["security"].([]any)
		switch {
		case need.public && (!hasSec || len(sec) != 0):
			t.Errorf("%s is public; its operation wants security: [] (got %v)", p, op["security"])
		case !need.public && hasSec:
			t.Errorf("%s needs a token; its operation overrides security with %v", p, sec)
		case !need.public && op["x-attune-role"] != need.role.String():
			t.Errorf("%s: x-attune-role %v, routeAccess says %s", p, op["x-attune-role"], need.role)
		}
		r401 := obj(obj(op["responses"])["401"])["$ref"] == "#/components/responses/Unauthorized"
		if r401 == need.public {
			t.Errorf("%s: documents the 401 of a missing token = %v, want %v", p, r401, !need.public)
		}
	}
}

func TestOpenAPIPathParametersMatchThePaths(t *testing.T) {
	t.Parallel()
	doc := openAPIDoc(t)
	for pattern, op := range operations(doc) {
		_, path, _ := strings.Cut(pattern, " ")
		var inPath []string
		for _, w := range wildcard.FindAllString(path, -1) {
			inPath = append(inPath, strings.Trim(w, "{}"))
		}
		params := append(slices.Clone(list(obj(obj(doc["paths"])[path])["parameters"])), list(op["parameters"])...)
		var documented []string
		for _, p := range params {
			p := resolve(t, doc, p)
			if p["in"] != "path" {
				continue
			}
			name, _ := p["name"].(string)
			documented = append(documented, name)
			if p["required"] != true {
				t.Errorf("%s: path parameter %q must be required", pattern, name)
			}
		}
		slices.Sort(inPath)
		slices.Sort(documented)
		if !slices.Equal(inPath, documented) {
			t.Errorf("%s: path parameters %v documented, the path has %v", pattern, documented, inPath)
		}
	}
}

// page mirrors writePage's answer, {"items": […], "next_cursor": …}.
type page[T any] struct {
	Items      []T     `json:"items"`
	NextCursor *string `json:"next_cursor"`
}

// items mirrors the unpaged lists, {"items": […]}.
type items[T any] struct {
	Items []T `json:"items"`
}

// TestOpenAPIResponsesMatchTheGoTypes holds the document to the handlers: the answer of each
// route below has exactly the JSON fields, required when always present, of the Go type the
// handler writes, down through nested objects.
func TestOpenAPIResponsesMatchTheGoTypes(t *testing.T) {
	t.Parallel()
	doc := openAPIDoc(t)
	ops := operations(doc)
	for _, tc := range []struct {
		route, status string
		typ           reflect.Type
	}{
		{"GET /api/v1/executions/{id}", "200", reflect.TypeFor[Execution]()},
		{"GET /api/v1/executions", "200", reflect.TypeFor[page[Execution]]()},
		{"GET /api/v1/executions/{id}/history", "200", reflect.TypeFor[items[Envelope]]()},
		{"GET /api/v1/executions/{id}/output", "200", reflect.TypeFor[OutputPage]()},
		{"GET /api/v1/log", "200", reflect.TypeFor[LogPage]()},
		{"GET /api/v1/policies", "200", reflect.TypeFor[page[Policy]]()},
		{"GET /api/v1/policies/{ref}", "200", reflect.TypeFor[Policy]()},
		{"GET /api/v1/packs", "200", reflect.TypeFor[page[Pack]]()},
		{"GET /api/v1/packs/{ref}", "200", reflect.TypeFor[Pack]()},
		{"GET /api/v1/actions", "200", reflect.TypeFor[page[Action]]()},
		{"GET /api/v1/actions/{ref}", "200", reflect.TypeFor[Action]()},
		{"GET /api/v1/triggers", "200", reflect.TypeFor[page[Trigger]]()},
		{"GET /api/v1/triggers/{ref}", "200", reflect.TypeFor[Trigger]()},
		{"GET /api/v1/rules", "200", reflect.TypeFor[page[Rule]]()},
		{"GET /api/v1/rules/{ref}", "200", reflect.TypeFor[Rule]()},
		{"GET /api/v1/events", "200", reflect.TypeFor[page[TriggerEvent]]()},
		{"GET /api/v1/events/{id}", "200", reflect.TypeFor[TriggerEvent]()},
		{"GET /api/v1/enforcements", "200", reflect.TypeFor[page[Enforcement]]()},
		{"GET /api/v1/enforcements/{id}", "200", reflect.TypeFor[Enforcement]()},
		{"GET /api/v1/workers", "200", reflect.TypeFor[page[Worker]]()},
		{"GET /api/v1/traces/{event_id}", "200", reflect.TypeFor[Trace]()},
		{"GET /api/v1/keys", "200", reflect.TypeFor[page[Key]]()},
		{"GET /api/v1/keys/system/{name}", "200", reflect.TypeFor[Key]()},
		{"PUT /api/v1/keys/pack/{pack}/{name}", "200", reflect.TypeFor[Key]()},
		{"GET /api/v1/tokens", "200", reflect.TypeFor[items[auth.Token]]()},
		{"POST /api/v1/tokens", "201", reflect.TypeFor[CreatedToken]()},
		{"POST /api/v1/tokens/{id_or_name}/revoke", "200", reflect.TypeFor[auth.Token]()},
		{"GET /api/v1/inquiries", "200", reflect.TypeFor[page[Inquiry]]()},
		{"GET /api/v1/inquiries/{id}", "200", reflect.TypeFor[Inquiry]()},
		{"POST /api/v1/inquiries/{id}/respond", "200", reflect.TypeFor[InquiryAnswer]()},
		{"GET /api/v1/executions/{id}", "404", reflect.TypeFor[Error]()},
		{"POST /api/v1/executions", "422", reflect.TypeFor[Error]()},
	} {
		resp := resolve(t, doc, obj(ops[tc.route]["responses"])[tc.status])
		schema := obj(obj(obj(resp["content"])["application/json"])["schema"])
		if schema == nil {
			t.Errorf("%s: no application/json schema for %s", tc.route, tc.status)
			continue
		}
		checkSchema(t, doc, tc.route+" "+tc.status, schema, tc.typ, map[reflect.Type]bool{})
	}
	for _, tc := range []struct {
		route string
		typ   reflect.Type
	}{
		{"POST /api/v1/executions", reflect.TypeFor[RunRequest]()},
		{"POST /api/v1/executions/{id}/rerun", reflect.TypeFor[RerunRequest]()},
		{"POST /api/v1/packs", reflect.TypeFor[PackLoadRequest]()},
		{"POST /api/v1/tokens", reflect.TypeFor[CreateTokenRequest]()},
		{"PUT /api/v1/keys/system/{name}", reflect.TypeFor[KeyWrite]()},
	} {
		body := obj(obj(obj(ops[tc.route]["requestBody"])["content"])["application/json"])["schema"]
		checkSchema(t, doc, tc.route+" request", obj(body), tc.typ, map[reflect.Type]bool{})
	}
	for name, typ := range map[string]reflect.Type{
		"Metadata": reflect.TypeFor[event.Metadata](), "Param": reflect.TypeFor[pack.Param](),
		"Criterion": reflect.TypeFor[pack.Criterion](), "ComponentRef": reflect.TypeFor[pack.Component](),
	} {
		checkSchema(t, doc, name, obj(obj(obj(doc["components"])["schemas"])[name]), typ, map[reflect.Type]bool{})
	}
}

// Every documented failure of the API's own routes has the one error shape.
func TestOpenAPIErrorsHaveTheErrorShape(t *testing.T) {
	t.Parallel()
	doc := openAPIDoc(t)
	want := "#/components/schemas/Error"
	for pattern, op := range operations(doc) {
		if pattern == "POST /api/v1/webhooks/{trigger}" {
			want := "#/components/schemas/WebhookError" // the webhook handler's own shape
			for status, r := range obj(op["responses"]) {
				if s := obj(obj(obj(resolve(t, doc, r)["content"])["application/json"])["schema"]); status >= "400" && s["$ref"] != want {
					t.Errorf("%s %s: schema %v, want %s", pattern, status, s, want)
				}
			}
			continue
		}
		for status, r := range obj(op["responses"]) {
			s := obj(obj(obj(resolve(t, doc, r)["content"])["application/json"])["schema"])
			if status >= "400" && status != "503" && s["$ref"] != want {
				t.Errorf("%s %s: schema %v, want %s", pattern, status, s, want)
			}
		}
	}
	codes := obj(obj(resolve(t, doc, map[string]any{"$ref": want})["properties"])["code"])["enum"]
	for _, c := range []string{CodeInvalidJSON, CodeUnknownField, CodeBadRequest, CodeValidation, CodeNotFound, CodeConflict,
		CodePayloadTooLarge, CodeInternal, CodeUnavailable, CodeMethodNotAllowed, CodeUnauthorized, CodeForbidden, CodeInvalidText, CodeTooLong, CodeIdempotencyKeyReused} {
		if !slices.Contains(list(codes), any(c)) {
			t.Errorf("Error.code does not list %q", c)
		}
	}
}

// jsonField is one field of a struct's JSON encoding.
type jsonField struct {
	typ       reflect.Type
	omitempty bool
	depth     int
	tagged    bool
}

// jsonFields lists the fields encoding/json writes for struct type t, with its rules for
// embedded structs: the shallowest field of a name wins, a tagged one breaks a tie, and a
// tie that stays is dropped.
func jsonFields(t reflect.Type) map[string]jsonField {
	all := map[string][]jsonField{}
	var walk func(t reflect.Type, depth int)
	walk = func(t reflect.Type, depth int) {
		for f := range t.Fields() {
			tag := f.Tag.Get("json")
			if tag == "-" {
				continue
			}
			name, opts, _ := strings.Cut(tag, ",")
			ft := f.Type
			if f.Anonymous && name == "" {
				if ft.Kind() == reflect.Pointer {
					ft = ft.Elem()
				}
				if ft.Kind() == reflect.Struct {
					walk(ft, depth+1)
					continue
				}
			}
			if !f.IsExported() {
				continue
			}
			tagged := name != ""
			if !tagged {
				name = f.Name
			}
			all[name] = append(all[name], jsonField{typ: ft, omitempty: slices.Contains(strings.Split(opts, ","), "omitempty"), depth: depth, tagged: tagged})
		}
	}
	walk(t, 0)
	out := map[string]jsonField{}
	for name, fs := range all {
		slices.SortStableFunc(fs, func(a, b jsonField) int { return a.depth - b.depth })
		var best []jsonField
		for _, f := range fs {
			if f.depth == fs[0].depth {
				best = append(best, f)
			}
		}
		if len(best) > 1 {
			best = slices.DeleteFunc(best, func(f jsonField) bool { return !f.tagged })
		}
		if len(best) == 1 {
			out[name] = best[0]
		}
	}
	return out
}

var (
	timeType          = reflect.TypeFor[time.Time]()
	rawType           = reflect.TypeFor[json.RawMessage]()
	textMarshalerType = reflect.TypeFor[encoding.TextMarshaler]()
)

// jsonType is the JSON Schema type of a Go type's encoding, "" when the document may say
// anything (raw JSON).
func jsonType(t reflect.Type) string {
	switch {
	case t == rawType:
		return ""
	case t == timeType || t.Implements(textMarshalerType):
		return "string"
	}
	switch t.Kind() {
	case reflect.String:
		return "string"
	case reflect.Bool:
		return "boolean"
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64, reflect.Uint, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return "integer"
	case reflect.Float32, reflect.Float64:
		return "number"
	case reflect.Slice, reflect.Array:
		return "array"
	case reflect.Map, reflect.Struct:
		return "object"
	}
	return ""
}

func schemaTypes(s map[string]any) []string {
	switch v := s["type"].(type) {
	case string:
		return []string{v}
	case []any:
		var out []string
		for _, x := range v {
			s, _ := x.(string)
			out = append(out, s)
		}
		return out
	}
	return nil
}

// checkSchema compares an object schema with the JSON encoding of struct type t: the same
// property names, the fields without omitempty required, compatible types, and nested
// objects checked the same way.
func checkSchema(t *testing.T, doc map[string]any, where string, schema map[string]any, typ reflect.Type, seen map[reflect.Type]bool) {
	t.Helper()
	schema = resolve(t, doc, schema)
	if seen[typ] {
		return
	}
	seen[typ] = true
	fields := jsonFields(typ)
	props := obj(schema["properties"])
	var missing, extra []string
	for name := range fields {
		if _, ok := props[name]; !ok {
			missing = append(missing, name)
		}
	}
	for name := range props {
		if _, ok := fields[name]; !ok {
			extra = append(extra, name)
		}
	}
	if len(missing)+len(extra) > 0 {
		slices.Sort(missing)
		slices.Sort(extra)
		t.Errorf("%s: schema vs Go type %s: missing properties %v, properties the type lacks %v", where, typ, missing, extra)
		return
	}
	var required []string
	for _, r := range list(schema["required"]) {
		required = append(required, r.(string))
	}
	for name, f := range fields {
		at := where + "." + name
		if slices.Contains(required, name) == f.omitempty {
			t.Errorf("%s: required = %v, but the Go field has omitempty = %v", at, !f.omitempty, f.omitempty)
		}
		prop := resolve(t, doc, props[name])
		ft := f.typ
		nullable := false
		if ft.Kind() == reflect.Pointer {
			ft, nullable = ft.Elem(), !f.omitempty
		}
		if want := jsonType(ft); want != "" {
			types := schemaTypes(prop)
			if !slices.Contains(types, want) || slices.Contains(types, "null") != nullable {
				t.Errorf("%s: schema type %v, Go %s encodes %s (null: %v)", at, types, f.typ, want, nullable)
			}
		}
		switch {
		case ft == timeType || ft == rawType || ft.Implements(textMarshalerType):
		case ft.Kind() == reflect.Struct:
			checkSchema(t, doc, at, prop, ft, seen)
		case (ft.Kind() == reflect.Slice || ft.Kind() == reflect.Map) && ft.Elem().Kind() == reflect.Struct:
			sub := "items"
			if ft.Kind() == reflect.Map {
				sub = "additionalProperties"
			}
			checkSchema(t, doc, at+"[]", obj(prop[sub]), ft.Elem(), seen)
		}
	}
}

func TestOpenAPIDocumentsTheIdempotencyKeyWhereTheServerHonoursIt(t *testing.T) {
	t.Parallel()
	doc := openAPIDoc(t)
	ops := operations(doc)
	for _, pattern := range []string{"POST /api/v1/executions", "POST /api/v1/webhooks/{trigger}"} {
		found := false
		for _, p := range list(ops[pattern]["parameters"]) {
			if param := resolve(t, doc, p); param["name"] == idempotency.Header && param["in"] == "header" {
				found = true
			}
		}
		if !found {
			t.Errorf("%s: no %s header parameter", pattern, idempotency.Header)
		}
	}
}
