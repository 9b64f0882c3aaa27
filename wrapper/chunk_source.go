package wrapper

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"io"
	"sync/atomic"
)

// chunk is one request's worth of the source.
type chunk struct {
	// index is the 0-based chunk number.
	index int
	// off and n place the chunk in the source.
	off, n int64
	// last is set on the source's last chunk.
	last bool
	// whole is set when the chunk is the whole source, sent without Content-Range.
	whole bool
	// rng is the Content-Range of a chunk that is not whole.
	rng contentRange
	// data holds the chunk's bytes at dataOff: the source itself, or a buffer.
	data    io.ReaderAt
	dataOff int64
	// buf is the pooled buffer behind data, nil for a seekable source.
	buf []byte
}

// chunker cuts a source into chunks, in order. next is called from one
// goroutine at a time; release and total from any.
type chunker interface {
	// next returns the next chunk not in skip, or io.EOF after the last.
	next(ctx context.Context) (*chunk, error)
	// release gives back what a chunk holds once it was sent or dropped.
	release(ch *chunk)
	// total is the source's size, or -1 while it is unknown.
	total() int64
	// sum returns the hex SHA-256 of the whole source; it waits for the
	// hashing to end, and fails unless every byte was hashed.
	sum(ctx context.Context) (string, error)
	// stop ends any background work; sum may not be called after it.
	stop()
}

// hashBufferSize is the size of the buffer a hashing pass reads through.
const hashBufferSize = 64 << 10

// chunkCount is the number of chunks of size bytes.
func chunkCount(size, chunkSize int64) int64 { return (size + chunkSize - 1) / chunkSize }

// seekChunker cuts a source read with ReadAt, without copying: a chunk is a
// window on the source. A background pass reads the source once, in order,
// to hash it, through the same page cache the chunks are read from.
type seekChunker struct {
	at        io.ReaderAt
	size, cs  int64
	n         int
	i         int
	skip      ackSet
	hashDone  chan struct{}
	hashSum   string
	hashErr   error
	hashAbort context.CancelFunc
}

// newSeekChunker starts the hashing pass; stop or sum must be called.
func newSeekChunker(ctx context.Context, at io.ReaderAt, size, cs int64) *seekChunker {
	k := &seekChunker{at: at, size: size, cs: cs, n: int(chunkCount(size, cs)), hashDone: make(chan struct{})}
	hctx, cancel := context.WithCancel(ctx)
	k.hashAbort = cancel
	go func() {
		defer close(k.hashDone)
		k.hashSum, k.hashErr = hashReaderAt(hctx, at, size)
	}()
	return k
}

