// Package crd embeds the generated gamehall CRDs, so that `gamehall local`
// validates and defaults Regions with exactly the schema and CEL rules the
// API server applies.
package crd

import "embed"

// Bases holds bases/*.yaml, as `make manifests` writes them.
//
//go:embed bases/*.yaml
var Bases embed.FS
