package registry

import (
	"errors"

	"github.com/opencontainers/image-spec/specs-go"
)

var specsV2 = specs.Versioned{SchemaVersion: 2}

func errorsIs(err, target error) bool { return errors.Is(err, target) }