// hashReaderAt hashes size bytes of r in order, stopping early when ctx ends.
func hashReaderAt(ctx context.Context, r io.ReaderAt, size int64) (string, error) {
	h := sha256.New()
	buf := make([]byte, hashBufferSize)
	for off := int64(0); off < size; {
		if err := ctx.Err(); err != nil {
			return "", err
		}
		n := int(min(int64(len(buf)), size-off))
		m, err := r.ReadAt(buf[:n], off)
		h.Write(buf[:m])
		off += int64(m)
		if m < n {
			if err == nil || errors.Is(err, io.EOF) {
				err = io.ErrUnexpectedEOF
			}
			return "", fmt.Errorf("avupload: hashing the source at offset %d: %w", off, err)
		}
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}

func (k *seekChunker) chunkAt(i int) *chunk {
	off := int64(i) * k.cs
	n := min(k.cs, k.size-off)
	ch := &chunk{index: i, off: off, n: n, last: i == k.n-1, data: k.at, dataOff: off}
	if k.n == 1 {
		ch.whole = true
	} else {
		ch.rng = bytesRange(off, n, k.size)
	}
	return ch
}

func (k *seekChunker) next(ctx context.Context) (*chunk, error) {
	for k.i < k.n {
		i := k.i
		k.i++
		if !k.skip.has(i) {
			return k.chunkAt(i), nil
		}
	}
	return nil, io.EOF
}

func (k *seekChunker) release(*chunk) {}

func (k *seekChunker) total() int64 { return k.size }

func (k *seekChunker) sum(ctx context.Context) (string, error) {
	select {
	case <-k.hashDone:
		return k.hashSum, k.hashErr
	case <-ctx.Done():
		return "", ctx.Err()
	}
}

func (k *seekChunker) stop() {
	k.hashAbort()
	<-k.hashDone
}

// readChunker cuts a plain reader into chunks read into pooled buffers,
// hashing every byte on the way. For a stream of unknown length it reads
// one byte ahead of each full chunk, so that it knows which chunk is the
// last and never sends an empty one.
type readChunker struct {
	r        io.Reader
	size     int64 // -1 when unknown
	cs       int64
	pool     *bufPool
	hash     hash.Hash
	head     string
	i        int
	off      int64
	peek     [1]byte
	havePeek bool
	done     bool
	skip     ackSet
	known    atomic.Int64
}

func newReadChunker(r io.Reader, size, cs int64, buffers int) *readChunker {
	bufSize := cs
	if size > 0 {
		bufSize = min(cs, size)
	}
	k := &readChunker{r: r, size: size, cs: cs, pool: newBufPool(int(bufSize), buffers), hash: sha256.New()}
	k.known.Store(size)
	return k
}

// read reads the next chunk, whether or not it is to be skipped.
func (k *readChunker) read(ctx context.Context) (*chunk, error) {
	if k.done {
		return nil, io.EOF
	}
	want := k.cs
	if k.size >= 0 {
		want = min(k.cs, k.size-k.off)
	}
	buf, err := k.pool.get(ctx)
	if err != nil {
		return nil, err
	}
	n := 0
	if k.havePeek {
		buf[0] = k.peek[0]
		n, k.havePeek = 1, false
	}
	m, err := io.ReadFull(k.r, buf[n:want])
	n += m
	last := false
	switch {
	case errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF):
		if k.size >= 0 {
			k.pool.put(buf)
			return nil, fmt.Errorf("avupload: the source ended after %d bytes, %d were announced: %w", k.off+int64(n), k.size, io.ErrUnexpectedEOF)
		}
		last = true
	case err != nil:
		k.pool.put(buf)
		return nil, fmt.Errorf("avupload: reading the source: %w", err)
	case k.size >= 0:
		last = k.off+int64(n) == k.size
	default:
		switch _, err := io.ReadFull(k.r, k.peek[:]); {
		case errors.Is(err, io.EOF):
			last = true
		case err != nil:
			k.pool.put(buf)
			return nil, fmt.Errorf("avupload: reading the source: %w", err)
		case k.i+1 >= maxParts:
			// Known before this part is sent: the stream needs more parts
			// than the API takes.
			k.pool.put(buf)
			return nil, invalidInput("the stream is longer than %d chunks of %d bytes; use larger chunks", maxParts, k.cs)
		default:
			k.havePeek = true
		}
	}
	if n == 0 {
		k.pool.put(buf)
		return nil, invalidInput("the source is empty: there is nothing to upload")
	}
	if k.off+int64(n) > maxTotalSize {
		k.pool.put(buf)
		return nil, invalidInput("the stream is longer than the API's limit of %d bytes", int64(maxTotalSize))
	}
	data := buf[:n]
	k.hash.Write(data)
	if k.i == 0 {
		s := sha256.Sum256(data)
		k.head = hex.EncodeToString(s[:])
	}
	ch := &chunk{index: k.i, off: k.off, n: int64(n), last: last, data: bytes.NewReader(data), buf: buf}
	switch {
	case last && k.i == 0:
		ch.whole = true
	case k.size >= 0:
		ch.rng = bytesRange(k.off, int64(n), k.size)
	case last:
		ch.rng = partRange(k.i+1, k.i+1)
	default:
		ch.rng = partRange(k.i+1, 0)
	}
	k.i++
	k.off += int64(n)
	if last {
		k.done = true
		k.known.Store(k.off)
	}
	return ch, nil
}

func (k *readChunker) next(ctx context.Context) (*chunk, error) {
	for {
		ch, err := k.read(ctx)
		if err != nil || !k.skip.has(ch.index) {
			return ch, err
		}
		k.release(ch)
	}
}

func (k *readChunker) release(ch *chunk) {
	if ch != nil && ch.buf != nil {
		k.pool.put(ch.buf)
		ch.buf, ch.data = nil, nil
	}
}

func (k *readChunker) total() int64 { return k.known.Load() }

func (k *readChunker) sum(context.Context) (string, error) {
	if !k.done {
		return "", errors.New("avupload: the source was not read to its end")
	}
	return hex.EncodeToString(k.hash.Sum(nil)), nil
}

func (k *readChunker) stop() {}

// bufPool hands out at most max buffers of one size, allocated on first
// need. get is called from one goroutine; put from any.
type bufPool struct {
	size, max, made int
	free            chan []byte
}

func newBufPool(size, max int) *bufPool {
	return &bufPool{size: size, max: max, free: make(chan []byte, max)}
}

func (p *bufPool) get(ctx context.Context) ([]byte, error) {
	select {
	case b := <-p.free:
		return b, nil
	default:
	}
	if p.made < p.max {
		p.made++
		return make([]byte, p.size), nil
	}
	select {
	case b := <-p.free:
		return b, nil
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

func (p *bufPool) put(b []byte) {
	select {
	case p.free <- b:
	default:
	}
}
