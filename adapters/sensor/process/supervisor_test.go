package process_test

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/attune-go/attune/adapters/sensor/process"
	"github.com/attune-go/attune/domain/pack"
	"github.com/attune-go/attune/domain/trigger"
)

const pythonSensor = `import json, os, sys, time
settings = json.load(sys.stdin)
leaked = any("hello-from-config" in v for v in os.environ.values())
for n in range(3):
    print(json.dumps({"trigger": "examples.ping", "payload": {
        "msg": "%s %d" % (settings["config"]["greeting"], n), "n": n,
        "argv": sys.argv[1:], "env_has_config": leaked,
        "sensor": settings["sensor"], "triggers": settings["triggers"], "poll": settings["poll_interval"]}}))
time.sleep(3600)
`

func TestAPythonSensorFiresItsEvents(t *testing.T) {
	t.Parallel()
	b := setup(t)
	sn := b.sensorScript(t, "examples.watcher", pack.RunnerPython, pythonSensor, "examples.ping")
	b.run(t, sn)

	waitFor(t, "3 events", 10*time.Second, func() bool { return len(firedEvents(t, b.store)) >= 3 })
	events := firedEvents(t, b.store)
	if len(events) != 3 {
		t.Fatalf("%d events, want 3", len(events))
	}
	for n, e := range events {
		if e.Source != trigger.Sensor || e.Sensor != "examples.watcher" || e.Trigger != "examples.ping" || e.Rule != "" {
			t.Errorf("event %d: %+v", n, e.EventFired)
		}
		if e.rec.StreamID != trigger.StreamID(e.EventID) || e.rec.Metadata.CorrelationID != e.EventID || e.rec.Metadata.Actor != "sensor" {
			t.Errorf("event %d in %s with metadata %+v", n, e.rec.StreamID, e.rec.Metadata)
		}
		var p map[string]any
		if err := json.Unmarshal(e.Payload, &p); err != nil {
			t.Fatal(err)
		}
		got, _ := json.Marshal(p)
		// The config reached the sensor on stdin, and neither in argv nor in the environment.
		want := fmt.Sprintf(`{"argv":[],"env_has_config":false,"msg":"hello-from-config %d","n":%d,"poll":7,"sensor":"examples.watcher","triggers":["examples.ping"]}`, n, n)
		if string(got) != want {
			t.Errorf("event %d payload %s\nwant %s", n, got, want)
		}
	}
	if st := b.status("examples.watcher"); !st.Running || st.PID == 0 || st.Starts != 1 {
		t.Errorf("status %+v: want running, started once", st)
	}
}

func TestBadLinesAreSkipped(t *testing.T) {
	t.Parallel()
	b := setup(t)
	long := strings.Repeat("x", 5000)
	script := `
echo 'not json'
echo '{"trigger": "examples.pids", "payload": {}}'
echo '{"trigger": "examples.ping", "payload": {"n": 1}}'
echo '{"trigger": "examples.ping", "payload": {"msg": "x", "n": "one"}}'
echo '{"trigger": "examples.ping", "payload": [1]}'
echo '{"payload": {"msg": "x"}}'
echo '{"trigger": "core.intervaltimer", "payload": {}}'
echo '{"trigger": "examples.unregister", "payload": {}}'
echo '{"trigger": "examples.ping", "payload": {"msg": "x"}, "rule": "examples.r"}'
echo '{"trigger": "examples.ping", "payload": {"msg": "x"}, "extra": 1}'
printf '%s\n' '{"trigger": "examples.ping", "payload": {"msg": "a\u0000b"}}'
echo '{"trigger": "examples.ping", "payload": {"msg": "` + long + `"}}'
echo
echo '{"trigger": "examples.ping", "payload": {"msg": "the good one"}, "occurred_at": "2026-03-01T12:00:00+01:00"}'
exec sleep 3600
`
	sn := b.sensorScript(t, "examples.noisy", pack.RunnerShell, script, "examples.ping", "core.intervaltimer", "examples.unregister")
	b.run(t, sn)

	waitFor(t, "the good event", 10*time.Second, func() bool { return len(firedEvents(t, b.store)) >= 1 })
	events := firedEvents(t, b.store)
	if len(events) != 1 || !strings.Contains(string(events[0].Payload), "the good one") {
		t.Fatalf("events %+v, want only the good one", events)
	}
	if want := time.Date(2026, 3, 1, 11, 0, 0, 0, time.UTC); !events[0].OccurredAt.Equal(want) {
		t.Errorf("occurred_at %s, want %s", events[0].OccurredAt, want)
	}
	skipped := b.logs.matching("sensor line skipped", "examples.noisy")
	for i, reason := range []string{
		"not a JSON event line", "not one the sensor declares", `"msg": is required`, `"n": want integer`,
		"not a JSON object", "no trigger", "timer trigger", "not registered", "rule examples.r does not pass parameters", "unknown field",
		"/payload/msg: NUL character", "longer than 4096 bytes",
	} {
		if i >= len(skipped) || !strings.Contains(skipped[i], reason) {
			t.Errorf("skip %d: want a reason with %q; skipped lines:\n%s", i, reason, strings.Join(skipped, "\n"))
		}
	}
	if len(skipped) != 12 {
		t.Errorf("%d lines skipped, want 12", len(skipped))
	}
}

