package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func writePackFiles(t *testing.T, dir string, files map[string]string) {
	t.Helper()
	for name, body := range files {
		p := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

// A user checks packs before moving them: packs given together resolve each other's refs in
// any order, a broken pack names file and line, and the exit status says whether all loaded.
func TestPackCheckLoadsPacksTogetherAndNamesProblems(t *testing.T) {
	root := t.TempDir()
	tools, uses, broken := filepath.Join(root, "tools"), filepath.Join(root, "uses"), filepath.Join(root, "broken")
	writePackFiles(t, tools, map[string]string{
		"pack.yaml":          "ref: tools\nversion: 1.0.0\n",
		"actions/hello.yaml": "name: hello\nrunner_type: shell\nentry_point: hello.sh\n",
		"actions/hello.sh":   "echo hello\n",
	})
	writePackFiles(t, uses, map[string]string{
		"pack.yaml":        "ref: uses\nversion: 1.0.0\n",
		"rules/every.yaml": "name: every\ntrigger: core.intervaltimer\ntrigger_params: {unit: seconds, delta: 5}\naction: tools.hello\n",
	})
	writePackFiles(t, broken, map[string]string{
		"pack.yaml":        "ref: broken\nversion: 1.0.0\n",
		"actions/bad.yaml": "name: bad\nrunner_type: shell\nentry_point: missing.sh\n",
	})

	// uses before tools: its rule resolves once tools has loaded.
	out, _, err := attune(t, "pack", "check", uses, tools)
	if err != nil {
		t.Fatalf("pack check uses tools: %v\n%s", err, out)
	}
	if !strings.Contains(out, "ok    uses:") || !strings.Contains(out, "ok    tools: 1 actions") || !strings.Contains(out, "2 of 2 packs load") {
		t.Fatalf("pack check output:\n%s", out)
	}

	// Alone, the rule's action is unknown; with a broken pack, exit status 1 and file:line.
	out, _, err = attune(t, "pack", "check", "--json", uses, broken)
	if err == nil || exitCode(err) != 1 {
		t.Fatalf("pack check of failing packs: err %v, want exit status 1", err)
	}
	var got []packCheck
	if jerr := json.Unmarshal([]byte(out), &got); jerr != nil {
		t.Fatalf("--json output: %v\n%s", jerr, out)
	}
	if len(got) != 2 || got[0].OK || got[1].OK {
		t.Fatalf("verdicts %+v, want both failing", got)
	}
	if p := strings.Join(got[0].Problems, "\n"); !strings.Contains(p, "uses/rules/every.yaml:") || !strings.Contains(p, "tools.hello") {
		t.Fatalf("uses problems %q: want the rule's file:line and the unknown action", p)
	}
	if p := strings.Join(got[1].Problems, "\n"); !strings.Contains(p, "broken/actions/bad.yaml:3") || !strings.Contains(p, "missing.sh") {
		t.Fatalf("broken problems %q: want actions/bad.yaml:3 naming missing.sh", p)
	}
}
