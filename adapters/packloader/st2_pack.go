package packloader

import (
	"fmt"
	"io/fs"
	"net/mail"
	"path"
	"regexp"
	"strconv"
	"strings"

	"gopkg.in/yaml.v3"

	"github.com/attune-go/attune/domain/pack"
)

// The StackStorm dialect: a pack whose pack.yaml has a name key is read as StackStorm reads
// it (st2common's PackAPI schema), every field StackStorm documents honoured or refused with
// the reason, every other field refused as in Attune's dialect.

// StackStormVersion is the StackStorm release whose content semantics Attune follows: a pack
// whose stackstorm_version excludes it is refused, as `st2 pack install` refuses it.
const StackStormVersion = "3.8.1"

var (
	// st2PackRef is StackStorm's PACK_REF_WHITELIST_REGEX: stricter than Attune's (no dashes).
	st2PackRef = regexp.MustCompile(`^[a-z0-9_]+$`)
	// st2PackVersion is StackStorm's PACK_VERSION_REGEX (semver, lowercase pre-release).
	st2PackVersion = regexp.MustCompile(`^(?:0|[1-9]\d*)\.(?:0|[1-9]\d*)\.(?:0|[1-9]\d*)(?:-[\da-z\-]+(?:\.[\da-z\-]+)*)?(?:\+[\da-z\-]+(?:\.[\da-z\-]+)*)?$`)
	// st2VersionSpec is StackStorm's ST2_VERSION_REGEX: ">=3.0.0, <4.0.0".
	st2VersionSpec = regexp.MustCompile(`^((>?>|>=|=|<=|<?<)\s*[0-9]+\.[0-9]+\.[0-9]+?(\s*,)?\s*)+$`)
	st2Constraint  = regexp.MustCompile(`(>>|>=|<=|<<|>|<|=)\s*([0-9]+)\.([0-9]+)\.([0-9]+)`)
)

// st2PackFields are the keys of StackStorm's pack schema that a pack.yaml may hold.
var st2PackFields = []string{
	"name", "ref", "uid", "description", "keywords", "version", "stackstorm_version",
	"python_versions", "author", "email", "contributors", "dependencies", "system",
	"id", "files", "path",
}

// isStackStormPack reports a pack.yaml in StackStorm's dialect: Attune's has a ref and never
// a name.
func isStackStormPack(root *yaml.Node) bool {
	return child(resolve(root), "name") != nil
}

// readSt2Pack reads a StackStorm pack.yaml.
func (l *loader) readSt2Pack(f fileProblems, root *yaml.Node) {
	l.p.Dialect = pack.DialectStackStorm
	o := f.object(root, "", st2PackFields...)
	for key, why := range map[string]string{
		"id":    "StackStorm's database sets it",
		"files": "StackStorm lists the pack's files itself when it registers the pack",
		"path":  "StackStorm sets it to where the pack is installed",
	} {
		if n := o.vals[key]; n != nil {
			f.at(n, key, "not a pack.yaml field: %s; remove it", why)
		}
	}
	meta := &pack.StackStormPack{Name: o.needStr("name")}
	l.p.StackStorm = meta
	l.p.Ref = l.st2PackRef(f, o, meta.Name)
	if uid := o.str("uid"); uid != "" && l.p.Ref != "" && uid != "pack:"+l.p.Ref {
		f.at(o.get("uid"), "uid", "%q is not this pack's uid: StackStorm's is pack:<ref>, here %q", uid, "pack:"+l.p.Ref)
	}
	l.p.Description = o.needStr("description")
	meta.Author = o.needStr("author")
	l.p.Version = f.scalarString(o.need("version"), "version")
	if l.p.Version != "" && !st2PackVersion.MatchString(l.p.Version) {
		f.at(o.get("version"), "version", "pack version %q doesn't follow a valid semver format; valid versions and formats include: 0.1.0, 0.2.1, 1.1.0", l.p.Version)
	}
	if meta.Email = o.str("email"); meta.Email != "" {
		if _, err := mail.ParseAddress(meta.Email); err != nil {
			f.at(o.get("email"), "email", "%q is not an e-mail address", meta.Email)
		}
	}
	for _, it := range o.strs("keywords") {
		meta.Keywords = append(meta.Keywords, it.s)
	}
	for _, it := range o.strs("contributors") {
		if len([]rune(it.s)) > 100 {
			f.at(it.n, it.field, "longer than StackStorm's 100 characters")
		}
		meta.Contributors = append(meta.Contributors, it.s)
	}
	meta.StackStormVersion = l.st2VersionCheck(f, o)
	meta.PythonVersions = f.pythonVersions(o)
	meta.Dependencies = l.st2Dependencies(o)
	if n := o.get("system"); n != nil {
		if n.Kind != yaml.MappingNode {
			f.at(n, "system", "want a mapping, got %s", describe(n))
		} else if v, ok := f.value(n, "system"); ok {
			meta.System = v.(map[string]any)
		}
	}
	l.st2Unrun()
}

// st2PackRef derives the pack's ref as StackStorm does (get_pack_ref_from_metadata): the ref
// field; else the pack directory's name when it is a valid ref; else the name when it is one.
func (l *loader) st2PackRef(f fileProblems, o object, name string) string {
	ref := o.str("ref")
	switch {
	case ref != "":
		if !st2PackRef.MatchString(ref) {
			f.at(o.get("ref"), "ref", "pack ref %q can only contain valid word characters (a-z, 0-9 and _), dashes are not allowed", ref)
			return ""
		}
	case st2PackRef.MatchString(path.Base(l.dir)):
		ref = path.Base(l.dir)
	case st2PackRef.MatchString(name):
		ref = name
	case name != "":
		f.at(o.get("name"), "name", "pack name %q contains invalid characters and \"ref\" attribute is not available: add a \"ref\" holding only a-z, 0-9 and _, or change the name to contain only those", name)
		return ""
	default:
		return ""
	}
	switch {
	case ref == CoreRef && !l.isCore:
		f.at(o.get("ref"), "ref", "%q is reserved for the pack built into attune", ref)
	case !packRef.MatchString(ref):
		// A leading _ is a StackStorm ref but not an Attune one.
		f.at(o.get("ref"), "ref", "%q cannot be a pack ref here: it must start with a letter or digit", ref)
	default:
		l.refOK = true
		return ref
	}
	return ""
}

