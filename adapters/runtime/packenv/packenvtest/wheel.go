// Package packenvtest builds what tests of pack environments install, without a package
// index: this machine may not reach PyPI, so a test builds its own wheel from source.
package packenvtest

import (
	"archive/zip"
	"crypto/sha256"
	"encoding/base64"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
)

// BuildWheel writes a pure-Python wheel of the package directory src (its .py files, kept
// under the directory's own name) as distribution name, version, into outDir, and returns
// its path. The wheel is what `pip wheel` would make of a setuptools project with no
// dependencies.
func BuildWheel(src, outDir, name, version string) (string, error) {
	dist := strings.ReplaceAll(name, "-", "_")
	path := filepath.Join(outDir, fmt.Sprintf("%s-%s-py3-none-any.whl", dist, version))
	if err := os.MkdirAll(outDir, 0o755); err != nil {
		return "", err
	}
	f, err := os.Create(path)
	if err != nil {
		return "", err
	}
	defer f.Close()
	z := zip.NewWriter(f)
	var record strings.Builder
	add := func(name string, data []byte) error {
		w, err := z.Create(name)
		if err != nil {
			return err
		}
		if _, err := w.Write(data); err != nil {
			return err
		}
		sum := sha256.Sum256(data)
		fmt.Fprintf(&record, "%s,sha256=%s,%d\n", name, base64.RawURLEncoding.EncodeToString(sum[:]), len(data))
		return nil
	}
	pkg := filepath.Base(src)
	err = filepath.WalkDir(src, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || !strings.HasSuffix(p, ".py") {
			return err
		}
		rel, err := filepath.Rel(src, p)
		if err != nil {
			return err
		}
		data, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		return add(pkg+"/"+filepath.ToSlash(rel), data)
	})
	if err != nil {
		return "", fmt.Errorf("wheel of %s: %w", src, err)
	}
	info := fmt.Sprintf("%s-%s.dist-info/", dist, version)
	if err := add(info+"METADATA", fmt.Appendf(nil, "Metadata-Version: 2.1\nName: %s\nVersion: %s\n", name, version)); err != nil {
		return "", err
	}
	if err := add(info+"WHEEL", []byte("Wheel-Version: 1.0\nGenerator: attune-packenvtest\nRoot-Is-Purelib: true\nTag: py3-none-any\n")); err != nil {
		return "", err
	}
	record.WriteString(info + "RECORD,,\n")
	w, err := z.Create(info + "RECORD")
	if err != nil {
		return "", err
	}
	if _, err := w.Write([]byte(record.String())); err != nil {
		return "", err
	}
	if err := z.Close(); err != nil {
		return "", err
	}
	return path, f.Close()
}
