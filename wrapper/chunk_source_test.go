package wrapper

import (
	"errors"
	"io"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"testing/synctest"

	"github.com/avupload/avupload/sandbox"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// watchedReaderAt serves data and remembers the furthest byte read. flip,
// when set, is the offset of a byte that reads differently every time.
type watchedReaderAt struct {
	mu    sync.Mutex
	data  []byte
	end   int64
	flip  int64
	flips byte
}

func (r *watchedReaderAt) ReadAt(p []byte, off int64) (int, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if off >= int64(len(r.data)) {
		return 0, io.EOF
	}
	n := copy(p, r.data[off:])
	r.end = max(r.end, off+int64(n))
	if r.flip > 0 && off <= r.flip && r.flip < off+int64(n) {
		r.flips++
		p[r.flip-off] ^= r.flips
	}
	if n < len(p) {
		return n, io.EOF
	}
	return n, nil
}

func (r *watchedReaderAt) furthest() int64 {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.end
}

// TestHashPassRunsAWaveAhead: with several chunks in flight, the hashing
// pass reads as many chunks beyond the last one handed out, so that the
// chunks that go together after the first need not wait for it in turn,
// but no more than maxPassAhead bytes of them.
func TestHashPassRunsAWaveAhead(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		const cs, chunks, concurrency = 1000, 20, 4
		data := testData(cs*chunks, 61)
		r := &watchedReaderAt{data: data}
		lay := layout{cs, cs}
		k := newSeekChunker(t.Context(), r, int64(len(data)), lay, passWindow(concurrency, lay), nil)
		defer k.stop()
		synctest.Wait()
		assert.Equal(t, int64((concurrency+1)*cs), r.furthest(), "before any chunk is handed out: the first and the wave after it")
		for i := range 3 {
			_, err := k.next(t.Context())
			require.NoError(t, err)
			synctest.Wait()
			assert.Equal(t, int64((i+concurrency+1)*cs), r.furthest(), "after chunk %d is handed out", i)
		}
	})
	assert.Equal(t, passAhead, passWindow(1, layout{MinChunkSize, MinChunkSize}), "one chunk at a time: the fewest")
	assert.Equal(t, 8, passWindow(8, layout{MinChunkSize, 50 << 20}))
	assert.Equal(t, maxPassAhead/(50<<20), passWindow(MaxConcurrency, layout{MinChunkSize, 50 << 20}), "64 chunks of 50 MiB: bounded in bytes")
	assert.Equal(t, int(maxPassAhead/MaxChunkSize), passWindow(MaxConcurrency, layout{MaxChunkSize, MaxChunkSize}), "the largest chunks")
}

// TestHashPassStaysNearTheRequests checks that the hashing pass reads no
// more than passAhead chunks beyond the last one handed out (so that the
// requests find its bytes in the page cache), goes as far as a resume
// check asks, and takes the source's SHA-256 at the end of every chunk.
func TestHashPassStaysNearTheRequests(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		const cs, chunks = 1000, 20
		data := testData(cs*chunks-7, 60)
		size := int64(len(data))
		r := &watchedReaderAt{data: data}
		k := newSeekChunker(t.Context(), r, size, layout{cs, cs}, passAhead, nil)
		defer k.stop()

		synctest.Wait()
		assert.Equal(t, int64((passAhead+1)*cs), r.furthest(), "before any chunk is handed out")
		for i := range 4 {
			ch, err := k.next(t.Context())
			require.NoError(t, err)
			require.Equal(t, i, ch.index)
			synctest.Wait()
			assert.Equal(t, int64((i+passAhead+1)*cs), r.furthest(), "after chunk %d is handed out", i)
		}

		s, err := k.chunkSum(t.Context(), 12)
		require.NoError(t, err)
		assert.Equal(t, sha256Hex(data[:13*cs]), s.prefix, "the source's SHA-256 through chunk 12")
		synctest.Wait()
		assert.Equal(t, int64(13*cs), r.furthest(), "a resume check takes the pass as far as it asks, no further")

		for {
			if _, err := k.next(t.Context()); errors.Is(err, io.EOF) {
				break
			}
		}
		sum, err := k.sum(t.Context())
		require.NoError(t, err)
		assert.Equal(t, sha256Hex(data), sum)
		last, err := k.chunkSum(t.Context(), chunks-1)
		require.NoError(t, err)
		assert.Equal(t, sum, last.prefix, "through the last chunk is the whole source")
	})
}

