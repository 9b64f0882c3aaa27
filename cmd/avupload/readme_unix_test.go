//go:build unix

package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/avupload/avupload/internal/testutil"
)

// readmeBlocks returns the sh blocks of README.md that follow the comment
// <!-- first-five-minutes: KIND -->, in order, with their kind.
func readmeBlocks(t *testing.T) (kinds, blocks []string) {
	t.Helper()
	readme, err := os.ReadFile("../../README.md")
	require.NoError(t, err)
	re := regexp.MustCompile("(?s)<!-- first-five-minutes: (\\w+) -->\n```sh\n(.*?)```")
	for _, m := range re.FindAllStringSubmatch(string(readme), -1) {
		kinds = append(kinds, m[1])
		blocks = append(blocks, m[2])
	}
	return kinds, blocks
}

// avuploadBinary returns a directory holding avupload: the test binary,
// which plays it (see TestMain).
func avuploadBinary(t *testing.T) string {
	t.Helper()
	exe, err := os.Executable()
	require.NoError(t, err)
	bin := t.TempDir()
	require.NoError(t, os.Symlink(exe, filepath.Join(bin, "avupload")))
	return bin
}

// TestSSLCertFileKeepsWorking checks, in processes of their own (Go reads
// SSL_CERT_FILE once per process), that SSL_CERT_FILE makes the CLI trust
// a certificate, as documented, and that --cacert adds to it.
func TestSSLCertFileKeepsWorking(t *testing.T) {
	srv, ca := tlsSandbox(t)
	_, otherCA := tlsSandbox(t)
	bin := avuploadBinary(t)
	tests := []struct {
		name   string
		env    []string
		args   []string
		failed bool
	}{
		{name: "untrusted", failed: true},
		{name: "SSL_CERT_FILE", env: []string{"SSL_CERT_FILE=" + ca}},
		{name: "--cacert adds to SSL_CERT_FILE", env: []string{"SSL_CERT_FILE=" + ca}, args: []string{"--cacert", otherCA}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cmd := exec.Command(filepath.Join(bin, "avupload"), append([]string{"token", "list", "--base-url", srv.URL}, tt.args...)...)
			cmd.Env = append([]string{"APIVIDEO_API_KEY=" + srv.APIKey, "GORACE=atexit_sleep_ms=0"}, tt.env...)
			out, err := cmd.CombinedOutput()
			if tt.failed {
				require.Error(t, err)
				assert.Contains(t, string(out), "certificate")
				return
			}
			require.NoError(t, err, "%s", out)
			assert.Contains(t, string(out), "TOKEN")
		})
	}
}

// TestReadmeFirstFiveMinutes runs the README's "first five minutes" as a
// user pastes it: each sandbox block in a process of its own, whose export
// lines are pasted before the client block that follows it, run by sh. The
// test binary plays avupload. Only the sandbox's address differs (port 0,
// as 8080 may be taken). Production is unreachable: the proxy variables
// point at a closed port, and only loopback bypasses them. Every "the log
// says: X" comment of a block must hold.
func TestReadmeFirstFiveMinutes(t *testing.T) {
	kinds, blocks := readmeBlocks(t)
	require.Equal(t, []string{"sandbox", "client", "sandbox", "client"}, kinds, "the section's blocks, in order")

	bin := avuploadBinary(t)
	env := []string{
		"PATH=" + bin + string(os.PathListSeparator) + os.Getenv("PATH"),
		"HOME=" + t.TempDir(),
		"HTTPS_PROXY=http://127.0.0.1:9", "HTTP_PROXY=http://127.0.0.1:9", // production would fail
		"GORACE=atexit_sleep_ms=0",
	}

	for i := 0; i < len(blocks); i += 2 {
		sandboxLine := strings.TrimSpace(blocks[i])
		t.Run(sandboxLine, func(t *testing.T) {
			dir := t.TempDir()
			sb := exec.Command("sh", "-c", "exec "+sandboxLine+" --addr 127.0.0.1:0")
			sb.Dir, sb.Env = dir, env
			out := &testutil.SyncBuffer{}
			sb.Stdout, sb.Stderr = out, out
			require.NoError(t, sb.Start())
			t.Cleanup(func() {
				_ = sb.Process.Signal(syscall.SIGINT)
				stopped := time.AfterFunc(10*time.Second, func() { _ = sb.Process.Kill() })
				_ = sb.Wait()
				assert.True(t, stopped.Stop(), "the sandbox stops on SIGINT within 10s")
			})
			want := 2
			if strings.Contains(sandboxLine, "--tls") {
				want = 3 // and the certificate
			}
			var exports []string
			require.Eventually(t, func() bool {
				exports = regexp.MustCompile(`(?m)^export .*$`).FindAllString(out.String(), -1)
				return len(exports) == want && strings.HasSuffix(out.String(), "\n")
			}, 20*time.Second, 20*time.Millisecond, "the sandbox prints %d export lines: %s", want, out)

			script := "set -e\n" + strings.Join(exports, "\n") + "\n" + blocks[i+1]
			client := exec.Command("sh", "-c", script)
			client.Dir, client.Env = dir, env
			got, err := client.CombinedOutput()
			require.NoError(t, err, "the block as pasted:\n%s\noutput:\n%s\nsandbox:\n%s", script, got, out)
			assert.Contains(t, string(got), "video id", "the upload's result")
			for _, m := range regexp.MustCompile(`# the log says: (.*)`).FindAllStringSubmatch(blocks[i+1], -1) {
				assert.Contains(t, string(got), m[1])
			}
			assert.NotContains(t, string(got), "127.0.0.1:9", "nothing went to the proxy, that is to production")
		})
	}
}
