package packloader_test

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"

	"github.com/attune-go/attune/adapters/packloader"
	"github.com/attune-go/attune/domain/pack"
)

// The st2_rules fixture pack: one StackStorm rule per feature, as the end-to-end test runs it.
const st2RulesPack = "../../cmd/attune/testdata/stackstorm/st2_rules"

func TestStackStormRulesMapOntoAttunesRules(t *testing.T) {
	t.Parallel()
	p, err := packloader.LoadDir(st2RulesPack, nil)
	if err != nil {
		t.Fatal(err)
	}
	rules := map[string]pack.Rule{}
	for _, r := range p.Rules {
		if r.Dialect != pack.DialectStackStorm {
			t.Errorf("%s: dialect %q", r.Ref, r.Dialect)
		}
		rules[r.Name] = r
	}
	for name, want := range map[string][2]string{
		// StackStorm's timers are Attune's, their parameters translated.
		"interval": {"core.intervaltimer", `{"delta":1,"unit":"seconds"}`},
		"cron":     {"core.crontimer", `{"expression":"*/2 * * * * 0,1,2,3,4,5,6","timezone":"Europe/Paris"}`},
		"date":     {"core.datetimer", `{"date":"2020-01-01T08:00:00Z"}`},
		// The webhook keeps its url.
		"webhook_sample": {"core.st2.webhook", `{"url":"st2rules"}`},
		"webhook_twin":   {"core.st2.webhook", `{"url":"st2rules"}`}, // written /st2rules/
		"ticket_closed":  {"st2_rules.ticket", ``},
	} {
		r := rules[name]
		if r.Trigger != want[0] || string(r.TriggerParams) != want[1] {
			t.Errorf("%s: trigger %s %s, want %s %s", name, r.Trigger, r.TriggerParams, want[0], want[1])
		}
	}
	tagged := rules["webhook_tagged"]
	if _, ok := tagged.Criteria["payload.body.count#below"]; !ok || len(tagged.Criteria) != 2 || tagged.Action != "st2_rules.record" {
		t.Errorf("webhook_tagged: criteria %v action %s", tagged.Criteria, tagged.Action)
	}
	if c := rules["webhook_sample"].Criteria["payload.headers.X-Source"]; c.Type != "iequals" {
		t.Errorf("trigger.headers['X-Source'] became %v", rules["webhook_sample"].Criteria)
	}
	if c := rules["ticket_closed"].Criteria["payload.tags"]; string(c.Pattern) != `{"condition":"any","pattern":{"item":{"pattern":"urgent","type":"equals"}}}` {
		t.Errorf("search with StackStorm's condition beside type: %s", c.Pattern)
	}
	if rules["webhook_disabled"].Enabled || !rules["webhook_sample"].Enabled {
		t.Error("enabled is not honoured")
	}
	var ticket pack.Trigger
	for _, tr := range p.Triggers {
		if tr.Ref == "st2_rules.ticket" {
			ticket = tr
		}
	}
	got, _ := json.Marshal(ticket.PayloadSchema)
	if ticket.Type != pack.TriggerSensor || !ticket.PayloadSchema["id"].Required || ticket.PayloadSchema["id"].Type != pack.ParamInteger ||
		len(ticket.PayloadSchema["status"].Enum) != 2 || ticket.PayloadSchema["tags"].Items == nil {
		t.Errorf("ticket trigger %s %s: want the JSON Schema object flattened", ticket.Type, got)
	}
}

