package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/spf13/cobra"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/avupload/avupload/sandbox"
	"github.com/avupload/avupload/sandbox/sandboxtest"
	"github.com/avupload/avupload/wrapper"
)

func TestExitCode(t *testing.T) {
	live := context.Background()
	cancelled, cancel := context.WithCancel(context.Background())
	cancel()
	apiErr := &wrapper.APIError{StatusCode: http.StatusUnauthorized, Title: "The upload token is invalid or expired."}
	tests := []struct {
		name string
		ctx  context.Context
		err  error
		want int
	}{
		{"success", live, nil, exitOK},
		{"API error", live, commandError{apiErr}, exitFailure},
		{"I/O error", live, commandError{os.ErrNotExist}, exitFailure},
		{"cobra refused the command line", live, errors.New(`unknown command "x" for "avupload"`), exitUsage},
		{"flag error", live, usageError{errors.New("unknown flag: --x")}, exitUsage},
		{"usage error from a command", live, commandError{usagef("--page 0")}, exitUsage},
		{"input the library refused", live, commandError{fmt.Errorf("%w: chunk size", wrapper.ErrInvalidInput)}, exitUsage},
		{"interrupted upload", cancelled, commandError{&interruptedError{done: "0 B"}}, exitInterrupted},
		{"interrupted token call", cancelled, commandError{&wrapper.OpError{Op: "listUploadTokens", Err: context.Canceled}}, exitInterrupted},
		{"cancellation without a signal", live, commandError{context.Canceled}, exitFailure},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			assert.Equal(t, tt.want, exitCode(tt.ctx, tt.err))
		})
	}
}

func TestDescribe(t *testing.T) {
	root := newRootCommand()
	addCommands(root, &app{getenv: func(string) string { return "" }})
	command := func(path ...string) *cobra.Command {
		cmd, _, err := root.Find(path)
		require.NoError(t, err)
		return cmd
	}
	upload, list, create, get := command("upload"), command("token", "list"), command("token", "create"), command("token", "get")
	tests := []struct {
		name string
		cmd  *cobra.Command
		err  error
		want string
	}{
		{"API title", upload, commandError{&wrapper.APIError{Op: "uploadWithUploadToken", StatusCode: 401, Title: "The upload token is invalid or expired."}},
			"The upload token is invalid or expired."},
		{"API title and detail", upload, &wrapper.APIError{StatusCode: 400, Title: "The range overlaps.", Detail: "bytes 0-9 already sent"},
			"The range overlaps: bytes 0-9 already sent"},
		{"API error without a body", upload, &wrapper.APIError{Op: "uploadWithUploadToken", StatusCode: 502},
			"POST https://ws.api.video/upload: the server answered 502 Bad Gateway"},
		{"404 without a problem document", list, &wrapper.APIError{Op: "listUploadTokens", StatusCode: 404},
			"the server at https://ws.api.video does not speak the api.video API: it answered 404 Not Found to GET /upload-tokens; is --base-url right?"},
		{"404 where the API has none", create, &wrapper.APIError{Op: "createUploadToken", StatusCode: 404, Title: "The requested resource was not found."},
			"POST https://ws.api.video/upload-tokens: The requested resource was not found; is --base-url right?"},
		{"404 for a token", get, &wrapper.APIError{Op: "getUploadToken", StatusCode: 404, Title: "The requested resource was not found."},
			"The requested resource was not found."},
		{"404 for a token, not from the API", get, &wrapper.APIError{Op: "getUploadToken", StatusCode: 404},
			"the server at https://ws.api.video does not speak the api.video API: it answered 404 Not Found to GET /upload-tokens/TOKEN; is --base-url right?"},
		{"no answer", list, &wrapper.OpError{Op: "listUploadTokens", Err: &url.Error{Op: "Get", URL: "https://ws.api.video/upload-tokens",
			Err: &net.OpError{Op: "dial", Net: "tcp", Err: os.NewSyscallError("connect", syscall.ECONNREFUSED)}}},
			"cannot reach the server at https://ws.api.video: connection refused"},
		{"no such host", upload, &wrapper.OpError{Op: "uploadWithUploadToken", Err: &url.Error{Op: "Post", URL: "https://nosuch.example/upload?token=REDACTED",
			Err: &net.OpError{Op: "dial", Net: "tcp", Err: &net.DNSError{Err: "no such host", Name: "nosuch.example"}}}},
			"cannot reach the server at https://ws.api.video: cannot find host nosuch.example: no such host"},
		{"library prefixes dropped", nil, fmt.Errorf("avupload: reading: %w", os.ErrNotExist), "reading: file does not exist"},
		{"library's invalid input dropped", nil, fmt.Errorf("%w: refusing to send the API key over plain http", wrapper.ErrInvalidInput),
			"refusing to send the API key over plain http"},
		{"one line", nil, errors.New("first\nsecond"), "first second"},
		{"no system call", nil, fmt.Errorf("planning: %w", &fs.PathError{Op: "stat", Path: "missing.mp4", Err: syscall.ENOENT}),
			"planning: missing.mp4: no such file or directory"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			assert.Equal(t, tt.want, describe(tt.err, tt.cmd))
		})
	}
}

