package packloader_test

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"slices"
	"strings"
	"testing"
	"testing/fstest"

	"github.com/attune-go/attune/adapters/eventschema"
	"github.com/attune-go/attune/adapters/packloader"
	"github.com/attune-go/attune/domain/pack"
	"github.com/attune-go/attune/domain/policy"
)

// packsDir holds the example pack the demo serves: the tests load that pack itself, so it
// cannot drift from what they check.
const packsDir = "../../examples/packs"

func TestExamplePackLoads(t *testing.T) {
	t.Parallel()
	got, err := packloader.Load(os.DirFS(packsDir), "examples", nil)
	if err != nil {
		t.Fatalf("load: %v", err)
	}
	script, err := os.ReadFile(packsDir + "/examples/actions/shout.py")
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(script)
	want := pack.PackRegistered{
		Ref:         "examples",
		Version:     "1.0.0",
		Description: "Example automations",
		Config:      json.RawMessage(`{"greeting":"hello"}`),
		Digest:      got.Digest, // checked below
		Actions: []pack.Action{{
			Ref: "examples.shout", Name: "shout", Description: "Upper-case a message.",
			RunnerType: pack.RunnerPython, EntryPoint: "shout.py", EntryPointSHA256: hex.EncodeToString(sum[:]),
			TimeoutSeconds: 30,
			Parameters: pack.Params{
				"message":   {Type: pack.ParamString, Required: true},
				"api_token": {Type: pack.ParamString, Secret: true},
			},
		}},
		Triggers: []pack.Trigger{{
			Ref: "examples.ping", Name: "ping", Description: "A ping posted to the webhook endpoint.",
			Type: pack.TriggerWebhook,
			PayloadSchema: pack.Params{
				"level": {Type: pack.ParamString},
				"msg":   {Type: pack.ParamString, Required: true},
			},
		}},
		Rules: []pack.Rule{
			{
				Ref: "examples.every_two_seconds", Name: "every_two_seconds", Enabled: true,
				Trigger: "core.intervaltimer", TriggerParams: json.RawMessage(`{"delta":2,"unit":"seconds"}`),
				Action: "core.echo", Parameters: json.RawMessage(`{"message":"hello, world"}`), File: "rules/every_two_seconds.yaml",
			},
			{
				Ref: "examples.on_error_ping", Name: "on_error_ping", Description: "Shout about disk errors.", Enabled: true,
				Trigger: "examples.ping",
				Criteria: map[string]pack.Criterion{
					"payload.level": {Type: "equals", Pattern: json.RawMessage(`"error"`)},
					"payload.msg":   {Type: "regex", Pattern: json.RawMessage(`"^disk"`)},
				},
				Action:     "examples.shout",
				Parameters: json.RawMessage(`{"message":"{{ event.payload.msg }} (via {{ config.greeting }})"}`),
				File:       "rules/on_error_ping.yaml",
			},
		},
	}
	if !reflect.DeepEqual(got, want) {
		gotJSON, _ := json.MarshalIndent(got, "", "  ")
		wantJSON, _ := json.MarshalIndent(want, "", "  ")
		t.Fatalf("got\n%s\nwant\n%s", gotJSON, wantJSON)
	}
	if !regexp.MustCompile(`^[0-9a-f]{64}$`).MatchString(got.Digest) {
		t.Fatalf("digest %q is not a hex SHA-256", got.Digest)
	}
}

func TestLoadedEventsMatchTheEventSchema(t *testing.T) {
	t.Parallel()
	v, err := eventschema.New()
	if err != nil {
		t.Fatal(err)
	}
	core, err := packloader.LoadCore()
	if err != nil {
		t.Fatalf("load core: %v", err)
	}
	examples, err := packloader.Load(os.DirFS(packsDir), "examples", nil)
	if err != nil {
		t.Fatalf("load examples: %v", err)
	}
	everything, err := packloader.Load(richPack(), "rich", packloader.Packs(examples))
	if err != nil {
		t.Fatalf("load rich: %v", err)
	}
	for _, p := range []pack.PackRegistered{core, examples, everything} {
		data, err := json.Marshal(p)
		if err != nil {
			t.Fatal(err)
		}
		if err := v.Validate(p.EventType(), 1, data); err != nil {
			t.Errorf("pack %s: %v", p.Ref, err)
		}
	}
}

