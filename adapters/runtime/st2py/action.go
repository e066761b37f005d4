package st2py

import (
	"embed"
	"io/fs"
)

// common is st2common (and st2actions, its older name): the Action base class python-script
// actions subclass, and the wrapper that runs one (adapters/runtime/st2).
//
//go:embed all:st2common all:st2actions
var common embed.FS

// ActionWrapper is the program that runs a StackStorm python action, relative to the
// directory Materialize returns.
const ActionWrapper = "st2common/runners/attune_action_wrapper.py"

func init() { trees = append(trees, fs.FS(common)) }
