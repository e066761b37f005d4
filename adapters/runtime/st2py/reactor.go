// Package st2py holds Attune's stand-in for the Python packages StackStorm content imports
// (st2reactor.sensor.base, st2common.runners.base_action, …), embedded in the binary and
// written to disk once per content (Materialize) so the interpreters of sensors and actions
// can import them.
package st2py

import (
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"maps"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strings"
)

// reactor is st2reactor: the sensor base classes and the wrapper that runs a sensor class.
//
//go:embed all:st2reactor
var reactor embed.FS

// SensorWrapper is the program that runs a StackStorm sensor class, relative to the
// directory Materialize returns.
const SensorWrapper = "st2reactor/container/sensor_wrapper.py"

// trees are the embedded packages Materialize writes.
var trees = []fs.FS{reactor}

// Materialize writes the embedded packages into base/st2py-<digest>/ unless they are there
// already, and returns that directory (the one to put on sys.path). The digest covers every
// file, so a new binary writes a new tree beside the old one, which sensors or actions still
// running may be using. It is built beside its final place and renamed into it, so a
// concurrent Materialize (another process on the host) never sees half a tree.
func Materialize(base string) (string, error) {
	files, sum, err := collect()
	if err != nil {
		return "", err
	}
	dir := filepath.Join(base, "st2py-"+sum[:16])
	if _, err := os.Stat(filepath.Join(dir, SensorWrapper)); err == nil {
		return dir, nil
	}
	if err := os.MkdirAll(base, 0o755); err != nil {
		return "", fmt.Errorf("st2py: %w", err)
	}
	tmp, err := os.MkdirTemp(base, ".st2py-")
	if err != nil {
		return "", fmt.Errorf("st2py: %w", err)
	}
	defer os.RemoveAll(tmp)
	if err := os.Chmod(tmp, 0o755); err != nil {
		return "", fmt.Errorf("st2py: %w", err)
	}
	for name, data := range files {
		p := filepath.Join(tmp, filepath.FromSlash(name))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			return "", fmt.Errorf("st2py: %w", err)
		}
		if err := os.WriteFile(p, data, 0o644); err != nil {
			return "", fmt.Errorf("st2py: %w", err)
		}
	}
	if err := os.Rename(tmp, dir); err != nil {
		if _, statErr := os.Stat(filepath.Join(dir, SensorWrapper)); statErr == nil {
			return dir, nil // written meanwhile by another process
		}
		return "", fmt.Errorf("st2py: %w", err)
	}
	return dir, nil
}

// collect reads every embedded file (byte-compiled caches aside) and digests them all.
func collect() (map[string][]byte, string, error) {
	files := map[string][]byte{}
	for _, tree := range trees {
		err := fs.WalkDir(tree, ".", func(p string, d fs.DirEntry, err error) error {
			if err != nil {
				return err
			}
			if d.IsDir() && d.Name() == "__pycache__" {
				return fs.SkipDir
			}
			if d.IsDir() || !strings.HasSuffix(p, ".py") {
				return nil
			}
			if _, dup := files[p]; dup {
				return fmt.Errorf("%s is embedded twice", p)
			}
			data, err := fs.ReadFile(tree, p)
			files[path.Clean(p)] = data
			return err
		})
		if err != nil {
			return nil, "", fmt.Errorf("st2py: read the embedded packages: %w", err)
		}
	}
	if len(files) == 0 {
		return nil, "", errors.New("st2py: nothing embedded")
	}
	h := sha256.New()
	for _, name := range slices.Sorted(maps.Keys(files)) {
		fmt.Fprintf(h, "%s\x00%d\x00", name, len(files[name]))
		h.Write(files[name])
	}
	return files, hex.EncodeToString(h.Sum(nil)), nil
}
