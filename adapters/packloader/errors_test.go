package packloader_test

import (
	"errors"
	"os"
	"slices"
	"strings"
	"testing"
	"testing/fstest"

	"github.com/attune-go/attune/adapters/packloader"
)

// files is a pack directory "p": a valid pack.yaml plus the given files (relative to p/).
// A key with an empty value removes the file.
func files(extra map[string]string) fstest.MapFS {
	fsys := fstest.MapFS{
		"p/pack.yaml":          {Data: []byte("ref: p\nversion: 1.0.0\n")},
		"p/actions/count.yaml": {Data: []byte("name: count\nrunner_type: shell\nentry_point: count.sh\nparameters:\n  n: {type: integer, required: true}\n  mode: {type: string, enum: [fast, slow]}\n  token: {type: string, secret: true}\n  pinned: {type: string, immutable: true, default: x}\n")},
		"p/actions/count.sh":   {Data: []byte("#!/bin/sh\ncat\n")},
		"p/triggers/tick.yaml": {Data: []byte("name: tick\ntype: sensor\npayload_schema:\n  level: {type: string}\n")},
	}
	for name, data := range extra {
		if data == "" {
			delete(fsys, "p/"+name)
			continue
		}
		fsys["p/"+name] = &fstest.MapFile{Data: []byte(data)}
	}
	return fsys
}

