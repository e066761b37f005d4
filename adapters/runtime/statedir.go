package runtime

import (
	"fmt"
	"os"
	"path/filepath"
)

// StateDir is where a worker keeps its per-host state named name (runs, packenv) when told
// nothing: $XDG_STATE_HOME/attune/<name>, else ~/.local/state/attune/<name>, else a
// directory of the user's own in the temporary directory.
func StateDir(name string) string {
	if d := os.Getenv("XDG_STATE_HOME"); filepath.IsAbs(d) {
		return filepath.Join(d, "attune", name)
	}
	if home, err := os.UserHomeDir(); err == nil && home != "" && home != "/" {
		return filepath.Join(home, ".local", "state", "attune", name)
	}
	return filepath.Join(os.TempDir(), fmt.Sprintf("attune-%s-%d", name, os.Getuid()))
}
