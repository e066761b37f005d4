// Package schemas embeds the persisted formats: SQL migrations and the JSON Schemas of every
// event type and pack file.
package schemas

import "embed"

// Migrations holds the numbered goose migrations, applied by `attune migrate`.
//
//go:embed migrations/*.sql
var Migrations embed.FS

// Events holds one JSON Schema per event type: events/<Type>.json.
//
//go:embed events
var Events embed.FS