func TestASensorThatExitsIsRestartedWithBackoff(t *testing.T) {
	t.Parallel()
	b := setup(t)
	sn := b.sensorScript(t, "examples.flaky", pack.RunnerShell,
		`echo '{"trigger": "examples.ping", "payload": {"msg": "up"}}'; exit 3`, "examples.ping")
	b.run(t, sn)

	waitFor(t, "4 starts", 10*time.Second, func() bool { return b.status("examples.flaky").Starts >= 4 })
	// The line printed just before each exit is still recorded.
	waitFor(t, "an event per start", 10*time.Second, func() bool { return len(firedEvents(t, b.store)) >= 4 })
	if st := b.status("examples.flaky"); !strings.Contains(st.LastError, "exit status 3") {
		t.Errorf("status %+v: want the exit status as the last error", st)
	}
	restarts := b.logs.matching("sensor exited; restarting", "examples.flaky")
	if len(restarts) < 3 {
		t.Fatalf("%d restarts logged", len(restarts))
	}
	for i, want := range []string{"restart_in=10ms", "restart_in=20ms", "restart_in=40ms"} {
		if !strings.Contains(restarts[i], want) {
			t.Errorf("restart %d: %s, want %s", i, restarts[i], want)
		}
	}
}

// groupSensor starts a child and ignores SIGTERM with it, so only SIGKILL of the whole group
// ends both.
const groupSensor = `trap '' TERM
sleep 3600 &
echo "{\"trigger\": \"examples.pids\", \"payload\": {\"leader\": $$, \"child\": $!}}"
wait
`

func pidsOf(t *testing.T, b bundle) (leader, child int) {
	t.Helper()
	waitFor(t, "the pids event", 10*time.Second, func() bool { return len(firedEvents(t, b.store)) >= 1 })
	var p struct{ Leader, Child int }
	if err := json.Unmarshal(firedEvents(t, b.store)[0].Payload, &p); err != nil || p.Leader == 0 || p.Child == 0 {
		t.Fatalf("pids payload: %v", err)
	}
	return p.Leader, p.Child
}

func TestStoppingKillsTheWholeProcessGroup(t *testing.T) {
	t.Parallel()
	b := setup(t)
	stop := b.run(t, b.sensorScript(t, "examples.stubborn", pack.RunnerShell, groupSensor, "examples.pids"))
	leader, child := pidsOf(t, b)
	if !alive(leader) || !alive(child) {
		t.Fatal("the sensor and its child should run before the stop")
	}

	stop()
	if alive(leader) {
		t.Error("the leader survived Run")
	}
	// The leader is reaped when Run returns; an orphan dies as soon as the kernel delivers
	// the SIGKILL, an instant later.
	waitFor(t, "the child to die", 5*time.Second, func() bool { return !alive(child) })
	if len(b.logs.matching("ignored SIGTERM", "examples.stubborn")) != 1 {
		t.Error("the supervisor did not have to escalate to SIGKILL")
	}
	if st := b.status("examples.stubborn"); st.Running || st.PID != 0 {
		t.Errorf("status after stop: %+v", st)
	}
}

