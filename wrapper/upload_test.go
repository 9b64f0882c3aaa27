package wrapper

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/avupload/avupload/internal/testutil"
	"github.com/avupload/avupload/sandbox"
	"github.com/avupload/avupload/sandbox/sandboxtest"
)

// testChunk is the chunk size of the upload tests: the smallest allowed.
const testChunk = MinChunkSize

// fastRetries retries quickly, so that fault tests stay fast.
var fastRetries = RetryPolicy{MaxAttempts: 4, InitialBackoff: time.Millisecond, MaxBackoff: 20 * time.Millisecond}

// uploadEnv is a sandbox, a client pointed at it and a fresh upload token.
type uploadEnv struct {
	srv    *sandbox.Server
	client *Client
	token  string
}

func newUploadEnv(t testing.TB, opts ...sandbox.Option) *uploadEnv {
	t.Helper()
	srv := sandboxtest.NewServer(t, append([]sandbox.Option{sandbox.WithDataDir(t.TempDir())}, opts...)...)
	c, err := New(WithBaseURL(srv.URL), WithRetryPolicy(fastRetries), WithLogger(testLogger(t)))
	require.NoError(t, err)
	token, err := srv.Sandbox.CreateToken(0)
	require.NoError(t, err)
	return &uploadEnv{srv: srv, client: c, token: token}
}

// testData returns n deterministic pseudo-random bytes for seed.
var testData = testutil.Data

// writeTestFile writes data to a file in a fresh temporary directory.
func writeTestFile(t testing.TB, data []byte) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "clip.mp4")
	require.NoError(t, os.WriteFile(p, data, 0o600))
	return p
}

func sha256Hex(b []byte) string {
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:])
}

// checkVideo asserts that the sandbox holds exactly one complete video and
// that it is res's, with the source's bytes.
func (e *uploadEnv) checkVideo(t *testing.T, res *UploadResult, wantSum string, wantSize int64) {
	t.Helper()
	require.NotNil(t, res)
	assert.Equal(t, wantSum, res.SHA256, "client-side hash")
	assert.Equal(t, wantSize, res.Size)
	var complete []sandbox.VideoInfo
	for _, v := range e.srv.Sandbox.Videos() {
		if v.Complete {
			complete = append(complete, v)
		}
	}
	require.Len(t, complete, 1, "exactly one complete video")
	assert.Equal(t, res.Video.VideoID, complete[0].VideoID)
	assert.True(t, strings.HasPrefix(string(res.Video.RawJSON()), `{"videoId":"`+res.Video.VideoID+`"`),
		"RawJSON is an answer about the video: %s", res.Video.RawJSON())
	assert.Equal(t, wantSize, complete[0].Size)
	assert.Equal(t, wantSum, complete[0].SHA256, "server-side hash")
}

// sourceKinds builds every kind of source over the same bytes.
var sourceKinds = []struct {
	name string
	make func(t *testing.T, data []byte) Source
}{
	{"File", func(t *testing.T, data []byte) Source { return File(writeTestFile(t, data)) }},
	{"OSFile", func(t *testing.T, data []byte) Source {
		f, err := os.Open(writeTestFile(t, data))
		require.NoError(t, err)
		t.Cleanup(func() { _ = f.Close() })
		return OSFile(f)
	}},
	{"ReaderAt", func(t *testing.T, data []byte) Source { return ReaderAt(bytes.NewReader(data), int64(len(data))) }},
	{"Reader", func(t *testing.T, data []byte) Source {
		return Reader(onlyReader{bytes.NewReader(data)}, int64(len(data)))
	}},
	{"Stream", func(t *testing.T, data []byte) Source { return Reader(onlyReader{bytes.NewReader(data)}, -1) }},
}

// onlyReader hides every method but Read.
type onlyReader struct{ r io.Reader }

func (o onlyReader) Read(p []byte) (int, error) { return o.r.Read(p) }

