package schemas

import "embed"

// Pack holds the JSON Schemas of the pack files (pack/<kind>.json, shared parts in
// pack/defs.json), for editors and linters; the pack loader enforces the same rules with
// file and line in its errors, and its tests keep the two in step.
//
//go:embed pack/*.json
var Pack embed.FS
