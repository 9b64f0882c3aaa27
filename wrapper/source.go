package wrapper

import (
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"

	"github.com/avupload/avupload/internal/pipe"
)

// Source is what Upload reads a video from. Build one with File, OSFile,
// ReaderAt or Reader. A Source is read once per Upload; only File may be
// given to several Uploads at once.
type Source interface {
	// open prepares the source for one upload.
	open() (*openSource, error)
}

// openSource is a Source ready to be read by one upload.
type openSource struct {
	// size is the length in bytes, or -1 while unknown (a stream).
	size int64
	// at reads a seekable source; nil for a plain reader.
	at io.ReaderAt
	// r reads a plain reader; nil for a seekable source.
	r io.Reader
	// name is the default multipart file name.
	name string
	// identity tells sources apart in resume keys: a file's absolute
	// path; empty for other sources, which Upload names after their file name.
	identity string
	// modTime is the file's modification time, zero when unknown.
	modTime time.Time
	// close releases what open acquired.
	close func() error
	// path is a file's path as it was given, for messages; stat gives the
	// file's size now. Both are empty for other sources.
	path string
	stat func() (int64, error)
}

// resized returns an error matching ErrSourceChanged when the file's size
// is no longer the size it had when the upload began: a file that grew
// holds bytes no chunk sends, one that shrank lacks bytes a chunk was to
// send. It returns nil when the size is the same, or cannot be told.
func (s *openSource) resized() error {
	if s.stat == nil {
		return nil
	}
	n, err := s.stat()
	if err != nil || n == s.size {
		return nil
	}
	return &resizedError{path: s.path, from: s.size, to: n}
}

// resizedError is a file whose size changed during its own upload.
type resizedError struct {
	path     string
	from, to int64
}

func (e *resizedError) Error() string {
	how := "grew"
	if e.to < e.from {
		how = "shrank"
	}
	return fmt.Sprintf("%s: %s %s from %d to %d bytes while it was being uploaded", ErrSourceChanged, e.path, how, e.from, e.to)
}

func (e *resizedError) Unwrap() error { return ErrSourceChanged }

func noClose() error { return nil }

// File is the file at path. Upload opens it and closes it when done. Its
// saved state, for resuming, is found by its absolute path; a resume
// re-reads and checks every acknowledged chunk before sending anything.
func File(path string) Source { return fileSource{path: path} }

type fileSource struct{ path string }

func (s fileSource) open() (*openSource, error) {
	f, err := os.Open(s.path)
	if err != nil {
		return nil, fmt.Errorf("avupload: opening the source: %w", err)
	}
	o, err := statFile(f)
	if err != nil {
		_ = f.Close()
		return nil, err
	}
	o.close = f.Close
	o.path = s.path
	return o, nil
}

// OSFile is an open file, read from offset 0 with ReadAt; its own offset is
// neither used nor moved. The caller keeps ownership: Upload does not close it.
func OSFile(f *os.File) Source { return osFileSource{f: f} }

type osFileSource struct{ f *os.File }

func (s osFileSource) open() (*openSource, error) {
	if s.f == nil {
		return nil, invalidInput("source file is nil")
	}
	o, err := statFile(s.f)
	if err != nil {
		return nil, err
	}
	o.close = noClose
	return o, nil
}

func statFile(f *os.File) (*openSource, error) {
	fi, err := f.Stat()
	if err != nil {
		return nil, fmt.Errorf("avupload: reading the source's size: %w", err)
	}
	if !fi.Mode().IsRegular() {
		return nil, invalidInput("source %s is not a regular file; use Reader for pipes and devices", f.Name())
	}
	abs, err := filepath.Abs(f.Name())
	if err != nil {
		abs = f.Name()
	}
	stat := func() (int64, error) {
		fi, err := f.Stat()
		if err != nil {
			return 0, err
		}
		return fi.Size(), nil
	}
	return &openSource{size: fi.Size(), at: f, name: filepath.Base(f.Name()), identity: abs, modTime: fi.ModTime(),
		path: f.Name(), stat: stat}, nil
}

// ReaderAt is size bytes read from r with ReadAt, from offset 0. Chunks are
// read straight from r into the request, concurrently unless
// UploadOptions.Concurrency is 1 (DefaultConcurrency at once by default),
// so r must allow concurrent ReadAt calls (as *os.File, *bytes.Reader and
// io.SectionReader do).
func ReaderAt(r io.ReaderAt, size int64) Source { return readerAtSource{r: r, size: size} }

type readerAtSource struct {
	r    io.ReaderAt
	size int64
}

func (s readerAtSource) open() (*openSource, error) {
	if s.r == nil {
		return nil, invalidInput("source reader is nil")
	}
	if s.size < 0 {
		return nil, invalidInput("source size %d is negative", s.size)
	}
	return &openSource{size: s.size, at: s.r, name: "video", close: noClose}, nil
}

// Reader is a plain stream read once, in order. size is its length in
// bytes, or negative when unknown (standard input, a pipe): the upload then
// goes by parts and names their number on the last one. Upload reads into
// at most Concurrency+1 chunk-sized buffers. A reader of known size must
// hold at least size bytes: exactly size are read and uploaded, and Upload
// does not read past them (so a stream kept open after them cannot hang it).
// When r is the *os.File of a pipe, Upload widens the pipe's buffer to
// 1 MiB where the system allows it (Linux), which spares CPU time on both
// of its ends.
// A Read that blocks cannot be interrupted: a cancelled Upload returns once
// that Read does.
//
// To resume an upload from a Reader, the same bytes must be read again: the
// chunks already acknowledged are read, hashed, checked against the saved
// state and skipped. At the first difference the upload fails with
// ErrSourceChanged, before any chunk it read is sent.
func Reader(r io.Reader, size int64) Source { return readerSource{r: r, size: max(size, -1)} }

type readerSource struct {
	r    io.Reader
	size int64
}

func (s readerSource) open() (*openSource, error) {
	if s.r == nil {
		return nil, invalidInput("source reader is nil")
	}
	if f, ok := s.r.(*os.File); ok {
		// A pipe's default buffer, 64 KiB on Linux, makes the reader and
		// the writer wake each other every 64 KiB.
		pipe.Widen(f)
	}
	return &openSource{size: s.size, r: s.r, name: "video", close: noClose}, nil
}
