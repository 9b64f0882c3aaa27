package batch

import (
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/avupload/avupload/wrapper"
)

// TestChunkProtocol checks that a batch's files go as UploadOptions says:
// over HTTP/1.1 by default, over HTTP/2 with HTTP2, from a TLS server
// offering both.
func TestChunkProtocol(t *testing.T) {
	for _, http2 := range []bool{false, true} {
		t.Run(map[bool]string{false: "default", true: "HTTP2"}[http2], func(t *testing.T) {
			var mu sync.Mutex
			protos := map[int]int{} // HTTP major version: chunks that came by it
			srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				_, _ = io.Copy(io.Discard, r.Body)
				if r.Method != http.MethodPost || !strings.HasSuffix(r.URL.Path, "/upload") {
					w.WriteHeader(http.StatusNotFound)
					return
				}
				mu.Lock()
				protos[r.ProtoMajor]++
				mu.Unlock()
				w.Header().Set("Content-Type", "application/json")
				w.WriteHeader(http.StatusCreated)
				_, _ = io.WriteString(w, `{"videoId":"vi4k0jvEUuaTdRAEjQ4Jfrgz"}`)
			}))
			srv.EnableHTTP2 = true
			srv.StartTLS()
			t.Cleanup(srv.Close)
			c, err := wrapper.New(wrapper.WithBaseURL(srv.URL), wrapper.WithHTTPClient(srv.Client()))
			require.NoError(t, err)
			t.Cleanup(c.CloseIdleConnections)
			root := t.TempDir()
			var files []File
			for _, name := range []string{"a.mp4", "b.mp4"} {
				path := filepath.Join(root, name)
				require.NoError(t, os.WriteFile(path, []byte(strings.Repeat("v", int(testChunk)+10)), 0o600))
				files = append(files, File{Path: path, ShardKey: name, Size: testChunk + 10})
			}
			res, err := Upload(t.Context(), c, files, &Options{Token: "toS3cr3tUploadTok",
				Upload: wrapper.UploadOptions{ChunkSize: testChunk, HTTP2: http2}})
			require.NoError(t, err)
			require.Equal(t, 2, res.Uploaded)
			want := map[bool]int{false: 1, true: 2}[http2]
			mu.Lock()
			defer mu.Unlock()
			assert.Equal(t, map[int]int{want: 4}, protos, "two files of two chunks, over HTTP/%d", want)
		})
	}
}