// scalarString reads a scalar as the string it was written as: StackStorm casts an unquoted
// version (1.0 parses as a number) to a string.
func (f fileProblems) scalarString(n *yaml.Node, field string) string {
	if n == nil {
		return ""
	}
	if n.Kind != yaml.ScalarNode {
		f.at(n, field, "want a string, got %s", describe(n))
		return ""
	}
	return n.Value
}

// st2VersionCheck reads stackstorm_version and refuses a pack whose constraint excludes the
// StackStorm release Attune follows, as st2 pack install does.
func (l *loader) st2VersionCheck(f fileProblems, o object) string {
	spec := o.str("stackstorm_version")
	if spec == "" {
		return ""
	}
	n := o.get("stackstorm_version")
	if !st2VersionSpec.MatchString(spec) {
		f.at(n, "stackstorm_version", "%q is not a StackStorm version constraint (like \">=3.0.0\" or \">=2.9.0, <4.0.0\")", spec)
		return ""
	}
	have := semverParts(StackStormVersion)
	for _, m := range st2Constraint.FindAllStringSubmatch(spec, -1) {
		want := semverParts(m[2] + "." + m[3] + "." + m[4])
		c := compareParts(have, want)
		ok := map[string]bool{">": c > 0, ">>": c > 0, ">=": c >= 0, "<": c < 0, "<<": c < 0, "<=": c <= 0, "=": c == 0}[m[1]]
		if !ok {
			f.at(n, "stackstorm_version", "the pack requires StackStorm %s; Attune runs StackStorm content as StackStorm %s does", spec, StackStormVersion)
			break
		}
	}
	return spec
}

func semverParts(v string) [3]int {
	var out [3]int
	for i, s := range strings.SplitN(v, ".", 3) {
		out[i], _ = strconv.Atoi(s)
	}
	return out
}

func compareParts(a, b [3]int) int {
	for i := range a {
		if a[i] != b[i] {
			return a[i] - b[i]
		}
	}
	return 0
}

// pythonVersions reads python_versions ("2", "3"). A pack that does not list 3 is refused:
// python-script actions run on Python 3, and StackStorm refuses such a pack on Python 3 too.
func (f fileProblems) pythonVersions(o object) []string {
	n := o.get("python_versions")
	if n == nil {
		return nil
	}
	if n.Kind != yaml.SequenceNode || len(n.Content) == 0 || len(n.Content) > 2 {
		f.at(n, "python_versions", "want a list of one or two of \"2\" and \"3\", got %s", describe(n))
		return nil
	}
	var out []string
	for i, c := range n.Content {
		c = resolve(c)
		if c.Kind != yaml.ScalarNode || (c.Value != "2" && c.Value != "3") {
			f.at(c, index("python_versions", i), "want \"2\" or \"3\", got %s", describe(c))
			return nil
		}
		out = append(out, c.Value)
	}
	if out[0] != "3" && (len(out) == 1 || out[1] != "3") {
		f.at(n, "python_versions", "the pack supports Python 2 only; its python actions run on Python 3 here: add \"3\" once they do")
	}
	return out
}

// st2Dependencies records the packs this one depends on. StackStorm installs them with
// `st2 pack install`; registration does not check them, and neither does Attune: a pack whose
// workflows call another pack's actions is checked action by action when it loads. A
// dependency not registered yet is named in a warning.
func (l *loader) st2Dependencies(o object) []string {
	var out []string
	for _, it := range o.strs("dependencies") {
		out = append(out, it.s)
		ref := dependencyRef(it.s)
		if _, ok := l.others.Pack(ref); !ok && ref != CoreRef && ref != l.p.Ref {
			l.warn("%s:%d: %s: pack %q is not registered; load it before running the actions that use it (attune does not install packs)", o.f.file, it.n.Line, it.field, ref)
		}
	}
	return out
}

// dependencyRef reads the pack ref out of a dependency as `st2 pack install` takes it:
// "<name or URL>[=<version>]", a repository named stackstorm-<ref> for a URL.
func dependencyRef(dep string) string {
	if i := strings.LastIndex(dep, "="); i > 0 {
		dep = dep[:i]
	}
	dep = strings.TrimSuffix(strings.TrimSuffix(dep, "/"), ".git")
	if i := strings.LastIndexAny(dep, "/:"); i >= 0 {
		dep = dep[i+1:]
	}
	return strings.TrimPrefix(dep, "stackstorm-")
}

// st2Unrun names the directories of a StackStorm pack that hold what Attune does not run, so
// a user sees they were not loaded instead of finding out when they are missed.
func (l *loader) st2Unrun() {
	for dir, what := range map[string]string{
		"aliases": "ChatOps action aliases: Attune has no ChatOps, so they are not loaded",
	} {
		entries, err := fs.ReadDir(l.fsys, path.Join(l.dir, dir))
		if err != nil || len(entries) == 0 {
			continue
		}
		l.warn("%s/: %d files of %s", path.Join(l.dir, dir), len(entries), what)
	}
}

// warn records something the loader read and did not take; the load goes on.
func (l *loader) warn(format string, args ...any) {
	l.warns = append(l.warns, fmt.Sprintf(format, args...))
}
