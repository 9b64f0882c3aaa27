package wrapper

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
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

// refusedAt returns the sandbox option that refuses the n-th upload
// request with 403, so that a first run stops with n-1 chunks acknowledged.
func refusedAt(n int) sandbox.Option {
	return sandbox.WithFaults(sandbox.Fault{Op: sandbox.OpUploadWithUploadToken, Request: n,
		Kind: sandbox.FaultStatus, Status: http.StatusForbidden})
}

// stoppedAfterTwo uploads src until the sandbox refuses the third chunk and
// returns the state saved in store. opts must send one chunk at a time
// (Concurrency 1), so that the third request is the third chunk.
func stoppedAfterTwo(t *testing.T, e *uploadEnv, src Source, opts *UploadOptions) *UploadState {
	t.Helper()
	_, err := e.client.Upload(t.Context(), e.token, src, opts)
	require.ErrorIs(t, err, ErrForbidden)
	saved, err := opts.Store.Load(t.Context(), "")
	require.NoError(t, err)
	require.NotNil(t, saved)
	require.Equal(t, []int{0, 1}, ackedIndexes(saved))
	return saved
}

// storedSHA256 is the SHA-256 the sandbox computed over the bytes it holds
// for the result's video, which must be complete.
func (e *uploadEnv) storedSHA256(t *testing.T, res *UploadResult) string {
	t.Helper()
	info, ok := e.srv.Sandbox.Video(res.Video.VideoID)
	require.True(t, ok, "video %s", res.Video.VideoID)
	require.True(t, info.Complete, "video %s is complete", res.Video.VideoID)
	return info.SHA256
}

// TestResumeOfAFileEditedWithItsTimeKept edits an acknowledged middle chunk
// of a file between two runs and puts its modification time back, as
// `touch -r`, `cp -p` or a coarse-mtime file system would: the resumed
// upload must see it, say so, and start over as a new video whose stored
// hash is the result's.
func TestResumeOfAFileEditedWithItsTimeKept(t *testing.T) {
	const size = 4*testChunk + 10
	data := testData(size, 41)
	e := newUploadEnv(t, refusedAt(3))
	path := writeTestFile(t, data)
	store := NewStateFile(filepath.Join(t.TempDir(), "state.json"))
	var events []StateEvent
	opts := &UploadOptions{ChunkSize: testChunk, Concurrency: 1, Store: store, OnState: func(ev StateEvent) { events = append(events, ev) }}
	saved := stoppedAfterTwo(t, e, File(path), opts)

	fi, err := os.Stat(path)
	require.NoError(t, err)
	edited := append([]byte(nil), data...)
	edited[testChunk+123] ^= 0xff // in chunk 1, acknowledged
	require.NoError(t, os.WriteFile(path, edited, 0o600))
	require.NoError(t, os.Chtimes(path, fi.ModTime(), fi.ModTime()))

	res, err := e.client.Upload(t.Context(), e.token, File(path), opts)
	require.NoError(t, err)
	assert.NotEqual(t, saved.VideoID, res.Video.VideoID, "a new video")
	assert.Zero(t, res.ResumedChunks)
	assert.Equal(t, sha256Hex(edited), res.SHA256)
	assert.Equal(t, res.SHA256, e.storedSHA256(t, res), "the result's hash is what the API holds")
	require.Len(t, events, 1, "%+v", events)
	assert.Equal(t, StateStartedOver, events[0].Kind)
	assert.ErrorIs(t, events[0].Err, ErrSourceChanged)
	assert.Contains(t, events[0].Err.Error(), fmt.Sprintf("the file's bytes %d to %d, through chunk 1,", testChunk, 2*testChunk-1),
		"chunk 0 was found the same, chunk 1 not")
	assert.NoFileExists(t, store.Path())
}

