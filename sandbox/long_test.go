//go:build long

package sandbox_test

import (
	"net/http"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/avupload/avupload/sandbox"
	"github.com/avupload/avupload/sandbox/sandboxtest"
)

// concurrentUploads is how many uploads TestConcurrentChunkedUploads runs
// at once with the tag long: 32, 320 MiB in all.
const concurrentUploads = 32

// TestLongConcurrentChunkedUploads is TestConcurrentChunkedUploads at full
// size, for `make test-long`.
func TestLongConcurrentChunkedUploads(t *testing.T) { TestConcurrentChunkedUploads(t) }

// TestLongUploadTooLarge streams a body one byte over 200 MiB to directory
// storage. (The exact 200 MiB boundary holds by the same comparison; it is not
// uploaded again here to keep the suite fast.)
func TestLongUploadTooLarge(t *testing.T) {
	srv := sandboxtest.NewServer(t, sandbox.WithDataDir(t.TempDir()))
	tok := newToken(t, srv)
	for _, size := range []int64{sandbox.MaxWholeFileSize + 1} {
		body, ct, _ := streamedUpload(t, size)
		r := call(t, http.MethodPost, srv.URL+"/upload?token="+tok, "", body, ct)
		if size > sandbox.MaxWholeFileSize {
			requireProblem(t, r, 400, "The uploaded file is too large.", "file")
			continue
		}
		t.Fatalf("unexpected size %d", size)
	}
	assert.Empty(t, srv.Sandbox.Videos())
}

// TestLongOversizedFileRefusedWhenLimitCrossed sends 600 MiB file parts as
// chunks (TestLongUploadTooLarge covers a whole file). The sandbox must answer "too large"
// once 200 MiB are crossed (or at once, when the range announces more),
// without reading the rest of the body, and free what it had read.
func TestLongOversizedFileRefusedWhenLimitCrossed(t *testing.T) {
	const size = 600 << 20
	srv := sandboxtest.NewServer(t, sandbox.WithMemoryBudget(sandbox.MaxWholeFileSize+mib))
	tok := newToken(t, srv)
	// What a body may have sent beyond what the sandbox reads: socket
	// buffers on both sides and the bounded drain after the answer.
	const slack = 64 << 20
	cases := []struct {
		name, contentRange string
		maxSent            int64
	}{
		{"part of unknown total", "part 1/*", sandbox.MaxWholeFileSize + slack},
		{"byte range of 600 MiB", "bytes 0-629145599/629145600", slack},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			body, ct, sent := streamedUpload(t, size)
			req, err := http.NewRequest(http.MethodPost, srv.URL+"/upload?token="+tok, body)
			require.NoError(t, err)
			req.Header.Set("Content-Type", ct)
			if c.contentRange != "" {
				req.Header.Set("Content-Range", c.contentRange)
			}
			r := do(t, req)
			requireProblem(t, r, http.StatusBadRequest, "The uploaded file is too large.", "file")
			assert.Less(t, sent.n.Load(), c.maxSent, "the sandbox read on past the limit")
		})
	}
	assert.Empty(t, srv.Sandbox.Videos(), "a refused file starts no video")

	// Had the refused part kept its 200 MiB, less than 1 MiB would be left.
	r := upload(t, srv, uploadReq{token: tok, data: randomBytes(2*mib, 1)})
	require.Equal(t, http.StatusCreated, r.Status, "refused uploads gave their memory back; body: %s", r.Raw)
}
