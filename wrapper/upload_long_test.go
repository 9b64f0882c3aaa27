//go:build long

package wrapper

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestLongUploadLarge sends a 300 MiB file at concurrency 4: many chunks in
// flight for long, read from a file through section readers. `make test-long`
// runs it.
func TestLongUploadLarge(t *testing.T) {
	const size = 300 << 20
	// The 300 MiB stay in this closure only, so they can be collected
	// before the upload starts.
	sum, path := func() (string, string) {
		data := testData(size, 15)
		return sha256Hex(data), writeTestFile(t, data)
	}()
	e := newUploadEnv(t)
	res, err := e.client.Upload(t.Context(), e.token, File(path), &UploadOptions{ChunkSize: 16 << 20, Concurrency: 4})
	require.NoError(t, err)
	e.checkVideo(t, res, sum, size)
	assert.Equal(t, "clip.mp4", res.Video.Title, "named after the file")
}