// TestResumeOfAStreamWithOtherBytes resumes a stream whose first chunk
// matches the saved upload's but whose second does not: the upload fails
// with ErrSourceChanged before sending anything, and the state is kept.
func TestResumeOfAStreamWithOtherBytes(t *testing.T) {
	const size = 4*testChunk + 10
	data := testData(size, 42)
	e := newUploadEnv(t, refusedAt(3))
	store := NewStateFile(filepath.Join(t.TempDir(), "state.json"))
	opts := &UploadOptions{ChunkSize: testChunk, Concurrency: 1, Store: store}
	stream := func(b []byte) Source { return Reader(onlyReader{strings.NewReader(string(b))}, -1) }
	stoppedAfterTwo(t, e, stream(data), opts)
	before, err := os.ReadFile(store.Path())
	require.NoError(t, err)

	other := append([]byte(nil), data...)
	other[testChunk+7] ^= 1
	_, err = e.client.Upload(t.Context(), e.token, stream(other), opts)
	require.ErrorIs(t, err, ErrSourceChanged)
	assert.Contains(t, err.Error(), fmt.Sprintf("the stream's bytes %d to %d, through chunk 1,", testChunk, 2*testChunk-1))
	assert.Equal(t, 3, e.srv.Sandbox.Stats().Count(sandbox.OpUploadWithUploadToken), "nothing more was sent")
	after, err := os.ReadFile(store.Path())
	require.NoError(t, err)
	assert.Equal(t, string(before), string(after), "the state is kept for the right stream")

	// The right stream still resumes.
	res, err := e.client.Upload(t.Context(), e.token, stream(data), opts)
	require.NoError(t, err)
	assert.Equal(t, 2, res.ResumedChunks)
	assert.Equal(t, sha256Hex(data), res.SHA256)
	assert.Equal(t, res.SHA256, e.storedSHA256(t, res))
}

// TestResumeOfAStreamHoldsBackChunksUntilChecked resumes a stream from a
// state with a hole (chunks 0 and 2 acknowledged, as concurrent chunks
// leave it), where chunk 2 differs: chunk 1, which comes first, must not be
// sent, or the video would hold a mix.
func TestResumeOfAStreamHoldsBackChunksUntilChecked(t *testing.T) {
	const size = 4 * testChunk
	data := testData(size, 43)
	var requests atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		requests.Add(1)
		http.Error(w, "no request expected", http.StatusTeapot)
	}))
	t.Cleanup(srv.Close)
	c, err := New(WithBaseURL(srv.URL), WithRetryPolicy(fastRetries))
	require.NoError(t, err)
	through := func(b []byte, i int64) string { return sha256Hex(b[:(i+1)*testChunk]) }
	store := NewStateFile(filepath.Join(t.TempDir(), "state.json"))
	require.NoError(t, store.Save(t.Context(), "", &UploadState{
		Version: stateVersion, BaseURL: c.BaseURL(), Source: "stream:video", VideoID: "vi4k0jvEUuaTdRAEjQ4Jfrgz",
		ChunkSize: testChunk, FirstChunkSize: testChunk, Total: -1, UpdatedAt: time.Now().UTC(),
		Acked: []AckedChunk{{Index: 0, Size: testChunk, PrefixSHA256: through(data, 0)}, {Index: 2, Size: testChunk, PrefixSHA256: through(data, 2)}},
	}))
	other := append([]byte(nil), data...)
	other[2*testChunk] ^= 1
	_, err = c.Upload(t.Context(), "to1tcmSFHeYY5KzyhOqVKMKb", Reader(onlyReader{strings.NewReader(string(other))}, -1),
		&UploadOptions{ChunkSize: testChunk, Concurrency: 1, Store: store})
	require.ErrorIs(t, err, ErrSourceChanged)
	assert.Contains(t, err.Error(), fmt.Sprintf("the stream's bytes %d to %d, through chunk 2,", testChunk, 3*testChunk-1),
		"the difference is placed after chunk 0, found the same, and by the end of chunk 2")
	assert.Zero(t, requests.Load(), "chunk 1 was held back until chunk 2 was checked")
}