func TestStackStormRulesRefuseWhatCannotRunNamingFileAndLine(t *testing.T) {
	t.Parallel()
	const head = "---\nname: r\npack: hello_st2\nenabled: true\n"
	hook := "trigger:\n  type: core.st2.webhook\n  parameters:\n    url: hook\n"
	echo := "action:\n  ref: core.echo\n  parameters:\n    message: hi\n"
	for _, c := range []struct {
		name, rule, want string
	}{
		{"another pack", "---\nname: r\npack: other\n" + hook + echo, `r.yaml:3: pack: "other" is not this pack`},
		{"a wrong uid", head + "uid: rule:hello_st2:s\n" + hook + echo, "uid:"},
		{"a backstop rule", head + "type:\n  ref: backstop\n" + hook + echo, "type.ref: rule type \"backstop\""},
		{"a path outside the payload", head + hook + "criteria:\n  payload.x:\n    type: equals\n    pattern: 1\n" + echo, "r.yaml:10: criteria.payload.x: a criterion tests the trigger's payload"},
		{"two keys for one test", head + hook + "criteria:\n  trigger.x:\n    type: exists\n  trigger['x']:\n    type: exists\n" + echo, `give one of them a different #tag`},
		{"an unknown operator", head + hook + "criteria:\n  trigger.x#1:\n    type: equal\n    pattern: 1\n" + echo, `criteria.trigger.x#1.type: unknown operator "equal"`},
		{"condition off search", head + hook + "criteria:\n  trigger.x:\n    type: equals\n    condition: any\n    pattern: 1\n" + echo, "only the search operator takes a condition"},
		{"a url with a slash", head + "trigger:\n  type: core.st2.webhook\n  parameters:\n    url: /a/b/\n" + echo, "one path segment"},
		{"a url that is a trigger", head + "trigger:\n  type: core.st2.webhook\n  parameters:\n    url: core.webhook\n" + echo, "is the ref of trigger core.webhook"},
		{"a webhook without url", head + "trigger:\n  type: core.st2.webhook\n" + echo, "trigger.parameters.url: required by trigger core.st2.webhook"},
		{"cron with a year", head + "trigger:\n  type: core.st2.CronTimer\n  parameters:\n    year: 2027\n" + echo, "no year field"},
		{"cron with a last", head + "trigger:\n  type: core.st2.CronTimer\n  parameters:\n    day: last\n" + echo, "APScheduler's last / xth"},
		{"an interval without delta", head + "trigger:\n  type: core.st2.IntervalTimer\n  parameters:\n    unit: seconds\n" + echo, "trigger.parameters.delta: required"},
		{"a date that is none", head + "trigger:\n  type: core.st2.DateTimer\n  parameters:\n    date: soon\n" + echo, `bad date "soon"`},
		{"an internal trigger", head + "trigger:\n  type: core.st2.generic.notifytrigger\n" + echo, "StackStorm's report on itself"},
		{"st2kv.user", head + hook + "action:\n  ref: core.echo\n  parameters:\n    message: \"{{ st2kv.user.token }}\"\n", "r.yaml:12: st2kv.user: Attune's key-value store has no per-user scope"},
		{"Jinja reading an unknown name", head + hook + "action:\n  ref: core.echo\n  parameters:\n    message: \"{{ event.x }}\"\n", "r.yaml:12: action.parameters.message: \"{{ event.x }}\": event:"},
		{"an unknown field", head + hook + echo + "criterion: {}\n", "criterion: unknown field"},
		{"an unknown parameter", head + hook + "action:\n  ref: core.echo\n  parameters:\n    mesage: hi\n", `action.parameters.mesage: action core.echo has no parameter "mesage"`},
	} {
		_, err := packloader.Load(st2Files("p", map[string]string{"rules/r.yaml": c.rule}), "p", nil)
		var fe *packloader.FileError
		if err == nil || !errors.As(err, &fe) || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: got %v\nwant a file error with %q", c.name, err, c.want)
		}
	}
}

func TestStackStormTriggerFilesRefuseSchemasThatCannotBeChecked(t *testing.T) {
	t.Parallel()
	for body, want := range map[string]string{
		"payload_schema:\n  type: object\n  additionalProperties: false\n":                         "false is not enforced on a payload",
		"payload_schema:\n  type: array\n":                                                         `want type object`,
		"payload_schema:\n  type: object\n  properties:\n    x:\n      oneOf: []\n":                "properties.x: not a JSON Schema the worker can check",
		"payload_schema:\n  type: object\n  properties:\n    x: {type: string}\n  required: [y]\n": `"y" is not one of the properties`,
		"parameters_schema:\n  type: object\n  properties:\n    x: {type: string}\n":               "takes no parameters in Attune",
	} {
		_, err := packloader.Load(st2Files("p", map[string]string{"triggers/t.yaml": "---\nname: t\npack: hello_st2\n" + body}), "p", nil)
		if err == nil || !strings.Contains(err.Error(), "p/triggers/t.yaml:") || !strings.Contains(err.Error(), want) {
			t.Errorf("%q: got %v\nwant an error at p/triggers/t.yaml with %q", body, err, want)
		}
	}
}

func TestAStackStormRuleMayBeAJSONFile(t *testing.T) {
	t.Parallel()
	rule := `{"name": "hook", "enabled": true, "trigger": {"type": "core.st2.webhook", "parameters": {"url": "sample"}},
		"criteria": {"trigger.body.name": {"pattern": "st2", "type": "equals"}},
		"action": {"ref": "core.local", "parameters": {"cmd": "echo \"{{ trigger.body }}\""}}}`
	p, err := packloader.Load(st2Files("p", map[string]string{"rules/hook.json": rule}), "p", nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(p.Rules) != 1 || p.Rules[0].Ref != "hello_st2.hook" || p.Rules[0].File != "rules/hook.json" {
		t.Fatalf("rules %+v", p.Rules)
	}
}
