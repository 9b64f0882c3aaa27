package e2e

import (
	"bytes"
	"context"
	"errors"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"

	"github.com/stretchr/testify/require"
)

// binDir is where the avupload binary is built, once per package run.
var binDir string

var (
	buildOnce sync.Once
	buildErr  error
	buildOut  []byte
)

// cliBinary builds cmd/avupload without the race detector (the tests drive
// the real program, at its real speed) and returns its path.
func cliBinary(t testing.TB) string {
	t.Helper()
	bin := filepath.Join(binDir, "avupload")
	if runtime.GOOS == "windows" {
		bin += ".exe" // Windows runs only files with an executable's extension
	}
	buildOnce.Do(func() {
		gobin, err := exec.LookPath("go")
		if err != nil {
			buildErr = err
			return
		}
		cmd := exec.Command(gobin, "build", "-o", bin, "github.com/avupload/avupload/cmd/avupload")
		cmd.Dir = ".."
		buildOut, buildErr = cmd.CombinedOutput()
	})
	require.NoError(t, buildErr, "building avupload: %s", buildOut)
	return bin
}

// cliEnv is the environment the binary runs with: the test's, without any
// credential nor the server and certificate a developer's shell may point
// at a sandbox (README, first five minutes), plus extra.
func cliEnv(extra ...string) []string {
	var env []string
	for _, kv := range os.Environ() {
		if strings.HasPrefix(kv, "APIVIDEO_API_KEY=") || strings.HasPrefix(kv, "AVUPLOAD_TOKEN=") ||
			strings.HasPrefix(kv, "AVUPLOAD_BASE_URL=") || strings.HasPrefix(kv, "AVUPLOAD_CACERT=") {
			continue
		}
		env = append(env, kv)
	}
	return append(env, extra...)
}

// cliRun is one finished run of the binary.
type cliRun struct {
	stdout, stderr string
	code           int
}

// runCLI runs the binary to its end and returns what it printed and its
// exit code.
func runCLI(t testing.TB, env []string, args ...string) cliRun {
	t.Helper()
	return runCLIWith(t, env, nil, args...)
}

// runCLIWith is runCLI with stdin as the standard input.
func runCLIWith(t testing.TB, env []string, stdin io.Reader, args ...string) cliRun {
	t.Helper()
	cmd := exec.CommandContext(context.Background(), cliBinary(t), args...)
	cmd.Env = env
	cmd.Stdin = stdin
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	code := 0
	if exit := (*exec.ExitError)(nil); errors.As(err, &exit) {
		code = exit.ExitCode()
	} else {
		require.NoError(t, err)
	}
	return cliRun{stdout: stdout.String(), stderr: stderr.String(), code: code}
}