func TestSetWithoutASensorStopsIt(t *testing.T) {
	t.Parallel()
	b := setup(t)
	b.run(t, b.sensorScript(t, "examples.removed", pack.RunnerShell, groupSensor, "examples.pids"))
	leader, child := pidsOf(t, b)

	if err := b.sup.Set(nil); err != nil {
		t.Fatalf("Set: %v", err)
	}
	if alive(leader) {
		t.Error("the leader survived Set")
	}
	waitFor(t, "the child to die", 5*time.Second, func() bool { return !alive(child) })
}

func TestAScriptChangedSinceRegistrationDoesNotRun(t *testing.T) {
	t.Parallel()
	b := setup(t)
	sn := b.sensorScript(t, "examples.tampered", pack.RunnerShell, `echo '{"trigger": "examples.ping", "payload": {"msg": "x"}}'; exec sleep 3600`, "examples.ping")
	sum := sha256.Sum256([]byte("the script as registered"))
	sn.Sensor.EntryPointSHA256 = hex.EncodeToString(sum[:])
	b.run(t, sn)

	waitFor(t, "a refused start", 10*time.Second, func() bool {
		return strings.Contains(b.status("examples.tampered").LastError, "changed since the pack was registered")
	})
	if st := b.status("examples.tampered"); st.Starts != 0 {
		t.Errorf("status %+v: a process was started", st)
	}

	// The registered script runs.
	data, err := os.ReadFile(sn.Script)
	if err != nil {
		t.Fatal(err)
	}
	sum = sha256.Sum256(data)
	sn.Sensor.EntryPointSHA256 = hex.EncodeToString(sum[:])
	if err := b.sup.Set([]process.Sensor{sn}); err != nil {
		t.Fatalf("Set: %v", err)
	}
	waitFor(t, "the event", 10*time.Second, func() bool { return len(firedEvents(t, b.store)) == 1 })
}

func TestSetReportsSensorsThatCannotRun(t *testing.T) {
	t.Parallel()
	b := setup(t)
	disabled := b.sensorScript(t, "examples.off", pack.RunnerShell, "true", "examples.ping")
	disabled.Sensor.Enabled = false
	builtin := b.sensorScript(t, "examples.builtin", pack.RunnerBuiltin, "true", "examples.ping")
	err := b.sup.Set([]process.Sensor{disabled, builtin})
	for _, want := range []string{"examples.off is disabled", `examples.builtin: no interpreter for runner type "builtin"`} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("Set error %v, want %q", err, want)
		}
	}
}

func TestAStableRunResetsTheBackoff(t *testing.T) {
	t.Parallel()
	// Every run counts as stable: the pause never grows.
	b := setup(t, func(c *process.Config) { c.StableAfter = time.Nanosecond })
	b.run(t, b.sensorScript(t, "examples.steady", pack.RunnerShell, `exit 0`, "examples.ping"))

	waitFor(t, "4 starts", 10*time.Second, func() bool { return b.status("examples.steady").Starts >= 4 })
	restarts := b.logs.matching("sensor exited; restarting", "examples.steady")
	for i, r := range restarts[:3] {
		if !strings.Contains(r, "restart_in=10ms") {
			t.Errorf("restart %d: %s, want restart_in=10ms after a stable run", i, r)
		}
	}
}

func TestANodeSensorReadsItsSettingsOnStdin(t *testing.T) {
	t.Parallel()
	b := setup(t)
	script := `let input = "";
process.stdin.on("data", (d) => { input += d; });
process.stdin.on("end", () => {
  const s = JSON.parse(input);
  console.log(JSON.stringify({trigger: "examples.ping", payload: {msg: s.config.greeting + " from node"}}));
  setInterval(() => {}, 1 << 30);
});
`
	b.run(t, b.sensorScript(t, "examples.nodewatch", pack.RunnerNode, script, "examples.ping"))
	waitFor(t, "the event", 10*time.Second, func() bool { return len(firedEvents(t, b.store)) == 1 })
	if got := string(firedEvents(t, b.store)[0].Payload); got != `{"msg":"hello-from-config from node"}` {
		t.Fatalf("payload %s", got)
	}
}
