package packloader

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"testing/fstest"

	"github.com/attune-go/attune/domain/pack"
)

// st2Read reads the sensors and config schema of a StackStorm-dialect pack "mon" held in
// files, as Load does once pack.yaml has said the pack is StackStorm's.
func st2Read(t *testing.T, files fstest.MapFS) (pack.PackRegistered, error) {
	t.Helper()
	fsys := fstest.MapFS{}
	for name, f := range files {
		fsys["mon/"+name] = f
	}
	l := &loader{fsys: fsys, dir: "mon", others: Packs(), limits: Limits{}.withDefaults(), defined: map[pack.Kind]map[string]string{},
		st2: true, refOK: true, p: pack.PackRegistered{Ref: "mon", Version: "1.0.0"}}
	l.readST2Config()
	l.readDir("sensors", l.readSensor)
	l.p.Warnings = l.warns
	return l.p, errors.Join(l.errs...)
}

func file(s string) *fstest.MapFile { return &fstest.MapFile{Data: []byte(s)} }

const pollingSensorYAML = `---
class_name: "DiskSensor"
entry_point: "disk_sensor.py"
description: "Watches free disk space."
poll_interval: 30
enabled: true
trigger_types:
  - name: "disk_low"
    description: "Free space fell below the threshold."
    payload_schema:
      type: "object"
      properties:
        mount:
          type: "string"
        free_bytes:
          type: "integer"
      required: ["mount"]
`

func TestST2SensorDeclaresItsTriggerTypes(t *testing.T) {
	p, err := st2Read(t, fstest.MapFS{
		"sensors/disk_sensor.yaml": file(pollingSensorYAML),
		"sensors/disk_sensor.py":   file("from st2reactor.sensor.base import PollingSensor\n"),
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(p.Sensors) != 1 || len(p.Triggers) != 1 {
		t.Fatalf("sensors %+v triggers %+v", p.Sensors, p.Triggers)
	}
	s := p.Sensors[0]
	if s.Ref != "mon.DiskSensor" || s.ClassName != "DiskSensor" || s.RunnerType != pack.RunnerPython ||
		s.PollIntervalSeconds != 30 || !s.Enabled || s.EntryPoint != "disk_sensor.py" || s.EntryPointSHA256 == "" ||
		len(s.Triggers) != 1 || s.Triggers[0] != "mon.disk_low" {
		t.Errorf("sensor %+v", s)
	}
	tr := p.Triggers[0]
	want := pack.Params{"mount": {Type: pack.ParamString, Required: true}, "free_bytes": {Type: pack.ParamInteger}}
	if tr.Ref != "mon.disk_low" || tr.Type != pack.TriggerSensor || tr.Description == "" || !equalJSON(tr.PayloadSchema, want) {
		t.Errorf("trigger %+v", tr)
	}
}

func TestST2SensorRefusals(t *testing.T) {
	for name, tc := range map[string]struct{ yaml, want string }{
		"no class": {`entry_point: disk_sensor.py
trigger_types: [{name: t}]`, "mon/sensors/s.yaml:1: class_name: required"},
		"trigger parameters": {`class_name: S
entry_point: disk_sensor.py
trigger_types:
  - name: t
    parameters_schema: {type: object, properties: {path: {type: strng}}}`, "mon/sensors/s.yaml:5: trigger_types[0].parameters_schema.properties.path.type: unknown parameter type"},
		"no trigger types": {`class_name: S
entry_point: disk_sensor.py
trigger_types: []`, "mon/sensors/s.yaml:3: trigger_types: a sensor dispatches at least one trigger type"},
		"closed payload": {`class_name: S
entry_point: disk_sensor.py
trigger_types:
  - name: t
    payload_schema: {type: object, additionalProperties: false}`, "trigger_types[0].payload_schema.additionalProperties: false is not enforced"},
		"unknown field": {`class_name: S
entry_point: disk_sensor.py
runner_type: python
trigger_types: [{name: t}]`, "mon/sensors/s.yaml:3: runner_type: unknown field"},
		"other pack": {`class_name: S
pack: other
entry_point: disk_sensor.py
trigger_types: [{name: t}]`, `mon/sensors/s.yaml:2: pack: "other" is not this pack (mon)`},
		"not python": {`class_name: S
entry_point: disk_sensor.sh
trigger_types: [{name: t}]`, `"disk_sensor.sh" is not a Python module`},
	} {
		t.Run(name, func(t *testing.T) {
			_, err := st2Read(t, fstest.MapFS{
				"sensors/s.yaml":         file(tc.yaml),
				"sensors/disk_sensor.py": file("pass\n"),
				"sensors/disk_sensor.sh": file("true\n"),
			})
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("want %q, got %v", tc.want, err)
			}
		})
	}
}

func TestST2ConfigSchemaDefaultsAreThePacksConfig(t *testing.T) {
	p, err := st2Read(t, fstest.MapFS{"config.schema.yaml": file(`---
threshold:
  description: "Bytes below which disk_low fires."
  type: "integer"
  default: 1024
  required: true
api_key:
  description: "Secret, set by the operator."
  type: "string"
  secret: true
  required: true
server:
  type: object
  properties:
    host: {type: string, default: "localhost"}
    port: {type: integer, default: 8080, minimum: 1}
mounts:
  type: array
  items: {type: string}
  default: ["/"]
api_url:
  type: string
  default: "{{ st2kv.system.api_url }}"
connections:
  type: object
  patternProperties:
    "^\\w+":
      "$ref": "#/properties/connection"
  additionalProperties: false
`)})
	if err != nil {
		t.Fatal(err)
	}
	want := `{"mounts":["/"],"server":{"host":"localhost","port":8080},"threshold":1024}`
	if string(p.Config) != want {
		t.Fatalf("config %s, want %s", p.Config, want)
	}
	if len(p.Warnings) != 1 || !strings.Contains(p.Warnings[0], "mon/config.schema.yaml:23: api_url.default: the default {{ st2kv.system.api_url }} is a template") {
		t.Fatalf("warnings %q, want one naming the template default", p.Warnings)
	}
}

func TestST2ConfigSchemaRefusals(t *testing.T) {
	for name, tc := range map[string]struct{ yaml, want string }{
		"secret default": {"token:\n  type: string\n  secret: true\n  default: s3cr3t\n", "mon/config.schema.yaml:4: token.default: a secret config key has no default"},
		"wrong type":     {"n:\n  type: integer\n  default: many\n", `mon/config.schema.yaml:3: n.default: want an integer, got "many"`},
		"unknown":        {"n:\n  type: integer\n  dflt: 1\n", "mon/config.schema.yaml:3: n.dflt: unknown field"},
	} {
		t.Run(name, func(t *testing.T) {
			_, err := st2Read(t, fstest.MapFS{"config.schema.yaml": file(tc.yaml)})
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("want %q, got %v", tc.want, err)
			}
			if strings.Contains(err.Error(), "s3cr3t") {
				t.Fatalf("the error repeats the secret: %v", err)
			}
		})
	}
}

func equalJSON(a, b any) bool {
	x, _ := json.Marshal(a)
	y, _ := json.Marshal(b)
	return string(x) == string(y)
}