func TestUploadSizesAndSources(t *testing.T) {
	sizes := []struct {
		name string
		size int64
	}{
		{"1 byte", 1},
		{"chunk-1", testChunk - 1},
		{"chunk", testChunk},
		{"chunk+1", testChunk + 1},
		{"3 chunks+1", 3*testChunk + 1},
	}
	for _, sz := range sizes {
		data := testData(sz.size, uint64(sz.size))
		sum := sha256Hex(data)
		for _, kind := range sourceKinds {
			for _, conc := range []int{1, 4} {
				if conc == 4 && sz.size <= testChunk {
					continue // a single request: concurrency plays no part
				}
				t.Run(sz.name+"/"+kind.name+"/c"+string(rune('0'+conc)), func(t *testing.T) {
					t.Parallel()
					e := newUploadEnv(t)
					var mu sync.Mutex
					var calls []UploadProgress
					res, err := e.client.Upload(t.Context(), e.token, kind.make(t, data), &UploadOptions{
						ChunkSize:   testChunk,
						Concurrency: conc,
						Progress: func(p UploadProgress) {
							mu.Lock()
							calls = append(calls, p)
							mu.Unlock()
						},
					})
					require.NoError(t, err)
					e.checkVideo(t, res, sum, sz.size)
					assert.Contains(t, string(res.Video.RawJSON()), `"assets":{"iframe":"<iframe src=\"`,
						"RawJSON is the whole video, as the last chunk's answer gave it")
					wantChunks := int(layout{testChunk, testChunk}.count(sz.size))
					assert.Equal(t, wantChunks, res.Chunks)
					assert.Equal(t, wantChunks, e.srv.Sandbox.Stats().Count(sandbox.OpUploadWithUploadToken))
					checkProgress(t, calls, sz.size)
				})
			}
		}
	}
}

// checkProgress asserts that progress never went back, never had more
// acknowledged than sent nor more sent than the total, and ended at the total.
func checkProgress(t *testing.T, calls []UploadProgress, total int64) {
	t.Helper()
	require.NotEmpty(t, calls)
	for i, c := range calls {
		assert.LessOrEqual(t, c.Acked, c.Sent, "call %d: %+v", i, c)
		if c.Total >= 0 {
			assert.LessOrEqual(t, c.Sent, c.Total, "call %d: %+v", i, c)
		}
		if i > 0 {
			assert.GreaterOrEqual(t, c.Acked, calls[i-1].Acked, "acked went back: %v", calls)
			assert.GreaterOrEqual(t, c.Sent, calls[i-1].Sent, "sent went back: %v", calls)
		}
	}
	assert.Equal(t, UploadProgress{Acked: total, Sent: total, Total: total}, calls[len(calls)-1])
}

func TestUploadRefusesBeforeAnyRequest(t *testing.T) {
	e := newUploadEnv(t)
	cases := []struct {
		name string
		src  Source
		opts *UploadOptions
	}{
		{"empty file", File(writeTestFile(t, nil)), nil},
		{"empty reader", ReaderAt(bytes.NewReader(nil), 0), nil},
		{"empty stream", Reader(bytes.NewReader(nil), -1), nil},
		{"chunk too small", Reader(bytes.NewReader([]byte("x")), 1), &UploadOptions{ChunkSize: MinChunkSize - 1}},
		{"chunk too large", Reader(bytes.NewReader([]byte("x")), 1), &UploadOptions{ChunkSize: MaxChunkSize + 1}},
		{"too many chunks", ReaderAt(bytes.NewReader(nil), maxParts*MinChunkSize+1), &UploadOptions{ChunkSize: MinChunkSize}},
		{"too many bytes", ReaderAt(bytes.NewReader(nil), maxTotalSize+1), &UploadOptions{ChunkSize: MaxChunkSize}},
		{"nil source", nil, nil},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := e.client.Upload(t.Context(), e.token, tc.src, tc.opts)
			require.ErrorIs(t, err, ErrInvalidInput)
		})
	}
	assert.Zero(t, e.srv.Sandbox.Stats().Count(sandbox.OpUploadWithUploadToken))
}

func bytesReader(b []byte) *bytes.Reader { return bytes.NewReader(b) }

// testLogger sends the client's log lines to t.Log when -v is given.
func testLogger(t testing.TB) *slog.Logger {
	if !testing.Verbose() {
		return slog.New(slog.DiscardHandler)
	}
	return slog.New(slog.NewTextHandler(tWriter{t}, nil))
}

type tWriter struct{ t testing.TB }

func (w tWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimSpace(string(p)))
	return len(p), nil
}