func TestLoadReportsEveryProblemWithFileLineAndField(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name  string
		files map[string]string
		want  []string
	}{
		// pack.yaml
		{"no pack.yaml", map[string]string{"pack.yaml": ""},
			[]string{"p/pack.yaml: not found: every pack has one"}},
		{"pack ref with capitals", map[string]string{"pack.yaml": "ref: Examples\nversion: 1.0.0\n"},
			[]string{`p/pack.yaml:1: ref: "Examples" is not a pack ref: lowercase letters, digits, _ and -, no dots`}},
		{"pack ref with a dot", map[string]string{"pack.yaml": "ref: my.pack\nversion: 1.0.0\n"},
			[]string{`p/pack.yaml:1: ref: "my.pack" is not a pack ref: lowercase letters, digits, _ and -, no dots`}},
		{"pack ref core is taken", map[string]string{"pack.yaml": "ref: core\nversion: 1.0.0\n"},
			[]string{`p/pack.yaml:1: ref: "core" is reserved for the pack built into attune`}},
		{"version not semantic", map[string]string{"pack.yaml": "ref: p\nversion: 1.0\n"},
			[]string{"p/pack.yaml:2: version: want a string, got number 1.0"}},
		{"secret in config", map[string]string{"pack.yaml": "ref: p\nversion: 1.0.0\nconfig:\n  token_url: https://x\n  github:\n    api-token: ghp_123\n  db_password: \"{{ secret.db }}\"\n"},
			[]string{"p/pack.yaml:6: config.github.api-token: looks like a plaintext secret: the event log is immutable, so keep secrets out of config and pass them as secret parameters"}},
		{"pack fields missing", map[string]string{"pack.yaml": "description: x\n"},
			[]string{"p/pack.yaml:1: ref: required", "p/pack.yaml:1: version: required"}},

		// webhook triggers' gate
		{"rate limit on a sensor trigger", map[string]string{"triggers/tick.yaml": "name: tick\ntype: sensor\nrate_limit: {requests: 1, per: 1}\n"},
			[]string{"p/triggers/tick.yaml:3: rate_limit: only a webhook trigger takes rate_limit; this is a sensor trigger"}},
		{"allow_from not a network", map[string]string{"triggers/hook.yaml": "name: hook\ntype: webhook\nallow_from: [10.0.0.0/8, intranet]\n"},
			[]string{`p/triggers/hook.yaml:3: allow_from[1]: "intranet" is not a network: want CIDR like 10.0.0.0/8 or one address like 192.0.2.7`}},
		{"rate limit of zero", map[string]string{"triggers/hook.yaml": "name: hook\ntype: webhook\nrate_limit: {requests: 0, per: 1}\n"},
			[]string{"p/triggers/hook.yaml:3: rate_limit.requests: must be at least 1, got 0"}},

		// YAML itself
		{"unclosed bracket", map[string]string{"rules/r.yaml": "name: r\ntrigger: [p.tick\n"},
			[]string{"p/rules/r.yaml:2: invalid YAML: did not find expected ',' or ']'"}},
		{"unclosed bracket at the end", map[string]string{"rules/r.yaml": "{name: r\n"},
			[]string{"p/rules/r.yaml:2: invalid YAML: did not find expected ',' or '}'"}},
		{"bad indentation", map[string]string{"rules/r.yaml": "name: r\n  trigger: p.tick\n"},
			[]string{"p/rules/r.yaml:2: invalid YAML: mapping values are not allowed in this context"}},
		{"sequence after a mapping", map[string]string{"rules/r.yaml": "name: r\n- x\n"},
			[]string{"p/rules/r.yaml:2: invalid YAML: did not find expected key"}},
		{"duplicate key", map[string]string{"triggers/t.yaml": "name: t\ntype: sensor\nname: u\n"},
			[]string{"p/triggers/t.yaml:3: name: defined twice (first at line 1)"}},
		{"empty file", map[string]string{"triggers/t.yaml": "# nothing yet\n"},
			[]string{"p/triggers/t.yaml: empty file"}},
		{"two documents", map[string]string{"triggers/t.yaml": "name: t\ntype: sensor\n---\nname: u\ntype: sensor\n"},
			[]string{"p/triggers/t.yaml:3: more than one YAML document: a pack file holds one"}},
		{"a key with newlines stays on its line", map[string]string{"triggers/t.yaml": "name: t\ntype: sensor\n\"x\\np/pack.yaml:1: forged\": 1\n"},
			[]string{`p/triggers/t.yaml:3: x\np/pack.yaml:1: forged: unknown field (want one of name, description, type, payload_schema, parameters_schema, rate_limit, allow_from)`}},
		{"not a mapping", map[string]string{"triggers/t.yaml": "- name: t\n"},
			[]string{"p/triggers/t.yaml:1: want a mapping of fields, got a list"}},

		// unknown fields
		{"misspelt field", map[string]string{"actions/a.yaml": "name: a\nrunner_type: shell\nentry_point: count.sh\nparamters:\n  x: {type: string}\n"},
			[]string{"p/actions/a.yaml:4: paramters: unknown field (did you mean parameters?)"}},
		{"misspelt parameter keyword", map[string]string{"actions/a.yaml": "name: a\nrunner_type: shell\nentry_point: count.sh\nparameters:\n  x: {type: string, requird: true}\n"},
			[]string{"p/actions/a.yaml:5: parameters.x.requird: unknown field (did you mean required?)"}},
		{"field far from any known", map[string]string{"triggers/t.yaml": "name: t\ntype: sensor\ncolour: red\n"},
			[]string{"p/triggers/t.yaml:3: colour: unknown field (want one of name, description, type, payload_schema, parameters_schema, rate_limit, allow_from)"}},

		// actions
		{"unknown runner type", map[string]string{"actions/a.yaml": "name: a\nrunner_type: pyton\nentry_point: a.py\n"},
			[]string{`p/actions/a.yaml:2: runner_type: unknown runner type "pyton" (want one of [shell python node builtin workflow])`}},
		{"missing entry point file", map[string]string{"actions/a.yaml": "name: a\nrunner_type: python\nentry_point: a.py\n"},
			[]string{"p/actions/a.yaml:3: entry_point: p/actions/a.py does not exist"}},
		{"entry point outside the pack", map[string]string{"actions/a.yaml": "name: a\nrunner_type: shell\nentry_point: ../../etc/passwd\n"},
			[]string{`p/actions/a.yaml:3: entry_point: "../../etc/passwd" is not a relative path inside p/actions/`}},
		{"no entry point", map[string]string{"actions/a.yaml": "name: a\nrunner_type: node\n"},
			[]string{"p/actions/a.yaml:1: entry_point: required"}},
		{"missing workflow definition", map[string]string{"actions/wf.yaml": "name: wf\nrunner_type: workflow\nentry_point: workflows/wf.yaml\n"},
			[]string{"p/actions/wf.yaml:3: entry_point: p/actions/workflows/wf.yaml does not exist"}},
		{"workflow definition that is no mapping", map[string]string{"actions/wf.yaml": "name: wf\nrunner_type: workflow\nentry_point: workflows/wf.yaml\n", "actions/workflows/wf.yaml": "- just\n- a list\n"},
			[]string{"p/actions/workflows/wf.yaml:1: want a mapping (a workflow definition), got a list"}},
		{"builtin outside core", map[string]string{"actions/a.yaml": "name: a\nrunner_type: builtin\n"},
			[]string{"p/actions/a.yaml:2: runner_type: builtin actions are built into attune and come only with the core pack"}},
		{"timeout not a number", map[string]string{"actions/a.yaml": "name: a\nrunner_type: shell\nentry_point: count.sh\ntimeout: 30s\n"},
			[]string{`p/actions/a.yaml:4: timeout: want an integer, got "30s"`}},
		{"duplicate name", map[string]string{"actions/again.yaml": "name: count\nrunner_type: shell\nentry_point: count.sh\n"},
			[]string{`p/actions/count.yaml:1: name: action "count" is already defined at p/actions/again.yaml:1`}},
		{"same name, different kinds", map[string]string{"rules/count.yaml": "name: count\ntrigger: p.tick\naction: p.count\nparameters: {n: 1}\n"},
			nil},

		// parameter schemas
		{"unknown parameter type", map[string]string{"triggers/t.yaml": "name: t\ntype: sensor\npayload_schema:\n  x: {type: str}\n"},
			[]string{`p/triggers/t.yaml:4: payload_schema.x.type: unknown parameter type "str" (want one of [string integer number boolean object array null])`}},
		{"default of the wrong type", map[string]string{"triggers/t.yaml": "name: t\ntype: timer\nparameters_schema:\n  n: {type: integer, default: three}\n"},
			[]string{`p/triggers/t.yaml:4: parameters_schema.n.default: want an integer, got "three"`}},
		{"default outside the enum", map[string]string{"triggers/t.yaml": "name: t\ntype: timer\nparameters_schema:\n  m: {type: string, enum: [GET, POST], default: PATCH}\n"},
			[]string{`p/triggers/t.yaml:4: parameters_schema.m.default: "PATCH" is not one of ["GET", "POST"]`}},
		{"enum value of the wrong type", map[string]string{"triggers/t.yaml": "name: t\ntype: timer\nparameters_schema:\n  n:\n    type: integer\n    enum: [1, two]\n"},
			[]string{`p/triggers/t.yaml:6: parameters_schema.n.enum[1]: want an integer, got "two"`}},
		{"default breaking bounds and items", map[string]string{"triggers/t.yaml": "name: t\ntype: timer\nparameters_schema:\n  n: {type: integer, minimum: 1, default: 0}\n  tags:\n    type: array\n    items: {type: string}\n    default: [a, 2]\n"},
			[]string{
				"p/triggers/t.yaml:4: parameters_schema.n.default: 0 is below the minimum 1",
				"p/triggers/t.yaml:8: parameters_schema.tags.default[1]: want a string, got integer 2",
			}},
		{"default breaking lengths and pattern", map[string]string{"triggers/t.yaml": "name: t\ntype: timer\nparameters_schema:\n  code: {type: string, min_length: 3, default: ab}\n  name: {type: string, max_length: 2, default: abc}\n  host: {type: string, pattern: \"^[a-z]+$\", default: DB1}\n"},
			[]string{
				"p/triggers/t.yaml:4: parameters_schema.code.default: is 2 characters long, at least 3 wanted",
				"p/triggers/t.yaml:5: parameters_schema.name.default: is 3 characters long, at most 2 wanted",
				`p/triggers/t.yaml:6: parameters_schema.host.default: "DB1" does not match pattern "^[a-z]+$"`,
			}},
		{"default above the maximum, enum of a list", map[string]string{"triggers/t.yaml": "name: t\ntype: timer\nparameters_schema:\n  n: {type: number, maximum: 1.5, default: 2}\n  l: {type: array, enum: [[a, b]], default: [b, a]}\n"},
			[]string{
				"p/triggers/t.yaml:4: parameters_schema.n.default: 2 is above the maximum 1.5",
				`p/triggers/t.yaml:5: parameters_schema.l.default: ["b","a"] is not one of [["a","b"]]`,
			}},
		{"secret with a default", map[string]string{"triggers/t.yaml": "name: t\ntype: timer\nparameters_schema:\n  key: {type: string, secret: true, default: hunter2}\n"},
			[]string{"p/triggers/t.yaml:4: parameters_schema.key.default: a secret parameter has no default: the event log is immutable, so a secret written into it could never be taken back"}},
		{"keyword that does not fit the type", map[string]string{"triggers/t.yaml": "name: t\ntype: timer\nparameters_schema:\n  n: {type: integer, pattern: \"^[0-9]+$\"}\n"},
			[]string{"p/triggers/t.yaml:4: parameters_schema.n.pattern: does not apply to type integer"}},

		// rules: references
		{"rule on an unknown trigger and action of this pack", map[string]string{"rules/r.yaml": "name: r\ntrigger: p.tock\naction: p.cnt\n"},
			[]string{
				`p/rules/r.yaml:2: trigger: unknown trigger "p.tock": pack p has no such trigger`,
				`p/rules/r.yaml:3: action: unknown action "p.cnt": pack p has no such action`,
			}},
		{"rule on an unknown core action", map[string]string{"rules/r.yaml": "name: r\ntrigger: core.webhook\naction: core.ehco\n"},
			[]string{`p/rules/r.yaml:3: action: unknown action "core.ehco": pack core has no such action`}},
		{"rule on an unregistered pack", map[string]string{"rules/r.yaml": "name: r\ntrigger: github.push\naction: core.noop\n"},
			[]string{`p/rules/r.yaml:2: trigger: unknown trigger "github.push": no pack "github" is registered`}},
		{"ref without a pack", map[string]string{"rules/r.yaml": "name: r\ntrigger: tick\naction: core.noop\n"},
			[]string{`p/rules/r.yaml:2: trigger: "tick" is not a component ref: want <pack>.<name>, like core.echo`}},
		{"rule action defined in a later file", map[string]string{"actions/zz.yaml": "name: zz\nrunner_type: shell\nentry_point: count.sh\n", "rules/a.yaml": "name: a\ntrigger: p.tick\naction: p.zz\n"},
			nil},

		// rules: parameters
		{"rule literal of the wrong type", map[string]string{"rules/r.yaml": "name: r\ntrigger: p.tick\naction: p.count\nparameters:\n  n: many\n"},
			[]string{`p/rules/r.yaml:5: parameters.n: want an integer, got "many"`}},
		{"rule literal outside the enum", map[string]string{"rules/r.yaml": "name: r\ntrigger: p.tick\naction: p.count\nparameters: {n: 1, mode: medium}\n"},
			[]string{`p/rules/r.yaml:4: parameters.mode: "medium" is not one of ["fast", "slow"]`}},
		{"template inside a string is a string", map[string]string{"rules/r.yaml": "name: r\ntrigger: p.tick\naction: p.count\nparameters:\n  n: \"{{ event.payload.n }} times\"\n"},
			[]string{`p/rules/r.yaml:5: parameters.n: want an integer, got "{{ event.payload.n }} times"`}},
		{"whole template keeps its type", map[string]string{"rules/r.yaml": "name: r\ntrigger: p.tick\naction: p.count\nparameters:\n  n: \"{{ event.payload.n }}\"\n  mode: \"{{ config.mode }}\"\n"},
			nil},
		{"template inside a string: its content is unknown, its type is not", map[string]string{"rules/r.yaml": "name: r\ntrigger: p.tick\naction: p.count\nparameters:\n  n: 1\n  mode: \"{{ config.mode }}-ish\"\n"},
			nil},
		{"rule parameter the action lacks", map[string]string{"rules/r.yaml": "name: r\ntrigger: p.tick\naction: p.count\nparameters: {n: 1, mdoe: fast}\n"},
			[]string{`p/rules/r.yaml:4: parameters.mdoe: action p.count has no parameter "mdoe" (did you mean mode?)`}},
		{"parameter to an action that takes none", map[string]string{"rules/r.yaml": "name: r\ntrigger: p.tick\naction: core.noop\nparameters: {x: 1}\n"},
			[]string{"p/rules/r.yaml:4: parameters.x: action core.noop takes no parameters"}},
		{"required parameter missing", map[string]string{"rules/r.yaml": "name: r\ntrigger: p.tick\naction: p.count\n"},
			[]string{"p/rules/r.yaml:1: parameters.n: required by action p.count"}},
		{"immutable parameter overridden", map[string]string{"rules/r.yaml": "name: r\ntrigger: p.tick\naction: p.count\nparameters: {n: 1, pinned: y}\n"},
			[]string{"p/rules/r.yaml:4: parameters.pinned: is immutable in action p.count: its default cannot be overridden"}},
		{"secret written in a rule", map[string]string{"rules/r.yaml": "name: r\ntrigger: p.tick\naction: p.count\nparameters: {n: 1, token: hunter2}\n"},
			[]string{"p/rules/r.yaml:4: parameters.token: is secret: pass a template, never a literal (the event log is immutable)"}},

		// rules: criteria
		{"unknown operator", map[string]string{"rules/r.yaml": "name: r\ntrigger: p.tick\ncriteria:\n  payload.level: {type: equal, pattern: error}\naction: core.noop\n"},
			[]string{`p/rules/r.yaml:4: criteria.payload.level.type: unknown operator "equal" (did you mean equals?)`}},
		{"bad regex", map[string]string{"rules/r.yaml": "name: r\ntrigger: p.tick\ncriteria:\n  payload.level: {type: regex, pattern: \"(err\"}\naction: core.noop\n"},
			[]string{"p/rules/r.yaml:4: criteria.payload.level.pattern: bad regular expression: error parsing regexp: missing closing ): `(err`"}},
		{"criteria path the payload lacks", map[string]string{"rules/r.yaml": "name: r\ntrigger: p.tick\ncriteria:\n  payload.levl: {type: exists}\naction: core.noop\n"},
			[]string{`p/rules/r.yaml:4: criteria.payload.levl: trigger p.tick has no payload field "levl" (did you mean level?)`}},
		{"pattern missing", map[string]string{"rules/r.yaml": "name: r\ntrigger: p.tick\ncriteria:\n  payload.level: {type: equals}\naction: core.noop\n"},
			[]string{"p/rules/r.yaml:4: criteria.payload.level.pattern: required"}},
		{"expression mixed with tests", map[string]string{"rules/r.yaml": "name: r\ntrigger: p.tick\ncriteria:\n  expression: \"{{ true }}\"\n  payload.level: {type: exists}\naction: core.noop\n"},
			[]string{"p/rules/r.yaml:4: criteria: an expression stands alone: write every test into it, or use no expression"}},
		{"template that does not compile", map[string]string{"rules/r.yaml": "name: r\ntrigger: p.tick\naction: core.echo\nparameters:\n  message: \"{{ event.payload.level ) }} now\"\n"},
			[]string{`p/rules/r.yaml:5: parameters.message: "{{ event.payload.level ) }} now": {{ is never closed by }} (at 1:1)`}},
		{"template expression that does not compile", map[string]string{"rules/r.yaml": "name: r\ntrigger: p.tick\naction: core.echo\nparameters:\n  message: \"at {{ event.payload.level +* 1 }}\"\n"},
			[]string{`p/rules/r.yaml:5: parameters.message: "at {{ event.payload.level +* 1 }}": unexpected token Operator("*") (at 1:28)`}},
		{"expression that does not compile", map[string]string{"rules/r.yaml": "name: r\ntrigger: p.tick\ncriteria:\n  expression: \"{{ event.payload.level == }}\"\naction: core.noop\n"},
			[]string{`p/rules/r.yaml:4: criteria.expression: "{{ event.payload.level == }}": unexpected token EOF (at 1:25)`}},
		{"expression that is not a boolean", map[string]string{"rules/r.yaml": "name: r\ntrigger: p.tick\ncriteria:\n  expression: \"{{ 1 + 1 }}\"\naction: core.noop\n"},
			[]string{`p/rules/r.yaml:4: criteria.expression: "{{ 1 + 1 }}": the expression gives int, not true or false`}},

		// timers
		{"cron with five fields", map[string]string{"rules/r.yaml": "name: r\ntrigger: core.crontimer\ntrigger_params: {expression: \"*/5 * * * *\"}\naction: core.noop\n"},
			[]string{`p/rules/r.yaml:3: trigger_params.expression: bad cron expression "*/5 * * * *" (want 6 fields, seconds first, like "*/5 * * * * *"): expected exactly 6 fields, found 5: [*/5 * * * *]`}},
		{"cron out of range", map[string]string{"rules/r.yaml": "name: r\ntrigger: core.crontimer\ntrigger_params: {expression: \"0 0 25 * * *\", timezone: Mars/Olympus}\naction: core.noop\n"},
			[]string{
				`p/rules/r.yaml:3: trigger_params.expression: bad cron expression "0 0 25 * * *" (want 6 fields, seconds first, like "*/5 * * * * *"): end of range (25) above maximum (23): 25`,
				`p/rules/r.yaml:3: trigger_params.timezone: unknown timezone "Mars/Olympus" (want an IANA name like UTC or Europe/Paris)`,
			}},
		{"interval with a bad unit and delta", map[string]string{"rules/r.yaml": "name: r\ntrigger: core.intervaltimer\ntrigger_params:\n  unit: fortnights\n  delta: 0\naction: core.noop\n"},
			[]string{
				`p/rules/r.yaml:4: trigger_params.unit: "fortnights" is not one of ["seconds", "minutes", "hours", "days", "weeks"]`,
				`p/rules/r.yaml:5: trigger_params.delta: 0 is below the minimum 1`,
			}},
		{"interval delta as a string", map[string]string{"rules/r.yaml": "name: r\ntrigger: core.intervaltimer\ntrigger_params: {unit: seconds, delta: \"2\"}\naction: core.noop\n"},
			[]string{`p/rules/r.yaml:3: trigger_params.delta: want an integer, got "2"`}},
		{"interval without params", map[string]string{"rules/r.yaml": "name: r\ntrigger: core.intervaltimer\naction: core.noop\n"},
			[]string{
				"p/rules/r.yaml:1: trigger_params.delta: required by trigger core.intervaltimer",
				"p/rules/r.yaml:1: trigger_params.unit: required by trigger core.intervaltimer",
			}},
		{"bad date", map[string]string{"rules/r.yaml": "name: r\ntrigger: core.datetimer\ntrigger_params: {date: \"2026-12-01 09:00\"}\naction: core.noop\n"},
			[]string{`p/rules/r.yaml:3: trigger_params.date: bad date "2026-12-01 09:00": want RFC 3339 with an offset, like 2026-12-01T09:00:00Z`}},
		{"trigger params where none are taken", map[string]string{"rules/r.yaml": "name: r\ntrigger: core.webhook\ntrigger_params: {url: x}\naction: core.noop\n"},
			[]string{"p/rules/r.yaml:3: trigger_params.url: trigger core.webhook takes no parameters"}},

		// sensors and policies
		{"sensor emitting an unknown trigger", map[string]string{"sensors/s.yaml": "name: s\nrunner_type: python\nentry_point: s.py\ntriggers: [p.tick, p.tock]\n", "sensors/s.py": "pass\n"},
			[]string{`p/sensors/s.yaml:4: triggers[1]: unknown trigger "p.tock": pack p has no such trigger`}},
		{"a limit on core.ask, which no worker runs", map[string]string{"policies/x.yaml": "name: x\naction: core.ask\ntype: concurrency\nconcurrency: {threshold: 1}\n"},
			[]string{"p/policies/x.yaml:2: action: core.ask asks a person and runs on no worker: concurrency and rate-limit policies cannot apply to it"}},
		{"an enabled limit keyed by a parameter the action does not declare", map[string]string{"policies/x.yaml": "name: x\naction: p.count\ntype: rate_limit\nrate_limit:\n  limit: 2\n  window: 5\n  attributes: [host]\n"},
			[]string{`p/policies/x.yaml:7: rate_limit.attributes[0]: action p.count has no parameter "host" (want one of mode, n, pinned, token)`}},
		{"a limit keyed by a secret", map[string]string{"policies/x.yaml": "name: x\naction: p.count\ntype: concurrency\nconcurrency: {threshold: 1, attributes: [n, token]}\n"},
			[]string{`p/policies/x.yaml:4: concurrency.attributes[1]: parameter "token" of action p.count is secret: a policy cannot be keyed by a secret`}},
		{"a limit on a workflow", map[string]string{
			"actions/flow.yaml":           "name: flow\nrunner_type: workflow\nentry_point: workflows/flow.yaml\n",
			"actions/workflows/flow.yaml": "version: 1\ntasks:\n  one: {action: core.noop}\n",
			"policies/x.yaml":             "name: x\naction: p.flow\ntype: concurrency\nconcurrency: {threshold: 1}\n"},
			[]string{"p/policies/x.yaml:2: action: p.flow is a workflow: concurrency and rate-limit policies are enforced on actions run by workers only (put the policy on the actions its tasks run)"}},
		{"policy of the wrong shape", map[string]string{"policies/x.yaml": "name: x\nenabled: false\naction: p.count\ntype: concurrency\nrate_limit: {limit: 1, window: 1}\nconcurrency: {threshold: 0, attributes: [nn]}\n"},
			[]string{
				"p/policies/x.yaml:5: rate_limit: does not apply to a concurrency policy",
				"p/policies/x.yaml:6: concurrency.threshold: must be at least 1, got 0",
				`p/policies/x.yaml:6: concurrency.attributes[0]: action p.count has no parameter "nn" (did you mean n?)`,
			}},
		{"retry on a status that never retries", map[string]string{"policies/x.yaml": "name: x\nenabled: false\naction: core.http\ntype: retry\nretry: {on: [completed], max_retries: 2, backoff: linear}\n"},
			[]string{
				`p/policies/x.yaml:5: retry.on[0]: cannot retry on "completed": want one of [failed timeout abandoned]`,
				`p/policies/x.yaml:5: retry.backoff: unknown backoff "linear" (want one of [fixed exponential])`,
			}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			_, err := packloader.Load(files(tt.files), "p", nil)
			assertErrors(t, err, tt.want...)
		})
	}
}

