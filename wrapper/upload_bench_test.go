package wrapper

import (
	"bytes"
	"io"
	"net/http"
	"net/http/httptest"
	"runtime"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/avupload/avupload/sandbox"
	"github.com/avupload/avupload/sandbox/sandboxtest"
)

// benchChunks is the number of chunks per benchmarked upload.
const benchChunks = 8

// BenchmarkUpload uploads 8 chunks of 5 MiB from a file and from a plain
// reader, to the sandbox and to a server that only reads and discards the
// body (which allocates little, so that its figures are nearly the
// client's own). It reports the bytes allocated per chunk in the whole
// process; for a reader, the Concurrency+1 chunk buffers an upload holds
// are also reported apart, as buffer-B/chunk, and left out of B/chunk.
func BenchmarkUpload(b *testing.B) {
	const size = benchChunks * testChunk
	data := testData(size, 99)
	path := writeTestFile(b, data)
	servers := map[string]func(b *testing.B) (string, string){
		"sandbox": func(b *testing.B) (string, string) {
			srv := sandboxtest.NewServer(b, sandbox.WithDataDir(b.TempDir()))
			token, err := srv.Sandbox.CreateToken(0)
			require.NoError(b, err)
			return srv.URL, token
		},
		"discard": func(b *testing.B) (string, string) {
			return newDiscardServer(b).URL, "to1tcmSFHeYY5KzyhOqVKMKb"
		},
	}
	sources := []struct {
		name    string
		src     func() Source
		buffers int64
	}{
		{"file", func() Source { return File(path) }, 0},
		{"reader", func() Source { return Reader(bytes.NewReader(data), size) }, DefaultStreamConcurrency + 1},
	}
	for _, server := range []string{"discard", "sandbox"} {
		for _, s := range sources {
			b.Run(server+"/"+s.name, func(b *testing.B) {
				url, token := servers[server](b)
				c, err := New(WithBaseURL(url))
				require.NoError(b, err)
				opts := &UploadOptions{ChunkSize: testChunk}
				b.SetBytes(size)
				b.ReportAllocs()
				var before, after runtime.MemStats
				runtime.ReadMemStats(&before)
				for b.Loop() {
					_, err := c.Upload(b.Context(), token, s.src(), opts)
					require.NoError(b, err)
				}
				runtime.ReadMemStats(&after)
				chunks := float64(b.N * benchChunks)
				buffers := float64(s.buffers*testChunk) * float64(b.N)
				b.ReportMetric((float64(after.TotalAlloc-before.TotalAlloc)-buffers)/chunks, "B/chunk")
				b.ReportMetric(buffers/chunks, "buffer-B/chunk")
			})
		}
	}
}

// newDiscardServer is a server that reads every request's body, keeps
// nothing and answers as the API does to a chunk: the client's cost alone.
func newDiscardServer(tb testing.TB) *httptest.Server {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusCreated)
		_, _ = io.WriteString(w, `{"videoId":"vi4k0jvEUuaTdRAEjQ4Jfrgz"}`)
	}))
	tb.Cleanup(srv.Close)
	return srv
}