// richPack uses every kind of component and every parameter keyword, so the schema test
// covers more than the examples do.
func richPack() fstest.MapFS {
	return fstest.MapFS{
		"rich/pack.yaml": {Data: []byte("ref: rich\nversion: 0.1.0-beta.1\n")},
		"rich/actions/deploy.yaml": {Data: []byte(`name: deploy
runner_type: shell
entry_point: bin/deploy.sh
parameters:
  env: {type: string, enum: [dev, prod], default: dev}
  replicas: {type: integer, minimum: 1, maximum: 10, default: 2}
  ratio: {type: number, minimum: 0.5}
  tags: {type: array, items: {type: string, min_length: 1}, default: [a, b]}
  verbose: {type: boolean, default: false}
  options: {type: object, default: {dry_run: true}}
  version: {type: string, pattern: "^v[0-9]+$", immutable: true, default: v1}
  token: {type: string, secret: true}
`)},
		"rich/actions/bin/deploy.sh":           {Data: []byte("#!/bin/sh\ncat\n")},
		"rich/actions/pipeline.yaml":           {Data: []byte("name: pipeline\nrunner_type: workflow\nentry_point: workflows/pipeline.yaml\n")},
		"rich/actions/workflows/pipeline.yaml": {Data: []byte("tasks:\n  first: {action: rich.deploy}\n")},
		"rich/triggers/alert.yaml":             {Data: []byte("name: alert\ntype: sensor\npayload_schema:\n  severity: {type: integer}\n")},
		"rich/sensors/watch.yaml": {Data: []byte(`name: watch
runner_type: python
entry_point: watch.py
poll_interval: 30
triggers: [rich.alert, examples.ping]
`)},
		"rich/sensors/watch.py": {Data: []byte("print('{}')\n")},
		"rich/rules/on_alert.yaml": {Data: []byte(`name: on_alert
enabled: false
trigger: rich.alert
criteria: {expression: "{{ event.payload.severity > 3 }}"}
action: rich.deploy
parameters: {env: prod, replicas: "{{ event.payload.severity }}", token: "{{ config.token }}"}
`)},
		"rich/rules/nightly.yaml": {Data: []byte(`name: nightly
trigger: core.crontimer
trigger_params: {expression: "0 0 2 * * *", timezone: Europe/Paris}
action: examples.shout
parameters: {message: nightly}
`)},
		"rich/rules/once.yaml": {Data: []byte(`name: once
trigger: core.datetimer
trigger_params: {date: 2026-12-01T09:00:00Z}
criteria:
  payload.executed_at: {type: exists}
action: core.noop
`)},
		"rich/policies/one_at_a_time.yaml": {Data: []byte(`name: one_at_a_time
action: rich.deploy
type: concurrency
concurrency: {threshold: 1, mode: cancel, attributes: [env]}
`)},
		"rich/policies/throttle.yaml": {Data: []byte(`name: throttle
action: rich.deploy
type: rate_limit
rate_limit: {limit: 5, window: 60}
`)},
		"rich/policies/again.yaml": {Data: []byte(`name: again
action: core.http
type: retry
retry: {on: [failed, timeout], max_retries: 3, delay: 2, backoff: exponential, max_delay: 30}
`)},
	}
}

func TestCorePackLoads(t *testing.T) {
	t.Parallel()
	core, err := packloader.LoadCore()
	if err != nil {
		t.Fatalf("load core: %v", err)
	}
	var got []string
	for _, c := range core.Components() {
		got = append(got, string(c.Kind)+" "+c.Ref)
	}
	want := []string{
		"action core.ask", "action core.echo", "action core.http", "action core.local", "action core.noop", "action core.pause", "action core.sleep", "action core.uuid",
		"trigger core.crontimer", "trigger core.datetimer", "trigger core.intervaltimer", "trigger core.st2.generic.actiontrigger", "trigger core.st2.generic.inquiry", "trigger core.st2.webhook", "trigger core.webhook",
	}
	if !slices.Equal(got, want) {
		t.Fatalf("core components\n got %q\nwant %q", got, want)
	}
	for _, a := range core.Actions {
		if a.RunnerType != pack.RunnerBuiltin {
			t.Errorf("%s runs on %s: the core pack has no files on disk, so its actions are builtins", a.Ref, a.RunnerType)
		}
	}
	if p := core.Actions[slices.IndexFunc(core.Actions, func(a pack.Action) bool { return a.Ref == "core.local" })].Parameters; !p["cmd"].Required || p["cmd"].Type != pack.ParamString {
		t.Errorf("core.local parameter cmd = %+v, want a required string", p["cmd"])
	}
}

func TestDigestFollowsEveryFile(t *testing.T) {
	t.Parallel()
	load := func(fsys fstest.MapFS) string {
		t.Helper()
		p, err := packloader.Load(fsys, "rich", nil)
		if err != nil {
			t.Fatalf("load: %v", err)
		}
		return p.Digest
	}
	withExamples := func(fsys fstest.MapFS) fstest.MapFS {
		// rich refers to examples.*: drop those so it loads alone.
		fsys["rich/sensors/watch.yaml"] = &fstest.MapFile{Data: []byte("name: watch\nrunner_type: python\nentry_point: watch.py\ntriggers: [rich.alert]\n")}
		delete(fsys, "rich/rules/nightly.yaml")
		return fsys
	}
	base := load(withExamples(richPack()))
	if again := load(withExamples(richPack())); again != base {
		t.Fatalf("the same files give digests %s and %s", base, again)
	}
	script := withExamples(richPack())
	script["rich/actions/bin/deploy.sh"] = &fstest.MapFile{Data: []byte("#!/bin/sh\ncat >/dev/null\n")}
	library := withExamples(richPack())
	library["rich/actions/lib/helpers.sh"] = &fstest.MapFile{Data: []byte("helper() { :; }\n")}
	ignored := withExamples(richPack())
	ignored["rich/.git/HEAD"] = &fstest.MapFile{Data: []byte("ref: refs/heads/main\n")}
	ignored["rich/sensors/__pycache__/watch.cpython-312.pyc"] = &fstest.MapFile{Data: []byte{0, 1}}
	for name, tc := range map[string]struct {
		fsys    fstest.MapFS
		changes bool
	}{
		"an entry point edited":        {script, true},
		"a file nothing names added":   {library, true},
		"only .git and caches changed": {ignored, false},
	} {
		if got := load(tc.fsys) != base; got != tc.changes {
			t.Errorf("%s: digest changed = %v, want %v", name, got, tc.changes)
		}
	}
}

