package packloader

import (
	"fmt"
	"strconv"
	"strings"
	"unicode"

	"gopkg.in/yaml.v3"
)

// FileError is one problem in one pack file. Load returns every problem it finds, joined with
// errors.Join, so a pack author fixes them all in one round; errors.As finds the first.
type FileError struct {
	File  string // path inside the fs.FS given to Load, e.g. "examples/rules/on_ping.yaml"
	Line  int    // 1-based; 0 when the problem is the file as a whole
	Field string // dotted path of YAML keys, e.g. "parameters.message.type"; empty for the file
	Msg   string
}

// Error renders "file:line: field: message", the shape editors and CI logs link to.
func (e *FileError) Error() string {
	var b strings.Builder
	b.WriteString(oneLine(e.File))
	if e.Line > 0 {
		b.WriteByte(':')
		b.WriteString(strconv.Itoa(e.Line))
	}
	if e.Field != "" {
		b.WriteString(": ")
		b.WriteString(oneLine(e.Field))
	}
	b.WriteString(": ")
	b.WriteString(oneLine(e.Msg))
	return b.String()
}

// oneLine keeps a problem on its one line: a key, value or file name from the pack may hold
// a newline or another control character, which would split "file:line: field: message"
// into lines naming no file — or forge a line naming another (found by FuzzLoad). Such a
// string is shown escaped, as Go would quote it.
func oneLine(s string) string {
	if !strings.ContainsFunc(s, unicode.IsControl) {
		return s
	}
	q := strconv.Quote(s)
	return q[1 : len(q)-1]
}

// problems collects FileErrors across every file of a pack, and the warnings of the load:
// what was read and not taken, or taken although StackStorm's own checks would let it pass
// where Attune's would not.
type problems struct {
	errs  []error
	warns []string
}

// warnAt records a warning about node n of file, as "file:line: field: message".
func (p *problems) warnAt(file string, n *yaml.Node, field, format string, args ...any) {
	e := &FileError{File: file, Field: field, Msg: fmt.Sprintf(format, args...)}
	if n != nil {
		e.Line = n.Line
	}
	p.warns = append(p.warns, e.Error())
}

func (p *problems) add(file string, line int, field, format string, args ...any) {
	p.errs = append(p.errs, &FileError{File: file, Line: line, Field: field, Msg: fmt.Sprintf(format, args...)})
}

// fileProblems reports into problems on behalf of one file.
type fileProblems struct {
	*problems
	file string
}

// at reports a problem at node n (its line; 0 when n is nil).
func (f fileProblems) at(n *yaml.Node, field, format string, args ...any) {
	line := 0
	if n != nil {
		line = n.Line
	}
	f.add(f.file, line, field, format, args...)
}

// join appends key to a dotted field path.
func join(prefix, key string) string {
	if prefix == "" {
		return key
	}
	return prefix + "." + key
}

// index appends an array index to a field path.
func index(prefix string, i int) string {
	return prefix + "[" + strconv.Itoa(i) + "]"
}

// quiet reports nowhere: the resolve pass re-reads values the first pass already reported on.
func (f fileProblems) quiet() fileProblems {
	return fileProblems{&problems{}, f.file}
}
