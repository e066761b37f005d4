// Package clientconfig reads and writes the CLI's config file: which server `attune` talks
// to and with which token. `attune serve` writes it on first start (auth.Bootstrap), so the
// person who started a server can use it at once; it holds a secret, so it is written 0600.
package clientconfig

import (
	"errors"
	"fmt"
	"io/fs"
	"net"
	"os"
	"path/filepath"

	"gopkg.in/yaml.v3"
)

// File is the config file's content.
type File struct {
	URL   string `yaml:"url,omitempty"`
	Token string `yaml:"token,omitempty"`
}

// DefaultPath is $ATTUNE_CONFIG, else $XDG_CONFIG_HOME/attune/config.yaml, else
// ~/.config/attune/config.yaml (the XDG default, on every OS: one place to document).
func DefaultPath() (string, error) {
	if p := os.Getenv("ATTUNE_CONFIG"); p != "" {
		return p, nil
	}
	dir := os.Getenv("XDG_CONFIG_HOME")
	if dir == "" {
		home, err := os.UserHomeDir()
		if err != nil {
			return "", fmt.Errorf("locate the CLI config file: set ATTUNE_CONFIG or HOME: %w", err)
		}
		dir = filepath.Join(home, ".config")
	}
	return filepath.Join(dir, "attune", "config.yaml"), nil
}

// Load reads the file at path; a missing file is an empty File, not an error.
func Load(path string) (File, error) {
	raw, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return File{}, nil
	}
	if err != nil {
		return File{}, fmt.Errorf("read CLI config %s: %w", path, err)
	}
	var f File
	if err := yaml.Unmarshal(raw, &f); err != nil {
		return File{}, fmt.Errorf("read CLI config %s: %w", path, err)
	}
	return f, nil
}

// Save writes f to path, readable by its owner only, creating the directory (0700). It
// writes a temporary file and renames it, so a reader never sees half a file and a crash
// never leaves the token in a file with looser permissions.
func Save(path string, f File) error {
	raw, err := yaml.Marshal(f)
	if err != nil {
		return fmt.Errorf("encode CLI config: %w", err)
	}
	dir := filepath.Dir(path)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("write CLI config %s: %w", path, err)
	}
	tmp, err := os.CreateTemp(dir, ".config-*.yaml") // created 0600
	if err != nil {
		return fmt.Errorf("write CLI config %s: %w", path, err)
	}
	defer os.Remove(tmp.Name()) // fails harmlessly after the rename
	if _, err := tmp.Write(raw); err != nil {
		tmp.Close()
		return fmt.Errorf("write CLI config %s: %w", path, err)
	}
	if err := tmp.Chmod(0o600); err != nil {
		tmp.Close()
		return fmt.Errorf("write CLI config %s: %w", path, err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("write CLI config %s: %w", path, err)
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return fmt.Errorf("write CLI config %s: %w", path, err)
	}
	return nil
}

// LocalURL is the URL a client on the same host uses to reach a server listening on addr:
// an unspecified host (":8080", "0.0.0.0:8080", "[::]:8080") becomes the loopback address.
func LocalURL(addr string) string {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return "http://" + addr
	}
	if ip := net.ParseIP(host); host == "" || (ip != nil && ip.IsUnspecified()) {
		host = "127.0.0.1"
	}
	return "http://" + net.JoinHostPort(host, port)
}
