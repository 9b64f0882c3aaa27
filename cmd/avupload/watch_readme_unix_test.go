//go:build unix

package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/avupload/avupload/sandbox"
	"github.com/avupload/avupload/sandbox/sandboxtest"
)

// TestReadmeWatchExample runs the README's watch example as a user pastes
// it, with the sandbox's two export lines: the file dropped is uploaded
// once, whole, and the watch stops with 130 on SIGTERM.
func TestReadmeWatchExample(t *testing.T) {
	readme, err := os.ReadFile("../../README.md")
	require.NoError(t, err)
	m := regexp.MustCompile("(?s)<!-- watch-example -->\n```sh\n(.*?)```").FindSubmatch(readme)
	require.NotNil(t, m, "the README has the watch example")

	srv := sandboxtest.NewServer(t, sandbox.WithDataDir(t.TempDir()))
	dir := t.TempDir()
	cmd := exec.Command("sh", "-c", "set -e\n"+string(m[1]))
	cmd.Dir = dir
	cmd.Env = []string{
		"PATH=" + avuploadBinary(t) + string(os.PathListSeparator) + os.Getenv("PATH"),
		"HOME=" + t.TempDir(),
		"AVUPLOAD_BASE_URL=" + srv.URL, "APIVIDEO_API_KEY=" + srv.APIKey,
		"GORACE=atexit_sleep_ms=0",
	}
	out, err := cmd.CombinedOutput()
	require.NoError(t, err, "%s", out)
	assert.Contains(t, string(out), "watch stopped, exit 130")
	assert.Contains(t, string(out), `"path":"drop/clip1.mp4","status":"uploaded"`)
	assert.Equal(t, 1, strings.Count(string(out), `"status"`), "one file: the hidden one was left out")

	data, err := os.ReadFile(filepath.Join(dir, "drop", "clip1.mp4"))
	require.NoError(t, err)
	bySum, all := completeBySum(srv.Sandbox)
	assert.Equal(t, 1, all)
	assert.Equal(t, 1, bySum[sumOf(data)], "the whole file, once")
}
