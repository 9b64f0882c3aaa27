package main

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/avupload/avupload/sandbox"
	"github.com/avupload/avupload/sandbox/sandboxtest"
)

// TestUploadBadInputs runs upload with inputs a user gets wrong and checks
// that each gets a message in the user's words and the right exit status.
func TestUploadBadInputs(t *testing.T) {
	srv := sandboxtest.NewServer(t)
	token, err := srv.Sandbox.CreateToken(0)
	require.NoError(t, err)
	dir := t.TempDir()
	file := filepath.Join(dir, "one.mp4")
	require.NoError(t, os.WriteFile(file, []byte("a small video"), 0o600))
	garbage := filepath.Join(dir, "garbage.state")
	require.NoError(t, os.WriteFile(garbage, []byte("no state at all"), 0o600))
	dangling := filepath.Join(dir, "gone.mp4")
	if runtime.GOOS != "windows" {
		require.NoError(t, os.Symlink(filepath.Join(dir, "nowhere.mp4"), dangling))
	}
	env := map[string]string{envBaseURL: srv.URL, envToken: token}

	tests := []struct {
		name string
		args []string
		code int
		want string // in standard error
		unix bool   // needs a symbolic link
	}{
		{"stall timeout too short", []string{"--stall-timeout", "1ns", file}, exitUsage,
			"--stall-timeout 1ns: want 1s or more", false},
		{"empty journal", []string{"--journal", "", file}, exitUsage,
			"--journal wants a directory, got an empty one; leave --journal out to upload without a journal", false},
		{"state file of garbage", []string{"--state-file", garbage, file}, exitFailure,
			"--state-file " + garbage + " holds no upload state: it is not the JSON avupload writes there; it is left as it is. Give --restart", false},
		{"include matches names", []string{"--include", "*.mov", file}, exitOK,
			"no file to upload: " + file + " is left out: --include '*.mov' keeps only the files whose name matches (the name alone, not its directory)", false},
		{"include with a slash", []string{"--include", "a/*.mp4", dir}, exitUsage,
			"--include 'a/*.mp4': a pattern matches a file's name, not its path, so a slash never matches; give the directory as an argument and --include '*.mp4'", false},
		{"include of bad syntax", []string{"--include", "[", dir}, exitUsage,
			"--include '[' is not a valid pattern", false},
		{"token TTL with a token", []string{"--token-ttl", "1h", file}, exitUsage,
			"--token-ttl is the lifetime of the tokens minted with the API key: with an upload token (--token or AVUPLOAD_TOKEN), none is minted", false},
		{"dangling link", []string{dangling}, exitFailure,
			dangling + " is a symbolic link to " + filepath.Join(dir, "nowhere.mp4") + ", which does not exist", true},
		{"stdin with a journal", []string{"--journal", dir, "-"}, exitUsage,
			"--journal selects or records files: standard input, one stream read once, cannot take it", false},
		{"state file and journal", []string{"--journal", filepath.Join(dir, "j"), "--state-file", garbage, file}, exitUsage,
			"--state-file and --journal both keep the upload's state: give one of them", false},
	}
	if runtime.GOOS == "linux" {
		tests = append(tests, struct {
			name string
			args []string
			code int
			want string
			unix bool
		}{"a file of /proc", []string{"/proc/cpuinfo"}, exitUsage,
			"/proc/cpuinfo reports a size of 0 bytes, as the files of /proc and /sys do whatever they hold: give it on standard input (avupload upload - < /proc/cpuinfo)", false})
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if tc.unix && runtime.GOOS == "windows" {
				return // no symbolic link without privileges
			}
			code, out, errw := runEnv(t, env, append([]string{"upload"}, tc.args...)...)
			assert.Equal(t, tc.code, code, errw)
			assert.Contains(t, errw, tc.want)
			assert.Empty(t, out)
			assert.NotContains(t, errw, token)
		})
	}
	assert.Empty(t, srv.Sandbox.Videos(), "nothing was uploaded")
}

// TestUploadStdinTerminal checks that upload - with a terminal on standard
// input says what it waits for instead of waiting silently.
func TestUploadStdinTerminal(t *testing.T) {
	defer func(old func(io.Reader) bool) { stdinIsTerminal = old }(stdinIsTerminal)
	stdinIsTerminal = func(io.Reader) bool { return true }
	code, out, errw := runEnv(t, map[string]string{envToken: "to1"}, "upload", "-")
	assert.Equal(t, exitUsage, code)
	assert.Empty(t, out)
	assert.Contains(t, errw, "- reads the video from standard input, which is this terminal: pipe or redirect the video to it (avupload upload - < movie.mp4), or name the file")
}

