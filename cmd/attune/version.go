package main

import (
	"runtime/debug"
	"strings"
)

// version says which build this is: the module version when installed with `go install
// …@vX`, else the VCS revision Go stamps into every build from a checkout (with "+dirty" for
// uncommitted changes), else "dev".
func version() string {
	info, ok := debug.ReadBuildInfo()
	if !ok {
		return "dev"
	}
	if v := info.Main.Version; v != "" && v != "(devel)" {
		return v
	}
	var rev, at string
	dirty := false
	for _, s := range info.Settings {
		switch s.Key {
		case "vcs.revision":
			rev = s.Value
		case "vcs.time":
			at = s.Value
		case "vcs.modified":
			dirty = s.Value == "true"
		}
	}
	if rev == "" {
		return "dev"
	}
	if len(rev) > 12 {
		rev = rev[:12]
	}
	out := []string{"dev-" + rev}
	if dirty {
		out[0] += "+dirty"
	}
	if at != "" {
		out = append(out, "("+at+")")
	}
	return strings.Join(out, " ")
}
