package schemas_test

import (
	"encoding/json"
	"fmt"
	"io/fs"
	"maps"
	"os"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/attune-go/attune/schemas"
)

// guide is the pack authoring guide, whose field tables this test holds to schemas/pack.
const guide = "../docs/packs.md"

// The guide marks each field table with the schema section it documents:
//
//	<!-- fields: action.json -->
//	| field | type | default | meaning |
//	|---|---|---|---|
//	| `name` | string | required | … |
//
// A section is a pack schema file (action.json) or a definition reached through a mapping of
// free names (defs.json#/$defs/param: the spec of each parameter; rule.json#/$defs/criterion:
// the test on each event path). A nested object's fields are written with their parent's
// name: `rate_limit.requests`.
var marker = regexp.MustCompile(`^<!--\s*fields:\s*(\S+)\s*-->$`)

// row is one documented field.
type row struct {
	line     int
	def      string // the default column
	required bool   // the schema requires it
}

// TestGuideDocumentsEveryPackField fails when a field of a pack schema has no row in the
// guide's table for its file, when the guide documents a field no schema has, and when the
// guide's default column says "required" of a field the schema does not require, or not of
// one it does.
func TestGuideDocumentsEveryPackField(t *testing.T) {
	t.Parallel()
	want := schemaFields(t)
	got := guideFields(t)
	for _, section := range slices.Sorted(maps.Keys(want)) {
		if _, ok := got[section]; !ok {
			t.Errorf("%s: no field table for %s (a table after <!-- fields: %s -->)", guide, section, section)
		}
	}
	for _, section := range slices.Sorted(maps.Keys(got)) {
		fields, ok := want[section]
		if !ok {
			t.Errorf("%s: a field table for %s, which is no pack schema section (want one of %v)", guide, section, slices.Sorted(maps.Keys(want)))
			continue
		}
		for _, f := range slices.Sorted(maps.Keys(fields)) {
			if _, ok := got[section][f]; !ok {
				t.Errorf("%s: %s field `%s` is not documented in its table", guide, section, f)
			}
		}
		for _, f := range slices.Sorted(maps.Keys(got[section])) {
			r := got[section][f]
			s, ok := fields[f]
			if !ok {
				t.Errorf("%s:%d: `%s` is documented for %s, whose schema has no such field", guide, r.line, f, section)
				continue
			}
			if says := r.def == "required"; says != s.required {
				t.Errorf("%s:%d: %s `%s`: the default column says %q, but the schema's required is %v", guide, r.line, section, f, r.def, s.required)
			}
		}
	}
}

// guideFields reads the guide's marked field tables: section → field → row.
func guideFields(t *testing.T) map[string]map[string]row {
	t.Helper()
	raw, err := os.ReadFile(guide)
	if err != nil {
		t.Fatalf("read the pack guide: %v", err)
	}
	lines := strings.Split(string(raw), "\n")
	out := map[string]map[string]row{}
	for i := 0; i < len(lines); i++ {
		m := marker.FindStringSubmatch(strings.TrimSpace(lines[i]))
		if m == nil {
			continue
		}
		section := m[1]
		if _, dup := out[section]; dup {
			t.Errorf("%s:%d: a second field table for %s", guide, i+1, section)
		}
		fields := map[string]row{}
		out[section] = fields
		j := i + 1
		// The header and its |---| line, then one row per field until the table ends.
		if j+1 >= len(lines) || !strings.HasPrefix(lines[j], "|") || !strings.HasPrefix(lines[j+1], "|---") {
			t.Errorf("%s:%d: <!-- fields: %s --> is not followed by a table", guide, i+1, section)
			continue
		}
		for j += 2; j < len(lines) && strings.HasPrefix(lines[j], "|"); j++ {
			cells := cellsOf(lines[j])
			name, opened := strings.CutPrefix(cells[0], "`")
			name, closed := strings.CutSuffix(name, "`")
			if !opened || !closed || name == "" || strings.Contains(name, "`") {
				t.Errorf("%s:%d: a field row starts with the field's name in backticks, got %q", guide, j+1, cells[0])
				continue
			}
			if len(cells) < 4 {
				t.Errorf("%s:%d: want | field | type | default | meaning |, got %d columns", guide, j+1, len(cells))
				continue
			}
			if _, dup := fields[name]; dup {
				t.Errorf("%s:%d: `%s` is documented twice for %s", guide, j+1, name, section)
			}
			fields[name] = row{line: j + 1, def: cells[2]}
		}
		i = j - 1
	}
	if len(out) == 0 {
		t.Fatalf("%s: no field tables found", guide)
	}
	return out
}

// cellsOf splits a Markdown table row into its trimmed cells; \| is a | inside a cell.
func cellsOf(line string) []string {
	line = strings.Trim(strings.TrimSpace(line), "|")
	parts := strings.Split(strings.ReplaceAll(line, `\|`, "\x00"), "|")
	for i, p := range parts {
		parts[i] = strings.TrimSpace(strings.ReplaceAll(p, "\x00", "|"))
	}
	return parts
}