func TestLoadCollectsProblemsFromEveryFile(t *testing.T) {
	t.Parallel()
	_, err := packloader.Load(files(map[string]string{
		"pack.yaml":       "ref: p\nversion: one\n",
		"actions/a.yaml":  "name: a\nrunner_type: perl\n",
		"triggers/t.yaml": "name: t\ntype: cron\n",
		"rules/r.yaml":    "name: r\ntrigger: p.t\naction: p.nope\nenabled: maybe\n",
	}), "p", nil)
	assertErrors(t, err,
		`p/pack.yaml:2: version: "one" is not a semantic version (like 1.0.0)`,
		`p/actions/a.yaml:2: runner_type: unknown runner type "perl" (want one of [shell python node builtin workflow])`,
		`p/triggers/t.yaml:2: type: unknown trigger type "cron" (want one of [webhook timer sensor])`,
		`p/rules/r.yaml:4: enabled: want true or false, got "maybe"`,
		`p/rules/r.yaml:3: action: unknown action "p.nope": pack p has no such action`,
	)
}

func TestLoadRejectsWhatIsNotAPackDirectory(t *testing.T) {
	t.Parallel()
	_, err := packloader.Load(os.DirFS(packsDir), "nowhere", nil)
	assertErrors(t, err, "nowhere: no such pack directory")
	_, err = packloader.Load(os.DirFS(packsDir), "examples/pack.yaml", nil)
	assertErrors(t, err, "examples/pack.yaml: not a pack directory: a pack is a directory holding pack.yaml")
}

