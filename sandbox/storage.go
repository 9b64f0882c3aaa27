package sandbox

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"

	"golang.org/x/sync/semaphore"

	"github.com/avupload/avupload/internal/atomicfile"
)

// blob is stored bytes: a spooled chunk, or an assembled video.
type blob interface {
	size() int64
	open() (io.ReadCloser, error)
	remove()
}

// storage keeps uploaded bytes in memory or on disk.
type storage interface {
	// spool reads r to its end, or until it has read limit+1 bytes when
	// limit >= 0, hashing on the way. n is the number of bytes read.
	spool(r io.Reader, limit int64) (b blob, n int64, sum string, err error)
	// keep moves a spooled blob into the video's own storage under key.
	keep(videoID, key string, b blob) (blob, error)
}

// errMemoryBudget is returned by memStorage.spool when storing the upload
// would take the bytes held in memory past the budget.
var errMemoryBudget = errors.New("sandbox: memory budget spent")

// memSegment is how many bytes memStorage reads at a time. Each read is
// copied into a slice of exactly its length, so stored bytes cost their size
// in memory and nothing grows by doubling.
const memSegment = 1 << 20

// memStorage keeps bytes in memory, within a byte budget shared by every
// upload, spooled or kept.
type memStorage struct {
	budget *semaphore.Weighted
}

func newMemStorage(budget int64) *memStorage {
	return &memStorage{budget: semaphore.NewWeighted(budget)}
}

// segmentPool holds the read buffers of memStorage.spool.
var segmentPool = sync.Pool{New: func() any { return new([memSegment]byte) }}

// memBlob is a list of byte slices, read one after the other; the bytes count
// against budget until removed.
type memBlob struct {
	segs   [][]byte
	n      int64
	budget *semaphore.Weighted
}

func (m *memBlob) size() int64 { return m.n }

func (m *memBlob) open() (io.ReadCloser, error) {
	rs := make([]io.Reader, len(m.segs))
	for i, s := range m.segs {
		rs[i] = bytes.NewReader(s)
	}
	return io.NopCloser(io.MultiReader(rs...)), nil
}

func (m *memBlob) remove() {
	if m.segs != nil {
		m.budget.Release(m.n)
		m.segs, m.n = nil, 0
	}
}

func (ms *memStorage) spool(r io.Reader, limit int64) (blob, int64, string, error) {
	if limit >= 0 {
		r = io.LimitReader(r, limit+1)
	}
	buf := segmentPool.Get().(*[memSegment]byte)
	defer segmentPool.Put(buf)
	b := &memBlob{budget: ms.budget}
	h := sha256.New()
	for {
		// Fill the buffer; unlike io.ReadFull, tell a clean end (io.EOF)
		// from a body cut short (io.ErrUnexpectedEOF from multipart).
		k := 0
		var err error
		for k < len(buf) && err == nil {
			var m int
			m, err = r.Read(buf[k:])
			k += m
		}
		if k > 0 {
			if !ms.budget.TryAcquire(int64(k)) {
				b.remove()
				return nil, 0, "", errMemoryBudget
			}
			seg := make([]byte, k)
			copy(seg, buf[:k])
			h.Write(seg)
			b.segs = append(b.segs, seg)
			b.n += int64(k)
		}
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			n := b.n
			b.remove()
			return nil, n, "", err
		}
	}
	return b, b.n, hex.EncodeToString(h.Sum(nil)), nil
}

func (*memStorage) keep(_, _ string, b blob) (blob, error) { return b, nil }

// dirStorage keeps bytes as files under a directory: tmp/ for spooled
// uploads, videos/ID/ for a video's chunks.
type dirStorage struct {
	dir string
	log *slog.Logger
	// failWrite, when set, is called before each write to the disk; an
	// error it returns stands for the write's (tests inject a full disk).
	failWrite atomic.Pointer[func() error]
}

func newDirStorage(dir string, log *slog.Logger) (*dirStorage, error) {
	for _, d := range []string{tempDirFor(dir), filepath.Join(dir, "videos")} {
		if err := os.MkdirAll(d, dirPerm); err != nil {
			return nil, fmt.Errorf("sandbox: data directory: %w", err)
		}
	}
	return &dirStorage{dir: dir, log: log}, nil
}

// hook returns the error failWrite injects, if any.
func (d *dirStorage) hook() error {
	if f := d.failWrite.Load(); f != nil {
		return (*f)()
	}
	return nil
}

