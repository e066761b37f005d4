package packloader_test

import (
	"bytes"
	"encoding/json"
	"io/fs"
	"os"
	"path"
	"slices"
	"strings"
	"testing"
	"testing/fstest"

	"github.com/santhosh-tekuri/jsonschema/v6"
	"gopkg.in/yaml.v3"

	"github.com/attune-go/attune/adapters/packloader"
	"github.com/attune-go/attune/schemas"
)

const packSchemaURL = "https://attune-go.github.io/attune/schemas/pack/"

// packSchemas compiles schemas/pack, keyed by the pack directory whose files each describes.
func packSchemas(t *testing.T) map[string]*jsonschema.Schema {
	t.Helper()
	c := jsonschema.NewCompiler()
	c.DefaultDraft(jsonschema.Draft2020)
	entries, err := fs.ReadDir(schemas.Pack, "pack")
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		raw, err := fs.ReadFile(schemas.Pack, "pack/"+e.Name())
		if err != nil {
			t.Fatal(err)
		}
		doc, err := jsonschema.UnmarshalJSON(bytes.NewReader(raw))
		if err != nil {
			t.Fatalf("%s: %v", e.Name(), err)
		}
		if id := doc.(map[string]any)["$id"]; id != packSchemaURL+e.Name() {
			t.Fatalf("%s: $id is %v, want %s", e.Name(), id, packSchemaURL+e.Name())
		}
		if err := c.AddResource(packSchemaURL+e.Name(), doc); err != nil {
			t.Fatal(err)
		}
	}
	out := map[string]*jsonschema.Schema{}
	for dir, file := range map[string]string{"": "pack", "actions": "action", "triggers": "trigger", "sensors": "sensor", "rules": "rule", "policies": "policy"} {
		s, err := c.Compile(packSchemaURL + file + ".json")
		if err != nil {
			t.Fatalf("compile %s.json: %v", file, err)
		}
		out[dir] = s
	}
	return out
}

// validateFiles checks every pack file of the pack in dir against its schema.
func validateFiles(t *testing.T, sch map[string]*jsonschema.Schema, fsys fs.FS, dir string) map[string]error {
	t.Helper()
	out := map[string]error{}
	err := fs.WalkDir(fsys, dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || !strings.HasSuffix(p, ".yaml") {
			return err
		}
		rel := strings.TrimPrefix(p, dir+"/")
		s, ok := sch[path.Dir(rel)]
		if path.Dir(rel) == "." {
			s, ok = sch[""], rel == "pack.yaml"
		}
		if !ok {
			return nil // a workflow definition: the workflow engine's format
		}
		data, err := fs.ReadFile(fsys, p)
		if err != nil {
			return err
		}
		var v any
		if err := yaml.Unmarshal(data, &v); err != nil {
			out[rel] = err
			return nil
		}
		j, err := json.Marshal(v)
		if err != nil {
			return err
		}
		inst, err := jsonschema.UnmarshalJSON(bytes.NewReader(j))
		if err != nil {
			return err
		}
		out[rel] = s.Validate(inst)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func TestPackSchemasAcceptEveryValidPack(t *testing.T) {
	t.Parallel()
	sch := packSchemas(t)
	for name, src := range map[string]struct {
		fsys fs.FS
		dir  string
	}{
		"core":     {os.DirFS("."), "core"},
		"examples": {os.DirFS(packsDir), "examples"},
		"rich":     {richPack(), "rich"},
	} {
		results := validateFiles(t, sch, src.fsys, src.dir)
		if len(results) == 0 {
			t.Fatalf("%s: no files checked", name)
		}
		for file, err := range results {
			if err != nil {
				t.Errorf("%s/%s: %v", name, file, err)
			}
		}
	}
}

func TestPackSchemasRejectWhatTheLoaderRejects(t *testing.T) {
	t.Parallel()
	sch := packSchemas(t)
	for _, file := range []struct{ path, data string }{
		{"actions/a.yaml", "name: a\nrunner_type: shell\nentry_point: count.sh\nparamters: {}\n"},
		{"actions/a.yaml", "name: a\nrunner_type: pyton\nentry_point: a.py\n"},
		{"actions/a.yaml", "name: a\nrunner_type: node\n"},
		{"actions/a.yaml", "name: a\nrunner_type: shell\nentry_point: a.sh\nparameters:\n  x: {type: string, requird: true}\n"},
		{"actions/a.yaml", "name: a\nrunner_type: shell\nentry_point: a.sh\nparameters:\n  k: {type: string, secret: true, default: x}\n"},
		{"triggers/t.yaml", "name: t\ntype: cron\n"},
		{"rules/r.yaml", "name: r\ntrigger: tick\naction: core.noop\n"},
		{"rules/r.yaml", "name: r\ntrigger: p.tick\ncriteria:\n  payload.level: {type: equal, pattern: error}\naction: core.noop\n"},
		{"rules/r.yaml", "name: r\ntrigger: p.tick\ncriteria:\n  expression: \"{{ true }}\"\n  payload.level: {type: exists}\naction: core.noop\n"},
		{"policies/x.yaml", "name: x\naction: p.count\ntype: concurrency\nrate_limit: {limit: 1, window: 1}\nconcurrency: {threshold: 1}\n"},
		{"policies/x.yaml", "name: x\naction: core.http\ntype: retry\nretry: {on: [completed], max_retries: 2}\n"},
		{"sensors/s.yaml", "name: s\nrunner_type: builtin\nentry_point: s.py\ntriggers: [p.tick]\n"},
		{"pack.yaml", "ref: my.pack\nversion: 1.0.0\n"},
	} {
		fsys := fstest.MapFS{"p/" + file.path: {Data: []byte(file.data)}}
		if err := validateFiles(t, sch, fsys, "p")[file.path]; err == nil {
			t.Errorf("the schema accepts %s:\n%s", file.path, file.data)
		}
		if _, err := packloader.Load(files(map[string]string{file.path: file.data}), "p", nil); err == nil {
			t.Errorf("the loader accepts %s:\n%s", file.path, file.data)
		}
	}
}

func TestRuleSchemaListsTheLoadersOperators(t *testing.T) {
	t.Parallel()
	raw, err := fs.ReadFile(schemas.Pack, "pack/rule.json")
	if err != nil {
		t.Fatal(err)
	}
	var doc struct {
		Defs struct {
			Criterion struct {
				Properties struct {
					Type struct {
						Enum []string `json:"enum"`
					} `json:"type"`
				} `json:"properties"`
			} `json:"criterion"`
		} `json:"$defs"`
	}
	if err := json.Unmarshal(raw, &doc); err != nil {
		t.Fatal(err)
	}
	if got := doc.Defs.Criterion.Properties.Type.Enum; !slices.Equal(got, packloader.Operators) {
		t.Fatalf("rule.json operators %q\nloader operators   %q", got, packloader.Operators)
	}
}
