// Package packloader reads a pack directory (design §5) and validates all of it before
// anything is registered: every file, every cross-reference, every default and literal
// parameter, every timer. The result is the pack.PackRegistered event the registration
// handler appends; the errors are *FileError values that name file, line and field.
package packloader

import (
	"cmp"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"regexp"
	"slices"
	"strings"

	"gopkg.in/yaml.v3"

	"github.com/attune-go/attune/domain/pack"
)

// Resolver finds the live registration of another pack, so a rule may use its triggers and
// actions. The pack being loaded and the core pack are never asked for: they resolve from
// the files being loaded and from the binary.
type Resolver interface {
	Pack(ref string) (*pack.PackRegistered, bool)
}

// ResolverFunc adapts a function to Resolver.
type ResolverFunc func(ref string) (*pack.PackRegistered, bool)

// Pack calls f.
func (f ResolverFunc) Pack(ref string) (*pack.PackRegistered, bool) { return f(ref) }

// Packs resolves from registrations held in memory, e.g. folded from the log with
// pack.Current.
func Packs(regs ...pack.PackRegistered) Resolver {
	byRef := make(map[string]pack.PackRegistered, len(regs))
	for _, r := range regs {
		byRef[r.Ref] = r
	}
	return ResolverFunc(func(ref string) (*pack.PackRegistered, bool) {
		r, ok := byRef[ref]
		return &r, ok
	})
}

// CoreRef is the ref of the pack that ships inside the binary.
const CoreRef = "core"

var (
	packRef = regexp.MustCompile(`^[a-z0-9][a-z0-9_-]*$`)
	name    = regexp.MustCompile(`^[A-Za-z0-9_][A-Za-z0-9_.-]*$`)
	semver  = regexp.MustCompile(`^[0-9]+\.[0-9]+\.[0-9]+([-+][0-9A-Za-z.+-]+)?$`)
	// st2Name is a name in a StackStorm pack, which may use letters of any script
	// (StackStorm's own examples name a rule sample_rule_with_webhook_你好).
	st2Name = regexp.MustCompile(`^[\p{L}\p{N}_][\p{L}\p{N}_.-]*$`)
)

// Load reads and validates the pack in directory dir of fsys. It does no I/O beyond reading
// fsys: on success the event is ready to append (Retired is left for pack.Register to
// decide). On failure the error joins one *FileError per problem found, across all files.
// others resolves refs into packs other than this one and core; nil resolves none.
func Load(fsys fs.FS, dir string, others Resolver) (pack.PackRegistered, error) {
	return load(fsys, dir, others, false, Limits{})
}

// LoadWithin is Load under limits other than the defaults.
func LoadWithin(fsys fs.FS, dir string, others Resolver, limits Limits) (pack.PackRegistered, error) {
	return load(fsys, dir, others, false, limits)
}

// LoadDir loads the pack in directory dir of this machine and records its absolute path in
// Path, so that workers and sensors on this host find its entry points. Problems name files
// from the pack directory's own name down (examples/rules/on_ping.yaml).
func LoadDir(dir string, others Resolver) (pack.PackRegistered, error) {
	return LoadDirWithin(dir, others, Limits{})
}

// LoadDirWithin is LoadDir under limits other than the defaults.
func LoadDirWithin(dir string, others Resolver, limits Limits) (pack.PackRegistered, error) {
	abs, err := filepath.Abs(dir)
	if err != nil {
		return pack.PackRegistered{}, &FileError{File: dir, Msg: fmt.Sprintf("cannot resolve the pack directory: %v", err)}
	}
	p, err := LoadWithin(os.DirFS(filepath.Dir(abs)), filepath.Base(abs), others, limits)
	if err != nil {
		return pack.PackRegistered{}, err
	}
	p.Path = abs
	return p, nil
}

