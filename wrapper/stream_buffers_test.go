package wrapper

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"io"
	"os"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"testing/iotest"
	"time"
	"unsafe"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// readAllChunks reads every chunk of k, checking each against data (its
// bytes, its offset, the SHA-256 of data through it), releases it, and
// returns how many there were.
func readAllChunks(t *testing.T, k *readChunker, data []byte) int {
	t.Helper()
	var off int64
	count := 0
	for {
		ch, err := k.next(t.Context())
		if errors.Is(err, io.EOF) {
			break
		}
		require.NoError(t, err)
		require.Equal(t, off, ch.off, "chunk %d", ch.index)
		got, err := io.ReadAll(ch.body())
		require.NoError(t, err)
		require.Equal(t, data[off:off+ch.n], got, "chunk %d's bytes", ch.index)
		s := sha256.Sum256(data[:off+ch.n])
		require.Equal(t, hex.EncodeToString(s[:]), ch.sum, "the SHA-256 through chunk %d", ch.index)
		off += ch.n
		k.release(ch)
		count++
	}
	require.Equal(t, int64(len(data)), off, "every byte in a chunk")
	sum, err := k.sum(t.Context())
	require.NoError(t, err)
	s := sha256.Sum256(data)
	assert.Equal(t, hex.EncodeToString(s[:]), sum, "the stream's SHA-256")
	return count
}

// TestStreamHashedAsRead checks that a stream's SHA-256, taken window by
// window as its bytes arrive, is that of its bytes, through every chunk
// and whole, however the reader hands them out: in pieces smaller and
// larger than the window, a byte at a time, with its last bytes together
// with io.EOF, of a size known or not.
func TestStreamHashedAsRead(t *testing.T) {
	big := testData(3*readWindow+readWindow/2+17, 41)
	small := testData(2*1000+3, 42)
	cases := []struct {
		name   string
		data   []byte
		cs     int64
		reader func(io.Reader) io.Reader
		chunks int
	}{
		{"whole reads", big, readWindow + readWindow/3, func(r io.Reader) io.Reader { return r }, 3},
		{"half reads", big, readWindow + readWindow/3, iotest.HalfReader, 3},
		{"last bytes with EOF", big, readWindow + readWindow/3, iotest.DataErrReader, 3},
		{"a chunk of exactly the window", big, readWindow, iotest.DataErrReader, 4},
		{"a byte at a time", small, 1000, iotest.OneByteReader, 3},
		{"a chunk of exactly the stream", small, int64(len(small)), iotest.OneByteReader, 1},
	}
	for _, c := range cases {
		for _, size := range []int64{-1, int64(len(c.data))} {
			name := c.name + "/unknown size"
			if size >= 0 {
				name = c.name + "/known size"
			}
			t.Run(name, func(t *testing.T) {
				k := newReadChunker(c.reader(bytes.NewReader(c.data)), size, newLayout(c.cs, 1, size), 2, nil)
				defer k.stop()
				assert.Equal(t, c.chunks, readAllChunks(t, k, c.data))
			})
		}
	}
}

// TestStreamReadFailures checks that a stream that fails or ends early
// while a chunk is read fails the read as it did before the bytes were
// hashed as they came, and gives the chunk's buffer back.
func TestStreamReadFailures(t *testing.T) {
	data := testData(3000, 43)
	boom := errors.New("boom")
	cases := []struct {
		name string
		r    io.Reader
		size int64
		want error
	}{
		{"read error", io.MultiReader(bytes.NewReader(data[:1500]), iotest.ErrReader(boom)), -1, boom},
		{"shorter than announced", bytes.NewReader(data[:2500]), 3000, io.ErrUnexpectedEOF},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			k := newReadChunker(c.r, c.size, newLayout(2000, 1, c.size), 1, nil)
			defer k.stop()
			ch, err := k.next(t.Context())
			if c.size >= 0 {
				// The first chunk is whole, the second ends early.
				require.NoError(t, err)
				k.release(ch)
				_, err = k.next(t.Context())
			}
			require.ErrorIs(t, err, c.want)
			assert.Len(t, k.pool.free, k.pool.made, "the failed chunk's buffer given back")
		})
	}
}

