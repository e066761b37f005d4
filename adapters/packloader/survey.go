package packloader

import (
	"cmp"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"path"
	"strings"

	"gopkg.in/yaml.v3"
)

// Limits bound what loading a pack may read, so that a pack is data and never a weapon: a
// FIFO that never ends, a link to /dev/zero, a link out of the pack to /etc or to a key file,
// a "billion laughs" of YAML aliases. The defaults are far above any real pack.
type Limits struct {
	MaxFileBytes int64 // one file; DefaultMaxFileBytes if 0
	MaxPackBytes int64 // every file together; DefaultMaxPackBytes if 0
	MaxFiles     int   // files in the pack; DefaultMaxFiles if 0
	MaxYAMLNodes int   // nodes of one YAML document once its aliases are expanded; DefaultMaxYAMLNodes if 0
}

// The default Limits.
const (
	DefaultMaxFileBytes = 16 << 20
	DefaultMaxPackBytes = 256 << 20
	DefaultMaxFiles     = 20_000
	DefaultMaxYAMLNodes = 250_000
)

func (l Limits) withDefaults() Limits {
	l.MaxFileBytes = cmp.Or(l.MaxFileBytes, DefaultMaxFileBytes)
	l.MaxPackBytes = cmp.Or(l.MaxPackBytes, DefaultMaxPackBytes)
	l.MaxFiles = cmp.Or(l.MaxFiles, DefaultMaxFiles)
	l.MaxYAMLNodes = cmp.Or(l.MaxYAMLNodes, DefaultMaxYAMLNodes)
	return l
}

// maxLinkHops bounds a chain of links inside the pack (a loop of links is refused by it).
const maxLinkHops = 8

// survey walks the whole pack before anything in it is read and reports every entry the
// loader must not read: anything but a directory or a regular file (FIFOs, devices, sockets),
// a link whose target leaves the pack directory or is not a regular file or directory, a file
// over the size limit, and a pack over the size or file-count limit. Nothing is opened: the
// walk uses Lstat only, so a FIFO cannot block it. Dot directories (.git) are skipped, as the
// digest skips them; nothing reads them.
func (l *loader) survey() {
	var files int
	var total int64
	err := fs.WalkDir(l.fsys, l.dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			l.add(p, 0, "", "cannot read: %v", err)
			return nil
		}
		if p != l.dir && strings.HasPrefix(d.Name(), ".") && d.IsDir() {
			return fs.SkipDir
		}
		mode := d.Type()
		var size int64
		if mode&fs.ModeSymlink != 0 {
			_, info, problem := l.followLink(p)
			if problem != "" {
				l.add(p, 0, "", "%s", problem)
				return nil
			}
			if info.IsDir() {
				// A linked directory is not walked (WalkDir does not follow links), so
				// nothing under it is read by the loader either.
				return nil
			}
			size = info.Size()
		} else {
			switch {
			case d.IsDir():
				return nil
			case !mode.IsRegular():
				l.add(p, 0, "", "not a regular file (%s): a pack holds only files and directories", kindOf(mode))
				return nil
			}
			info, err := d.Info()
			if err != nil {
				l.add(p, 0, "", "cannot read: %v", err)
				return nil
			}
			size = info.Size()
		}
		files++
		total += size
		if size > l.limits.MaxFileBytes {
			l.add(p, 0, "", "%d bytes, over the limit of %d for one file of a pack (raise it with --pack-max-file-bytes)", size, l.limits.MaxFileBytes)
		}
		return nil
	})
	if err != nil {
		l.add(l.dir, 0, "", "cannot read the pack's files: %v", err)
	}
	if files > l.limits.MaxFiles {
		l.add(l.dir, 0, "", "%d files, over the limit of %d for a pack (raise it with --pack-max-files)", files, l.limits.MaxFiles)
	}
	if total > l.limits.MaxPackBytes {
		l.add(l.dir, 0, "", "%d bytes in all, over the limit of %d for a pack (raise it with --pack-max-bytes)", total, l.limits.MaxPackBytes)
	}
}

