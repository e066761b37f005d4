package packloader

import (
	"embed"

	"github.com/attune-go/attune/domain/pack"
)

// coreFS is the core pack, built into the binary: its actions are builtins implemented by
// the worker, its triggers are the engine's timers and webhooks.
//
//go:embed core
var coreFS embed.FS

// LoadCore loads the core pack that ships with the binary. It fails only if the embedded
// files are broken, which the tests rule out.
func LoadCore() (pack.PackRegistered, error) {
	return load(coreFS, "core", nil, true, Limits{})
}