func load(fsys fs.FS, dir string, others Resolver, isCore bool, limits Limits) (pack.PackRegistered, error) {
	if others == nil {
		others = ResolverFunc(func(string) (*pack.PackRegistered, bool) { return nil, false })
	}
	l := &loader{fsys: fsys, dir: path.Clean(dir), others: others, isCore: isCore, limits: limits.withDefaults(), defined: map[pack.Kind]map[string]string{}}
	switch st, err := fs.Stat(fsys, l.dir); {
	case errors.Is(err, fs.ErrNotExist):
		return pack.PackRegistered{}, &FileError{File: l.dir, Msg: "no such pack directory"}
	case err != nil:
		return pack.PackRegistered{}, &FileError{File: l.dir, Msg: fmt.Sprintf("cannot read the pack directory: %v", err)}
	case !st.IsDir():
		return pack.PackRegistered{}, &FileError{File: l.dir, Msg: "not a pack directory: a pack is a directory holding pack.yaml"}
	}
	// Before a single file is opened: a FIFO or a link to a device would block or flood
	// the reads below.
	if l.survey(); len(l.errs) > 0 {
		return pack.PackRegistered{}, errors.Join(l.errs...)
	}
	l.readFile("pack.yaml", l.readPack)
	if l.st2 {
		l.readST2Config()
	}
	l.readDir("actions", l.readAction)
	l.readDir("triggers", l.readTrigger)
	l.readDir("sensors", l.readSensor)
	l.readDir("rules", l.readRule)
	l.readDir("policies", l.readPolicy)
	if l.refOK {
		// Without a valid ref no component ref can be told apart from a foreign one.
		l.resolve()
	}
	if err := errors.Join(l.errs...); err != nil {
		return pack.PackRegistered{}, err
	}
	digest, err := l.digest()
	if err != nil {
		return pack.PackRegistered{}, err
	}
	l.p.Digest = digest
	l.p.Warnings = l.warns
	byRef := func(a, b string) int { return cmp.Compare(a, b) }
	slices.SortFunc(l.p.Actions, func(a, b pack.Action) int { return byRef(a.Ref, b.Ref) })
	slices.SortFunc(l.p.Triggers, func(a, b pack.Trigger) int { return byRef(a.Ref, b.Ref) })
	slices.SortFunc(l.p.Sensors, func(a, b pack.Sensor) int { return byRef(a.Ref, b.Ref) })
	slices.SortFunc(l.p.Rules, func(a, b pack.Rule) int { return byRef(a.Ref, b.Ref) })
	slices.SortFunc(l.p.Policies, func(a, b pack.Policy) int { return byRef(a.Ref, b.Ref) })
	return l.p, nil
}

// loader is the state of one Load.
type loader struct {
	problems
	fsys   fs.FS
	dir    string
	others Resolver
	isCore bool
	limits Limits

	p     pack.PackRegistered
	refOK bool
	// st2 is set while pack.yaml is read, before any other file: the pack is in StackStorm's
	// dialect, and every reader takes StackStorm's shape of its files.
	st2 bool
	// defined maps each kind's names to where they are defined ("file:line"), so a duplicate
	// names its twin.
	defined map[pack.Kind]map[string]string
	// The sources of the components whose references are checked once every file is read.
	rules     []ruleSource
	sensors   []sensorSource
	policies  []policySource
	workflows []workflowSource
	core      *pack.PackRegistered
}

// readFile parses one file of the pack (relative to its directory) and hands its root node
// to decode.
func (l *loader) readFile(rel string, decode func(fileProblems, *yaml.Node)) {
	file := path.Join(l.dir, rel)
	f := fileProblems{&l.problems, file}
	data, err := l.readBounded(file)
	if errors.Is(err, fs.ErrNotExist) {
		f.at(nil, "", "not found: every pack has one")
		return
	}
	if err != nil {
		f.at(nil, "", "cannot read: %v", err)
		return
	}
	if root := l.parse(f, data); root != nil {
		decode(f, root)
	}
}

// parse is fileProblems.parse under the loader's budget of YAML nodes, aliases expanded.
func (l *loader) parse(f fileProblems, data []byte) *yaml.Node {
	root := f.parse(data)
	if root != nil && expandedNodes(root, l.limits.MaxYAMLNodes) > l.limits.MaxYAMLNodes {
		f.at(root, "", "with its aliases expanded this document has more than %d values: refused (a \"billion laughs\" file grows without bound)", l.limits.MaxYAMLNodes)
		return nil
	}
	return root
}

// readDir decodes every YAML file directly in one of the pack's directories; a missing
// directory is an empty one. Other files (the actions' scripts) and subdirectories
// (actions/workflows) are read only when something refers to them.
func (l *loader) readDir(sub string, decode func(fileProblems, *yaml.Node)) {
	entries, err := fs.ReadDir(l.fsys, path.Join(l.dir, sub))
	if errors.Is(err, fs.ErrNotExist) {
		return
	}
	if err != nil {
		l.add(path.Join(l.dir, sub), 0, "", "cannot list: %v", err)
		return
	}
	for _, e := range entries {
		// StackStorm also reads .json metadata (JSON is YAML), as its older packs write rules.
		isJSON := l.st2 && strings.HasSuffix(e.Name(), ".json")
		if e.IsDir() || !(strings.HasSuffix(e.Name(), ".yaml") || strings.HasSuffix(e.Name(), ".yml") || isJSON) {
			continue
		}
		l.readFile(path.Join(sub, e.Name()), decode)
	}
}

