package main

import (
	"path/filepath"
	"strings"
	"testing"
	"time"
)

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