// assertErrors checks that err joins exactly the FileErrors rendered as want, in order.
func assertErrors(t *testing.T, err error, want ...string) {
	t.Helper()
	var got []string
	if err != nil {
		errs := []error{err}
		if joined, ok := err.(interface{ Unwrap() []error }); ok {
			errs = joined.Unwrap()
		}
		for _, e := range errs {
			var fe *packloader.FileError
			if !errors.As(e, &fe) {
				t.Errorf("%v is not a *FileError", e)
			}
			got = append(got, e.Error())
		}
	}
	if !slices.Equal(got, want) {
		t.Fatalf("errors\n got:\n  %s\nwant:\n  %s", strings.Join(got, "\n  "), strings.Join(want, "\n  "))
	}
}

// StackStorm packs write the short operator names as often as the long ones.
func TestRulesMayUseStackStormsShortOperatorNames(t *testing.T) {
	t.Parallel()
	p, err := packloader.Load(files(map[string]string{
		"rules/r.yaml": "name: r\ntrigger: p.tick\ncriteria:\n  payload.level: {type: eq, pattern: error}\naction: core.noop\n",
		"rules/s.yaml": "name: s\ntrigger: p.tick\ncriteria:\n  payload.level: {type: in, pattern: [error, warn]}\naction: core.noop\n",
	}), "p", nil)
	if err != nil {
		t.Fatalf("load: %v", err)
	}
	if len(p.Rules) != 2 {
		t.Fatalf("rules %+v, want both", p.Rules)
	}
}

