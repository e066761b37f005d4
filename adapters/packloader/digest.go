package packloader

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io/fs"
	"path"
	"strings"
)

// digest hashes every file of the pack, scripts and libraries included, so a reload that
// changes any code a pack runs is told apart from one that changes nothing. Dot files (.git)
// and __pycache__ are skipped: they change without the pack changing.
func (l *loader) digest() (string, error) {
	h := sha256.New()
	err := fs.WalkDir(l.fsys, l.dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if p != l.dir && (strings.HasPrefix(d.Name(), ".") || d.Name() == "__pycache__") {
			if d.IsDir() {
				return fs.SkipDir
			}
			return nil
		}
		if d.IsDir() {
			return nil
		}
		if d.Type()&fs.ModeSymlink != 0 {
			// WalkDir does not follow links: a linked directory is left out rather than
			// failing the read below.
			if st, err := fs.Stat(l.fsys, p); err == nil && st.IsDir() {
				return nil
			}
		}
		data, err := l.readBounded(p)
		if err != nil {
			return err
		}
		rel := strings.TrimPrefix(p, l.dir+"/")
		if l.dir == "." {
			rel = p
		}
		// Name and length first, so moving bytes between files changes the digest.
		fmt.Fprintf(h, "%s\x00%d\x00", path.Clean(rel), len(data))
		h.Write(data)
		return nil
	})
	if err != nil {
		return "", &FileError{File: l.dir, Msg: fmt.Sprintf("cannot read the pack's files: %v", err)}
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}
