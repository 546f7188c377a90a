package testimage

import (
	"errors"
	"strings"
)

func errorsIs(err, target error) bool { return errors.Is(err, target) }

func containsAlreadyExists(err error) bool { return strings.Contains(err.Error(), "already exists") }