// TestUploadTokenWithBlanks checks that a token with a line break or blanks
// around it, as a file or a copy and paste leave it, is taken trimmed.
func TestUploadTokenWithBlanks(t *testing.T) {
	srv := sandboxtest.NewServer(t)
	token, err := srv.Sandbox.CreateToken(0)
	require.NoError(t, err)
	file := filepath.Join(t.TempDir(), "one.mp4")
	require.NoError(t, os.WriteFile(file, []byte("a small video"), 0o600))
	for _, args := range [][]string{{"--token", " " + token + "\n", file}, {file}} {
		code, out, errw := runEnv(t, map[string]string{envBaseURL: srv.URL, envToken: token + "\r\n"}, append([]string{"upload", "-q"}, args...)...)
		require.Equal(t, exitOK, code, errw)
		assert.Regexp(t, `^vi\w+\n$`, out)
	}
	assert.Len(t, srv.Sandbox.Videos(), 2)
}

// TestUploadOneFileWithAPIKey uploads one file with the API key and no
// token, as a batch does: a token is minted for it and deleted at the end.
func TestUploadOneFileWithAPIKey(t *testing.T) {
	const key = "one-file-key"
	srv := sandboxtest.NewServer(t, sandbox.WithAPIKeys(key))
	file := filepath.Join(t.TempDir(), "one.mp4")
	data := bytes.Repeat([]byte("avupload"), 1<<10)
	require.NoError(t, os.WriteFile(file, data, 0o600))
	env := map[string]string{envBaseURL: srv.URL, envAPIKey: key}
	code, out, errw := runEnv(t, env, "upload", file)
	require.Equal(t, exitOK, code, errw)
	assert.Regexp(t, `(?m)^video id +vi\w+$`, out)
	assert.Regexp(t, `(?m)^sha256 +[0-9a-f]{64}$`, out)
	require.Len(t, srv.Sandbox.Videos(), 1)
	assert.Equal(t, 1, srv.Sandbox.Stats().Count(sandbox.OpCreateUploadToken), "one token minted")

	code, out, errw = runEnv(t, env, "token", "list", "-q")
	require.Equal(t, exitOK, code, errw)
	assert.Empty(t, strings.TrimSpace(out), "the minted token is deleted")
	assert.NotContains(t, errw, key)
}

// TestUploadAlways503 checks that an upload the server keeps refusing with
// 503 ends with the server's status and the retries made.
func TestUploadAlways503(t *testing.T) {
	var requests atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		requests.Add(1)
		w.WriteHeader(http.StatusServiceUnavailable)
	}))
	t.Cleanup(srv.Close)
	file := filepath.Join(t.TempDir(), "one.mp4")
	require.NoError(t, os.WriteFile(file, []byte("a small video"), 0o600))
	code, _, errw := runEnv(t, map[string]string{envBaseURL: srv.URL, envToken: "to1"}, "upload", file)
	assert.Equal(t, exitFailure, code)
	assert.Contains(t, errw, "503")
	assert.Contains(t, errw, "(given up after 3 retries)")
	assert.Equal(t, int32(4), requests.Load())
}

// closedStdout is a standard output whose reader is gone.
type closedStdout struct{}

func (closedStdout) Write([]byte) (int, error) { return 0, syscall.EPIPE }

// TestUploadResultLost checks that one file uploaded whose result cannot be
// written to standard output exits 1, naming the video, whatever the
// output format: the upload is done, but a script reading its result has
// nothing.
func TestUploadResultLost(t *testing.T) {
	srv := sandboxtest.NewServer(t)
	token, err := srv.Sandbox.CreateToken(0)
	require.NoError(t, err)
	file := filepath.Join(t.TempDir(), "one.mp4")
	require.NoError(t, os.WriteFile(file, []byte("a small video"), 0o600))
	for _, format := range []string{"", "--json", "-q"} {
		var errw bytes.Buffer
		args := []string{"upload", "--base-url", srv.URL, "--token", token, file}
		if format != "" {
			args = append(args, format)
		}
		code := run(context.Background(), args, stdio{strings.NewReader(""), closedStdout{}, &errw}, func(string) string { return "" })
		assert.Equal(t, exitFailure, code, format)
		assert.Regexp(t, `(?m)^avupload: video vi\w+ is uploaded, but standard output was closed \(broken pipe\): its result is lost$`, errw.String(), format)
	}
	assert.Len(t, srv.Sandbox.Videos(), 3)
}

// TestUploadRefusesTheKeyAsToken checks that an API key given as the
// upload token, and an empty --video-id, are refused in the user's words
// before anything is sent.
func TestUploadRefusesTheKeyAsToken(t *testing.T) {
	file := filepath.Join(t.TempDir(), "one.mp4")
	require.NoError(t, os.WriteFile(file, []byte("a small video"), 0o600))
	env := map[string]string{envBaseURL: "http://127.0.0.1:1", envAPIKey: "the-secret-key", envToken: "the-secret-key"}
	code, out, errw := runEnv(t, env, "upload", file)
	assert.Equal(t, exitUsage, code)
	assert.Empty(t, out)
	assert.Contains(t, errw, "the upload token (--token or AVUPLOAD_TOKEN) is the API key ($APIVIDEO_API_KEY)")
	assert.NotContains(t, errw, "the-secret-key")

	code, _, errw = runEnv(t, map[string]string{envToken: "to1"}, "upload", "--video-id", "", file)
	assert.Equal(t, exitUsage, code)
	assert.Contains(t, errw, "--video-id wants the id of a video, got an empty one")
}
