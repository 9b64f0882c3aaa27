//go:build linux

package main

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/avupload/avupload/sandbox/sandboxtest"
)

// TestBatchRawPaths uploads two files whose names differ only in bytes
// that are not UTF-8 (Linux allows them, macOS and Windows do not) three
// times with one journal: each is uploaded once; --json gives each path
// byte for byte in pathBytes, and the text output escapes it.
func TestBatchRawPaths(t *testing.T) {
	srv := sandboxtest.NewServer(t)
	token, err := srv.Sandbox.CreateToken(time.Hour)
	require.NoError(t, err)
	dir := t.TempDir()
	tree := filepath.Join(dir, "tree")
	require.NoError(t, os.Mkdir(tree, 0o700))
	names := []string{"clip\xff.mp4", "clip\xfe.mp4"}
	for i, name := range names {
		require.NoError(t, os.WriteFile(filepath.Join(tree, name), bytes.Repeat([]byte{byte(i + 1)}, 1000+i), 0o600))
	}
	upload := func(extra ...string) (string, string) {
		t.Helper()
		var stdout, stderr bytes.Buffer
		args := append([]string{"upload", "--token", token, "--base-url", srv.URL, "--journal", filepath.Join(dir, "j")}, extra...)
		code := run(t.Context(), append(args, tree), stdio{strings.NewReader(""), &stdout, &stderr}, func(string) string { return "" })
		require.Equal(t, 0, code, stderr.String())
		return stdout.String(), stderr.String()
	}

	out, _ := upload("--json")
	seen := map[string]string{}
	for line := range strings.Lines(out) {
		var f struct {
			Path      string `json:"path"`
			PathBytes []byte `json:"pathBytes"`
			Status    string `json:"status"`
		}
		require.NoError(t, json.Unmarshal([]byte(line), &f), line)
		assert.Equal(t, "uploaded", f.Status)
		seen[string(f.PathBytes)] = f.Path
	}
	for _, name := range names {
		p := filepath.Join(tree, name)
		require.Contains(t, seen, p, "pathBytes holds %q byte for byte", p)
		assert.Equal(t, strings.ToValidUTF8(p, "\uFFFD"), seen[p], "path is the readable form")
	}

	out, _ = upload()
	assert.Contains(t, out, `  "`+tree+`/clip\xff.mp4"`+"\n", "the text output escapes the bytes")
	assert.Contains(t, out, "0 uploaded, 2 skipped, 0 failed")
	out, _ = upload("--json")
	assert.Equal(t, 2, strings.Count(out, `"status":"skipped"`))

	complete := 0
	for _, v := range srv.Sandbox.Videos() {
		if v.Complete {
			complete++
		}
	}
	assert.Equal(t, 2, complete, "three runs, each file uploaded once")
}