// TestReleasedChunkBodyReadsNothing plays a transport that goes on reading
// a request's body after its answer came, and after the chunk was released
// (its buffer given back to the pool, possibly to the system): no read that
// began once release returned (or end, which release follows) gets a byte, and a body made after release
// reads nothing. Reads racing with release end before release returns
// (the race detector watches the buffer).
func TestReleasedChunkBodyReadsNothing(t *testing.T) {
	data := testData(8*hugePage, 44) // a buffer the pool maps from the system, on Linux
	for _, how := range []string{"released", "ended then released"} {
		t.Run(how, func(t *testing.T) {
			k := newReadChunker(bytes.NewReader(data), int64(len(data)), newLayout(int64(len(data)), 1, int64(len(data))), 1, nil)
			ch, err := k.next(t.Context())
			require.NoError(t, err)
			body := ch.body()
			head := make([]byte, 100)
			_, err = io.ReadFull(body, head)
			require.NoError(t, err)
			require.Equal(t, data[:100], head)

			var released atomic.Bool
			var late, lateReads atomic.Int64 // bytes read, and reads, begun once the body was finished
			var wg sync.WaitGroup
			stop, reading := make(chan struct{}), make(chan struct{})
			wg.Go(func() {
				p := make([]byte, 512)
				for i := 0; ; i++ {
					if i == 10 {
						close(reading)
					}
					select {
					case <-stop:
						return
					default:
					}
					after := released.Load()
					n, err := body.Read(p)
					if after {
						late.Add(int64(n))
						lateReads.Add(1)
					}
					if err == nil && n == 0 {
						t.Error("a read of nothing, without error")
						return
					}
				}
			})
			<-reading
			if how == "ended then released" {
				ch.end()
				released.Store(true)
			}
			k.release(ch)
			released.Store(true)
			for deadline := time.Now().Add(10 * time.Second); lateReads.Load() < 10 && time.Now().Before(deadline); {
				time.Sleep(time.Millisecond)
			}
			close(stop)
			wg.Wait()
			assert.GreaterOrEqual(t, lateReads.Load(), int64(10), "reads after release")
			k.stop()
			assert.Zero(t, late.Load(), "bytes read once the body was finished")

			n, err := body.Read(head)
			assert.Zero(t, n, "a read of the old body after release")
			assert.Error(t, err)
			n, err = ch.body().Read(head)
			assert.Zero(t, n, "a read of a body made after release")
			assert.Error(t, err)
		})
	}
}

// TestBufPool checks the pool's bound, its wait, and the buffers it makes:
// zeroed, of the size asked, writable to their end; those of two huge
// pages or more at a huge page boundary on Linux.
func TestBufPool(t *testing.T) {
	for _, size := range []int{4096, 2*hugePage - 1, 2 * hugePage, 5*hugePage + 12345} {
		p := newBufPool(size, 2)
		a, err := p.get(t.Context())
		require.NoError(t, err)
		b, err := p.get(t.Context())
		require.NoError(t, err)
		for _, c := range [][]byte{a, b} {
			require.Len(t, c, size)
			require.Equal(t, size, cap(c))
			assert.Zero(t, bytes.Count(c, []byte{0})-size, "a new buffer is zeroed")
			c[0], c[size-1] = 1, 2
			if runtime.GOOS == "linux" && size >= 2*hugePage {
				assert.Zero(t, uintptr(unsafe.Pointer(&c[0]))%hugePage, "size %d at a huge page boundary", size)
			}
		}

		ctx, cancel := context.WithTimeout(t.Context(), 20*time.Millisecond)
		_, err = p.get(ctx)
		cancel()
		require.ErrorIs(t, err, context.DeadlineExceeded, "a third buffer waits for one given back")
		p.put(a)
		got, err := p.get(t.Context())
		require.NoError(t, err)
		assert.Same(t, &a[0], &got[0], "a buffer given back is handed out again")
		assert.Equal(t, byte(1), got[0], "as it was")
	}
}

// TestUploadFromOSPipe uploads a stream from the read end of an *os.File
// pipe, as the CLI's standard input is one.
func TestUploadFromOSPipe(t *testing.T) {
	e := newUploadEnv(t)
	data := testData(3*testChunk+1234, 46)
	pr, pw, err := os.Pipe()
	require.NoError(t, err)
	defer pr.Close()
	go func() {
		_, _ = pw.Write(data)
		_ = pw.Close()
	}()
	res, err := e.client.Upload(t.Context(), e.token, Reader(pr, -1), &UploadOptions{ChunkSize: testChunk})
	require.NoError(t, err)
	e.checkVideo(t, res, sha256Hex(data), int64(len(data)))
}
