package main

import (
	"strings"
	"testing"
	"time"
)

// An admin removes a pack (one loaded under a wrong ref, say) through the CLI: its rule stops
// matching, its action can no longer be run, and the core pack and unknown packs are refused.
func TestE2EAPackIsDeletedWithItsComponents(t *testing.T) {
	t.Parallel()
	sys := startSystem(t, "inprocess", nil)
	cli := func(args ...string) (string, error) {
		out, _, err := attune(t, append(args, "--url", sys.url, "--config", sys.cliConfig)...)
		return out, err
	}
	dir := writePack(t, map[string]string{
		"pack.yaml":          "ref: mistake\nversion: 1.0.0\n",
		"triggers/hook.yaml": "name: hook\ntype: webhook\n",
		"rules/on_hook.yaml": "name: on_hook\ntrigger: mistake.hook\naction: core.noop\n",
	})
	if out, err := cli("pack", "load", dir); err != nil || !strings.Contains(out, "pack") || !strings.Contains(out, "mistake") || !strings.Contains(out, "registered") {
		t.Fatalf("pack load: %v, want a table naming the pack and its outcome\n%s", err, out)
	}
	out, err := cli("pack", "delete", "mistake")
	if err != nil || !strings.Contains(out, "pack mistake retired: 2 components retired") {
		t.Fatalf("pack delete: %v\n%s", err, out)
	}
	// The list and the webhook read the catalogue's read model, which follows the log.
	sys.eventually(30*time.Second, "pack list to show mistake retired", func() bool {
		out, err := cli("pack", "list", "--retired")
		for _, line := range strings.Split(out, "\n") {
			if strings.HasPrefix(line, "mistake ") {
				return err == nil && strings.Contains(line, " retired ")
			}
		}
		return false
	})
	if out, _ := cli("pack", "list"); strings.Contains(out, "mistake") {
		t.Errorf("pack list (live packs) still shows the deleted pack:\n%s", out)
	}
	sys.eventually(30*time.Second, "the deleted pack's webhook to answer 404", func() bool {
		status, code := sys.request("POST", "/api/v1/webhooks/mistake.hook", "", `{}`)
		return status == 404 && code == "unknown_trigger"
	})
	if out, err := cli("pack", "delete", "core"); err == nil || !strings.Contains(err.Error(), "core pack ships with attune") {
		t.Errorf("pack delete core: %v\n%s", err, out)
	}
	if out, err := cli("pack", "delete", "nothing-here"); err == nil || exitCode(err) == 0 {
		t.Errorf("pack delete of an unknown pack: %v\n%s", err, out)
	}
}