// TestConfirmChecksTheBytesSent sends a chunk's bytes as a request would
// and confirms it: the same bytes as the pass read give the source's hash
// through the chunk; a chunk whose bytes differ from those hashed (the
// source changed between the two reads) fails with ErrSourceChanged, as
// does one not read to its end and found different when read again.
func TestConfirmChecksTheBytesSent(t *testing.T) {
	const cs = 1000
	data := testData(3*cs, 61)
	r := &watchedReaderAt{data: data, flip: cs + 10}
	k := newSeekChunker(t.Context(), r, int64(len(data)), layout{cs, cs}, passAhead, nil)
	defer k.stop()

	first, err := k.next(t.Context())
	require.NoError(t, err)
	_, err = io.Copy(io.Discard, first.body())
	require.NoError(t, err)
	sum, err := k.confirm(t.Context(), first)
	require.NoError(t, err)
	assert.Equal(t, sha256Hex(data[:cs]), sum)

	second, err := k.next(t.Context())
	require.NoError(t, err)
	_, err = io.Copy(io.Discard, second.body())
	require.NoError(t, err)
	_, err = k.confirm(t.Context(), second)
	require.ErrorIs(t, err, ErrSourceChanged)
	assert.Contains(t, err.Error(), "chunk 1 (bytes 1000 to 1999)")

	third, err := k.next(t.Context())
	require.NoError(t, err)
	_, err = io.CopyN(io.Discard, third.body(), 10) // answered early
	require.NoError(t, err)
	sum, err = k.confirm(t.Context(), third)
	require.NoError(t, err, "read again, the chunk is the same")
	pass, err := k.chunkSum(t.Context(), 2)
	require.NoError(t, err)
	assert.Equal(t, pass.prefix, sum, "the source's hash through the chunk, as the pass took it")
}

// TestSourceChangingBetweenReadsIsCaught uploads a file one of whose bytes
// reads differently every time, as a file being written to would: the
// chunk holding it is caught when acknowledged, the upload fails with
// ErrSourceChanged rather than report a SHA-256 the API does not hold, and
// the state is discarded so that no later run goes on with the mixed video.
func TestSourceChangingBetweenReadsIsCaught(t *testing.T) {
	const size = 3 * testChunk
	data := testData(size, 62)
	e := newUploadEnv(t)
	store := NewStateFile(filepath.Join(t.TempDir(), "state.json"))
	src := &watchedReaderAt{data: data, flip: testChunk + 100}
	_, err := e.client.Upload(t.Context(), e.token, ReaderAt(src, size),
		&UploadOptions{ChunkSize: testChunk, Concurrency: 1, Store: store})
	require.ErrorIs(t, err, ErrSourceChanged)
	assert.Contains(t, err.Error(), "chunk 1 (bytes 5242880 to 10485759) as sent differs")
	assert.Contains(t, err.Error(), "the next upload of this file starts a new video")
	var upErr *UploadError
	require.ErrorAs(t, err, &upErr)
	assert.Nil(t, upErr.State, "no state to resume the mixed video from")
	_, statErr := os.Stat(store.Path())
	assert.ErrorIs(t, statErr, os.ErrNotExist, "the saved state is discarded")
	assert.Equal(t, 2, e.srv.Sandbox.Stats().Count(sandbox.OpUploadWithUploadToken), "nothing was sent after the changed chunk")
}
