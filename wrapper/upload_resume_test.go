package wrapper

import (
	"context"
	"net/http"
	"os"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/avupload/avupload/sandbox"
)

// TestUploadResumes fails a first run on its third chunk, then checks that a
// second run with the same store sends only the chunks not acknowledged.
func TestUploadResumes(t *testing.T) {
	const size = 4*testChunk + 10
	data := testData(size, 11)
	sum := sha256Hex(data)
	for _, kind := range sourceKinds {
		t.Run(kind.name, func(t *testing.T) {
			t.Parallel()
			e := newUploadEnv(t, sandbox.WithFaults(sandbox.Fault{Op: sandbox.OpUploadWithUploadToken, Request: 3,
				Kind: sandbox.FaultStatus, Status: http.StatusForbidden}))
			store, err := NewFileStore(t.TempDir())
			require.NoError(t, err)
			src := kind.make(t, data)
			// One at a time: the third request is chunk 2.
			opts := &UploadOptions{ChunkSize: testChunk, Concurrency: 1, Store: store}
			_, err = e.client.Upload(t.Context(), e.token, src, opts)
			var upErr *UploadError
			require.ErrorAs(t, err, &upErr)
			require.NotNil(t, upErr.State)
			assert.Equal(t, []int{0, 1}, ackedIndexes(upErr.State))
			for _, c := range upErr.State.Acked {
				assert.Equal(t, sha256Hex(data[:int64(c.Index+1)*testChunk]), c.PrefixSHA256,
					"chunk %d's hash is that of the bytes up to its end", c.Index)
			}

			if kind.name == "Reader" || kind.name == "Stream" {
				src = kind.make(t, data) // a stream is read again from its start
			}
			res, err := e.client.Upload(t.Context(), e.token, src, opts)
			require.NoError(t, err)
			e.checkVideo(t, res, sum, size)
			assert.Equal(t, upErr.State.VideoID, res.Video.VideoID)
			assert.Equal(t, 2, res.ResumedChunks)
			// Run one: two chunks and the refused third; run two: the last three.
			e.eventuallyCount(t, 6)
			assert.Equal(t, 5, e.srv.Sandbox.Stats().CountStatus(sandbox.OpUploadWithUploadToken, http.StatusCreated),
				"every chunk was accepted once: none acknowledged was sent again")
			entries, err := os.ReadDir(store.Dir())
			require.NoError(t, err)
			assert.Empty(t, entries, "the state is deleted after success")
		})
	}
}

// TestUploadStartsOverOnFingerprintMismatch changes the file between runs.
func TestUploadStartsOverOnFingerprintMismatch(t *testing.T) {
	const size = 3*testChunk + 10
	data := testData(size, 12)
	e := newUploadEnv(t, sandbox.WithFaults(sandbox.Fault{Op: sandbox.OpUploadWithUploadToken, Request: 2,
		Kind: sandbox.FaultStatus, Status: http.StatusForbidden}))
	store := NewStateFile(filepath.Join(t.TempDir(), "state.json"))
	path := writeTestFile(t, data)
	// One at a time: the failed run sends chunk 0, then chunk 1 is refused.
	opts := &UploadOptions{ChunkSize: testChunk, Concurrency: 1, Store: store}
	_, err := e.client.Upload(t.Context(), e.token, File(path), opts)
	var upErr *UploadError
	require.ErrorAs(t, err, &upErr)
	saved, err := store.Load(t.Context(), "")
	require.NoError(t, err)
	require.NotNil(t, saved)
	raw, err := os.ReadFile(store.Path())
	require.NoError(t, err)
	assert.NotContains(t, string(raw), e.token, "the state never holds the token")
	fi, err := os.Stat(store.Path())
	require.NoError(t, err)
	assertOwnerOnly(t, fi)

	changed := testData(size, 13)
	require.NoError(t, os.WriteFile(path, changed, 0o600))
	res, err := e.client.Upload(t.Context(), e.token, File(path), opts)
	require.NoError(t, err)
	assert.NotEqual(t, saved.VideoID, res.Video.VideoID, "a new video")
	assert.Zero(t, res.ResumedChunks)
	e.eventuallyCount(t, 2+4) // the failed run's two requests, then four chunks
	e.checkVideo(t, res, sha256Hex(changed), size)
}

