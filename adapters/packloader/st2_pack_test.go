package packloader_test

import (
	"reflect"
	"slices"
	"strings"
	"testing"
	"testing/fstest"

	"github.com/attune-go/attune/adapters/packloader"
	"github.com/attune-go/attune/domain/pack"
)

// st2Files is a StackStorm pack in directory dir: pack.yaml as StackStorm documents it, plus
// extra files (relative to dir/); an empty value removes the file.
func st2Files(dir string, extra map[string]string) fstest.MapFS {
	fsys := fstest.MapFS{
		dir + "/pack.yaml": {Data: []byte(`---
ref: hello_st2
name: Hello StackStorm
description: Simple pack containing examples of sensor, rule, and action.
keywords:
    - example
    - test
version: 3.1.0
python_versions:
  - "2"
  - "3"
author: StackStorm, Inc.
email: info@stackstorm.com
contributors:
  - "Jane Doe <jane@example.com>"
stackstorm_version: ">=3.0.0"
dependencies:
  - core
system:
  apt: [jq]
`)},
		dir + "/actions/greet.yaml": {Data: []byte(`---
name: greet
pack: hello_st2
description: Greet someone.
runner_type: "local-shell-script"
enabled: true
entry_point: greet.sh
tags:
  - name: team
    value: ops
parameters:
  greeting:
    type: string
    description: Greeting you want to say to StackStorm (i.e. Hello, Hi, Yo, etc.)
    required: true
    position: 1
  names:
    type: array
    minItems: 1
    maxItems: 3
    items: {type: string, minLength: 1}
`)},
		dir + "/actions/greet.sh": {Data: []byte("#!/usr/bin/env bash\necho \"$1\"\n")},
	}
	for name, data := range extra {
		if data == "" {
			delete(fsys, dir+"/"+name)
			continue
		}
		fsys[dir+"/"+name] = &fstest.MapFile{Data: []byte(data)}
	}
	return fsys
}

func TestStackStormPackLoadsInItsDialect(t *testing.T) {
	t.Parallel()
	got, err := packloader.Load(st2Files("hello_st2", map[string]string{"aliases/greet.yaml": "name: greet\n"}), "hello_st2", nil)
	if err != nil {
		t.Fatal(err)
	}
	if got.Ref != "hello_st2" || got.Version != "3.1.0" || got.Dialect != pack.DialectStackStorm {
		t.Fatalf("pack %s %s dialect %q", got.Ref, got.Version, got.Dialect)
	}
	want := &pack.StackStormPack{
		Name: "Hello StackStorm", Author: "StackStorm, Inc.", Email: "info@stackstorm.com",
		Keywords: []string{"example", "test"}, Contributors: []string{"Jane Doe <jane@example.com>"},
		StackStormVersion: ">=3.0.0", PythonVersions: []string{"2", "3"}, Dependencies: []string{"core"},
		System: map[string]any{"apt": []any{"jq"}},
	}
	if !reflect.DeepEqual(got.StackStorm, want) {
		t.Fatalf("stackstorm metadata\n got %+v\nwant %+v", got.StackStorm, want)
	}
	if len(got.Actions) != 1 {
		t.Fatalf("actions %+v", got.Actions)
	}
	a := got.Actions[0]
	if a.Ref != "hello_st2.greet" || a.RunnerType != pack.RunnerLocalShellScript || a.EntryPoint != "greet.sh" || a.Disabled {
		t.Fatalf("action %+v", a)
	}
	if !reflect.DeepEqual(a.Tags, []pack.Tag{{Name: "team", Value: "ops"}}) {
		t.Fatalf("tags %+v", a.Tags)
	}
	if p := a.Parameters["greeting"]; !p.Required || p.Position == nil || *p.Position != 1 {
		t.Fatalf("greeting %+v", p)
	}
	if p := a.Parameters["names"]; *p.MinItems != 1 || *p.MaxItems != 3 || !strings.Contains(string(p.Items), `"min_length":1`) {
		t.Fatalf("names %+v items %s", p, p.Items)
	}
	if len(got.Warnings) != 1 || !strings.Contains(got.Warnings[0], "hello_st2/aliases/: 1 files of ChatOps action aliases") {
		t.Fatalf("warnings %q", got.Warnings)
	}
}

