package main

import (
	"encoding/json"
	"io/fs"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/attune-go/attune/adapters/httpapi"
	"github.com/attune-go/attune/adapters/runtime/packenv/packenvtest"
	"github.com/attune-go/attune/domain/execution"
)

// copyFixture copies testdata/stackstorm/<name> into a fresh directory of the same name (a
// StackStorm pack's ref is its directory's name) and returns it.
func copyFixture(t *testing.T, name string) string {
	t.Helper()
	src := filepath.Join("testdata", "stackstorm", name)
	dst := filepath.Join(t.TempDir(), name)
	err := filepath.WalkDir(src, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(src, p)
		if d.IsDir() {
			return os.MkdirAll(filepath.Join(dst, rel), 0o755)
		}
		data, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		return os.WriteFile(filepath.Join(dst, rel), data, 0o644)
	})
	if err != nil {
		t.Fatal(err)
	}
	return dst
}

// st2DepsPack is the st2_sensors fixture with the wheel its requirements.txt installs, built
// from deps/src: this machine reaches no package index.
func st2DepsPack(t *testing.T) string {
	t.Helper()
	dir := copyFixture(t, "st2_sensors")
	if _, err := packenvtest.BuildWheel(filepath.Join(dir, "deps", "src", "fixture_greeting"), filepath.Join(dir, "deps", "wheels"), "fixture-greeting", "1.0.0"); err != nil {
		t.Fatal(err)
	}
	return dir
}

// greeted waits for the execution the fixture's rule starts and returns it, ended.
func greeted(t *testing.T, sys *system) httpapi.Execution {
	t.Helper()
	var id string
	sys.eventually(3*time.Minute, "the rule to run st2_sensors.greet", func() bool {
		xs := sys.executions(url.Values{"action": {"st2_sensors.greet"}})
		if len(xs) > 0 {
			id = xs[0].ID
		}
		return id != ""
	})
	return sys.waitTerminal(id)
}

// A StackStorm pack: its requirements.txt becomes a virtualenv on the worker's host, built
// when the pack is registered; its polling sensor (a PollingSensor class) runs with that
// virtualenv and dispatches its trigger type; the rule on it runs the python-script action,
// which imports the same library. A second server on the same host reuses the virtualenv.
func TestE2EST2SensorRuleAndActionRunWithThePacksVirtualenv(t *testing.T) {
	t.Parallel()
	dir := st2DepsPack(t)
	envDir := t.TempDir()
	var venv os.FileInfo
	for round := range 2 {
		sys := startSystem(t, "inprocess", nil, "--pack-env-dir", envDir)
		out, stderr, err := attune(t, "pack", "load", dir, "--url", sys.url, "--config", sys.cliConfig)
		if err != nil {
			t.Fatalf("round %d: pack load: %v\n%s%s", round, err, out, stderr)
		}
		x := greeted(t, sys)
		if x.Status != execution.Completed {
			t.Fatalf("round %d: st2_sensors.greet %s: %s\n%s", round, x.Status, x.Reason, x.Stderr)
		}
		var result any
		_ = json.Unmarshal(x.Result, &result)
		if got, _ := json.Marshal(result); !strings.Contains(string(got), "Hello, fixture-dep! (from fixture_greeting)") {
			t.Errorf("round %d: result %s, want the greeting from the pack's library with the config's default", round, x.Result)
		}
		if x.TraceTag != "count-1" {
			t.Errorf("round %d: trace tag %q, want the sensor's count-1", round, x.TraceTag)
		}
		// The watch sensor's trigger takes parameters: one instance per rule, each event for
		// its own rule only.
		byRule := map[string][]httpapi.Execution{}
		sys.eventually(time.Minute, "core.echo run by both watch rules", func() bool {
			byRule = map[string][]httpapi.Execution{}
			for _, e := range sys.executions(url.Values{"action": {"core.echo"}}) {
				byRule[e.Rule] = append(byRule[e.Rule], e)
			}
			return len(byRule["st2_sensors.echo_watched_alpha"]) > 0 && len(byRule["st2_sensors.echo_watched_beta"]) > 0
		})
		for _, label := range []string{"alpha", "beta"} {
			runs := byRule["st2_sensors.echo_watched_"+label]
			if len(runs) != 1 {
				t.Errorf("round %d: rule echo_watched_%s ran %d times, want once (its instance's event only)", round, label, len(runs))
				continue
			}
			if e := sys.waitTerminal(runs[0].ID); !strings.Contains(string(e.Result), "seen "+label) {
				t.Errorf("round %d: rule echo_watched_%s echoed %s", round, label, e.Result)
			}
		}
		venvs, _ := filepath.Glob(filepath.Join(envDir, "venvs", "st2_sensors-*"))
		var dirs []string
		for _, v := range venvs {
			if !strings.HasSuffix(v, ".log") {
				dirs = append(dirs, v)
			}
		}
		if len(dirs) != 1 {
			t.Fatalf("round %d: virtualenvs %v, want one", round, venvs)
		}
		st, err := os.Stat(dirs[0])
		if err != nil {
			t.Fatal(err)
		}
		if log, err := os.ReadFile(dirs[0] + ".log"); err != nil || !strings.Contains(string(log), "Successfully installed fixture-greeting-1.0.0") {
			t.Fatalf("round %d: build log: %v\n%s", round, err, log)
		}
		if round == 0 {
			venv = st
		} else if !os.SameFile(venv, st) || !st.ModTime().Equal(venv.ModTime()) {
			t.Errorf("the second server built the virtualenv again instead of reusing it")
		}
	}
}

