package sandbox

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"os"
	"path/filepath"
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
	// assemble concatenates parts, in order, into the video's source and
	// releases the parts; it never holds the whole video in memory when the
	// storage is a directory.
	assemble(videoID string, parts []blob) (b blob, sum string, err error)
}

// memStorage keeps bytes in memory.
type memStorage struct{}

// memBlob is a list of byte slices, read one after the other.
type memBlob [][]byte

func (m memBlob) size() int64 {
	var n int64
	for _, s := range m {
		n += int64(len(s))
	}
	return n
}

func (m memBlob) open() (io.ReadCloser, error) {
	rs := make([]io.Reader, len(m))
	for i, s := range m {
		rs[i] = bytes.NewReader(s)
	}
	return io.NopCloser(io.MultiReader(rs...)), nil
}

func (memBlob) remove() {}

func (memStorage) spool(r io.Reader, limit int64) (blob, int64, string, error) {
	if limit >= 0 {
		r = io.LimitReader(r, limit+1)
	}
	var buf bytes.Buffer
	h := sha256.New()
	n, err := io.Copy(io.MultiWriter(&buf, h), r)
	if err != nil {
		return nil, n, "", err
	}
	return memBlob{buf.Bytes()}, n, hex.EncodeToString(h.Sum(nil)), nil
}

func (memStorage) keep(_, _ string, b blob) (blob, error) { return b, nil }

func (memStorage) assemble(_ string, parts []blob) (blob, string, error) {
	var out memBlob
	h := sha256.New()
	for _, p := range parts {
		for _, s := range p.(memBlob) {
			h.Write(s)
			out = append(out, s)
		}
	}
	return out, hex.EncodeToString(h.Sum(nil)), nil
}

// dirStorage keeps bytes as files under a directory: tmp/ for spooled
// uploads, videos/ID/ for chunks and the assembled source.
type dirStorage struct{ dir string }

func newDirStorage(dir string) (*dirStorage, error) {
	for _, d := range []string{tempDirFor(dir), filepath.Join(dir, "videos")} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			return nil, fmt.Errorf("sandbox: data directory: %w", err)
		}
	}
	return &dirStorage{dir: dir}, nil
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
		return nil, 0, "", err
	}
	if limit >= 0 {
		r = io.LimitReader(r, limit+1)
	}
	h := sha256.New()
	n, err := io.Copy(io.MultiWriter(f, h), r)
	if cerr := f.Close(); err == nil {
		err = cerr
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
	if err := os.MkdirAll(vd, 0o755); err != nil {
		return nil, err
	}
	dst := filepath.Join(vd, key)
	if err := os.Rename(fb.path, dst); err != nil {
		return nil, err
	}
	return &fileBlob{path: dst, n: fb.n}, nil
}

func (d *dirStorage) assemble(videoID string, parts []blob) (blob, string, error) {
	vd := d.videoDir(videoID)
	if err := os.MkdirAll(vd, 0o755); err != nil {
		return nil, "", err
	}
	dst := filepath.Join(vd, "source")
	f, err := os.Create(dst)
	if err != nil {
		return nil, "", err
	}
	h := sha256.New()
	w := io.MultiWriter(f, h)
	var n int64
	for _, p := range parts {
		rc, err := p.open()
		if err != nil {
			_ = f.Close()
			return nil, "", err
		}
		m, err := io.Copy(w, rc)
		_ = rc.Close()
		n += m
		if err != nil {
			_ = f.Close()
			return nil, "", err
		}
	}
	if err := f.Close(); err != nil {
		return nil, "", err
	}
	for _, p := range parts {
		p.remove()
	}
	return &fileBlob{path: dst, n: n}, hex.EncodeToString(h.Sum(nil)), nil
}
