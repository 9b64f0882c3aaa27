package wrapper

import (
	"bytes"
	"fmt"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/avupload/avupload/sandbox"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestLayoutCoversTheSource checks that a layout's chunks follow one
// another from byte 0 to the last without a gap or an overlap, that index
// finds each chunk from its bytes, and that only the first chunk differs.
func TestLayoutCoversTheSource(t *testing.T) {
	const m = MinChunkSize
	cases := []struct {
		lay        layout
		size       int64
		wantChunks int64
	}{
		{layout{m, m}, 1, 1},
		{layout{m, m}, m, 1},
		{layout{m, m}, m + 1, 2},
		{layout{m, 3 * m}, 3*m + 1, 2},   // 5 MiB, then 10 MiB + 1
		{layout{m, 3 * m}, 7 * m, 3},     // 5, 15, 15
		{layout{m, 3 * m}, 8 * m, 4},     // 5, 15, 15, 5
		{layout{m, 3 * m}, 4 * m, 2},     // 5, 15
		{layout{3 * m, 3 * m}, 7 * m, 3}, // 15, 15, 5
	}
	for _, tc := range cases {
		t.Run(fmt.Sprintf("%d/%d/%d", tc.lay.first, tc.lay.cs, tc.size), func(t *testing.T) {
			n := tc.lay.count(tc.size)
			require.Equal(t, tc.wantChunks, n)
			var next int64
			for i := range int(n) {
				from, length := tc.lay.start(i), tc.lay.length(i, tc.size)
				assert.Equal(t, next, from, "chunk %d starts where the one before ended", i)
				assert.Positive(t, length)
				if i > 0 && i < int(n)-1 {
					assert.Equal(t, tc.lay.cs, length, "chunk %d", i)
				}
				assert.Equal(t, i, tc.lay.index(from))
				assert.Equal(t, i, tc.lay.index(from+length-1))
				next = from + length
			}
			assert.Equal(t, tc.size, next, "the chunks end with the source")
		})
	}
	assert.Equal(t, layout{m, 3 * m}, newLayout(3*m, 2, 3*m+1), "several chunks at once: a small first one")
	assert.Equal(t, layout{m, 3 * m}, newLayout(3*m, 2, -1), "a stream of unknown length too")
	assert.Equal(t, layout{3 * m, 3 * m}, newLayout(3*m, 1, 9*m), "one at a time: all alike")
	assert.Equal(t, layout{3 * m, 3 * m}, newLayout(3*m, 4, 3*m), "one chunk: whole")
}

// rangeRecorder serves a sandbox and records the Content-Range of every
// upload request, in the order they arrived.
type rangeRecorder struct {
	sb     *sandbox.Sandbox
	mu     sync.Mutex
	ranges []string
}

func newRangeRecorder(t *testing.T, opts ...sandbox.Option) (*rangeRecorder, *Client, string) {
	t.Helper()
	sb, err := sandbox.New(append([]sandbox.Option{sandbox.WithDataDir(t.TempDir())}, opts...)...)
	require.NoError(t, err)
	rec := &rangeRecorder{sb: sb}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/upload" {
			rec.mu.Lock()
			rec.ranges = append(rec.ranges, r.Header.Get("Content-Range"))
			rec.mu.Unlock()
		}
		sb.ServeHTTP(w, r)
	}))
	t.Cleanup(srv.Close)
	c, err := New(WithBaseURL(srv.URL), WithRetryPolicy(fastRetries))
	require.NoError(t, err)
	t.Cleanup(c.CloseIdleConnections)
	token, err := sb.CreateToken(0)
	require.NoError(t, err)
	return rec, c, token
}

func (r *rangeRecorder) seen() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]string(nil), r.ranges...)
}

