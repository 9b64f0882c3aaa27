package wrapper

import (
	"bytes"
	"cmp"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"hash/crc32"
	"io"
	"sync"
	"sync/atomic"
)

// chunk is one request's worth of the source.
type chunk struct {
	// index is the 0-based chunk number.
	index int
	// off and n place the chunk in the source.
	off, n int64
	// whole is set when the chunk is the whole source, sent without Content-Range.
	whole bool
	// rng is the Content-Range of a chunk that is not whole.
	rng contentRange
	// data holds the chunk's bytes at dataOff: the source itself, or a buffer.
	data    io.ReaderAt
	dataOff int64
	// buf is the pooled buffer behind data, nil for a seekable source and
	// once the chunk was released.
	buf []byte
	// sum is, for a buffered chunk, the hex SHA-256 of the source from its
	// start through this chunk, taken as the chunk was read. It is empty
	// for a chunk of a seekable source, which is read again by every
	// request: each request then fingerprints the bytes it sends.
	sum string
	// flow counts the chunk's request in flight and its bytes; may be nil.
	flow *flight

	mu   sync.Mutex
	cur  *sentBody // the body of the latest request, nil before the first
	gone bool      // released: its buffer went back to the pool
}

// body returns the chunk's bytes for one request: a reader that
// fingerprints them and counts them in flow as they go. A new body (a
// retry) takes the previous one's bytes out of flow. The body of a chunk
// held in a buffer reads nothing once finished (by the next body, by end,
// by release), and a body made after release reads nothing at all, so that
// no transport still writing a request touches a buffer given back.
func (ch *chunk) body() io.Reader {
	b := &sentBody{want: ch.n, flow: ch.flow}
	if ch.sum == "" {
		b.fp = new(fingerprint)
	}
	ch.mu.Lock()
	b.held = ch.buf != nil || ch.gone
	if ch.gone {
		b.done = true
	} else {
		b.r = io.NewSectionReader(ch.data, ch.dataOff, ch.n)
	}
	old := ch.cur
	ch.cur = b
	ch.mu.Unlock()
	old.finish()
	return b
}

// retire marks the chunk released, ends its last request's body and
// returns its buffer, nil when it has none (any more): once retire
// returned, no body reads the buffer.
func (ch *chunk) retire() []byte {
	ch.mu.Lock()
	ch.gone = true
	b, buf := ch.cur, ch.buf
	ch.buf = nil
	ch.mu.Unlock()
	b.finish()
	return buf
}

// end ends the chunk's last request (its bytes leave flow) and returns the
// fingerprint of the bytes it sent; ok is false when it did not read them
// all (a hostile server answered early; the chunk was found already on the
// server) or did not fingerprint them.
func (ch *chunk) end() (fp fingerprint, ok bool) {
	ch.mu.Lock()
	b := ch.cur
	ch.mu.Unlock()
	n, fp, ok := b.finish()
	return fp, ok && n == ch.n
}

// drop ends the chunk's last request, which was not acknowledged.
func (ch *chunk) drop() { ch.end() }

