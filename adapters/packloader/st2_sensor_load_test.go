package packloader_test

import (
	"strings"
	"testing"

	"github.com/attune-go/attune/adapters/packloader"
)

// A file-watch sensor in the shape of StackStorm's linux pack: a trigger type that takes
// parameters (closed with additionalProperties: false), one that carries the lines, a rule
// passing the parameters, checked against the declared names.
const fileWatchSensor = `---
  class_name: "FileWatchSensor"
  enabled: false
  entry_point: "file_watch_sensor.py"
  description: "Sensor which monitors files for new lines"
  trigger_types:
    -
      name: "file_watch.line"
      pack: "hello_st2"
      description: "Trigger which indicates a new line has been detected"
      parameters_schema:
        type: "object"
        properties:
          file_path:
            description: "Path to the file to monitor"
            type: "string"
            required: true
        additionalProperties: false
      payload_schema:
        type: "object"
        properties:
          file_path:
            type: "string"
          line:
            type: "string"
          seen_at:
            type: "string"
            format: "date-time"
`

func TestStackStormFileWatchSensorAndItsRuleLoad(t *testing.T) {
	t.Parallel()
	rule := func(params string) string {
		return "---\nname: on_line\npack: hello_st2\nenabled: true\ntrigger:\n  type: hello_st2.file_watch.line\n  parameters:\n" + params +
			"action:\n  ref: core.echo\n  parameters:\n    message: \"{{ trigger.line }}\"\n"
	}
	files := func(params string) map[string]string {
		return map[string]string{
			"sensors/file_watch_sensor.yaml": fileWatchSensor,
			"sensors/file_watch_sensor.py":   "from st2reactor.sensor.base import Sensor\n",
			"rules/on_line.yaml":             rule(params),
		}
	}
	p, err := packloader.Load(st2Files("p", files("    file_path: /var/log/syslog\n")), "p", nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(p.Sensors) != 1 || p.Sensors[0].Ref != "hello_st2.FileWatchSensor" || p.Sensors[0].Enabled {
		t.Fatalf("sensors %+v", p.Sensors)
	}
	var found bool
	for _, tr := range p.Triggers {
		if tr.Ref == "hello_st2.file_watch.line" {
			found = tr.ParametersSchema["file_path"].Required && tr.PayloadSchema["seen_at"].Schema != nil
		}
	}
	if !found {
		t.Fatalf("triggers %+v: want file_watch.line with its parameters and payload schemas", p.Triggers)
	}
	_, err = packloader.Load(st2Files("p", files("    file_path: /var/log/syslog\n    follow: true\n")), "p", nil)
	if err == nil || !strings.Contains(err.Error(), "p/rules/on_line.yaml:") || !strings.Contains(err.Error(), "follow") {
		t.Fatalf("an undeclared trigger parameter: %v", err)
	}
}
