// Package cienv says whether the tests run in CI, where a real part that is
// missing (PostgreSQL, clamd, chromium) fails the tests that need it instead
// of skipping them: a skipped test proves nothing.
package cienv

import (
	"os"
	"strings"
)

// Set reports whether the environment variable CI asks for a CI run: set,
// and neither "0" nor "false".
func Set() bool {
	v := strings.TrimSpace(os.Getenv("CI"))
	return v != "" && v != "0" && !strings.EqualFold(v, "false")
}