// ranShort reports whether the source ended before the chunk's end while
// its last request read it: the source shrank.
func (ch *chunk) ranShort() bool {
	ch.mu.Lock()
	b := ch.cur
	ch.mu.Unlock()
	if b == nil {
		return false
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.short
}

// errSourceEnded is what a request body reads when the source ends before
// the chunk does, so that the transport stops the request; the upload then
// says how the source changed (see upload.sourceShort). It wraps neither
// io.EOF nor io.ErrUnexpectedEOF, so that it is not retried.
var errSourceEnded = fmt.Errorf("%w: the source ended before the chunk", ErrSourceChanged)

// errBodyFinished is what the body of a chunk held in a buffer reads once
// finished: its request was answered or abandoned, and the buffer may be
// another chunk's, or given back.
var errBodyFinished = errors.New("avupload: the request was over before its body was sent")

// sentBody is a chunk's bytes on their way into one request.
type sentBody struct {
	r     io.Reader
	want  int64 // the chunk's length
	flow  *flight
	held  bool // the bytes are a pool's buffer: read under mu, and not once done
	mu    sync.Mutex
	fp    *fingerprint // nil when the chunk's bytes are held in memory
	n     int64        // bytes read and counted, until finish
	got   int64        // bytes read, all told
	short bool         // the source ended before want bytes
	done  bool
}

func (b *sentBody) Read(p []byte) (int, error) {
	if b.held {
		b.mu.Lock()
		defer b.mu.Unlock()
		if b.done {
			return 0, errBodyFinished
		}
		n, err := b.r.Read(p)
		return b.count(p, n, err)
	}
	n, err := b.r.Read(p)
	if n > 0 || err != nil {
		b.mu.Lock()
		n, err = b.count(p, n, err)
		b.mu.Unlock()
	}
	return n, err
}

// count takes in a read of n bytes into p that returned err; b.mu is held.
func (b *sentBody) count(p []byte, n int, err error) (int, error) {
	b.got += int64(n)
	if !b.done && n > 0 {
		if b.fp != nil {
			b.fp.add(p[:n])
		}
		if b.flow != nil {
			if b.n == 0 {
				b.flow.chunks.Add(1)
			}
			b.flow.bytes.Add(int64(n))
		}
		b.n += int64(n)
	}
	if errors.Is(err, io.EOF) && b.got < b.want {
		b.short, err = true, errSourceEnded
	}
	return n, err
}

// finish stops counting: later reads (a transport still writing after the
// answer came) are neither fingerprinted nor counted, and read nothing from
// a buffer. It returns the bytes
// read and their fingerprint, if they were fingerprinted. A nil body
// finishes with nothing.
func (b *sentBody) finish() (int64, fingerprint, bool) {
	if b == nil {
		return 0, fingerprint{}, false
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if !b.done {
		b.done = true
		if b.flow != nil && b.n > 0 {
			b.flow.bytes.Add(-b.n)
			b.flow.chunks.Add(-1)
		}
	}
	if b.fp == nil {
		return b.n, fingerprint{}, false
	}
	return b.n, *b.fp, true
}

// chunker cuts a source into chunks, in order. next is called from one
// goroutine at a time; release, confirm and total from any.
type chunker interface {
	// next returns the next chunk not in skip, or io.EOF after the last.
	next(ctx context.Context) (*chunk, error)
	// confirm ends the last request of a chunk the API acknowledged and
	// returns the hex SHA-256 of the source from its start through the
	// chunk, as its saved state records it. It fails with
	// ErrSourceChanged when the bytes the request sent are not those
	// hashed for the source's SHA-256: the source changed meanwhile.
	confirm(ctx context.Context, ch *chunk) (string, error)
	// prefix returns the hex SHA-256 of the source from its start through
	// ch, as hashed by this upload, waiting for the hashing to get there:
	// what a state records of a chunk before its first byte goes.
	prefix(ctx context.Context, ch *chunk) (string, error)
	// release gives back what a chunk holds once it was sent or dropped.
	release(ch *chunk)
	// total is the source's size, or -1 while it is unknown.
	total() int64
	// layout is how the source is cut.
	layout() layout
	// sum returns the hex SHA-256 of the whole source; it waits for the
	// hashing to end, and fails unless every byte was hashed.
	sum(ctx context.Context) (string, error)
	// stop ends any background work; sum may not be called after it.
	stop()
}

// newChunker cuts src into chunks, and is where a resume is planned. With
// no saved state (saved is nil) it cuts by fresh. With one, it goes on
// with the saved video: it cuts by the saved layout (the chunks the API
// holds were cut by it) and skips the chunks saved as acknowledged, after
// checking them. A seekable source is checked here, before anything is
// sent: its size, then its SHA-256 at the end of each chunk saved as
// acknowledged or as being sent (the API may hold those too), read by the
// chunker's hashing pass, so that a resume reads no byte twice. A stream is
// checked as it is read (see readChunker.next).
//
// When a seekable source differs from the saved state's, newChunker
// returns a chunker cut by fresh, for a new video, and in startOver the
// reason not to go on with the saved one. err is a source that needs more
// chunks than the API takes, or one that could not be read to be checked.
// concurrency is the most chunks in flight after the first: a stream may
// hold one buffer more, and the hashing pass of a seekable source may run
// that many chunks ahead (see passAhead).
func newChunker(ctx context.Context, src *openSource, fresh layout, saved *UploadState, concurrency int) (k chunker, startOver, err error) {
	lay := fresh
	if saved != nil {
		lay = savedLayout(saved)
	}
	if src.at == nil {
		if err := lay.checkStreamCount(src.size); err != nil {
			return nil, nil, err
		}
		var acked []AckedChunk
		if saved != nil {
			acked = saved.Acked
		}
		return newReadChunker(src.r, src.size, lay, concurrency+1, acked), nil, nil
	}
	size := src.size
	if saved != nil && saved.Total != size {
		startOver = fmt.Errorf("%w: the file holds %d bytes, the saved upload was of %d",
			ErrSourceChanged, size, saved.Total)
		saved, lay = nil, fresh
	}
	if err := lay.checkCount(size); err != nil {
		return nil, startOver, err
	}
	sk := newSeekChunker(ctx, src.at, size, lay, passWindow(concurrency, lay), src.resized)
	if saved == nil {
		return sk, startOver, nil
	}
	switch err := sk.check(ctx, saved); {
	case err == nil:
		for _, c := range saved.Acked {
			sk.skip.add(c.Index)
		}
		return sk, nil, nil
	case !errors.Is(err, ErrSourceChanged):
		sk.stop()
		return nil, nil, err
	case lay == fresh:
		// The pass already cut the file as a new video would.
		return sk, err, nil
	default:
		sk.stop()
		if cerr := fresh.checkCount(size); cerr != nil {
			return nil, err, cerr
		}
		return newSeekChunker(ctx, src.at, size, fresh, passWindow(concurrency, fresh), src.resized), err, nil
	}
}

// check compares the source's SHA-256 at the end of each chunk saved
// acknowledged or being sent with the saved one: the API may hold a chunk
// being sent, so its bytes must be the file's as much as an acknowledged
// chunk's. It waits for the hashing pass to get past the chunk checked,
// and fails with ErrSourceChanged at the first difference.
func (k *seekChunker) check(ctx context.Context, saved *UploadState) error {
	var from int64 // the first byte not yet found the same
	check := func(c AckedChunk, what string) error {
		s, err := k.chunkSum(ctx, c.Index)
		if err != nil {
			return err
		}
		end := k.lay.start(c.Index) + c.Size
		if s.prefix != c.PrefixSHA256 {
			return fmt.Errorf("%w: %s, through chunk %d, differ from those of the saved upload of video %s%s",
				ErrSourceChanged, byteSpan("the file's", from, end), c.Index, saved.VideoID, what)
		}
		from = max(from, end)
		return nil
	}
	for _, c := range saved.Acked {
		if err := check(c, ""); err != nil {
			return err
		}
	}
	from = 0
	for _, c := range saved.Sending {
		if err := check(c, ", which was sending that chunk"); err != nil {
			return err
		}
	}
	return nil
}

// byteSpan names the bytes from from to end (excluded) of whose.
func byteSpan(whose string, from, end int64) string {
	return fmt.Sprintf("%s bytes %d to %d", whose, from, end-1)
}

// hashBufferSize is the size of the buffer a hashing pass reads through.
const hashBufferSize = 64 << 10

// passAhead is the fewest chunks the hashing pass may read beyond the last
// one handed out; it may read as many as go at once when that is more, up
// to maxPassAhead bytes (see passWindow). A chunk goes only once the pass
// is past it (pass.intend records the source's SHA-256 through it before
// it goes), so the pass must be a wave ahead: the chunks that go together
// once the first is answered are hashed while the first goes, instead of
// each waiting for the pass in turn (on a 40 ms link, the fourth of a
// 100 MiB file started 77 ms after the first). Yet it stays near the
// requests, so that the bytes it reads are still in the page cache when a
// request reads them, and a file is read from the disk once, however large.
const passAhead = 2

// maxPassAhead bounds in bytes how far beyond the requests passWindow
// lets the hashing pass read, whatever the concurrency.
const maxPassAhead = 512 << 20

// passWindow is how many chunks of lay the hashing pass may read beyond
// the last one handed out, for concurrency chunks in flight.
func passWindow(concurrency int, lay layout) int {
	return max(passAhead, min(concurrency, int(maxPassAhead/max(lay.cs, 1))))
}

// seekChunker cuts a source read with ReadAt, without copying: a chunk is a
// window on the source. A background pass reads the source once, in order,
// just ahead of the requests and through the same page cache, and takes
// the source's SHA-256 (the only SHA-256 each byte goes through), its value
// at the end of every chunk, and a fingerprint of every chunk. A request
// fingerprints the bytes it sends the same way: an acknowledged
// chunk whose fingerprint differs was changed between the two reads, and
// the source's SHA-256 would not be that of the bytes the API holds.
type seekChunker struct {
	at        io.ReaderAt
	resized   func() error // the source's size check (see openSource.resized)
	size      int64
	lay       layout
	n         int
	i         int
	ahead     int // chunks the pass may read beyond the last handed out
	skip      ackSet
	hashDone  chan struct{}
	hashAbort context.CancelFunc

	mu      sync.Mutex
	sums    []passSum     // what the pass took of each chunk so far
	limit   int           // the last chunk the pass may read before it waits
	ended   bool          // the pass ended, with hashSum or hashErr
	hashSum string        // the source's hex SHA-256
	hashErr error         // why the pass stopped early
	changed chan struct{} // closed, and replaced, when sums or limit grow or the pass ends
}

// passSum is what the hashing pass took of one chunk.
type passSum struct {
	prefix string      // the hex SHA-256 of the source through the chunk
	fp     fingerprint // the chunk's
}

// newSeekChunker starts the hashing pass; stop or sum must be called.
// resized, when not nil, tells whether the source's size changed: the pass
// calls it when it ends, and when it finds the source shorter than size.
func newSeekChunker(ctx context.Context, at io.ReaderAt, size int64, lay layout, ahead int, resized func() error) *seekChunker {
	k := &seekChunker{at: at, resized: resized, size: size, lay: lay, n: int(lay.count(size)), ahead: ahead, hashDone: make(chan struct{}),
		limit: ahead, changed: make(chan struct{})}
	hctx, cancel := context.WithCancel(ctx)
	k.hashAbort = cancel
	go func() {
		defer close(k.hashDone)
		sum, err := k.hashPass(hctx)
		k.mu.Lock()
		k.hashSum, k.hashErr, k.ended = sum, err, true
		k.signal()
		k.mu.Unlock()
	}()
	return k
}

// signal wakes whoever waits on changed; k.mu is held.
func (k *seekChunker) signal() {
	close(k.changed)
	k.changed = make(chan struct{})
}

// allow lets the pass read up to chunk i.
func (k *seekChunker) allow(i int) {
	k.mu.Lock()
	defer k.mu.Unlock()
	if i > k.limit {
		k.limit = i
		k.signal()
	}
}

// hashPass hashes the source in order, a chunk at a time as far as it is
// allowed, stopping early when ctx ends.
func (k *seekChunker) hashPass(ctx context.Context) (string, error) {
	whole := sha256.New()
	buf := make([]byte, hashBufferSize)
	for i := range k.n {
		if err := k.wait(ctx, func() bool { return i <= k.limit }); err != nil {
			return "", err
		}
		var fp fingerprint
		off := k.lay.start(i)
		for end := off + k.lay.length(i, k.size); off < end; {
			n := int(min(int64(len(buf)), end-off))
			m, err := k.at.ReadAt(buf[:n], off)
			whole.Write(buf[:m])
			fp.add(buf[:m])
			off += int64(m)
			if m < n {
				if k.resized != nil {
					if rerr := k.resized(); rerr != nil {
						return "", rerr
					}
				}
				if err == nil || errors.Is(err, io.EOF) {
					err = io.ErrUnexpectedEOF
				}
				return "", fmt.Errorf("avupload: hashing the source at offset %d: %w", off, err)
			}
		}
		s := passSum{prefix: hex.EncodeToString(whole.Sum(nil)), fp: fp}
		k.mu.Lock()
		k.sums = append(k.sums, s)
		k.signal()
		k.mu.Unlock()
	}
	// A file that grew holds bytes past those hashed, which no chunk sends.
	if k.resized != nil {
		if err := k.resized(); err != nil {
			return "", err
		}
	}
	return hex.EncodeToString(whole.Sum(nil)), nil
}

// wait calls ready, with k.mu held, until it reports true, waiting for a
// change of the pass between calls.
func (k *seekChunker) wait(ctx context.Context, ready func() bool) error {
	for {
		k.mu.Lock()
		ok, changed := ready(), k.changed
		k.mu.Unlock()
		if ok {
			return nil
		}
		select {
		case <-changed:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

// chunkSum waits for the pass to read chunk i and returns what it took.
func (k *seekChunker) chunkSum(ctx context.Context, i int) (passSum, error) {
	k.allow(i)
	var s passSum
	var err error
	werr := k.wait(ctx, func() bool {
		switch {
		case i < len(k.sums):
			s = k.sums[i]
		case k.hashErr != nil:
			err = k.hashErr
		case k.ended:
			err = fmt.Errorf("avupload: internal error: chunk %d was not hashed", i)
		default:
			return false
		}
		return true
	})
	return s, cmp.Or(werr, err)
}

func (k *seekChunker) chunkAt(i int) *chunk {
	off, n := k.lay.start(i), k.lay.length(i, k.size)
	ch := &chunk{index: i, off: off, n: n, data: k.at, dataOff: off}
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
			k.allow(i + k.ahead)
			return k.chunkAt(i), nil
		}
	}
	k.allow(k.n)
	return nil, io.EOF
}

func (k *seekChunker) confirm(ctx context.Context, ch *chunk) (string, error) {
	fp, ok := ch.end()
	if !ok {
		var err error
		if fp, err = fingerprintRange(ch.data, ch.dataOff, ch.n); err != nil {
			return "", err
		}
	}
	s, err := k.chunkSum(ctx, ch.index)
	if err != nil {
		return "", err
	}
	if s.fp != fp {
		return "", fmt.Errorf("%w while it was being uploaded: chunk %d (bytes %d to %d) as sent differs from the file as hashed",
			ErrSourceChanged, ch.index, ch.off, ch.off+ch.n-1)
	}
	return s.prefix, nil
}

func (k *seekChunker) prefix(ctx context.Context, ch *chunk) (string, error) {
	s, err := k.chunkSum(ctx, ch.index)
	return s.prefix, err
}

// fingerprintRange is the fingerprint of n bytes of r from off.
func fingerprintRange(r io.ReaderAt, off, n int64) (fingerprint, error) {
	var fp fingerprint
	if _, err := io.CopyBuffer(&fp, io.NewSectionReader(r, off, n), make([]byte, hashBufferSize)); err != nil {
		return fp, fmt.Errorf("avupload: reading the source: %w", err)
	}
	return fp, nil
}

// fingerprint tells whether two reads of a chunk gave the same bytes: their
// CRC-32C and CRC-32 (IEEE), two 32-bit checks of different polynomials,
// which together miss a random change about once in 2^63 (they may share
// the factor x+1) and catch every change of up to 32 bits in a row. Both are
// hardware-assisted on amd64 and arm64, several times faster than SHA-256,
// which the source's bytes go through once, in the pass.
type fingerprint struct{ c, ieee uint32 }

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

func (fp *fingerprint) add(b []byte) {
	fp.c = crc32.Update(fp.c, castagnoli, b)
	fp.ieee = crc32.Update(fp.ieee, crc32.IEEETable, b)
}

// Write adds b, for io.Copy.
func (fp *fingerprint) Write(b []byte) (int, error) {
	fp.add(b)
	return len(b), nil
}

func (k *seekChunker) release(*chunk) {}

func (k *seekChunker) total() int64 { return k.size }

func (k *seekChunker) layout() layout { return k.lay }

func (k *seekChunker) sum(ctx context.Context) (string, error) {
	var sum string
	var err error
	werr := k.wait(ctx, func() bool {
		sum, err = k.hashSum, k.hashErr
		return k.ended
	})
	return sum, cmp.Or(werr, err)
}

func (k *seekChunker) stop() {
	k.hashAbort()
	<-k.hashDone
}

// readChunker cuts a plain reader into chunks read into pooled buffers,
// hashing every byte on the way. For a stream of unknown length it reads
// one byte ahead of each full chunk, so that it knows which chunk is the
// last and never sends an empty one.
//
// When resuming, the chunks a saved state acknowledged are read, checked
// against their saved hashes (the stream's SHA-256 through each) and
// skipped; the others before the last of
// them are held back until that one is checked, so that nothing is sent
// from a stream that turns out to differ.
type readChunker struct {
	r        io.Reader
	size     int64 // -1 when unknown
	lay      layout
	pool     *bufPool
	hash     hash.Hash
	i        int
	off      int64
	peek     [1]byte
	havePeek bool
	done     bool
	known    atomic.Int64

	saved    map[int]AckedChunk // acknowledged chunks to check and skip
	lastSkip int                // the highest index in saved, -1 when none
	checked  int64              // the bytes found the same as the saved upload's
	held     []*chunk           // chunks read while checking, to send next
}

// newReadChunker cuts r, of size bytes (-1 when unknown), by lay into at
// most buffers chunk buffers, and checks and skips acked, the chunks a
// saved state acknowledged. The chunks it holds back while checking them
// each take a buffer more, which the pool does not keep once given back.
func newReadChunker(r io.Reader, size int64, lay layout, buffers int, acked []AckedChunk) *readChunker {
	bufSize := lay.cs
	if size > 0 {
		bufSize = min(lay.cs, size)
	}
	k := &readChunker{r: r, size: size, lay: lay, pool: newBufPool(int(bufSize), buffers), hash: sha256.New(), lastSkip: -1}
	if len(acked) > 0 {
		k.saved = make(map[int]AckedChunk, len(acked))
		for _, c := range acked {
			k.saved[c.Index] = c
			k.lastSkip = max(k.lastSkip, c.Index)
		}
	}
	k.pool.max += k.lastSkip + 1 - len(acked) // the chunks held back while checking
	k.known.Store(size)
	return k
}

// read reads the next chunk, whether or not it is to be skipped.
func (k *readChunker) read(ctx context.Context) (*chunk, error) {
	if k.done {
		return nil, io.EOF
	}
	want := k.lay.length(k.i, k.size)
	buf, err := k.pool.get(ctx)
	if err != nil {
		return nil, err
	}
	n := 0
	if k.havePeek {
		buf[0] = k.peek[0]
		n, k.havePeek = 1, false
	}
	m, err := k.readHashed(buf[:want], n)
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
			return nil, invalidInput("the stream is longer than %d chunks of %d bytes; use larger chunks", maxParts, k.lay.cs)
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
	ch := &chunk{index: k.i, off: k.off, n: int64(n), data: bytes.NewReader(data), buf: buf,
		sum: hex.EncodeToString(k.hash.Sum(nil))}
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

// readWindow is the most a stream is asked for at once: its bytes are
// hashed as soon as they arrive, while they are still in the processor's
// cache, rather than once the whole chunk is in (by then its start was
// evicted, and SHA-256 would read it from memory again). It is also the
// largest pipe buffer Linux lets an unprivileged process have.
const readWindow = 1 << 20

// readHashed fills buf from its first n bytes, which are there already,
// to its end, as io.ReadFull does, and adds every byte of buf it holds
// when it returns (n included) to the stream's SHA-256. It returns the
// bytes read.
func (k *readChunker) readHashed(buf []byte, n int) (int, error) {
	k.hash.Write(buf[:n])
	read := 0
	var err error
	for n < len(buf) && err == nil {
		var m int
		m, err = k.r.Read(buf[n:min(n+readWindow, len(buf))])
		k.hash.Write(buf[n : n+m])
		n += m
		read += m
	}
	switch {
	case n == len(buf):
		err = nil
	case errors.Is(err, io.EOF) && read > 0:
		err = io.ErrUnexpectedEOF
	}
	return read, err
}

func (k *readChunker) next(ctx context.Context) (*chunk, error) {
	for k.i <= k.lastSkip {
		if k.done {
			k.dropHeld()
			return nil, fmt.Errorf("%w: the stream ended after %d bytes, before chunk %d, which the saved upload sent",
				ErrSourceChanged, k.off, k.lastSkip)
		}
		ch, err := k.read(ctx)
		if err != nil {
			k.dropHeld()
			return nil, err
		}
		want, skip := k.saved[ch.index]
		if !skip {
			k.held = append(k.held, ch)
			continue
		}
		k.release(ch)
		if ch.n != want.Size || ch.sum != want.PrefixSHA256 {
			k.dropHeld()
			return nil, fmt.Errorf("%w: %s, through chunk %d, differ from those of the saved upload: this is not the same stream",
				ErrSourceChanged, byteSpan("the stream's", k.checked, ch.off+ch.n), ch.index)
		}
		k.checked = ch.off + ch.n
	}
	if len(k.held) > 0 {
		ch := k.held[0]
		k.held = k.held[1:]
		return ch, nil
	}
	return k.read(ctx)
}

// dropHeld releases the chunks held back.
func (k *readChunker) dropHeld() {
	for _, ch := range k.held {
		k.release(ch)
	}
	k.held = nil
}

func (k *readChunker) confirm(_ context.Context, ch *chunk) (string, error) {
	ch.end()
	return ch.sum, nil
}

func (k *readChunker) prefix(_ context.Context, ch *chunk) (string, error) { return ch.sum, nil }

func (k *readChunker) release(ch *chunk) {
	if ch == nil {
		return
	}
	if buf := ch.retire(); buf != nil {
		k.pool.put(buf)
	}
}

func (k *readChunker) total() int64 { return k.known.Load() }

func (k *readChunker) layout() layout { return k.lay }

func (k *readChunker) sum(context.Context) (string, error) {
	if !k.done || len(k.held) > 0 {
		return "", errors.New("avupload: the source was not read to its end")
	}
	return hex.EncodeToString(k.hash.Sum(nil)), nil
}

// stop releases the chunks held back.
func (k *readChunker) stop() { k.dropHeld() }