// A pack's package.json gives its node actions their node_modules (NODE_PATH); a
// requirements.txt that cannot be installed fails the pack's python actions at once, with a
// reason naming the build's log, while its other actions run.
func TestE2EPackDependenciesNodeModulesAndAFailedVirtualenv(t *testing.T) {
	t.Parallel()
	envDir := t.TempDir()
	sys := startSystem(t, "inprocess", nil, "--pack-env-dir", envDir)
	cli := func(args ...string) (string, error) {
		out, stderr, err := attune(t, append(args, "--url", sys.url, "--config", sys.cliConfig)...)
		return out + stderr, err
	}
	dir := writePack(t, map[string]string{
		"pack.yaml":                "ref: depsmix\nversion: 1.0.0\n",
		"requirements.txt":         "--no-index\nno-such-library-anywhere==1.0\n",
		"package.json":             `{"name": "depsmix", "version": "1.0.0", "dependencies": {"shout": "file:./deps/shout"}}`,
		"deps/shout/package.json":  `{"name": "shout", "version": "1.0.0", "main": "index.js"}`,
		"deps/shout/index.js":      "module.exports = s => s.toUpperCase() + '!';\n",
		"actions/shout.yaml":       "name: shout\nrunner_type: node\nentry_point: shout.js\nparameters:\n  message: {type: string, required: true}\n",
		"actions/shout.js":         "const shout = require('shout');\nlet input = '';\nprocess.stdin.on('data', d => input += d);\nprocess.stdin.on('end', () => console.log(JSON.stringify({said: shout(JSON.parse(input).message)})));\n",
		"actions/needs_lib.yaml":   "name: needs_lib\nrunner_type: python\nentry_point: needs_lib.py\n",
		"actions/needs_lib.py":     "import no_such_library_anywhere\n",
		"actions/plain_shell.yaml": "name: plain_shell\nrunner_type: shell\nentry_point: plain.sh\n",
		"actions/plain.sh":         "echo plain\n",
	})
	if out, err := cli("pack", "load", dir); err != nil {
		t.Fatalf("pack load: %v\n%s", err, out)
	}
	out, err := cli("run", "depsmix.shout", "message=hi", "--wait", "--json")
	if err != nil || !strings.Contains(out, "HI!") {
		t.Fatalf("node action with the pack's node_modules: %v\n%s", err, out)
	}
	out, err = cli("run", "depsmix.needs_lib", "--wait")
	venvLog := filepath.Join(envDir, "venvs", "depsmix-")
	if err == nil || !strings.Contains(out, "failed") || !strings.Contains(out, "requirements.txt") || !strings.Contains(out, venvLog) {
		t.Fatalf("python action of a pack whose virtualenv failed: %v, want failed naming requirements.txt and the log under %s\n%s", err, venvLog, out)
	}
	if out, err := cli("run", "depsmix.plain_shell", "--wait"); err != nil || !strings.Contains(out, "plain") {
		t.Fatalf("shell action of the same pack: %v\n%s", err, out)
	}
	// The operator sees both environments on the worker's host, with their logs.
	sys.eventually(30*time.Second, "attune worker envs to list both environments", func() bool {
		out, err := cli("worker", "envs")
		var python, node bool
		for _, line := range strings.Split(out, "\n") {
			python = python || strings.Contains(line, "depsmix") && strings.Contains(line, "python") && strings.Contains(line, "failed:") && strings.Contains(line, venvLog)
			node = node || strings.Contains(line, "depsmix") && strings.Contains(line, "node") && strings.Contains(line, "ready") && strings.Contains(line, filepath.Join(envDir, "node", "depsmix-"))
		}
		return err == nil && python && node
	})
}