// schemaFields walks every pack schema: section → field path → whether it is required.
func schemaFields(t *testing.T) map[string]map[string]row {
	t.Helper()
	w := walker{t: t, docs: map[string]map[string]any{}, out: map[string]map[string]row{}}
	entries, err := fs.ReadDir(schemas.Pack, "pack")
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		data, err := fs.ReadFile(schemas.Pack, "pack/"+e.Name())
		if err != nil {
			t.Fatal(err)
		}
		var doc map[string]any
		if err := json.Unmarshal(data, &doc); err != nil {
			t.Fatalf("%s: %v", e.Name(), err)
		}
		w.docs[e.Name()] = doc
	}
	for _, file := range slices.Sorted(maps.Keys(w.docs)) {
		if file == "defs.json" {
			continue // only definitions, walked where a file refers to them
		}
		w.section(file, file, w.docs[file])
	}
	return w.out
}

// walker collects the fields of the pack schemas.
type walker struct {
	t    *testing.T
	docs map[string]map[string]any // file name → schema
	out  map[string]map[string]row
}

// section walks the object schema node (in file) as a section of its own, once.
func (w *walker) section(name, file string, node map[string]any) {
	if _, done := w.out[name]; done {
		return
	}
	w.out[name] = map[string]row{}
	w.fields(name, "", file, node, false)
}

// fields adds the properties of node under prefix to section, and descends: into nested
// objects (prefix.field), into the branches of oneOf/anyOf/allOf, and — through
// additionalProperties or items that name a definition with properties — into sections of
// their own. if/then/else and not only restate properties, so they are not walked. A field
// is required when its object requires it outside any branch: one that a oneOf branch
// requires (criteria.expression) is required only in that form.
func (w *walker) fields(section, prefix, file string, node map[string]any, branch bool) {
	file, node = w.deref(file, node)
	required := map[string]bool{}
	if rs, ok := node["required"].([]any); ok && !branch {
		for _, r := range rs {
			required[r.(string)] = true
		}
	}
	if props, ok := node["properties"].(map[string]any); ok {
		for name, p := range props {
			path := prefix + name
			w.out[section][path] = row{required: required[name]}
			sub := p.(map[string]any)
			if ref, isRef := sub["$ref"].(string); isRef {
				if subFile, target := w.deref(file, sub); target["properties"] != nil {
					// A named object (a parameter spec's items): documented once, as its own
					// section, which also ends the recursion of a definition that holds itself.
					w.section(sectionName(file, ref), subFile, target)
					continue
				}
			}
			w.fields(section, path+".", file, sub, false)
		}
	}
	for _, key := range []string{"oneOf", "anyOf", "allOf"} {
		branches, _ := node[key].([]any)
		for _, b := range branches {
			w.fields(section, prefix, file, b.(map[string]any), true)
		}
	}
	for _, key := range []string{"additionalProperties", "items"} {
		sub, ok := node[key].(map[string]any)
		if !ok {
			continue
		}
		ref, isRef := sub["$ref"].(string)
		subFile, target := w.deref(file, sub)
		if _, hasProps := target["properties"]; !hasProps {
			continue // a list of strings, an enum: no fields
		}
		if !isRef {
			w.t.Errorf("%s: %s of %s holds fields inline; make it a definition so the guide can document it as a section", file, key, strings.TrimSuffix(prefix, "."))
			continue
		}
		w.section(sectionName(file, ref), subFile, target)
	}
}

// deref follows $ref (file.json#/$defs/x, or #/$defs/x in the same file) to the node it names.
func (w *walker) deref(file string, node map[string]any) (string, map[string]any) {
	for hops := 0; ; hops++ {
		ref, ok := node["$ref"].(string)
		if !ok {
			return file, node
		}
		if hops > 8 {
			w.t.Fatalf("%s: $ref %s: too many hops", file, ref)
		}
		target, pointer, _ := strings.Cut(ref, "#")
		if target != "" {
			file = target
		}
		doc, ok := w.docs[file]
		if !ok {
			w.t.Fatalf("$ref %s: no schema %s", ref, file)
		}
		var cur any = doc
		for _, seg := range strings.Split(strings.TrimPrefix(pointer, "/"), "/") {
			m, ok := cur.(map[string]any)
			if !ok {
				w.t.Fatalf("%s: $ref %s does not resolve", file, ref)
			}
			cur = m[seg]
		}
		next, ok := cur.(map[string]any)
		if !ok {
			w.t.Fatalf("%s: $ref %s does not resolve to a schema", file, ref)
		}
		node = next
	}
}

// sectionName names a definition as the guide's markers do: defs.json#/$defs/param.
func sectionName(file, ref string) string {
	target, pointer, _ := strings.Cut(ref, "#")
	if target == "" {
		target = file
	}
	return fmt.Sprintf("%s#%s", target, pointer)
}
