package wrapper

import (
	"context"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/avupload/avupload/sandbox"
)

// TestUploadKeepsTheWholeVideo holds back the answer to a middle chunk
// until the last chunk has been answered with the whole video: the result
// must still be the whole video, not the middle chunk's bare id.
func TestUploadKeepsTheWholeVideo(t *testing.T) {
	middleStored, lastAnswered := make(chan struct{}), make(chan struct{})
	var middleOnce, lastOnce sync.Once
	wait := func(c chan struct{}) {
		select {
		case <-c:
		case <-time.After(5 * time.Second):
		}
	}
	_, c, token := behindSandbox(t, func(sb *sandbox.Sandbox) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			cr := r.Header.Get("Content-Range")
			last := strings.HasPrefix(cr, "bytes 10485760-") // the third of three chunks
			if last {
				wait(middleStored) // so that the last chunk completes the video
			}
			rec := httptest.NewRecorder()
			sb.ServeHTTP(rec, r)
			if strings.HasPrefix(cr, "bytes 5242880-") { // the middle chunk
				middleOnce.Do(func() { close(middleStored) })
				wait(lastAnswered)
				// Give the client time to take in the last chunk's answer.
				time.Sleep(100 * time.Millisecond)
			}
			for k, v := range rec.Header() {
				w.Header()[k] = v
			}
			w.WriteHeader(rec.Code)
			_, _ = w.Write(rec.Body.Bytes())
			if last {
				_ = http.NewResponseController(w).Flush()
				lastOnce.Do(func() { close(lastAnswered) })
			}
		})
	})

	data := testData(2*testChunk+100, 21)
	res, err := c.Upload(t.Context(), token, ReaderAt(bytesReader(data), int64(len(data))),
		&UploadOptions{ChunkSize: testChunk, Concurrency: 2})
	require.NoError(t, err)
	assert.Equal(t, sha256Hex(data), res.SHA256)
	assert.NotEmpty(t, res.Video.Assets.Player, "the result is the whole video from the completing chunk")
	assert.False(t, res.Video.CreatedAt.IsZero())
}

// arrivals counts the upload requests a server has begun to receive.
type arrivals struct {
	h http.Handler
	n atomic.Int32
}

func (a *arrivals) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.URL.Path == "/upload" {
		a.n.Add(1)
	}
	a.h.ServeHTTP(w, r)
}

// slowStore is a ResumeStore whose saves take a while and note how many
// upload requests had arrived by the time each save ended.
type slowStore struct {
	ResumeStore
	seen    *arrivals
	mu      sync.Mutex
	atSaves []int32
	acked   []int
}

func (s *slowStore) Save(ctx context.Context, key string, st *UploadState) error {
	time.Sleep(30 * time.Millisecond)
	s.mu.Lock()
	s.atSaves = append(s.atSaves, s.seen.n.Load())
	s.acked = append(s.acked, len(st.Acked))
	s.mu.Unlock()
	return s.ResumeStore.Save(ctx, key, st)
}

// TestStateIsSavedBeforeTheNextChunk checks that, one chunk at a time, the
// state naming a chunk is saved before the next chunk is sent: a crash
// then costs at most the chunk in flight.
func TestStateIsSavedBeforeTheNextChunk(t *testing.T) {
	var seen *arrivals
	_, c, token := behindSandbox(t, func(sb *sandbox.Sandbox) http.Handler {
		seen = &arrivals{h: sb}
		return seen
	})
	store := &slowStore{ResumeStore: NewStateFile(filepath.Join(t.TempDir(), "state.json")), seen: seen}

	data := testData(4*testChunk+1, 22)
	_, err := c.Upload(t.Context(), token, ReaderAt(bytesReader(data), int64(len(data))),
		&UploadOptions{ChunkSize: testChunk, Concurrency: 1, Store: store})
	require.NoError(t, err)

	require.Len(t, store.atSaves, 5)
	for i, n := range store.atSaves {
		assert.Equal(t, int32(i+1), n, "save %d ended after %d upload requests had arrived", i+1, n)
		assert.Equal(t, i+1, store.acked[i])
	}
}

// behindSandbox serves a new sandbox through the handler front makes of it,
// and returns the sandbox, a client for the front and a token.
func behindSandbox(t *testing.T, front func(sb *sandbox.Sandbox) http.Handler, opts ...sandbox.Option) (*sandbox.Sandbox, *Client, string) {
	t.Helper()
	sb, err := sandbox.New(opts...)
	require.NoError(t, err)
	srv := httptest.NewServer(front(sb))
	t.Cleanup(srv.Close)
	c, err := New(WithBaseURL(srv.URL), WithRetryPolicy(fastRetries))
	require.NoError(t, err)
	token, err := sb.CreateToken(0)
	require.NoError(t, err)
	return sb, c, token
}