func TestStackStormActionTakesItsRunnersParameters(t *testing.T) {
	t.Parallel()
	got, err := packloader.Load(st2Files("p", map[string]string{
		"actions/run.yaml": "name: run\nrunner_type: run-local\nnotify:\n  on_complete: {message: done}\nparameters:\n  cmd: {default: \"echo hi\", immutable: true}\n  timeout: {default: 5}\n",
	}), "p", nil)
	if err != nil {
		t.Fatal(err)
	}
	var run pack.Action
	for _, a := range got.Actions {
		if a.Name == "run" {
			run = a
		}
	}
	if run.RunnerType != pack.RunnerLocalShellCmd {
		t.Fatalf("run-local is %q, want local-shell-cmd", run.RunnerType)
	}
	p := run.Parameters
	if c := p["cmd"]; c.Type != pack.ParamString || !c.Immutable || string(c.Default) != `"echo hi"` {
		t.Fatalf("cmd %+v: want the runner's string, with the action's default, immutable", c)
	}
	if to := p["timeout"]; to.Type != pack.ParamInteger || string(to.Default) != "5" {
		t.Fatalf("timeout %+v", to)
	}
	for _, name := range []string{"cwd", "env", "kwarg_op", "sudo"} {
		if _, ok := p[name]; !ok {
			t.Errorf("runner parameter %s missing", name)
		}
	}
	if !slices.ContainsFunc(got.Warnings, func(w string) bool {
		return strings.HasPrefix(w, "p/actions/run.yaml:4: notify: notifications are not sent")
	}) {
		t.Errorf("warnings %q: want notify named", got.Warnings)
	}
}

func TestStackStormPackRefIsDerivedAsStackStormDoes(t *testing.T) {
	t.Parallel()
	noRef := func(name string) map[string]string {
		return map[string]string{"pack.yaml": "name: " + name + "\ndescription: d\nversion: 0.1.0\nauthor: a\n", "actions/greet.yaml": ""}
	}
	for _, tc := range []struct{ dir, name, ref string }{
		{"mypack", "My Pack", "mypack"},           // the directory's name when it is a ref
		{"stackstorm-mypack", "mypack", "mypack"}, // else the name when it is one
		{"stackstorm-mypack", "My-Pack", ""},      // else refused
		{"Dir", "lower_case_1", "lower_case_1"},
	} {
		got, err := packloader.Load(st2Files(tc.dir, noRef(tc.name)), tc.dir, nil)
		if tc.ref == "" {
			if err == nil || !strings.Contains(err.Error(), `name: pack name "My-Pack" contains invalid characters and "ref" attribute is not available`) {
				t.Errorf("%s/%s: err %v", tc.dir, tc.name, err)
			}
			continue
		}
		if err != nil || got.Ref != tc.ref {
			t.Errorf("%s/%s: ref %q, err %v; want %q", tc.dir, tc.name, got.Ref, err, tc.ref)
		}
	}
}