func TestRedact(t *testing.T) {
	a := &app{}
	a.secret("")
	a.secret("my-secret-key")
	assert.Equal(t, "key REDACTED refused", a.redact("key my-secret-key refused"))
	assert.Equal(t, "xREDACTEDx", a.redact("xmy-secret-keyx"), "a long secret is redacted even inside a word")

	short := &app{}
	short.secret("t")
	short.secret("k1")
	tests := map[string]string{
		"--base-url ::: want a URL":        "--base-url ::: want a URL",
		"token t refused":                  "token REDACTED refused",
		"t t:t":                            "REDACTED REDACTED:REDACTED",
		"upload?token=t&x=1":               "upload?token=REDACTED&x=1",
		"the API key k1 is invalid":        "the API key REDACTED is invalid",
		"k1k1 and token-t are other words": "k1k1 and token-t are other words",
	}
	for in, want := range tests {
		assert.Equal(t, want, short.redact(in), in)
	}
}

func TestFormatTTL(t *testing.T) {
	tests := map[time.Duration]string{
		0:                          "none",
		45 * time.Second:           "45s",
		90 * time.Second:           "1m30s",
		time.Hour:                  "1h",
		time.Hour + 30*time.Minute: "1h30m",
		time.Hour + time.Second:    "1h0m1s",
		24 * time.Hour:             "24h",
		10 * time.Minute:           "10m",
	}
	for d, want := range tests {
		assert.Equal(t, want, formatTTL(d), "formatTTL(%s)", d)
	}
}

// TestInterruptedUploadExits130 cancels an upload in process, as SIGINT
// does, and checks the exit code and the saved state.
func TestInterruptedUploadExits130(t *testing.T) {
	// Checked after the server closed, which ends the client's connections.
	t.Cleanup(func() { goleak.VerifyNone(t) })
	srv := sandboxtest.NewServer(t)
	token, err := srv.Sandbox.CreateToken(time.Hour)
	require.NoError(t, err)
	// The first chunk goes through; the second waits for the rate-limit window.
	for i := 2; i <= 9; i++ {
		srv.Sandbox.AddFaults(sandbox.Fault{Op: sandbox.OpUploadWithUploadToken, Request: i, Kind: sandbox.FaultStatus, Status: http.StatusTooManyRequests})
	}
	dir := t.TempDir()
	file, state := filepath.Join(dir, "video.bin"), filepath.Join(dir, "video.state")
	require.NoError(t, os.WriteFile(file, bytes.Repeat([]byte("avupload"), 8<<20/8), 0o600))

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var stdout, stderr bytes.Buffer
	done := make(chan int, 1)
	go func() {
		done <- run(ctx, []string{"upload", "--token", token, "--chunk-size", "5MiB", "--state-file", state,
			"--base-url", srv.URL, file}, stdio{strings.NewReader(""), &stdout, &stderr}, func(string) string { return "" })
	}()
	require.Eventually(t, func() bool {
		return srv.Sandbox.Stats().CountStatus(sandbox.OpUploadWithUploadToken, http.StatusTooManyRequests) > 0
	}, 10*time.Second, 10*time.Millisecond)
	cancel()

	select {
	case code := <-done:
		assert.Equal(t, exitInterrupted, code)
	case <-time.After(10 * time.Second):
		t.Fatal("the upload did not stop after cancellation")
	}
	assert.Empty(t, stdout.String())
	assert.Contains(t, stderr.String(), "avupload: upload interrupted after 5.0 MiB of 8.0 MiB (video vi")
	assert.Contains(t, stderr.String(), "state saved in "+state+": run the same command again to resume")
	assert.NotContains(t, stderr.String(), token)
	assert.FileExists(t, state)
}

