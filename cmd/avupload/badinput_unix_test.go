//go:build unix

package main

import (
	"bufio"
	"errors"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/avupload/avupload/sandbox/sandboxtest"
)

// The bad inputs of issue 23 that need a process of their own: a real
// standard output that fails, a real SIGINT, and the proxy, which net/http
// reads from the environment once per process.

// exitCodeOf returns the exit code of a finished command.
func exitCodeOf(t *testing.T, err error) int {
	t.Helper()
	if err == nil {
		return 0
	}
	var exitErr *exec.ExitError
	require.True(t, errors.As(err, &exitErr), "%v", err)
	return exitErr.ExitCode()
}

// TestStdoutFailsForReal runs 'token create -q >/dev/full' and 'token list
// >&-' in a shell: both exit 1 saying why.
func TestStdoutFailsForReal(t *testing.T) {
	if _, err := os.Stat("/dev/full"); err != nil {
		t.Fatalf("this system has no /dev/full: %v", err)
	}
	srv := sandboxtest.NewServer(t)
	bin := avuploadBinary(t)
	tests := []struct {
		script string
		want   string
	}{
		{"avupload token create -q >/dev/full", "avupload: could not write the token to standard output: no space left on device; the token was minted at "},
		{"avupload token list >&-", "avupload: could not write to standard output: it is closed\n"},
		{"avupload token list --json >/dev/full", "avupload: could not write to standard output: no space left on device\n"},
	}
	for _, tt := range tests {
		t.Run(tt.script, func(t *testing.T) {
			cmd := exec.Command("/bin/sh", "-c", tt.script)
			cmd.Env = []string{"PATH=" + bin + ":/usr/bin:/bin", "APIVIDEO_API_KEY=" + srv.APIKey, "AVUPLOAD_BASE_URL=" + srv.URL, "GORACE=atexit_sleep_ms=0"}
			var stderr strings.Builder
			cmd.Stderr = &stderr
			err := cmd.Run()
			assert.Equal(t, exitFailure, exitCodeOf(t, err), stderr.String())
			assert.Contains(t, stderr.String(), tt.want)
		})
	}
}

// TestSandboxSIGINTExitsZero sends a real SIGINT to a running sandbox: it
// shuts down and exits 0, as its help says (its normal end).
func TestSandboxSIGINTExitsZero(t *testing.T) {
	bin := avuploadBinary(t)
	cmd := exec.Command(filepath.Join(bin, "avupload"), "sandbox", "--addr", "127.0.0.1:0")
	cmd.Env = []string{"GORACE=atexit_sleep_ms=0", "TMPDIR=" + t.TempDir()}
	stdout, err := cmd.StdoutPipe()
	require.NoError(t, err)
	require.NoError(t, cmd.Start())
	lines := bufio.NewScanner(stdout)
	require.True(t, lines.Scan())
	require.Contains(t, lines.Text(), "sandbox listening on")
	go func() { _, _ = io.Copy(io.Discard, stdout) }()
	require.NoError(t, cmd.Process.Signal(os.Interrupt))
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case err := <-done:
		assert.Equal(t, exitOK, exitCodeOf(t, err))
	case <-time.After(15 * time.Second):
		_ = cmd.Process.Kill()
		t.Fatal("the sandbox did not stop on SIGINT")
	}
}

// TestProxyNamed goes through a proxy that refuses CONNECT (as python's
// http.server does, with 501 "Unsupported method ('CONNECT')"), and through
// one that is not there: the message names the proxy and its variable.
func TestProxyNamed(t *testing.T) {
	// net/http reports a refused CONNECT by the reason after the code.
	proxy := &http.Server{ReadHeaderTimeout: 5 * time.Second, Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c, buf, err := http.NewResponseController(w).Hijack()
		if err != nil {
			return
		}
		defer c.Close()
		_, _ = buf.WriteString("HTTP/1.0 501 Unsupported method ('CONNECT')\r\nContent-Length: 0\r\n\r\n")
		_ = buf.Flush()
	})}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	go func() { _ = proxy.Serve(ln) }()
	t.Cleanup(func() { _ = proxy.Close() })
	bin := avuploadBinary(t)
	tests := []struct {
		name string
		env  string
		want *regexp.Regexp
	}{
		{"refuses CONNECT", "HTTPS_PROXY=http://user:pw@" + ln.Addr().String(), regexp.MustCompile(
			`^avupload: cannot reach the server at https://api\.example\.test through the proxy http://` + regexp.QuoteMeta(ln.Addr().String()) +
				` \(from \$HTTPS_PROXY\): the proxy answered "Unsupported method \('CONNECT'\)"; check \$HTTPS_PROXY, or unset it to connect directly\n$`)},
		{"not there", "https_proxy=http://127.0.0.1:1", regexp.MustCompile(
			`^avupload: cannot reach the proxy http://127\.0\.0\.1:1 \(from \$https_proxy\) to get to https://api\.example\.test: connection refused; check \$https_proxy, or unset it to connect directly\n$`)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cmd := exec.Command(filepath.Join(bin, "avupload"), "token", "list", "--base-url", "https://api.example.test")
			cmd.Env = []string{"APIVIDEO_API_KEY=" + longKey, "GORACE=atexit_sleep_ms=0", tt.env}
			var stderr strings.Builder
			cmd.Stderr = &stderr
			err := cmd.Run()
			assert.Equal(t, exitFailure, exitCodeOf(t, err), stderr.String())
			assert.Regexp(t, tt.want, stderr.String())
			assert.NotContains(t, stderr.String(), "pw", "no proxy password")
		})
	}
}