// storageFailure is a failure of the sandbox's own storage (its disk), not
// of the request: the client is not at fault and may send the request again.
type storageFailure struct{ err error }

func (e storageFailure) Error() string { return e.err.Error() }
func (e storageFailure) Unwrap() error { return e.err }

// hookedWriter writes to w, failing as the storage's hook says.
type hookedWriter struct {
	w io.Writer
	d *dirStorage
}

func (h hookedWriter) Write(p []byte) (int, error) {
	if err := h.d.hook(); err != nil {
		return 0, storageFailure{err}
	}
	n, err := h.w.Write(p)
	if err != nil {
		err = storageFailure{err}
	}
	return n, err
}

// fileBlob is a file on disk.
type fileBlob struct {
	path string
	n    int64
}

func (f *fileBlob) size() int64                  { return f.n }
func (f *fileBlob) open() (io.ReadCloser, error) { return os.Open(f.path) }
func (f *fileBlob) remove()                      { _ = os.Remove(f.path) }

func (d *dirStorage) spool(r io.Reader, limit int64) (blob, int64, string, error) {
	f, err := os.CreateTemp(tempDirFor(d.dir), "spool-*")
	if err != nil {
		return nil, 0, "", storageFailure{err}
	}
	if limit >= 0 {
		r = io.LimitReader(r, limit+1)
	}
	h := sha256.New()
	n, err := io.Copy(io.MultiWriter(hookedWriter{w: f, d: d}, h), r)
	if err == nil {
		if err = f.Sync(); err != nil { // the bytes are on disk before the chunk counts as received
			err = storageFailure{err}
		}
	}
	if cerr := f.Close(); err == nil && cerr != nil {
		err = storageFailure{cerr}
	}
	if err != nil {
		_ = os.Remove(f.Name())
		return nil, n, "", err
	}
	return &fileBlob{path: f.Name(), n: n}, n, hex.EncodeToString(h.Sum(nil)), nil
}

func (d *dirStorage) videoDir(videoID string) string { return filepath.Join(d.dir, "videos", videoID) }

func (d *dirStorage) keep(videoID, key string, b blob) (blob, error) {
	fb := b.(*fileBlob)
	vd := d.videoDir(videoID)
	if err := os.MkdirAll(vd, dirPerm); err != nil {
		return nil, storageFailure{err}
	}
	dst := filepath.Join(vd, key)
	if err := os.Rename(fb.path, dst); err != nil {
		return nil, storageFailure{err}
	}
	atomicfile.SyncDir(vd) // the chunk is received: its name must outlive a crash too
	return &fileBlob{path: dst, n: fb.n}, nil
}

// hashBlob is the hex SHA-256 of b's bytes, read once and never held whole
// in memory.
func hashBlob(b blob) (string, error) {
	rc, err := b.open()
	if err != nil {
		return "", err
	}
	defer func() { _ = rc.Close() }()
	h := sha256.New()
	if _, err := io.Copy(h, rc); err != nil {
		return "", err
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}

// concatBlob is blobs read one after the other: a video's chunks, in order,
// joined without copying them.
type concatBlob []blob

func (c concatBlob) size() int64 {
	var n int64
	for _, b := range c {
		n += b.size()
	}
	return n
}

// open reads the blobs in turn, opening each only when the one before it is
// done, so that a video of 10,000 chunks holds one file open at a time.
func (c concatBlob) open() (io.ReadCloser, error) { return &concatReader{rest: c}, nil }

// concatReader reads blobs one after the other.
type concatReader struct {
	rest concatBlob
	cur  io.ReadCloser
}

func (r *concatReader) Read(p []byte) (int, error) {
	for {
		if r.cur == nil {
			if len(r.rest) == 0 {
				return 0, io.EOF
			}
			rc, err := r.rest[0].open()
			if err != nil {
				return 0, err
			}
			r.cur, r.rest = rc, r.rest[1:]
		}
		n, err := r.cur.Read(p)
		if errors.Is(err, io.EOF) {
			err = r.cur.Close()
			r.cur = nil
			if n > 0 || err != nil {
				return n, err
			}
			continue
		}
		return n, err
	}
}

func (r *concatReader) Close() error {
	if r.cur == nil {
		return nil
	}
	err := r.cur.Close()
	r.cur = nil
	return err
}

func (c concatBlob) remove() {
	for _, b := range c {
		b.remove()
	}
}
