package packloader_test

import (
	"encoding/json"
	"regexp"
	"strings"
	"testing"
	"testing/fstest"
	"time"

	"github.com/attune-go/attune/adapters/eventschema"
	"github.com/attune-go/attune/adapters/packloader"
)

// fuzzPack is a pack directory "p" built from five fuzzed files; an empty one is left out.
// The workflow action that runs actions/workflows/flow.yaml exists whenever that file does,
// so the fuzzer reaches the workflow parser through the loader.
func fuzzPack(packYAML, action, trigger, rule, workflow string) fstest.MapFS {
	fsys := fstest.MapFS{"p/actions/a.sh": {Data: []byte("#!/bin/sh\ncat\n")}}
	for name, data := range map[string]string{
		"p/pack.yaml":                   packYAML,
		"p/actions/a.yaml":              action,
		"p/triggers/t.yaml":             trigger,
		"p/rules/r.yaml":                rule,
		"p/actions/workflows/flow.yaml": workflow,
	} {
		if data != "" {
			fsys[name] = &fstest.MapFile{Data: []byte(data)}
		}
	}
	if workflow != "" {
		fsys["p/actions/flow.yaml"] = &fstest.MapFile{Data: []byte("name: flow\nrunner_type: workflow\nentry_point: workflows/flow.yaml\n")}
	}
	return fsys
}

// problemLine is what every line of a refusal starts with: a file of the pack, its line if
// known, then the problem — so a pack author always learns which file.
var problemLine = regexp.MustCompile(`^p(/[^:\n]+)?(:[0-9]+)?: `)

// FuzzLoad loads whole packs whose files the fuzzer writes. Whatever the files hold, Load
// returns (no panic, no hang) either a registration the event schema accepts — what the
// registration handler appends through the Guard — or an error each of whose lines names a
// file of the pack.
func FuzzLoad(f *testing.F) {
	const (
		pack    = "ref: p\nversion: 1.0.0\n"
		action  = "name: a\nrunner_type: shell\nentry_point: a.sh\nparameters:\n  n: {type: integer, required: true}\n  mode: {type: string, enum: [fast, slow]}\n  token: {type: string, secret: true}\n  pinned: {type: string, immutable: true, default: x}\n"
		trigger = "name: t\ntype: sensor\npayload_schema:\n  level: {type: string}\n"
		rule    = "name: r\ntrigger: p.t\ncriteria:\n  payload.level: {type: equals, pattern: error}\naction: p.a\nparameters: {n: 1, mode: fast}\n"
		flow    = "version: 1\ntasks:\n  a:\n    action: core.echo\n    input: {message: hi}\n    next:\n      - when: \"{{ succeeded() }}\"\n        do: [b]\n  b:\n    action: p.a\n    input: {n: 2}\n"
	)
	// The loader's own test cases: the files of errors_test.go, the rich pack, the workflow
	// tests and some of the refusals.
	f.Add(pack, action, trigger, rule, flow)
	f.Add(pack, action, trigger, "", "")
	f.Add("ref: rich\nversion: 0.1.0-beta.1\nconfig:\n  token: x\n", "name: a\nrunner_type: shell\nentry_point: a.sh\nparameters:\n  env: {type: string, enum: [dev, prod], default: dev}\n  replicas: {type: integer, minimum: 1, maximum: 10, default: 2}\n  tags: {type: array, items: {type: string, min_length: 1}, default: [a, b]}\n",
		"name: t\ntype: webhook\nrate_limit: {requests: 5, per: 60}\nallow_from: [10.0.0.0/8]\npayload_schema:\n  severity: {type: integer}\n",
		"name: r\nenabled: false\ntrigger: p.t\ncriteria: {expression: \"{{ event.payload.severity > 3 }}\"}\naction: p.a\nparameters: {env: prod, replicas: \"{{ event.payload.severity }}\"}\n", "")
	f.Add(pack, "", "", "name: nightly\ntrigger: core.crontimer\ntrigger_params: {expression: \"0 0 2 * * *\", timezone: Europe/Paris}\naction: core.echo\nparameters: {message: nightly}\n", "")
	f.Add(pack, "", "", "name: once\ntrigger: core.datetimer\ntrigger_params: {date: 2026-12-01T09:00:00Z}\ncriteria:\n  payload.executed_at: {type: exists}\naction: core.noop\n", "")
	f.Add("ref: Examples\nversion: 1.0\n", "", "name: t\ntype: sensor\nname: u\n", "name: r\ntrigger: [p.tick\n", "tasks:\n  a: {action: x.y, next: [{do: [b]}]}\n")
	f.Add(pack, "", "a: &a [x, x]\nb: &b [*a, *a]\nc: &c [*b, *b]\nd: [*c, *c]\n", "- name: r\n", "version: 1\ntasks: {}\n")
	f.Add(pack, action, "", "name: r\ntrigger: core.webhook\naction: p.a\nparameters: {n: \"{{ event.payload.n ?? 1 }}\", mode: \"{{ repeat('x', 3) }}\"}\n", "")

	v, err := eventschema.New()
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, packYAML, action, trigger, rule, workflow string) {
		fsys := fuzzPack(packYAML, action, trigger, rule, workflow)
		type loaded struct {
			data []byte
			err  error
		}
		done := make(chan loaded, 1)
		go func() {
			p, err := packloader.Load(fsys, "p", nil)
			if err != nil {
				done <- loaded{err: err}
				return
			}
			data, err := json.Marshal(p)
			if err != nil {
				t.Errorf("marshal the registration: %v", err)
			}
			done <- loaded{data: data}
		}()
		var got loaded
		select {
		case got = <-done:
		case <-time.After(10 * time.Second): // a bound on a hang, not a measure of speed
			t.Fatal("Load did not return")
		}
		if got.err != nil {
			for line := range strings.SplitSeq(got.err.Error(), "\n") {
				if !problemLine.MatchString(line) {
					t.Fatalf("a line of the refusal names no file of the pack: %q\nwhole error:\n%v", line, got.err)
				}
			}
			return
		}
		if err := v.Validate("PackRegistered", 1, got.data); err != nil {
			t.Fatalf("the loader accepted a pack the event schema refuses: %v\n%s", err, got.data)
		}
	})
}
