package main

import (
	"os/exec"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestBinaryDoesNotLinkTesting checks that the shipped CLI links no test
// helper: package testing (and its flags) must only reach test binaries.
func TestBinaryDoesNotLinkTesting(t *testing.T) {
	goBin, err := exec.LookPath("go")
	require.NoError(t, err, "the go command is needed to list the CLI's dependencies")
	out, err := exec.Command(goBin, "list", "-deps", "-f", "{{.ImportPath}}", ".").CombinedOutput()
	require.NoError(t, err, "go list: %s", out)
	deps := strings.Fields(string(out))
	require.Contains(t, deps, "github.com/avupload/avupload/sandbox", "the CLI is expected to link the sandbox")
	for _, banned := range []string{"testing", "github.com/avupload/avupload/sandbox/sandboxtest", "github.com/avupload/avupload/internal/testutil", "github.com/stretchr/testify/assert"} {
		assert.NotContains(t, deps, banned, "the avupload binary links %s", banned)
	}
}