func (l *loader) readPack(f fileProblems, root *yaml.Node) {
	if l.st2 = isStackStormPack(root); l.st2 {
		l.readSt2Pack(f, root)
		return
	}
	o := f.object(root, "", "ref", "version", "description", "config")
	ref := o.needStr("ref")
	switch {
	case ref == "":
	case !packRef.MatchString(ref):
		f.at(o.get("ref"), "ref", "%q is not a pack ref: lowercase letters, digits, _ and -, no dots", ref)
	case ref == CoreRef && !l.isCore:
		f.at(o.get("ref"), "ref", "%q is reserved for the pack built into attune", ref)
	default:
		l.refOK = true
	}
	l.p.Ref = ref
	if l.p.Version = o.needStr("version"); l.p.Version != "" && !semver.MatchString(l.p.Version) {
		f.at(o.get("version"), "version", "%q is not a semantic version (like 1.0.0)", l.p.Version)
	}
	l.p.Description = o.str("description")
	if c := o.get("config"); c != nil {
		if c.Kind != yaml.MappingNode {
			f.at(c, "config", "want a mapping, got %s", describe(c))
		} else if v, ok := f.value(c, "config"); ok {
			l.p.Config = toJSON(v)
			f.secretsInConfig(c, "config")
		}
	}
}

// name reads, checks and claims a component's name: names are unique per kind in a pack.
// It returns the component's ref.
func (l *loader) name(f fileProblems, o object, kind pack.Kind) (string, string) {
	n := o.needStr("name")
	if n == "" {
		return "", ""
	}
	node := o.get("name")
	if !name.MatchString(n) && !(l.st2 && st2Name.MatchString(n)) {
		f.at(node, "name", "%q is not a name: letters, digits, _, - and ., starting with a letter, digit or _", n)
		return n, l.p.Ref + "." + n
	}
	if l.defined[kind] == nil {
		l.defined[kind] = map[string]string{}
	}
	where := fmt.Sprintf("%s:%d", f.file, node.Line)
	if first, dup := l.defined[kind][n]; dup {
		f.at(node, "name", "%s %q is already defined at %s", kind, n, first)
	} else {
		l.defined[kind][n] = where
	}
	return n, l.p.Ref + "." + n
}

// entryPoint checks that the script or definition sub/ep exists in the pack and returns its
// cleaned path and contents.
func (l *loader) entryPoint(f fileProblems, o object, sub string) (string, []byte, bool) {
	ep := o.needStr("entry_point")
	if ep == "" {
		return "", nil, false
	}
	node := o.get("entry_point")
	clean := path.Clean(ep)
	if !fs.ValidPath(clean) || clean == "." || strings.Contains(ep, `\`) {
		f.at(node, "entry_point", "%q is not a relative path inside %s/", ep, path.Join(l.dir, sub))
		return "", nil, false
	}
	file := path.Join(l.dir, sub, clean)
	data, err := l.readBounded(file)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		f.at(node, "entry_point", "%s does not exist", file)
		return "", nil, false
	case err != nil:
		f.at(node, "entry_point", "cannot read %s: %v", file, err)
		return "", nil, false
	}
	return clean, data, true
}

// secretSuffixes mark config keys that name a credential (github_token, db_password).
var secretSuffixes = []string{"password", "passwd", "secret", "token", "apikey", "api_key", "private_key"}

// secretsInConfig rejects what looks like a plaintext credential in the pack's config: the
// config is recorded in the event log, which is immutable and replayed, so a secret written
// there could never be taken back. Templates (references resolved at run time) pass.
func (f fileProblems) secretsInConfig(n *yaml.Node, field string) {
	switch n = resolve(n); n.Kind {
	case yaml.MappingNode:
		for _, e := range f.quiet().entries(n, field) {
			key := strings.ToLower(strings.ReplaceAll(e.key, "-", "_"))
			isSecret := slices.ContainsFunc(secretSuffixes, func(s string) bool { return strings.HasSuffix(key, s) })
			if v := resolve(e.v); isSecret && v.Kind == yaml.ScalarNode && v.ShortTag() == "!!str" && v.Value != "" && !hasTemplate(v.Value) {
				f.at(v, join(field, e.key), "looks like a plaintext secret: the event log is immutable, so keep secrets out of config and pass them as secret parameters")
				continue
			}
			f.secretsInConfig(e.v, join(field, e.key))
		}
	case yaml.SequenceNode:
		for i, c := range n.Content {
			f.secretsInConfig(c, index(field, i))
		}
	}
}