// TestResumeWithANewToken stops an upload, then resumes it with another
// token: the state is found, the saved video goes on with the missing
// chunks only.
func TestResumeWithANewToken(t *testing.T) {
	const size = 4*testChunk + 10
	data := testData(size, 44)
	for _, kind := range []int{0, 4} { // File and Stream
		t.Run(sourceKinds[kind].name, func(t *testing.T) {
			e := newUploadEnv(t, refusedAt(3))
			store, err := NewFileStore(t.TempDir())
			require.NoError(t, err)
			// One at a time: the third request is chunk 2.
			opts := &UploadOptions{ChunkSize: testChunk, Concurrency: 1, Store: store}
			path := writeTestFile(t, data)
			src := func() Source {
				if kind == 0 {
					return File(path)
				}
				return Reader(onlyReader{strings.NewReader(string(data))}, -1)
			}
			_, err = e.client.Upload(t.Context(), e.token, src(), opts)
			var upErr *UploadError
			require.ErrorAs(t, err, &upErr)
			require.NotNil(t, upErr.State)

			fresh, err := e.srv.Sandbox.CreateToken(time.Hour)
			require.NoError(t, err)
			require.NotEqual(t, e.token, fresh)
			res, err := e.client.Upload(t.Context(), fresh, src(), opts)
			require.NoError(t, err)
			assert.Equal(t, upErr.State.VideoID, res.Video.VideoID, "the saved video goes on")
			assert.Equal(t, 2, res.ResumedChunks)
			e.eventuallyCount(t, 3+3)
			assert.Equal(t, 5, e.srv.Sandbox.Stats().CountStatus(sandbox.OpUploadWithUploadToken, http.StatusCreated))
			assert.Equal(t, sha256Hex(data), res.SHA256)
			assert.Equal(t, res.SHA256, e.storedSHA256(t, res))
			keys, err := store.keys(t.Context())
			require.NoError(t, err)
			assert.Empty(t, keys, "the state is deleted after success")
		})
	}
}

// failingStore is a ResumeStore whose saves fail.
type failingStore struct{ ResumeStore }

var errDiskFull = errors.New("no space left on device")

func (failingStore) Save(context.Context, string, *UploadState) error { return errDiskFull }

// TestUploadStopsWhenTheStateCannotBeSaved checks that a save that fails
// stops the upload at once, unless IgnoreStoreErrors says to go on, and
// that OnState is told either way.
func TestUploadStopsWhenTheStateCannotBeSaved(t *testing.T) {
	const size = 3*testChunk + 1
	data := testData(size, 45)
	for _, ignore := range []bool{false, true} {
		t.Run(map[bool]string{false: "stop", true: "ignore"}[ignore], func(t *testing.T) {
			e := newUploadEnv(t)
			var events []StateEvent
			opts := &UploadOptions{ChunkSize: testChunk, IgnoreStoreErrors: ignore,
				Store:   failingStore{NewStateFile(filepath.Join(t.TempDir(), "state.json"))},
				OnState: func(ev StateEvent) { events = append(events, ev) }}
			res, err := e.client.Upload(t.Context(), e.token, ReaderAt(bytesReader(data), size), opts)
			require.NotEmpty(t, events)
			assert.Equal(t, StateSaveFailed, events[0].Kind)
			assert.ErrorIs(t, events[0].Err, errDiskFull)
			if !ignore {
				require.ErrorIs(t, err, ErrStateNotSaved)
				require.ErrorIs(t, err, errDiskFull)
				var upErr *UploadError
				require.ErrorAs(t, err, &upErr)
				require.NotNil(t, upErr.State, "the state is still there to save by hand")
				assert.Len(t, upErr.State.Acked, 1)
				assert.Equal(t, 1, e.srv.Sandbox.Stats().Count(sandbox.OpUploadWithUploadToken), "no chunk after the failed save")
				return
			}
			require.NoError(t, err)
			// Chunk 0, acknowledged; then chunks 1 to 3, each recorded as
			// being sent before it goes, then acknowledged.
			assert.Len(t, events, 7, "one report per save: each chunk after the first twice")
			assert.Equal(t, res.SHA256, e.storedSHA256(t, res))
		})
	}
}