func TestTTLFlag(t *testing.T) {
	d := defaultTTL
	f := ttlFlag{&d}
	assert.Equal(t, "1h", f.String(), "the default shows in the help")
	tests := []struct {
		in   string
		want time.Duration
		err  string
	}{
		{"0", 0, ""},
		{"90s", 90 * time.Second, ""},
		{"596523h14m7s", wrapper.MaxTokenTTL, ""},
		{"596523h14m8s", 0, "too long: at most 596523h14m7s (2147483647 seconds)"},
		{"100000000h", 0, "too long: at most 596523h14m7s (2147483647 seconds)"},
		{"-1s", 0, "a lifetime cannot be negative; 0 makes a token that never expires"},
		{"1500ms", 0, "want whole seconds"},
		{"soon", 0, "want a duration such as 90s, 30m or 2h, or 0 for a token that never expires"},
		{"", 0, "want a duration such as 90s, 30m or 2h, or 0 for a token that never expires"},
	}
	for _, tt := range tests {
		d = time.Minute
		err := f.Set(tt.in)
		if tt.err != "" {
			assert.EqualError(t, err, tt.err, tt.in)
			assert.Equal(t, time.Minute, d, "a refused value leaves the flag alone")
			continue
		}
		require.NoError(t, err, tt.in)
		assert.Equal(t, tt.want, d, tt.in)
	}
	d = 0
	assert.Equal(t, "0", f.String())
}

func TestConcurrencyFlag(t *testing.T) {
	n := 7
	f := newConcurrencyFlag(&n)
	assert.Zero(t, n, "auto by default: the library chooses")
	assert.Equal(t, "auto", f.String())
	assert.Equal(t, "concurrency", f.Type())
	tests := []struct {
		in   string
		want int
		err  string
	}{
		{"auto", 0, ""},
		{" AUTO ", 0, ""},
		{"1", 1, ""},
		{"3", 3, ""},
		{strconv.Itoa(wrapper.MaxConcurrency), wrapper.MaxConcurrency, ""},
		{"0", 0, "want 1 to 64, or auto"},
		{"-1", 0, "want 1 to 64, or auto"},
		{strconv.Itoa(wrapper.MaxConcurrency + 1), 0, "want 1 to 64, or auto"},
		{"two", 0, "want a whole number from 1 to 64, or auto"},
		{"", 0, "want a whole number from 1 to 64, or auto"},
		{"99999999999999999999", 0, strconv.ErrRange.Error()},
	}
	for _, tt := range tests {
		n = 5
		err := f.Set(tt.in)
		if tt.err != "" {
			require.Error(t, err, tt.in)
			assert.Contains(t, err.Error(), tt.err, tt.in)
			assert.Equal(t, 5, n, "a refused value leaves the flag alone")
			continue
		}
		require.NoError(t, err, tt.in)
		assert.Equal(t, tt.want, n, tt.in)
		assert.Equal(t, map[bool]string{true: "auto", false: strconv.Itoa(tt.want)}[tt.want == 0], f.String())
	}
}