// TestFirstChunkIsSmallWhenOthersGoAtOnce uploads 35 MiB + 3 bytes in
// 10 MiB chunks: with several chunks in flight, the first (which goes alone)
// is 5 MiB and the others follow it at 10 MiB, five chunks in all; one at a
// time, every chunk is 10 MiB, four in all. A file and a stream of unknown
// length alike arrive whole.
func TestFirstChunkIsSmallWhenOthersGoAtOnce(t *testing.T) {
	const cs = 2 * MinChunkSize
	const size = 35<<20 + 3
	data := testData(size, 70)
	path := writeTestFile(t, data)
	cases := []struct {
		name  string
		src   func() Source
		conc  int
		first string
		n     int
	}{
		{"file c3", func() Source { return File(path) }, 3, fmt.Sprintf("bytes 0-%d/%d", MinChunkSize-1, size), 5},
		{"file c1", func() Source { return File(path) }, 1, fmt.Sprintf("bytes 0-%d/%d", cs-1, size), 4},
		{"stream c2", func() Source { return Reader(onlyReader{strings.NewReader(string(data))}, -1) }, 2, "part 1/*", 5},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			rec, c, token := newRangeRecorder(t)
			res, err := c.Upload(t.Context(), token, tc.src(), &UploadOptions{ChunkSize: cs, Concurrency: tc.conc})
			require.NoError(t, err)
			assert.Equal(t, sha256Hex(data), res.SHA256)
			assert.Equal(t, tc.n, res.Chunks)
			ranges := rec.seen()
			require.Len(t, ranges, tc.n)
			assert.Equal(t, tc.first, ranges[0], "the first request")
			if tc.conc > 1 && tc.first != "part 1/*" {
				assert.ElementsMatch(t, []string{
					fmt.Sprintf("bytes 0-%d/%d", MinChunkSize-1, size),
					fmt.Sprintf("bytes %d-%d/%d", MinChunkSize, MinChunkSize+cs-1, size),
					fmt.Sprintf("bytes %d-%d/%d", MinChunkSize+cs, MinChunkSize+2*cs-1, size),
					fmt.Sprintf("bytes %d-%d/%d", MinChunkSize+2*cs, MinChunkSize+3*cs-1, size),
					fmt.Sprintf("bytes %d-%d/%d", MinChunkSize+3*cs, size-1, size),
				}, ranges)
			}
		})
	}
}

// TestResumeKeepsTheSavedLayout stops an upload whose first chunk was
// small after a few chunks and resumes it one chunk at a time: the resume
// goes on with the saved layout (its own would cut other chunks), sends
// none of the chunks the state holds, and the API holds the file.
func TestResumeKeepsTheSavedLayout(t *testing.T) {
	const cs = 2 * MinChunkSize
	const size = 41<<20 + 5
	data := testData(size, 71)
	path := writeTestFile(t, data)
	rec, c, token := newRangeRecorder(t, refusedAt(4))
	store := NewStateFile(filepath.Join(t.TempDir(), "state.json"))
	_, err := c.Upload(t.Context(), token, File(path), &UploadOptions{ChunkSize: cs, Concurrency: 2, Store: store})
	require.ErrorIs(t, err, ErrForbidden)
	saved, err := store.Load(t.Context(), "")
	require.NoError(t, err)
	require.NotNil(t, saved)
	assert.Equal(t, MinChunkSize, saved.FirstChunkSize)
	assert.Equal(t, cs, saved.ChunkSize)
	require.NotEmpty(t, saved.Acked)
	assert.Equal(t, 0, saved.Acked[0].Index)
	assert.Equal(t, MinChunkSize, saved.Acked[0].Size)
	assert.Equal(t, sha256Hex(data[:MinChunkSize]), saved.Acked[0].PrefixSHA256)
	held := map[string]bool{}
	for _, c := range saved.Acked {
		from := MinChunkSize + int64(c.Index-1)*cs
		if c.Index == 0 {
			from = 0
		}
		end := from + c.Size
		assert.Equal(t, sha256Hex(data[:end]), c.PrefixSHA256, "chunk %d: the file's hash through it", c.Index)
		held[fmt.Sprintf("bytes %d-%d/%d", from, end-1, size)] = true
	}
	before := len(rec.seen())

	res, err := c.Upload(t.Context(), token, File(path), &UploadOptions{ChunkSize: cs, Concurrency: 1, Store: store})
	require.NoError(t, err)
	assert.Equal(t, len(saved.Acked), res.ResumedChunks)
	assert.Equal(t, saved.AckedBytes(), res.ResumedBytes)
	assert.Equal(t, 5, res.Chunks, "5 MiB, then 10 MiB chunks: 5 + 10 + 10 + 10 + 6 MiB and 5 bytes")
	resumed := rec.seen()[before:]
	assert.NotEmpty(t, resumed)
	for _, r := range resumed {
		assert.False(t, held[r], "%s was sent again, though the state holds it", r)
		assert.Regexp(t, `^bytes (5242880|15728640|26214400|36700160)-`, r, "a chunk of the saved layout")
	}
	assert.Equal(t, sha256Hex(data), res.SHA256)
	stored, err := rec.sb.VideoBytes(res.Video.VideoID)
	require.NoError(t, err)
	assert.True(t, bytes.Equal(data, stored), "the API holds the file")
}