// TestForeignOrCorruptStateIsKept checks that a state file for another
// source, another server or video, or one that cannot be read, is neither
// used, overwritten nor deleted: Upload fails with ErrStateConflict before
// any request, naming what differs, unless Restart is set.
func TestForeignOrCorruptStateIsKept(t *testing.T) {
	const size = 2*testChunk + 3
	data := testData(size, 46)
	good := func(c *Client, path string) *UploadState {
		s := validState()
		s.BaseURL, s.Source, s.Total = c.BaseURL(), path, size
		s.Acked = []AckedChunk{{Index: 0, Size: testChunk, PrefixSHA256: sha256Hex(data[:testChunk])}}
		return s
	}
	cases := []struct {
		name  string
		write func(t *testing.T, c *Client, path, state string)
		opts  UploadOptions
		want  string
	}{
		{"another file", func(t *testing.T, c *Client, path, state string) {
			s := good(c, path)
			s.Source = "/elsewhere/other.mp4"
			require.NoError(t, NewStateFile(state).Save(t.Context(), "", s))
		}, UploadOptions{}, "/elsewhere/other.mp4"},
		{"another server", func(t *testing.T, c *Client, path, state string) {
			s := good(c, path)
			s.BaseURL = "https://ws.api.video"
			require.NoError(t, NewStateFile(state).Save(t.Context(), "", s))
		}, UploadOptions{}, "https://ws.api.video"},
		{"another video", func(t *testing.T, c *Client, path, state string) {
			require.NoError(t, NewStateFile(state).Save(t.Context(), "", good(c, path)))
		}, UploadOptions{VideoID: "vi0000000000000000000000"}, "vi0000000000000000000000"},
		{"corrupt", func(t *testing.T, c *Client, path, state string) {
			require.NoError(t, os.WriteFile(state, []byte(`{"version":2,"videoId":`), 0o600))
		}, UploadOptions{}, "invalid upload state"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			e := newUploadEnv(t)
			path := writeTestFile(t, data)
			state := filepath.Join(t.TempDir(), "state.json")
			tc.write(t, e.client, path, state)
			before, err := os.ReadFile(state)
			require.NoError(t, err)
			opts := tc.opts
			opts.ChunkSize, opts.Store = testChunk, NewStateFile(state)
			_, err = e.client.Upload(t.Context(), e.token, File(path), &opts)
			require.ErrorIs(t, err, ErrStateConflict)
			assert.Contains(t, err.Error(), tc.want)
			assert.Zero(t, e.srv.Sandbox.Stats().Count(sandbox.OpUploadWithUploadToken), "nothing was sent")
			after, err := os.ReadFile(state)
			require.NoError(t, err)
			assert.Equal(t, string(before), string(after), "the state file is untouched")

			if tc.opts.VideoID != "" {
				return // that video does not exist
			}
			opts.Restart = true
			res, err := e.client.Upload(t.Context(), e.token, File(path), &opts)
			require.NoError(t, err)
			assert.Equal(t, res.SHA256, e.storedSHA256(t, res))
			assert.NoFileExists(t, state, "with Restart, the old state is replaced, then deleted on success")
		})
	}
}

// TestResumeKeepsTheSavedChunkSize resumes with another chunk size: the
// saved one is used, and both OnState and the result say which.
func TestResumeKeepsTheSavedChunkSize(t *testing.T) {
	const size = 4*testChunk + 10
	data := testData(size, 47)
	e := newUploadEnv(t, refusedAt(3))
	path := writeTestFile(t, data)
	store := NewStateFile(filepath.Join(t.TempDir(), "state.json"))
	stoppedAfterTwo(t, e, File(path), &UploadOptions{ChunkSize: testChunk, Concurrency: 1, Store: store})

	var events []StateEvent
	res, err := e.client.Upload(t.Context(), e.token, File(path), &UploadOptions{ChunkSize: 2 * testChunk, Store: store,
		OnState: func(ev StateEvent) { events = append(events, ev) }})
	require.NoError(t, err)
	assert.Equal(t, int64(testChunk), res.ChunkSize)
	assert.Equal(t, 5, res.Chunks)
	require.Len(t, events, 1)
	assert.Equal(t, StateResumed, events[0].Kind)
	assert.Equal(t, int64(testChunk), events[0].ChunkSize)
	assert.Equal(t, res.SHA256, e.storedSHA256(t, res))
}

