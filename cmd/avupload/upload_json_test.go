package main

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/avupload/avupload/internal/recorded"
)

// jsonKeys are the keys of every upload --json line, in order: the format
// README documents as version 1.
var jsonKeys = []string{"version", "path", "status", "videoId", "size", "sha256", "chunks", "resumedBytes", "seconds", "error", "video"}

// TestUploadJSONIsOneFormat runs upload --json and -q on one file and on
// several, some refused, and checks that every line has the same keys in
// the same order, whatever the number of files, and that -q prints the
// video ids alone.
func TestUploadJSONIsOneFormat(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		w.Header().Set("Content-Type", "application/json")
		if bytes.Contains(body, []byte(`filename="refused.mp4"`)) {
			w.Header().Set("Content-Type", "application/problem+json")
			w.WriteHeader(http.StatusBadRequest)
			_, _ = io.WriteString(w, `{"type":"https://docs.api.video/reference/invalid-file","title":"The file is invalid.","status":400}`)
			return
		}
		w.WriteHeader(http.StatusCreated)
		_, _ = io.WriteString(w, recorded.Video)
	}))
	t.Cleanup(srv.Close)
	dir := t.TempDir()
	sums := map[string]string{}
	for _, name := range []string{"a.mp4", "b.mp4", "refused.mp4"} {
		data := []byte("the video " + name)
		require.NoError(t, os.WriteFile(filepath.Join(dir, name), data, 0o600))
		sum := sha256.Sum256(data)
		sums[filepath.Join(dir, name)] = hex.EncodeToString(sum[:])
	}
	a, b, refused := filepath.Join(dir, "a.mp4"), filepath.Join(dir, "b.mp4"), filepath.Join(dir, "refused.mp4")
	videoID := "vi4k0jvEUuaTdRAEjQ4Jfrgz" // recorded.Video's

	tests := []struct {
		name     string
		files    []string
		wantCode int
		failed   int
	}{
		{"one file", []string{a}, exitOK, 0},
		{"two files", []string{a, b}, exitOK, 0},
		{"one file refused", []string{refused}, exitFailure, 1},
		{"a directory, one refused", []string{dir}, exitFailure, 1},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var stdout, stderr bytes.Buffer
			args := append([]string{"upload", "--json", "--token", "to1tcmSFHeYY5KzyhOqVKMKb", "--base-url", srv.URL}, tc.files...)
			code := run(context.Background(), args, stdio{strings.NewReader(""), &stdout, &stderr}, func(string) string { return "" })
			require.Equal(t, tc.wantCode, code, "stderr: %s", stderr.String())
			lines := strings.Split(strings.TrimSuffix(stdout.String(), "\n"), "\n")
			want := len(tc.files)
			if tc.files[0] == dir {
				want = 3
			}
			require.Len(t, lines, want, stdout.String())
			failed := 0
			for _, line := range lines {
				assert.Equal(t, jsonKeys, keysOf(t, line), line)
				var got struct {
					Version int             `json:"version"`
					Path    string          `json:"path"`
					Status  string          `json:"status"`
					VideoID string          `json:"videoId"`
					SHA256  string          `json:"sha256"`
					Chunks  int             `json:"chunks"`
					Error   string          `json:"error"`
					Video   json.RawMessage `json:"video"`
				}
				require.NoError(t, json.Unmarshal([]byte(line), &got))
				assert.Equal(t, 1, got.Version)
				if got.Status == "failed" {
					failed++
					assert.Equal(t, refused, got.Path)
					assert.Contains(t, got.Error, "The file is invalid.")
					assert.Equal(t, "null", string(got.Video))
					continue
				}
				assert.Equal(t, "uploaded", got.Status)
				assert.Equal(t, videoID, got.VideoID)
				assert.Equal(t, sums[got.Path], got.SHA256)
				assert.Equal(t, 1, got.Chunks)
				assert.Empty(t, got.Error)
				assert.JSONEq(t, recorded.Video, string(got.Video))
			}
			assert.Equal(t, tc.failed, failed)

			// -q: the video ids, one a line, nothing else.
			stdout.Reset()
			args = append([]string{"upload", "-q", "--token", "to1tcmSFHeYY5KzyhOqVKMKb", "--base-url", srv.URL}, tc.files...)
			code = run(context.Background(), args, stdio{strings.NewReader(""), &stdout, &stderr}, func(string) string { return "" })
			require.Equal(t, tc.wantCode, code, "stderr: %s", stderr.String())
			assert.Equal(t, strings.Repeat(videoID+"\n", want-tc.failed), stdout.String())
		})
	}
}

// keysOf lists the keys of the JSON object line, in order.
func keysOf(t *testing.T, line string) []string {
	t.Helper()
	dec := json.NewDecoder(strings.NewReader(line))
	tok, err := dec.Token()
	require.NoError(t, err)
	require.Equal(t, json.Delim('{'), tok)
	var keys []string
	for dec.More() {
		tok, err := dec.Token()
		require.NoError(t, err)
		keys = append(keys, tok.(string))
		var v json.RawMessage
		require.NoError(t, dec.Decode(&v))
	}
	return keys
}
