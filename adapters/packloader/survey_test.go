package packloader_test

import (
	"errors"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/attune-go/attune/adapters/packloader"
)

// hostilePack writes a valid pack into a temp dir, lets arm add something hostile to it, and
// returns its directory.
func hostilePack(t *testing.T, arm func(dir string)) string {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "p")
	for name, data := range map[string]string{
		"pack.yaml":          "ref: p\nversion: 1.0.0\n",
		"actions/count.yaml": "name: count\nrunner_type: shell\nentry_point: count.sh\n",
		"actions/count.sh":   "#!/bin/sh\ncat\n",
	} {
		if err := os.MkdirAll(filepath.Dir(filepath.Join(dir, name)), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, name), []byte(data), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	arm(dir)
	return dir
}

// loadBounded loads dir and fails the test if the load does not return within 10 s (a FIFO
// once blocked it for good) — a bound on a hang, not a measure of speed.
func loadBounded(t *testing.T, dir string, limits packloader.Limits) error {
	t.Helper()
	done := make(chan error, 1)
	go func() {
		_, err := packloader.LoadDirWithin(dir, nil, limits)
		done <- err
	}()
	select {
	case err := <-done:
		return err
	case <-time.After(10 * time.Second):
		t.Fatal("loading the pack did not return")
		return nil
	}
}

func TestAHostilePackIsRefusedWithTheFileAndTheReason(t *testing.T) {
	t.Parallel()
	secret := filepath.Join(t.TempDir(), "secret.key")
	if err := os.WriteFile(secret, []byte("k"), 0o600); err != nil {
		t.Fatal(err)
	}
	link := func(target, name string) func(string) {
		return func(dir string) {
			if err := os.Symlink(target, filepath.Join(dir, name)); err != nil {
				t.Fatal(err)
			}
		}
	}
	tests := []struct {
		name   string
		arm    func(dir string)
		limits packloader.Limits
		want   string
	}{
		{"a named pipe", func(dir string) {
			if err := syscall.Mkfifo(filepath.Join(dir, "actions", "pipe.yaml"), 0o644); err != nil {
				t.Fatal(err)
			}
		}, packloader.Limits{}, "p/actions/pipe.yaml: not a regular file (a named pipe)"},
		{"a link to /dev/zero", link("/dev/zero", "actions/zero.yaml"), packloader.Limits{},
			"p/actions/zero.yaml: a symbolic link to /dev/zero, outside the pack directory"},
		{"an entry point linked to a key file", func(dir string) {
			_ = os.Remove(filepath.Join(dir, "actions", "count.sh"))
			link(secret, "actions/count.sh")(dir)
		}, packloader.Limits{}, "p/actions/count.sh: a symbolic link to " + secret + ", outside the pack directory"},
		{"a directory linked to /etc", link("/etc", "actions/lib"), packloader.Limits{},
			"p/actions/lib: a symbolic link to /etc, outside the pack directory"},
		{"a relative link climbing out", link("../../../../../../etc/passwd", "actions/passwd"), packloader.Limits{},
			"p/actions/passwd: a symbolic link to ../../../../../../etc/passwd, outside the pack directory"},
		{"a loop of links", func(dir string) {
			link("b", "actions/a")(dir)
			link("a", "actions/b")(dir)
		}, packloader.Limits{}, "a chain of more than 8 symbolic links"},
		{"a file over the size limit", func(dir string) {
			if err := os.WriteFile(filepath.Join(dir, "actions", "big.bin"), make([]byte, 2048), 0o644); err != nil {
				t.Fatal(err)
			}
		}, packloader.Limits{MaxFileBytes: 1024}, "p/actions/big.bin: 2048 bytes, over the limit of 1024 for one file of a pack"},
		{"too many files", func(string) {}, packloader.Limits{MaxFiles: 2}, "p: 3 files, over the limit of 2 for a pack"},
		{"a pack over the size limit", func(string) {}, packloader.Limits{MaxPackBytes: 10}, "bytes in all, over the limit of 10 for a pack"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			err := loadBounded(t, hostilePack(t, tt.arm), tt.limits)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("load: got %v, want an error containing %q", err, tt.want)
			}
			var fe *packloader.FileError
			if !errors.As(err, &fe) {
				t.Fatalf("load: %T, want *packloader.FileError", err)
			}
		})
	}
}

func TestALinkInsideThePackIsFollowed(t *testing.T) {
	t.Parallel()
	dir := hostilePack(t, func(dir string) {
		if err := os.Rename(filepath.Join(dir, "actions", "count.sh"), filepath.Join(dir, "actions", "real.sh")); err != nil {
			t.Fatal(err)
		}
		if err := os.Symlink("real.sh", filepath.Join(dir, "actions", "count.sh")); err != nil {
			t.Fatal(err)
		}
	})
	p, err := packloader.LoadDir(dir, nil)
	if err != nil {
		t.Fatalf("load: %v", err)
	}
	if len(p.Actions) != 1 || p.Actions[0].EntryPointSHA256 == "" {
		t.Fatalf("actions %+v, want count with the digest of real.sh", p.Actions)
	}
}

// Nine levels of nine aliases would expand to 9^9 values; the loader refuses the document
// by counting, without expanding it, and stays small while doing so.
func TestABillionLaughsIsRefusedWithoutExpandingIt(t *testing.T) {
	t.Parallel()
	var b strings.Builder
	// Under parameters, which the loader turns into JSON, so every alias would be expanded.
	b.WriteString("name: laughs\ntrigger: core.webhook\naction: core.noop\nparameters:\n  x0: &a0 [lol, lol, lol, lol, lol, lol, lol, lol, lol]\n")
	for i := 1; i <= 9; i++ {
		b.WriteString("  x" + string(rune('0'+i)) + ": &a" + string(rune('0'+i)) + " [")
		for j := range 9 {
			if j > 0 {
				b.WriteString(", ")
			}
			b.WriteString("*a" + string(rune('0'+i-1)))
		}
		b.WriteString("]\n")
	}
	dir := hostilePack(t, func(dir string) {
		if err := os.MkdirAll(filepath.Join(dir, "rules"), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, "rules", "laughs.yaml"), []byte(b.String()), 0o644); err != nil {
			t.Fatal(err)
		}
	})
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	err := loadBounded(t, dir, packloader.Limits{})
	runtime.ReadMemStats(&after)
	if err == nil || !strings.Contains(err.Error(), "p/rules/laughs.yaml:1: with its aliases expanded this document has more than 250000 values") {
		t.Fatalf("load: got %v, want the alias budget refusal at line 1", err)
	}
	// TotalAlloc counts every allocation of the process, parallel tests' too: generous, and
	// still far below the gigabytes an expansion would take.
	if grown := after.TotalAlloc - before.TotalAlloc; grown > 100<<20 {
		t.Fatalf("refusing the file allocated %d MB, want < 100", grown>>20)
	}
}
