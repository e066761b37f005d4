package clientconfig_test

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/attune-go/attune/adapters/auth/clientconfig"
)

func TestSaveWritesAPrivateFileThatLoadReads(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "new", "attune", "config.yaml")
	if f, err := clientconfig.Load(path); err != nil || f != (clientconfig.File{}) {
		t.Fatalf("Load of a missing file = %+v, %v; want empty, nil", f, err)
	}
	want := clientconfig.File{URL: "http://127.0.0.1:8080", Token: "att_x"}
	if err := clientconfig.Save(path, want); err != nil {
		t.Fatal(err)
	}
	if got, err := clientconfig.Load(path); err != nil || got != want {
		t.Errorf("Load = %+v, %v; want %+v", got, err, want)
	}
	for p, mode := range map[string]os.FileMode{path: 0o600, filepath.Dir(path): 0o700} {
		info, err := os.Stat(p)
		if err != nil {
			t.Fatal(err)
		}
		if info.Mode().Perm() != mode {
			t.Errorf("%s has mode %o, want %o", p, info.Mode().Perm(), mode)
		}
	}
	entries, _ := os.ReadDir(filepath.Dir(path))
	if len(entries) != 1 {
		t.Errorf("directory holds %d entries, want only config.yaml (no temporary left)", len(entries))
	}
	if err := os.WriteFile(path, []byte("url: [unclosed"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := clientconfig.Load(path); err == nil {
		t.Errorf("Load of a malformed file: no error")
	}
}

func TestLocalURLReachesAnUnspecifiedListenerOnLoopback(t *testing.T) {
	t.Parallel()
	for addr, want := range map[string]string{
		"127.0.0.1:8080": "http://127.0.0.1:8080",
		":8080":          "http://127.0.0.1:8080",
		"0.0.0.0:9000":   "http://127.0.0.1:9000",
		"[::]:9000":      "http://127.0.0.1:9000",
		"example:80":     "http://example:80",
		"[::1]:8080":     "http://[::1]:8080",
	} {
		if got := clientconfig.LocalURL(addr); got != want {
			t.Errorf("LocalURL(%q) = %q, want %q", addr, got, want)
		}
	}
}

// Not parallel: it sets environment variables.
func TestDefaultPathFollowsXDG(t *testing.T) {
	t.Setenv("ATTUNE_CONFIG", "")
	t.Setenv("XDG_CONFIG_HOME", "/xdg")
	if p, err := clientconfig.DefaultPath(); err != nil || p != "/xdg/attune/config.yaml" {
		t.Errorf("with XDG_CONFIG_HOME: %q, %v", p, err)
	}
	t.Setenv("XDG_CONFIG_HOME", "")
	t.Setenv("HOME", "/home/ada")
	if p, err := clientconfig.DefaultPath(); err != nil || p != "/home/ada/.config/attune/config.yaml" {
		t.Errorf("with HOME only: %q, %v", p, err)
	}
	t.Setenv("ATTUNE_CONFIG", "/etc/attune.yaml")
	if p, err := clientconfig.DefaultPath(); err != nil || p != "/etc/attune.yaml" {
		t.Errorf("with ATTUNE_CONFIG: %q, %v", p, err)
	}
}
