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

	exe, err := os.Executable()
	require.NoError(t, err)
	bin := t.TempDir()
	require.NoError(t, os.Symlink(exe, filepath.Join(bin, "avupload")))
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
				_ = sb.Wait()
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