func TestRefsResolveIntoOtherRegisteredPacks(t *testing.T) {
	t.Parallel()
	examples, err := packloader.Load(os.DirFS(packsDir), "examples", nil)
	if err != nil {
		t.Fatal(err)
	}
	fsys := fstest.MapFS{
		"p/pack.yaml":       {Data: []byte("ref: p\nversion: 1.0.0\n")},
		"p/rules/loud.yaml": {Data: []byte("name: loud\ntrigger: examples.ping\naction: examples.shout\nparameters: {message: 3}\n")},
	}
	asked := []string{}
	resolver := packloader.ResolverFunc(func(ref string) (*pack.PackRegistered, bool) {
		asked = append(asked, ref)
		return packloader.Packs(examples).Pack(ref)
	})
	_, err = packloader.Load(fsys, "p", resolver)
	// The other pack's action schema applies: message is a string there.
	assertErrors(t, err, "p/rules/loud.yaml:4: parameters.message: want a string, got integer 3")
	if !slices.Equal(slices.Compact(asked), []string{"examples"}) {
		t.Errorf("resolver asked for %q, want only examples (never p itself or core)", asked)
	}
}

func TestReloadRetiresWhatTheFilesDrop(t *testing.T) {
	t.Parallel()
	first, err := packloader.Load(os.DirFS(packsDir), "examples", nil)
	if err != nil {
		t.Fatal(err)
	}
	fsys := fstest.MapFS{}
	for _, f := range []string{"pack.yaml", "actions/shout.yaml", "actions/shout.py", "triggers/ping.yaml", "rules/on_error_ping.yaml"} {
		data, err := os.ReadFile(packsDir + "/examples/" + f)
		if err != nil {
			t.Fatal(err)
		}
		fsys["examples/"+f] = &fstest.MapFile{Data: data}
	}
	second, err := packloader.Load(fsys, "examples", nil)
	if err != nil {
		t.Fatal(err)
	}
	next := pack.Register(&first, second)
	if want := []pack.Component{{Kind: pack.KindRule, Ref: "examples.every_two_seconds"}}; !reflect.DeepEqual(next.Retired, want) {
		t.Fatalf("retired %v, want %v", next.Retired, want)
	}
	if next.Digest == first.Digest {
		t.Fatal("dropping a file left the digest unchanged")
	}
}

func TestLoadDirRecordsWhereThePackLives(t *testing.T) {
	t.Parallel()
	got, err := packloader.LoadDir(packsDir+"/examples", nil)
	if err != nil {
		t.Fatalf("LoadDir: %v", err)
	}
	abs, err := filepath.Abs(packsDir + "/examples")
	if err != nil {
		t.Fatal(err)
	}
	if got.Path != abs {
		t.Errorf("Path = %q, want %q", got.Path, abs)
	}
	viaFS, err := packloader.Load(os.DirFS(packsDir), "examples", nil)
	if err != nil {
		t.Fatal(err)
	}
	viaFS.Path = abs
	if !reflect.DeepEqual(got, viaFS) {
		t.Error("LoadDir and Load disagree on the pack")
	}
	if _, err := packloader.LoadDir(packsDir+"/nowhere", nil); err == nil || !strings.Contains(err.Error(), "nowhere: no such pack directory") {
		t.Errorf("LoadDir of a missing directory = %v", err)
	}
}

// The release example pack shows flow control: an approval workflow, a concurrency and a
// retry policy, all enabled, so loading it proves the loader takes them as written.
func TestReleaseExamplePackLoads(t *testing.T) {
	t.Parallel()
	got, err := packloader.Load(os.DirFS(packsDir), "release", nil)
	if err != nil {
		t.Fatalf("load: %v", err)
	}
	types := map[string]policy.Type{}
	for _, p := range got.Policies {
		if !p.Enabled {
			t.Errorf("policy %s is disabled", p.Ref)
		}
		types[p.Ref] = p.Type
	}
	if types["release.one_build_at_a_time"] != policy.Concurrency || types["release.retry_builds"] != policy.Retry {
		t.Errorf("policies = %v, want a concurrency and a retry policy", types)
	}
	var workflow bool
	for _, a := range got.Actions {
		workflow = workflow || (a.Ref == "release.release" && a.RunnerType == pack.RunnerWorkflow)
	}
	if !workflow {
		t.Errorf("actions %v: want the workflow release.release", got.Actions)
	}
}
