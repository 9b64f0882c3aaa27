//go:build linux

package main

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"os"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/avupload/avupload/internal/pipe"
	"github.com/avupload/avupload/sandbox/sandboxtest"
)

// TestUploadWidensStandardInput checks that `upload -` widens the pipe its
// standard input is (the library cannot: it sees the pipe through the
// CLI's buffered reader), and that the bytes arrive whole.
func TestUploadWidensStandardInput(t *testing.T) {
	srv := sandboxtest.NewServer(t)
	token, err := srv.Sandbox.CreateToken(0)
	require.NoError(t, err)
	pr, pw, err := os.Pipe()
	require.NoError(t, err)
	defer pr.Close()
	before, err := pipe.BufferSize(pw)
	require.NoError(t, err)
	require.Less(t, before, pipe.Size, "a new pipe")

	data := bytes.Repeat([]byte("avupload stdin "), 1<<16) // about 1 MiB
	seen := make(chan int, 1)
	go func() {
		_, _ = pw.Write(data[:1])
		// The upload widens the pipe before it first reads it; what the
		// writer sees of the buffer meanwhile is the pipe's size. (Not
		// size(): require may not stop the test from this goroutine.)
		widened, _ := pipe.BufferSize(pw)
		for i := 0; i < 200 && widened < pipe.Size; i++ {
			time.Sleep(10 * time.Millisecond)
			widened, _ = pipe.BufferSize(pw)
		}
		seen <- widened
		_, _ = pw.Write(data[1:])
		_ = pw.Close()
	}()
	var out, errw bytes.Buffer
	code := run(context.Background(), []string{"upload", "--base-url", srv.URL, "--token", token, "--json", "-"},
		stdio{pr, &out, &errw}, func(string) string { return "" })
	require.Equal(t, exitOK, code, errw.String())
	assert.Equal(t, pipe.Size, <-seen, "the pipe's buffer while the upload read it")
	sum := sha256.Sum256(data)
	assert.Contains(t, out.String(), `"sha256":"`+hex.EncodeToString(sum[:])+`"`)
}