// TestUploadHelpSaysTheDefaults checks that the help of upload names the
// library's default concurrency for a file (where it starts and how far it
// grows) and for standard input, the default chunk size, and the --http2
// flag.
func TestUploadHelpSaysTheDefaults(t *testing.T) {
	var stdout bytes.Buffer
	code := run(context.Background(), []string{"upload", "--help"}, stdio{strings.NewReader(""), &stdout, io.Discard}, func(string) string { return "" })
	require.Equal(t, exitOK, code)
	help := stdout.String()
	assert.Contains(t, help, "--concurrency N ")
	assert.Contains(t, help, fmt.Sprintf("1 to %d, or auto (default auto: %d from a file at first, growing to %d while that sends more; %d from standard input)\n",
		wrapper.MaxConcurrency, wrapper.DefaultConcurrency, wrapper.DefaultMaxConcurrency, wrapper.DefaultStreamConcurrency))
	assert.Contains(t, help, "or auto (default auto: a file of at most 50MiB in one request")
	assert.NotContains(t, help, "(default auto)", "the default is said once")
	assert.Contains(t, help, fmt.Sprintf("By default (auto)\n%d go at once from a file at first", wrapper.DefaultConcurrency))
	assert.Contains(t, help, fmt.Sprintf("up to %d, and one fewer when the server pushes back", wrapper.DefaultMaxConcurrency))
	assert.Contains(t, help, fmt.Sprintf("%d from standard\ninput", wrapper.DefaultStreamConcurrency))
	assert.Regexp(t, `--http2 +multiplex chunks over one HTTP/2 connection when the server offers it; by default each chunk in flight has its own HTTP/1.1 connection\n`, help)
}

func TestTokenPrefix(t *testing.T) {
	assert.Equal(t, "to1tcm...", tokenPrefix("to1tcmSFHeYY5KzyhOqVKMKb"))
	assert.Equal(t, `"a/b"`, tokenPrefix("a/b"))
	assert.Equal(t, "to1tcm...", tokenPrefix("to1tcm\xffxyz"), "never half a character")
}

func TestTokenNotFound(t *testing.T) {
	gone := &wrapper.APIError{Op: "getUploadToken", StatusCode: 404, Title: "The requested resource was not found."}
	err := tokenNotFound(gone, "to1tcmSFHeYY5KzyhOqVKMKb")
	assert.EqualError(t, err, "no upload token to1tcm...: it may have expired or been deleted")
	assert.NotContains(t, err.Error(), "to1tcmSFHeYY5KzyhOqVKMKb")

	notAPI := &wrapper.APIError{Op: "getUploadToken", StatusCode: 404}
	assert.Same(t, notAPI, tokenNotFound(notAPI, "to1tcmSFHeYY5KzyhOqVKMKb"), "a 404 that is not the API's is left alone")
	other := &wrapper.APIError{Op: "getUploadToken", StatusCode: 401, Title: "The API key is invalid."}
	assert.Same(t, other, tokenNotFound(other, "to1tcmSFHeYY5KzyhOqVKMKb"))
}

func TestFlagErrorWords(t *testing.T) {
	tests := []struct {
		args []string
		want string
	}{
		{[]string{"token", "list", "--page", "x"}, "--page x: want a whole number"},
		{[]string{"token", "list", "--page", "99999999999999999999"}, "--page 99999999999999999999: too large"},
		{[]string{"token", "list", "--page", "-99999999999999999999"}, "--page -99999999999999999999: too small"},
		{[]string{"token", "list", "--json=maybe"}, "--json maybe: want true or false"},
		{[]string{"token", "list", "--page-size", ""}, `--page-size "": want a whole number`},
		{[]string{"upload", "--concurrency", "two", "f"}, "--concurrency two: want a whole number from 1 to 64, or auto"},
		{[]string{"upload", "--concurrency", "0", "f"}, "--concurrency 0: want 1 to 64, or auto"},
		{[]string{"upload", "--concurrency", "-1", "f"}, "--concurrency -1: want 1 to 64, or auto"},
		{[]string{"upload", "--concurrency", "65", "f"}, "--concurrency 65: want 1 to 64, or auto"},
		{[]string{"upload", "--concurrency", "-99999999999999999999", "f"}, "--concurrency -99999999999999999999: too small"},
		{[]string{"token", "create", "--ttl", "soon"}, "--ttl soon: want a duration such as 90s, 30m or 2h, or 0 for a token that never expires"},
	}
	for _, tt := range tests {
		var stderr bytes.Buffer
		code := run(context.Background(), tt.args, stdio{strings.NewReader(""), io.Discard, &stderr}, func(string) string { return "" })
		assert.Equal(t, exitUsage, code, tt.args)
		assert.Equal(t, "avupload: "+tt.want, strings.SplitN(stderr.String(), "\n", 2)[0], tt.args)
		assert.NotContains(t, stderr.String(), "strconv")
	}
}
