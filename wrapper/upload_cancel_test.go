package wrapper

import (
	"io"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/avupload/avupload/sandbox"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestChunkCutOffByAnotherRefusalStaysRecorded sends two chunks at once:
// the API stores the first and keeps its answer until the other is refused
// (403), which stops the upload and cuts the first off. The first chunk's
// request fails because of the other's refusal, not a refusal of its own:
// its bytes may have landed (they did), so its record as being sent must
// stay in the state, and the next run takes the API's "already received"
// for its own and finishes.
func TestChunkCutOffByAnotherRefusalStaysRecorded(t *testing.T) {
	const size = 3 * MinChunkSize // three chunks: 0 alone, then 1 and 2 at once
	data := testData(size, 91)
	path := writeTestFile(t, data)
	sb, err := sandbox.New(sandbox.WithDataDir(t.TempDir()))
	require.NoError(t, err)
	stored := make(chan struct{})
	var refuse atomic.Bool
	refuse.Store(true)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		rng := r.Header.Get("Content-Range")
		switch {
		case !refuse.Load() || r.URL.Path != "/upload":
			sb.ServeHTTP(w, r)
		case strings.HasPrefix(rng, "bytes 5242880-"):
			// Stored, but the answer waits until the client gives up.
			sb.ServeHTTP(httptest.NewRecorder(), r)
			close(stored)
			<-r.Context().Done()
		case strings.HasPrefix(rng, "bytes 10485760-"):
			_, _ = io.Copy(io.Discard, r.Body)
			select {
			case <-stored:
			case <-time.After(10 * time.Second):
			}
			w.Header().Set("Content-Type", "application/problem+json")
			w.WriteHeader(http.StatusForbidden)
			_, _ = io.WriteString(w, `{"type":"https://docs.api.video/reference/authentication-suspended","title":"Suspended account","status":403}`)
		default:
			sb.ServeHTTP(w, r)
		}
	}))
	t.Cleanup(srv.Close)
	c, err := New(WithBaseURL(srv.URL), WithRetryPolicy(fastRetries))
	require.NoError(t, err)
	t.Cleanup(c.CloseIdleConnections)
	token, err := sb.CreateToken(0)
	require.NoError(t, err)
	store := NewStateFile(filepath.Join(t.TempDir(), "state.json"))
	opts := &UploadOptions{ChunkSize: MinChunkSize, Concurrency: 2, Store: store}

	_, err = c.Upload(t.Context(), token, File(path), opts)
	require.ErrorIs(t, err, ErrForbidden)
	saved, err := store.Load(t.Context(), "")
	require.NoError(t, err)
	require.NotNil(t, saved)
	var sending []int
	for _, ch := range saved.Sending {
		sending = append(sending, ch.Index)
	}
	assert.Equal(t, []int{0}, ackedIndexes(saved))
	assert.Equal(t, []int{1}, sending, "chunk 1 may have landed (it did): its record stays; chunk 2 was refused")

	refuse.Store(false)
	res, err := c.Upload(t.Context(), token, File(path), opts)
	require.NoError(t, err)
	assert.Equal(t, sha256Hex(data), res.SHA256)
	held, err := sb.VideoBytes(res.Video.VideoID)
	require.NoError(t, err)
	assert.Equal(t, sha256Hex(data), sha256Hex(held), "the API holds the file")
}