func TestStackStormPackProblemsNameFileLineAndField(t *testing.T) {
	t.Parallel()
	base := "name: p\ndescription: d\nauthor: a\n"
	tests := []struct {
		name  string
		files map[string]string
		want  []string
	}{
		{"version not semver", map[string]string{"pack.yaml": base + "version: 0.2\n"},
			[]string{`p/pack.yaml:4: version: pack version "0.2" doesn't follow a valid semver format; valid versions and formats include: 0.1.0, 0.2.1, 1.1.0`}},
		{"ref with a dash", map[string]string{"pack.yaml": base + "version: 1.0.0\nref: my-pack\n"},
			[]string{`p/pack.yaml:5: ref: pack ref "my-pack" can only contain valid word characters (a-z, 0-9 and _), dashes are not allowed`}},
		{"required fields", map[string]string{"pack.yaml": "name: p\n"},
			[]string{"p/pack.yaml:1: description: required", "p/pack.yaml:1: author: required", "p/pack.yaml:1: version: required"}},
		{"unknown field", map[string]string{"pack.yaml": base + "version: 1.0.0\nconfig: {a: 1}\n"},
			[]string{"p/pack.yaml:5: config: unknown field (want one of name, ref, uid, description, keywords, version, stackstorm_version, python_versions, author, email, contributors, dependencies, system, id, files, path)"}},
		{"python 2 only", map[string]string{"pack.yaml": base + "version: 1.0.0\npython_versions: [\"2\"]\n"},
			[]string{`p/pack.yaml:5: python_versions: the pack supports Python 2 only; its python actions run on Python 3 here: add "3" once they do`}},
		{"stackstorm version excludes", map[string]string{"pack.yaml": base + "version: 1.0.0\nstackstorm_version: \">=4.0.0\"\n"},
			[]string{`p/pack.yaml:5: stackstorm_version: the pack requires StackStorm >=4.0.0; Attune runs StackStorm content as StackStorm 3.8.1 does`}},
		{"uid not the pack's", map[string]string{"pack.yaml": base + "version: 1.0.0\nuid: pack:q\n"},
			[]string{`p/pack.yaml:5: uid: "pack:q" is not this pack's uid: StackStorm's is pack:<ref>, here "pack:p"`}},
		{"action of another pack", map[string]string{"pack.yaml": base + "version: 1.0.0\n", "actions/a.yaml": "name: a\npack: q\nrunner_type: noop\n"},
			[]string{`p/actions/a.yaml:2: pack: "q" is not this pack (p): StackStorm registers the file under the pack it is in`}},
		{"winrm runner", map[string]string{"pack.yaml": base + "version: 1.0.0\n", "actions/a.yaml": "name: a\nrunner_type: winrm-cmd\n"},
			[]string{`p/actions/a.yaml:2: runner_type: runner "winrm-cmd" is not supported: it runs commands on Windows hosts over WinRM, and Attune has no WinRM runner`}},
		{"secret on a remote script's command line", map[string]string{"pack.yaml": base + "version: 1.0.0\n", "actions/a.yaml": "name: a\nrunner_type: remote-shell-script\nentry_point: a.sh\nparameters:\n  token:\n    type: string\n    secret: true\n  password:\n    default: \"{{ st2kv.system.pw | decrypt_kv }}\"\n", "actions/a.sh": "#!/bin/sh\n"},
			[]string{`p/actions/a.yaml:7: parameters.token.secret: a remote-shell-script gets its parameters on its command line (--token=…), which every process on the host can read: a secret cannot be one of them; make the action a python-script (parameters on a pipe), or have the script read the secret from the key-value store`}},
		{"orquesta without its definition", map[string]string{"pack.yaml": base + "version: 1.0.0\n", "actions/w.yaml": "name: w\nrunner_type: orquesta\nentry_point: workflows/w.yaml\n"},
			[]string{`p/actions/w.yaml:3: entry_point: p/actions/workflows/w.yaml does not exist`}},
		{"runner parameter's type changed", map[string]string{"pack.yaml": base + "version: 1.0.0\n", "actions/a.yaml": "name: a\nrunner_type: local-shell-cmd\nparameters:\n  timeout: {type: string}\n"},
			[]string{`p/actions/a.yaml:4: parameters.timeout.type: timeout is a parameter of the local-shell-cmd runner, of type integer: an action may refine it but not change its type`}},
		{"secret on a script's command line", map[string]string{"pack.yaml": base + "version: 1.0.0\n", "actions/a.yaml": "name: a\nrunner_type: local-shell-script\nentry_point: a.sh\nparameters:\n  token:\n    type: string\n    secret: true\n", "actions/a.sh": "#!/bin/sh\n"},
			[]string{`p/actions/a.yaml:7: parameters.token.secret: a local-shell-script gets its parameters on its command line (--token=…), which every process on the host can read: a secret cannot be one of them; make the action a python-script (parameters on a pipe), or have the script read the secret from the key-value store`}},
		{"two parameters at one position", map[string]string{"pack.yaml": base + "version: 1.0.0\n", "actions/a.yaml": "name: a\nrunner_type: noop\nparameters:\n  x: {position: 0}\n  y: {position: 0}\n"},
			[]string{`p/actions/a.yaml:5: parameters.y.position: position 0 is already x's`}},
		{"literal secret default", map[string]string{"pack.yaml": base + "version: 1.0.0\n", "actions/a.yaml": "name: a\nrunner_type: noop\nparameters:\n  pw: {type: string, secret: true, default: hunter2}\n"},
			[]string{`p/actions/a.yaml:4: parameters.pw.default: a secret parameter's default must be a template ({{ st2kv.system.x | decrypt_kv }}, {{ config_context.x }}): the event log is immutable, so a secret written into it could never be taken back`}},
		{"minItems on a string", map[string]string{"pack.yaml": base + "version: 1.0.0\n", "actions/a.yaml": "name: a\nrunner_type: noop\nparameters:\n  s: {type: string, minItems: 1}\n"},
			[]string{`p/actions/a.yaml:4: parameters.s.minItems: does not apply to type string`}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			fsys := st2Files("p", tc.files)
			delete(fsys, "p/actions/greet.yaml")
			_, err := packloader.Load(fsys, "p", nil)
			got := problems(err)
			if !reflect.DeepEqual(got, tc.want) {
				t.Fatalf("got\n  %s\nwant\n  %s", strings.Join(got, "\n  "), strings.Join(tc.want, "\n  "))
			}
		})
	}
}