// TestResultHashIsWhatWasSent changes a file while its upload is under
// way, after the hashing pass read it: the result must not carry the hash
// of bytes the API does not hold.
func TestResultHashIsWhatWasSent(t *testing.T) {
	const size = 3 * testChunk
	data := testData(size, 48)
	path := writeTestFile(t, data)
	e := newUploadEnv(t)
	var once sync.Once
	// One at a time, so that chunk 2 is read after chunk 1 is answered.
	opts := &UploadOptions{ChunkSize: testChunk, Concurrency: 1, Progress: func(p UploadProgress) {
		if p.Acked >= testChunk {
			// Chunk 0 is acknowledged; rewrite chunk 2 in place before it goes.
			once.Do(func() {
				f, err := os.OpenFile(path, os.O_WRONLY, 0)
				if assert.NoError(t, err) {
					_, err = f.WriteAt([]byte("edited"), 2*testChunk+5)
					assert.NoError(t, err)
					assert.NoError(t, f.Close())
				}
			})
		}
	}}
	// Hold chunk 1 until the edit is made, so that the edit lands before chunk 2 is read.
	e.srv.Sandbox.AddFaults(sandbox.Fault{Op: sandbox.OpUploadWithUploadToken, Request: 2, Kind: sandbox.FaultStall, Stall: 500 * time.Millisecond})
	res, err := e.client.Upload(t.Context(), e.token, File(path), opts)
	if err == nil {
		// The pass read the file after the edit: then the hash is the edited file's, which is what was sent.
		assert.Equal(t, res.SHA256, e.storedSHA256(t, res))
		return
	}
	require.ErrorIs(t, err, ErrSourceChanged)
	assert.Contains(t, err.Error(), "chunk 2 ")
}

// slowServer is a server that reads upload bodies slowly, then answers
// with a video. The first request, when cutFirst is set, is cut after
// reading that many bytes.
func slowServer(t *testing.T, cutFirst int64) *httptest.Server {
	var mu sync.Mutex
	n := 0
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		n++
		first := n == 1
		mu.Unlock()
		var read int64
		buf := make([]byte, 256<<10)
		for {
			m, err := r.Body.Read(buf)
			read += int64(m)
			if first && cutFirst > 0 && read >= cutFirst {
				panic(http.ErrAbortHandler)
			}
			if err == io.EOF {
				break
			}
			if err != nil {
				return
			}
			time.Sleep(25 * time.Millisecond)
		}
		reply(w, http.StatusCreated, `{"videoId":"vi4k0jvEUuaTdRAEjQ4Jfrgz","assets":{"player":"https://embed.api.video/vod/vi4k0jvEUuaTdRAEjQ4Jfrgz"}}`)
	}))
	t.Cleanup(srv.Close)
	return srv
}

