package registry

import "github.com/opencontainers/image-spec/specs-go"

var specsV2 = specs.Versioned{SchemaVersion: 2}
