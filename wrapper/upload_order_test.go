package wrapper

import (
	"context"
	"maps"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"testing/synctest"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/avupload/avupload/sandbox"
)

// The tests in this file check that one event happens before another in
// the client. They run in a synctest bubble, the sandbox served in-process
// (inProcess), so that synctest.Wait can tell when the client has done all
// it can do without the event it should be waiting for: a client that gets
// the order wrong fails every time, whatever the machine's speed, and no
// test sleeps.

// inProcess is an http.RoundTripper that serves each request with h in the
// calling goroutine, without a network: inside a synctest bubble, a client
// blocked on its answer is then blocked on something synctest can see.
type inProcess struct{ h http.Handler }

func (p inProcess) RoundTrip(r *http.Request) (*http.Response, error) {
	in := r.Clone(r.Context())
	in.RequestURI = r.URL.RequestURI()
	if in.Body == nil {
		in.Body = http.NoBody
	}
	rec := httptest.NewRecorder()
	p.h.ServeHTTP(rec, in)
	res := rec.Result()
	res.Request = r
	return res, nil
}

// inBubble returns a new sandbox served through the handler front makes of
// it, a client that reaches it in-process, and a token. Call it inside
// synctest.Test.
func inBubble(t *testing.T, front func(sb *sandbox.Sandbox) http.Handler) (*Client, string) {
	t.Helper()
	sb, err := sandbox.New()
	require.NoError(t, err)
	c, err := New(WithBaseURL("http://127.0.0.1"), WithRetryPolicy(fastRetries),
		WithHTTPClient(&http.Client{Transport: inProcess{h: front(sb)}}))
	require.NoError(t, err)
	token, err := sb.CreateToken(0)
	require.NoError(t, err)
	return c, token
}

// TestUploadKeepsTheWholeVideo answers the middle of three chunks only once
// the client has taken in the last chunk's answer, which has the whole
// video: the result must still be the whole video, not the middle chunk's
// bare id that came after it.
func TestUploadKeepsTheWholeVideo(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		middleStored := make(chan struct{})
		var lastSeen atomic.Bool
		c, token := inBubble(t, func(sb *sandbox.Sandbox) http.Handler {
			return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				switch cr := r.Header.Get("Content-Range"); {
				case strings.HasPrefix(cr, "bytes 10485760-"): // the last chunk
					<-middleStored // so that it completes the video
					lastSeen.Store(true)
					sb.ServeHTTP(w, r)
				case strings.HasPrefix(cr, "bytes 5242880-"): // the middle chunk
					rec := httptest.NewRecorder()
					sb.ServeHTTP(rec, r)
					close(middleStored)
					// Returns once the last chunk was answered and the
					// client did all it does with that answer.
					synctest.Wait()
					assert.True(t, lastSeen.Load(), "the last chunk went out while the middle one was held")
					maps.Copy(w.Header(), rec.Header())
					w.WriteHeader(rec.Code)
					_, _ = w.Write(rec.Body.Bytes())
				default:
					sb.ServeHTTP(w, r)
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
	})
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

// quietStore is a ResumeStore that, before each save, waits until the rest
// of the client is blocked (synctest.Wait), then notes how many upload
// requests had arrived: a client that sends the next chunk without waiting
// for the save has sent it by then. Saves take turns through a channel,
// which synctest sees, unlike a mutex: Wait must not run twice at once.
type quietStore struct {
	ResumeStore
	seen    *arrivals
	turn    chan struct{}
	atSaves []int32
	acked   []int
	sending [][]int
}

func (s *quietStore) Save(ctx context.Context, key string, st *UploadState) error {
	s.turn <- struct{}{}
	defer func() { <-s.turn }()
	synctest.Wait()
	s.atSaves = append(s.atSaves, s.seen.n.Load())
	s.acked = append(s.acked, len(st.Acked))
	var sending []int
	for _, c := range st.Sending {
		sending = append(sending, c.Index)
	}
	s.sending = append(s.sending, sending)
	return s.ResumeStore.Save(ctx, key, st)
}

// TestStateIsSavedBeforeTheNextChunk checks that, one chunk at a time, the
// state naming a chunk as acknowledged is saved before the next chunk is
// sent, and that the state naming the next chunk as being sent is saved
// before that chunk's first byte goes (the write-ahead record): a crash then
// costs at most the chunk in flight, which the next run knows it sent.
func TestStateIsSavedBeforeTheNextChunk(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var seen *arrivals
		c, token := inBubble(t, func(sb *sandbox.Sandbox) http.Handler {
			seen = &arrivals{h: sb}
			return seen
		})
		store := &quietStore{ResumeStore: NewStateFile(filepath.Join(t.TempDir(), "state.json")), seen: seen,
			turn: make(chan struct{}, 1)}

		data := testData(4*testChunk+1, 22)
		_, err := c.Upload(t.Context(), token, ReaderAt(bytesReader(data), int64(len(data))),
			&UploadOptions{ChunkSize: testChunk, Concurrency: 1, Store: store})
		require.NoError(t, err)

		// Chunk 0 makes the video and is saved once acknowledged; every
		// later chunk is saved as being sent, then as acknowledged.
		require.Len(t, store.atSaves, 9)
		for i, n := range store.atSaves {
			want := i/2 + 1
			assert.Equal(t, int32(want), n, "save %d ended after %d upload requests had arrived", i+1, n)
			assert.Equal(t, want, store.acked[i], "save %d", i+1)
			if i%2 == 1 {
				assert.Equal(t, []int{want}, store.sending[i], "save %d records chunk %d as being sent, before it goes", i+1, want)
			} else {
				assert.Empty(t, store.sending[i], "save %d", i+1)
			}
		}
	})
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
