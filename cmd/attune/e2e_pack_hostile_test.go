package main

import (
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
)

// An admin loading a hostile pack through the CLI gets every problem with its file, at once,
// and the server it talks to goes on serving: a FIFO once hung the load, a link to /dev/zero
// ate gigabytes, a link out of the pack leaked a key file.
func TestE2EAHostilePackIsRefusedAndTheServerServesOn(t *testing.T) {
	t.Parallel()
	sys := startSystem(t, "inprocess", nil)
	dir := writePack(t, map[string]string{
		"pack.yaml":          "ref: hostile\nversion: 1.0.0\n",
		"actions/count.yaml": "name: count\nrunner_type: shell\nentry_point: count.sh\n",
		"actions/count.sh":   "#!/bin/sh\ncat\n",
	})
	if err := syscall.Mkfifo(filepath.Join(dir, "actions", "hang.yaml"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink("/dev/zero", filepath.Join(dir, "rules.yaml")); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(sys.keyFile, filepath.Join(dir, "actions", "key.py")); err != nil {
		t.Fatal(err)
	}
	_, stderr, err := attune(t, "pack", "load", dir, "--url", sys.url, "--config", sys.cliConfig)
	if err == nil {
		t.Fatal("pack load of a hostile pack succeeded")
	}
	for _, want := range []string{
		"actions/hang.yaml: not a regular file (a named pipe)",
		"rules.yaml: a symbolic link to /dev/zero, outside the pack directory",
		"actions/key.py: a symbolic link to " + sys.keyFile + ", outside the pack directory",
	} {
		if !strings.Contains(err.Error()+stderr, want) {
			t.Errorf("pack load said %q (stderr %q), want it to contain %q", err, stderr, want)
		}
	}
	if out, _, err := attune(t, "pack", "list", "--url", sys.url, "--config", sys.cliConfig); err != nil || strings.Contains(out, "hostile") {
		t.Fatalf("pack list after the refusal: %q, %v; want the server up and no pack hostile", out, err)
	}
}
