//go:build long

package sandbox_test

import (
	"net/http"
	"testing"

	"github.com/stretchr/testify/assert"

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