// TestUploadCancel cancels an upload mid-way while one of its chunks is
// held by the server: the call must return with context.Canceled while that
// request is still held (so it did not wait for it), leave a usable state
// behind (goleak checks goroutines in TestMain), and a later run must finish
// the video.
func TestUploadCancel(t *testing.T) {
	const size = 6 * testChunk
	data := testData(size, 14)
	for _, kind := range []int{2, 4} { // ReaderAt and Stream
		src := sourceKinds[kind]
		t.Run(src.name, func(t *testing.T) {
			// The third upload request is held until the test ends: no
			// answer, no error, as a stalled network gives.
			var requests atomic.Int32
			var held atomic.Bool
			release := make(chan struct{})
			sb, client, token := behindSandbox(t, func(sb *sandbox.Sandbox) http.Handler {
				return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
					if r.URL.Path == "/upload" && requests.Add(1) == 3 {
						held.Store(true)
						select {
						case <-release:
						case <-r.Context().Done():
						}
						return
					}
					sb.ServeHTTP(w, r)
				})
			})
			t.Cleanup(func() { close(release) }) // runs before the server closes

			store, err := NewFileStore(t.TempDir())
			require.NoError(t, err)
			ctx, cancel := context.WithCancel(t.Context())
			opts := &UploadOptions{ChunkSize: testChunk, Concurrency: 2, Store: store,
				Progress: func(p UploadProgress) {
					if p.Acked >= 2*testChunk {
						cancel()
					}
				}}
			done := make(chan error, 1)
			go func() {
				_, err := client.Upload(ctx, token, src.make(t, data), opts)
				done <- err
			}()
			select {
			case err = <-done:
			case <-time.After(time.Minute):
				// A watchdog, not a speed bound: only an upload waiting
				// for the held request gets here.
				t.Fatal("the cancelled upload did not return while a request was held")
			}
			require.ErrorIs(t, err, context.Canceled)
			var upErr *UploadError
			require.ErrorAs(t, err, &upErr)
			require.NotNil(t, upErr.State)
			assert.GreaterOrEqual(t, len(upErr.State.Acked), 2)

			// The cancel may have come before the third request: then the
			// resume meets the held request, and its stall timeout sends
			// that chunk again.
			resume := *opts
			resume.Progress, resume.StallTimeout = nil, time.Second
			res, err := client.Upload(t.Context(), token, src.make(t, data), &resume)
			require.NoError(t, err)
			assert.True(t, held.Load(), "a request was held")
			assert.Equal(t, upErr.State.VideoID, res.Video.VideoID)
			assert.GreaterOrEqual(t, res.ResumedChunks, 2)
			e := &uploadEnv{srv: &sandbox.Server{Sandbox: sb}, client: client, token: token}
			e.checkVideo(t, res, sha256Hex(data), size)
		})
	}
}

// ackedIndexes lists the indexes of a state's acknowledged chunks.
func ackedIndexes(s *UploadState) []int {
	var out []int
	for _, c := range s.Acked {
		out = append(out, c.Index)
	}
	return out
}

// eventuallyCount waits for the sandbox to have counted want upload
// requests: it counts a request once its answer is written, which may come
// just after the client read it.
func (e *uploadEnv) eventuallyCount(t *testing.T, want int) {
	t.Helper()
	assert.EventuallyWithT(t, func(c *assert.CollectT) {
		assert.Equal(c, want, e.srv.Sandbox.Stats().Count(sandbox.OpUploadWithUploadToken), "%+v", e.srv.Sandbox.Stats())
	}, 5*time.Second, 5*time.Millisecond)
}
