package process_test

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/attune-go/attune/adapters/runtime/st2py"
	"github.com/attune-go/attune/adapters/sensor/process"
	"github.com/attune-go/attune/domain/pack"
)

// A StackStorm PollingSensor class, run by the st2reactor stand-in: setup, add_trigger,
// poll on its interval, dispatch through the sensor service, self._config, the logger,
// datastore values kept between polls; a print() goes to stderr, not into the protocol.
const st2PollingSensor = `
from st2reactor.sensor.base import PollingSensor


class CounterSensor(PollingSensor):
    def __init__(self, sensor_service, config=None, poll_interval=None):
        super(CounterSensor, self).__init__(sensor_service=sensor_service, config=config, poll_interval=poll_interval)
        self._logger = self._sensor_service.get_logger(name=self.__class__.__name__)
        self._triggers = []

    def setup(self):
        self._logger.info("set up with %s", self._config["greeting"])

    def add_trigger(self, trigger):
        self._triggers.append(trigger["ref"])

    def update_trigger(self, trigger):
        pass

    def remove_trigger(self, trigger):
        pass

    def poll(self):
        n = (self._sensor_service.get_value("n") or 0) + 1
        self._sensor_service.set_value("n", n)
        print("a stray print")
        self._sensor_service.dispatch(trigger=self._triggers[0],
                                      payload={"msg": self._config["greeting"], "n": n},
                                      trace_tag="tag-%d" % n)

    def cleanup(self):
        pass
`

func TestAStackStormPollingSensorClassFiresThroughTheStandIn(t *testing.T) {
	b := setup(t)
	sn := b.st2Sensor(t, "CounterSensor", st2PollingSensor)
	sn.Sensor.PollIntervalSeconds = 1
	b.run(t, sn)
	waitFor(t, "two events", 30*time.Second, func() bool { return len(firedEvents(t, b.store)) >= 2 })
	for i, e := range firedEvents(t, b.store)[:2] {
		var payload map[string]any
		if err := json.Unmarshal(e.Payload, &payload); err != nil {
			t.Fatal(err)
		}
		if e.Trigger != "examples.ping" || payload["msg"] != "hello-from-config" || payload["n"] != float64(i+1) {
			t.Errorf("event %d: %s %s", i, e.Trigger, e.Payload)
		}
		if want := fmt.Sprintf("tag-%d", i+1); e.rec.Metadata.TraceTag != want {
			t.Errorf("event %d: trace tag %q, want %q", i, e.rec.Metadata.TraceTag, want)
		}
	}
	if len(b.logs.matching("sensor stderr", "a stray print")) == 0 {
		t.Errorf("the sensor's print did not reach the log as stderr")
	}
	if len(b.logs.matching("sensor stderr", "set up with hello-from-config")) == 0 {
		t.Errorf("the sensor's logger did not reach the log")
	}
}

// A passive Sensor whose trigger takes parameters: each rule that passes them is one
// add_trigger, and what the sensor dispatches for it is for that rule alone.
const st2ParamSensor = `
import time
from st2reactor.sensor.base import Sensor


class WatchSensor(Sensor):
    def setup(self):
        self._watches = []

    def add_trigger(self, trigger):
        self._watches.append(trigger)

    def update_trigger(self, trigger):
        pass

    def remove_trigger(self, trigger):
        pass

    def run(self):
        for t in self._watches:
            self.sensor_service.dispatch(trigger=t, payload={"msg": t["parameters"].get("path", "none")})
        while True:
            time.sleep(60)

    def cleanup(self):
        pass
`

func TestAStackStormSensorWatchesOncePerRuleThatPassesItsTriggerParameters(t *testing.T) {
	b := setup(t)
	sn := b.st2Sensor(t, "WatchSensor", st2ParamSensor)
	sn.Instances = []process.Instance{
		{Rule: "examples.on_var", Trigger: "examples.ping", Parameters: json.RawMessage(`{"path": "/var"}`)},
		{Rule: "examples.on_tmp", Trigger: "examples.ping", Parameters: json.RawMessage(`{"path": "/tmp"}`)},
	}
	b.run(t, sn)
	waitFor(t, "two events", 30*time.Second, func() bool { return len(firedEvents(t, b.store)) >= 2 })
	got := map[string]string{}
	for _, e := range firedEvents(t, b.store) {
		got[e.Rule] = string(e.Payload)
	}
	want := map[string]string{"examples.on_var": `{"msg":"/var"}`, "examples.on_tmp": `{"msg":"/tmp"}`}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("events by rule %v, want %v", got, want)
	}
}

// st2Sensor writes class's module (a .py file, as a sensor class lives in a Python module) and
// returns the sensor that runs it through the st2reactor wrapper, emitting examples.ping.
func (b bundle) st2Sensor(t *testing.T, class, module string) process.Sensor {
	t.Helper()
	sn := b.sensorScript(t, "examples."+class, pack.RunnerPython, module, "examples.ping")
	if err := os.Rename(sn.Script, sn.Script+".py"); err != nil {
		t.Fatal(err)
	}
	sn.Script += ".py"
	sn.Sensor.ClassName = class
	dir, err := st2py.Materialize(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	sn.Wrapper = filepath.Join(dir, st2py.SensorWrapper)
	return sn
}