// TestProgressCountsBytesInFlight sends one large request to a server that
// reads it slowly: progress must move before the answer comes, never go
// back (a cut request resent holds it), and end exactly at the total.
func TestProgressCountsBytesInFlight(t *testing.T) {
	const size = 16 << 20
	data := testData(size, 49)
	for _, cut := range []int64{0, 10 << 20} {
		t.Run(map[bool]string{true: "clean", false: "resent"}[cut == 0], func(t *testing.T) {
			srv := slowServer(t, cut)
			c, err := New(WithBaseURL(srv.URL), WithRetryPolicy(fastRetries))
			require.NoError(t, err)
			var mu sync.Mutex
			var calls []UploadProgress
			res, err := c.Upload(t.Context(), "to1tcmSFHeYY5KzyhOqVKMKb", ReaderAt(bytesReader(data), size),
				&UploadOptions{ChunkSize: MaxChunkSize, Progress: func(p UploadProgress) {
					mu.Lock()
					calls = append(calls, p)
					mu.Unlock()
				}})
			require.NoError(t, err)
			assert.Equal(t, sha256Hex(data), res.SHA256)
			checkProgress(t, calls, size)
			var moving int
			for _, p := range calls {
				if p.Acked == 0 && p.Sent > 0 && p.Sent < size {
					moving++
				}
			}
			assert.GreaterOrEqual(t, moving, 2, "progress moved while the only request was in flight: %+v", calls)
		})
	}
}

// TestProgressCountsChunksAwaitingAnswers sends three chunks to a server
// that reads each body whole, then holds its answer until the test lets it
// go: while it holds them, Sent counts every byte read and Pending the
// chunks that wait for their answer, with nothing acknowledged yet.
func TestProgressCountsChunksAwaitingAnswers(t *testing.T) {
	const chunk, size = MinChunkSize, 3 * MinChunkSize
	data := testData(size, 53)
	arrived := make(chan struct{}, 3)
	release := make(chan struct{}, 3)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if _, err := io.Copy(io.Discard, r.Body); err != nil {
			return
		}
		arrived <- struct{}{}
		select {
		case <-release:
		case <-r.Context().Done():
			return
		}
		reply(w, http.StatusCreated, `{"videoId":"vi4k0jvEUuaTdRAEjQ4Jfrgz"}`)
	}))
	t.Cleanup(srv.Close)
	c, err := New(WithBaseURL(srv.URL), WithRetryPolicy(fastRetries))
	require.NoError(t, err)

	var mu sync.Mutex
	var calls []UploadProgress
	latest := func() UploadProgress {
		mu.Lock()
		defer mu.Unlock()
		if len(calls) == 0 {
			return UploadProgress{}
		}
		return calls[len(calls)-1]
	}
	type outcome struct {
		res *UploadResult
		err error
	}
	done := make(chan outcome, 1)
	go func() {
		res, err := c.Upload(t.Context(), "to1tcmSFHeYY5KzyhOqVKMKb", ReaderAt(bytesReader(data), size),
			&UploadOptions{ChunkSize: chunk, Concurrency: 2, StallTimeout: -1, Progress: func(p UploadProgress) {
				mu.Lock()
				calls = append(calls, p)
				mu.Unlock()
			}})
		done <- outcome{res, err}
	}()
	wait := func(n int) {
		t.Helper()
		for range n {
			select {
			case <-arrived:
			case <-time.After(10 * time.Second):
				t.Fatal("the upload sent no chunk")
			}
		}
	}

	// The first chunk makes the video: it goes alone.
	wait(1)
	want := UploadProgress{Acked: 0, Sent: chunk, Total: size, Pending: 1}
	require.Eventually(t, func() bool { return latest() == want }, 5*time.Second, 10*time.Millisecond,
		"the first chunk is read and unanswered: want %+v, got %+v", want, latest())
	release <- struct{}{}

	// The other two go together, and wait for their answers.
	wait(2)
	want = UploadProgress{Acked: chunk, Sent: size, Total: size, Pending: 2}
	require.Eventually(t, func() bool { return latest() == want }, 5*time.Second, 10*time.Millisecond,
		"every byte is sent, two chunks unanswered: want %+v, got %+v", want, latest())
	release <- struct{}{}
	release <- struct{}{}

	out := <-done
	require.NoError(t, out.err)
	assert.Equal(t, sha256Hex(data), out.res.SHA256)
	mu.Lock()
	defer mu.Unlock()
	checkProgress(t, calls, size)
	for i, p := range calls {
		assert.LessOrEqual(t, p.Pending, 2, "call %d: at most two chunks are in flight: %+v", i, p)
	}
}