func TestAttuneDialectStaysStrict(t *testing.T) {
	t.Parallel()
	// StackStorm's runner names are not Attune's: an Attune pack (no name key) keeps its own.
	_, err := packloader.Load(files(map[string]string{"actions/x.yaml": "name: x\nrunner_type: local-shell-cmd\n"}), "p", nil)
	if err == nil || !strings.Contains(err.Error(), `p/actions/x.yaml:2: runner_type: unknown runner type "local-shell-cmd"`) {
		t.Fatalf("err %v", err)
	}
}

// StackStorm names may use letters of any script, as its own examples do; Attune's dialect
// keeps its ASCII names.
func TestStackStormNamesMayUseAnyScript(t *testing.T) {
	t.Parallel()
	p, err := packloader.Load(st2Files("p", map[string]string{"actions/hi.yaml": "name: say_你好\nrunner_type: noop\n"}), "p", nil)
	if err != nil {
		t.Fatal(err)
	}
	found := false
	for _, a := range p.Actions {
		found = found || a.Ref == "hello_st2.say_你好"
	}
	if !found {
		t.Fatalf("actions %+v: want hello_st2.say_你好", p.Actions)
	}
	attune := fstest.MapFS{
		"q/pack.yaml":      {Data: []byte("ref: q\nversion: 1.0.0\n")},
		"q/actions/a.yaml": {Data: []byte("name: say_你好\nrunner_type: shell\nentry_point: a.sh\n")},
		"q/actions/a.sh":   {Data: []byte("echo\n")},
	}
	if _, err := packloader.Load(attune, "q", nil); err == nil || !strings.Contains(err.Error(), "is not a name") {
		t.Fatalf("Attune pack with a non-ASCII name: %v, want it refused", err)
	}
}

// output_schema in both of StackStorm's forms becomes a JSON Schema of the runner's output;
// one that is not a schema is refused; a runner whose output is not checked says so.
func TestStackStormOutputSchema(t *testing.T) {
	t.Parallel()
	p, err := packloader.Load(st2Files("p", map[string]string{
		"actions/flat.yaml": "name: flat\nrunner_type: local-shell-cmd\noutput_schema:\n  size: {type: integer}\n",
		"actions/full.yaml": "name: full\nrunner_type: local-shell-cmd\noutput_schema:\n  type: string\n  pattern: \"^ok\"\n",
		"actions/none.yaml": "name: none\nrunner_type: noop\noutput_schema:\n  type: object\n",
	}), "p", nil)
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]string{}
	for _, a := range p.Actions {
		got[a.Name] = string(a.OutputSchema)
	}
	if got["flat"] != `{"properties":{"size":{"type":"integer"}},"type":"object"}` || got["full"] != `{"pattern":"^ok","type":"string"}` || got["none"] != "" {
		t.Fatalf("output schemas %v", got)
	}
	if !slices.ContainsFunc(p.Warnings, func(w string) bool { return strings.Contains(w, "none.yaml:4: output_schema: not checked") }) {
		t.Errorf("warnings %q: want one saying a noop's output is not checked", p.Warnings)
	}
	_, err = packloader.Load(st2Files("p", map[string]string{"actions/bad.yaml": "name: bad\nrunner_type: local-shell-cmd\noutput_schema:\n  type: 12\n"}), "p", nil)
	if err == nil || !strings.Contains(err.Error(), "p/actions/bad.yaml:4: output_schema: not a JSON Schema") {
		t.Fatalf("a broken output_schema: %v", err)
	}
}

// A StackStorm rule's criterion on a field its trigger's payload_schema does not declare
// loads with a warning: StackStorm sensors send such fields and rules match them.
func TestStackStormCriteriaBeyondThePayloadSchemaWarn(t *testing.T) {
	t.Parallel()
	p, err := packloader.Load(st2Files("p", map[string]string{"rules/r.yaml": `---
name: notify_inquiry_developers
pack: hello_st2
enabled: false
trigger:
  type: core.st2.generic.inquiry
criteria:
  trigger.tag:
      type: equals
      pattern: developers
action:
  ref: core.noop
`}), "p", nil)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.ContainsFunc(p.Warnings, func(w string) bool {
		return strings.Contains(w, `p/rules/r.yaml:8: criteria.trigger.tag: trigger core.st2.generic.inquiry's payload_schema declares no field "tag"`)
	}) {
		t.Fatalf("warnings %q: want one naming the undeclared field", p.Warnings)
	}
}
