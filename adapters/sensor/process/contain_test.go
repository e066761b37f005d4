package process_test

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/attune-go/attune/adapters/runtime/contain"
	"github.com/attune-go/attune/adapters/sensor/process"
	"github.com/attune-go/attune/domain/pack"
)

// A sensor is pack code like an action: run in a cell as the actions' user, it cannot read
// the server's key or environment, and its HOME is its own.
func TestASensorRunsContained(t *testing.T) {
	t.Parallel()
	if os.Geteuid() != 0 {
		t.Skip("running sensors as another user needs a root server; this test runs as uid " + strconv.Itoa(os.Geteuid()))
	}
	open, err := os.MkdirTemp("", "attune-sensor-contain-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = os.RemoveAll(open) })
	_ = os.Chmod(open, 0o711)
	key := filepath.Join(open, "secret.key")
	if err := os.WriteFile(key, []byte("k"), 0o600); err != nil {
		t.Fatal(err)
	}
	sandbox, err := contain.New(contain.Config{RunAs: "nobody", ScratchRoot: open})
	if err != nil {
		t.Fatal(err)
	}
	b := setup(t, func(c *process.Config) { c.Sandbox = sandbox })
	b.dir = open
	script := `uid=$(id -u)
if cat ` + key + ` >/dev/null 2>&1; then key=read; else key=denied; fi
if cat /proc/` + strconv.Itoa(os.Getpid()) + `/environ >/dev/null 2>&1; then env=read; else env=denied; fi
printf '{"trigger": "examples.ping", "payload": {"msg": "probe", "uid": "%s", "key": "%s", "server_env": "%s", "home": "%s"}}\n' "$uid" "$key" "$env" "$HOME"
sleep 3600
`
	b.run(t, b.sensorScript(t, "examples.probe", pack.RunnerShell, script, "examples.ping"))
	defer func() {
		if t.Failed() {
			t.Logf("supervisor logs: %v", b.logs.matching(""))
		}
	}()
	waitFor(t, "the probe's event", 10*time.Second, func() bool { return len(firedEvents(t, b.store)) >= 1 })
	var p map[string]string
	if err := json.Unmarshal(firedEvents(t, b.store)[0].Payload, &p); err != nil {
		t.Fatal(err)
	}
	if p["uid"] != "65534" || p["key"] != "denied" || p["server_env"] != "denied" || filepath.Dir(p["home"]) != open {
		t.Fatalf("the sensor saw %v: want uid 65534, the key and the server's environment denied, a HOME of its own under %s", p, open)
	}
}