func TestEnabledConcurrencyAndRateLimitPoliciesLoad(t *testing.T) {
	t.Parallel()
	p, err := packloader.Load(files(map[string]string{
		"policies/one.yaml":  "name: one\naction: p.count\ntype: concurrency\nconcurrency: {threshold: 1, attributes: [mode]}\n",
		"policies/rate.yaml": "name: rate\naction: p.count\ntype: rate_limit\nrate_limit: {limit: 2, window: 5, mode: cancel}\n",
	}), "p", nil)
	if err != nil {
		t.Fatalf("load: %v", err)
	}
	if len(p.Policies) != 2 {
		t.Fatalf("policies %+v, want 2", p.Policies)
	}
	for _, po := range p.Policies {
		l, ok := po.Limit()
		if !po.Enabled || !ok {
			t.Errorf("%s: enabled %v, a limit %v", po.Ref, po.Enabled, ok)
		}
		switch po.Ref {
		case "p.one":
			if l.Threshold != 1 || l.Mode != "enqueue" || !slices.Equal(l.Attributes, []string{"mode"}) {
				t.Errorf("p.one as a limit: %+v", l)
			}
		case "p.rate":
			if l.Limit != 2 || l.Window.Seconds() != 5 || l.Mode != "cancel" {
				t.Errorf("p.rate as a limit: %+v", l)
			}
		}
	}
}
