package wrapper

import (
	"errors"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// BenchmarkStreamCPU uploads the same bytes from a file and from a pipe
// (an *os.File fed by a goroutine that copies the file into it 128 KiB at
// a time, as cat does into `avupload upload -`), in 50 MiB chunks at the
// default concurrency, to a server that reads and discards the body. It
// reports the process's CPU time (user + system, the feeding goroutine and
// the server included) per GiB sent, as cpu-s/GiB: the in-process
// counterpart of bench/run.sh's "avupload file" and "avupload stdin" rows.
// The size is 256 MiB, or AVUPLOAD_BENCH_MIB MiB; a figure meant to be
// compared with run.sh's wants 1024.
func BenchmarkStreamCPU(b *testing.B) {
	const chunk = 50 << 20
	size := int64(256 << 20)
	if s := os.Getenv("AVUPLOAD_BENCH_MIB"); s != "" {
		mib, err := strconv.Atoi(s)
		require.NoError(b, err, "AVUPLOAD_BENCH_MIB")
		require.Positive(b, mib, "AVUPLOAD_BENCH_MIB")
		size = int64(mib) << 20
	}
	// The file is written 1 MiB of test bytes at a time, so that the
	// benchmark does not hold it in memory.
	path := filepath.Join(b.TempDir(), "clip.mp4")
	f, err := os.Create(path)
	require.NoError(b, err)
	piece := testData(1<<20, 7)
	for range size >> 20 {
		_, err := f.Write(piece)
		require.NoError(b, err)
	}
	require.NoError(b, f.Close())
	srv := newDiscardServer(b)
	c, err := New(WithBaseURL(srv.URL))
	require.NoError(b, err)

	sources := []struct {
		name string
		// src returns the source and a function that waits for what feeds it.
		src func(b *testing.B) (Source, func())
	}{
		{"file", func(*testing.B) (Source, func()) { return File(path), func() {} }},
		{"pipe", func(b *testing.B) (Source, func()) {
			pr, pw, err := os.Pipe()
			require.NoError(b, err)
			f, err := os.Open(path)
			require.NoError(b, err)
			fed := make(chan error, 1)
			go func() {
				fed <- catInto(pw, f)
				_ = pw.Close()
				_ = f.Close()
			}()
			return Reader(pr, -1), func() {
				_ = pr.Close()
				require.NoError(b, <-fed)
			}
		}},
	}
	for _, s := range sources {
		b.Run(s.name, func(b *testing.B) {
			opts := &UploadOptions{ChunkSize: chunk}
			b.SetBytes(size)
			var cpu time.Duration
			for b.Loop() {
				src, wait := s.src(b)
				before := processCPU(b)
				res, err := c.Upload(b.Context(), "to1tcmSFHeYY5KzyhOqVKMKb", src, opts)
				cpu += processCPU(b) - before
				wait()
				require.NoError(b, err)
				require.Equal(b, size, res.Size)
			}
			b.ReportMetric(cpu.Seconds()/float64(b.N)/(float64(size)/(1<<30)), "cpu-s/GiB")
		})
	}
}

// catInto copies r into w as cat does: 128 KiB read, then written, with no
// splice or sendfile shortcut.
func catInto(w io.Writer, r io.Reader) error {
	buf := make([]byte, 128<<10)
	for {
		n, err := r.Read(buf)
		if n > 0 {
			if _, werr := w.Write(buf[:n]); werr != nil {
				return werr
			}
		}
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return err
		}
	}
}
