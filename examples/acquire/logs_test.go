package main

import (
	"bytes"
	"context"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
)

// TestSuccessfulRunLogsNoErrors: a run in which every image is promoted
// prints no ERROR line, at the default level or with -v, although the
// enterprise verifier meets the publisher's signature (and the publisher's
// verifier the enterprise's) on the way (issue 10 item 12).
func TestSuccessfulRunLogsNoErrors(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end")
	}
	cfgPath, src, _ := writeConfig(t)
	images := []string{src.Host + "/library/clean:1.0", src.Host + "/publisher/signed:1.0", src.Host + "/library/multi:1.0"}
	for _, verbose := range []bool{false, true} {
		args := []string{"-config", cfgPath, "-progress", "plain"}
		if verbose {
			args = append(args, "-v")
		}
		var stdout, stderr bytes.Buffer
		code := run(context.Background(), append(args, images...), &stdout, &stderr)
		assert.Equal(t, exitOK, code, "every image promoted\nstdout:\n%s\nstderr:\n%s", &stdout, &stderr)
		for _, line := range strings.Split(stderr.String(), "\n") {
			assert.NotContains(t, line, "level=ERROR", "verbose %v: a successful run logs no errors", verbose)
			if !verbose {
				assert.NotContains(t, line, "level=WARN", "a successful run prints nothing to worry about")
			}
		}
	}
}