// TestAutoLayout checks the layout the library chooses when the chunk size
// is left to it: one request up to DefaultChunkSize, else a small first
// chunk and equal chunks, as many as a multiple of the concurrency they
// start at, none above DefaultChunkSize nor below MinChunkSize but the
// last, within the API's count.
func TestAutoLayout(t *testing.T) {
	const mib = 1 << 20
	cases := []struct {
		conc       int
		size       int64
		want       layout
		wantChunks int64
	}{
		{4, 1, layout{DefaultChunkSize, DefaultChunkSize}, 1},
		{4, 20 * mib, layout{DefaultChunkSize, DefaultChunkSize}, 1},
		{4, DefaultChunkSize, layout{DefaultChunkSize, DefaultChunkSize}, 1},
		{4, DefaultChunkSize + 1, layout{MinChunkSize, 11800576}, 5},        // 5 MiB, then 4 of 45 MiB / 4, rounded up to 4 KiB
		{4, 100 * mib, layout{MinChunkSize, 24903680}, 5},                   // 5 MiB, then 4 of 23.75 MiB
		{4, 1000 * mib, layout{MinChunkSize, 52166656}, 21},                 // 5 MiB, then 20 of 49.75 MiB
		{4, 1 << 30, layout{MinChunkSize, 44523520}, 25},                    // 5 MiB, then 24 of about 42.5 MiB
		{2, 100 * mib, layout{MinChunkSize, 49807360}, 3},                   // 5 MiB, then 2 of 47.5 MiB
		{1, 100 * mib, layout{52428800, 52428800}, 2},                       // 2 of 50 MiB
		{1, 120 * mib, layout{41943040, 41943040}, 3},                       // 3 of 40 MiB
		{4, -1, layout{MinChunkSize, DefaultChunkSize}, 0},                  // a stream of unknown length
		{1, -1, layout{DefaultChunkSize, DefaultChunkSize}, 0},              // one at a time
		{4, maxTotalSize, layout{MinChunkSize, 52424704}, 1001},             // the API's largest video: 1,000 after the first
		{3, 7*DefaultChunkSize + 12345, layout{MinChunkSize, 40198144}, 10}, // 7 chunks of 50 MiB would do; 9 make full waves of 3
	}
	for _, tc := range cases {
		t.Run(fmt.Sprintf("c%d/%d", tc.conc, tc.size), func(t *testing.T) {
			l := newLayout(0, tc.conc, tc.size)
			assert.Equal(t, tc.want, l)
			if tc.size < 0 {
				return
			}
			n := l.count(tc.size)
			assert.Equal(t, tc.wantChunks, n)
			require.NoError(t, l.checkCount(tc.size))
			if n == 1 {
				return
			}
			assert.Zero(t, l.cs%layoutAlign, "chunks are whole pages")
			assert.LessOrEqual(t, l.cs, DefaultChunkSize)
			assert.GreaterOrEqual(t, l.cs, MinChunkSize)
			if tc.conc > 1 {
				assert.Equal(t, MinChunkSize, l.first, "the first chunk goes alone: as small as the API takes")
				assert.Zero(t, (n-1)%int64(tc.conc), "the chunks after the first go in full waves of %d", tc.conc)
			}
			last := l.length(int(n-1), tc.size)
			assert.Positive(t, last)
			assert.LessOrEqual(t, last, l.cs)
		})
	}
}