// followLink resolves the link at p, hop by hop, and says what is wrong with it: a target
// outside the pack directory, a target that is not a regular file or directory, a chain too
// long. It needs an fs.FS that can read links (os.DirFS can); on one that cannot, a link is
// refused, since where it leads cannot be checked.
func (l *loader) followLink(p string) (string, fs.FileInfo, string) {
	rl, ok := l.fsys.(fs.ReadLinkFS)
	if !ok {
		return "", nil, "a symbolic link, which this pack source cannot check: replace it with the file"
	}
	cur := p
	for range maxLinkHops {
		target, err := rl.ReadLink(cur)
		if err != nil {
			return "", nil, fmt.Sprintf("cannot read the link: %v", err)
		}
		if path.IsAbs(target) || strings.HasPrefix(target, `\`) {
			return "", nil, fmt.Sprintf("a symbolic link to %s, outside the pack directory: a pack may link only to its own files", target)
		}
		next := path.Join(path.Dir(cur), target)
		if !l.inside(next) {
			return "", nil, fmt.Sprintf("a symbolic link to %s, outside the pack directory: a pack may link only to its own files", target)
		}
		info, err := rl.Lstat(next)
		if err != nil {
			return "", nil, fmt.Sprintf("a symbolic link to %s, which cannot be read: %v", target, err)
		}
		switch {
		case info.Mode()&fs.ModeSymlink != 0:
			cur = next
			continue
		case info.IsDir() || info.Mode().IsRegular():
			return next, info, ""
		default:
			return "", nil, fmt.Sprintf("a symbolic link to %s, which is not a regular file (%s)", target, kindOf(info.Mode()))
		}
	}
	return "", nil, fmt.Sprintf("a chain of more than %d symbolic links", maxLinkHops)
}

// inside reports whether the cleaned fs path p lies in the pack directory.
func (l *loader) inside(p string) bool {
	p = path.Clean(p)
	if l.dir == "." {
		return p != ".." && !strings.HasPrefix(p, "../")
	}
	return p == l.dir || strings.HasPrefix(p, l.dir+"/")
}

func kindOf(m fs.FileMode) string {
	switch {
	case m&fs.ModeNamedPipe != 0:
		return "a named pipe"
	case m&fs.ModeSocket != 0:
		return "a socket"
	case m&fs.ModeCharDevice != 0:
		return "a character device"
	case m&fs.ModeDevice != 0:
		return "a device"
	case m&fs.ModeIrregular != 0:
		return "an irregular file"
	}
	return m.Type().String()
}

// errTooLarge is returned by readBounded for a file that grew past the limit after survey.
var errTooLarge = errors.New("over the size limit for one file of a pack")

// readBounded reads a pack file, refusing one that is not regular once opened or that holds
// more than the limit: survey checked every file first, but a file may change in between.
func (l *loader) readBounded(file string) ([]byte, error) {
	f, err := l.fsys.Open(file)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	info, err := f.Stat()
	if err != nil {
		return nil, err
	}
	if !info.Mode().IsRegular() {
		return nil, fmt.Errorf("not a regular file (%s)", kindOf(info.Mode()))
	}
	data, err := io.ReadAll(io.LimitReader(f, l.limits.MaxFileBytes+1))
	if err != nil {
		return nil, err
	}
	if int64(len(data)) > l.limits.MaxFileBytes {
		return nil, errTooLarge
	}
	return data, nil
}

// expandedNodes counts the nodes of a YAML document as a reader that follows every alias
// would see them, stopping once the count passes limit: yaml.v3 keeps an alias as one node,
// but the loader's walk (and the JSON it records) expands it, so nine nested aliases of nine
// make a billion values out of a 1 KB file.
func expandedNodes(root *yaml.Node, limit int) int {
	memo := map[*yaml.Node]int{}
	var count func(n *yaml.Node) int
	count = func(n *yaml.Node) int {
		if n == nil {
			return 0
		}
		if v, ok := memo[n]; ok {
			return v
		}
		memo[n] = limit + 1 // a node that contains itself counts as too many
		total := 1
		if n.Kind == yaml.AliasNode {
			total = count(n.Alias)
		}
		for _, c := range n.Content {
			total += count(c)
			if total > limit {
				break
			}
		}
		total = min(total, limit+1)
		memo[n] = total
		return total
	}
	return count(root)
}
