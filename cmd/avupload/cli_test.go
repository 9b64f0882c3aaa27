package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

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
	tests := []struct {
		name string
		err  error
		want string
	}{
		{"API title", commandError{&wrapper.APIError{Op: "uploadWithUploadToken", StatusCode: 401, Title: "The upload token is invalid or expired."}},
			"The upload token is invalid or expired."},
		{"API title and detail", &wrapper.APIError{StatusCode: 400, Title: "The range overlaps.", Detail: "bytes 0-9 already sent"},
			"The range overlaps: bytes 0-9 already sent"},
		{"API error without a body", &wrapper.APIError{StatusCode: 502}, "the server answered 502"},
		{"library prefixes dropped", fmt.Errorf("avupload: opening the source: %w", os.ErrNotExist), "opening the source: file does not exist"},
		{"one line", errors.New("first\nsecond"), "first second"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			assert.Equal(t, tt.want, describe(tt.err))
		})
	}
}

func TestRedact(t *testing.T) {
	a := &app{}
	a.secret("")
	a.secret("my-secret-key")
	assert.Equal(t, "key REDACTED refused", a.redact("key my-secret-key refused"))
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

func TestProgressPlainLines(t *testing.T) {
	var out bytes.Buffer
	p := newProgress(&out, false)
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	p.now = func() time.Time { return now }

	p.update(10<<20, 40<<20) // resumed: 10 MiB already there
	now = now.Add(500 * time.Millisecond)
	p.update(15<<20, 40<<20) // too soon for another line
	now = now.Add(time.Second)
	p.update(20<<20, 40<<20)
	now = now.Add(100 * time.Millisecond)
	p.update(40<<20, 40<<20) // the last count is always shown

	lines := strings.Split(strings.TrimSpace(out.String()), "\n")
	require.Len(t, lines, 3, out.String())
	assert.Equal(t, "uploaded 10.0 MiB of 40.0 MiB (25%)", lines[0])
	assert.Equal(t, "uploaded 20.0 MiB of 40.0 MiB (50%), 6.7 MiB/s", lines[1], "the rate leaves resumed bytes out")
	assert.Equal(t, "uploaded 40.0 MiB of 40.0 MiB (100%), 18.8 MiB/s", lines[2])
	assert.Equal(t, "40.0 MiB of 40.0 MiB", p.done())

	var quiet bytes.Buffer
	q := newProgress(&quiet, true)
	q.update(1, 2)
	q.update(2, 2)
	assert.Empty(t, quiet.String())
	assert.Equal(t, "2 B of 2 B", q.done(), "quiet progress still counts")
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
