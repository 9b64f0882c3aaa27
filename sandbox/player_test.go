package sandbox_test

import (
	"bytes"
	"fmt"
	"image/jpeg"
	"io"
	"net/http"
	"regexp"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/avupload/avupload/sandbox"
	"github.com/avupload/avupload/sandbox/sandboxtest"
)

// get fetches url with optional headers (name, value, ...).
func get(t *testing.T, method, url string, header ...string) (*http.Response, []byte) {
	t.Helper()
	req, err := http.NewRequest(method, url, nil)
	require.NoError(t, err)
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	return resp, body
}

// TestPlayerLinks uploads a video, whole and in chunks, in memory and on
// disk, and follows the links of its answer: the player page holds a
// <video> element playing the mp4 link, which answers ranges (seeking),
// across chunk boundaries too, and the thumbnail is an image.
func TestPlayerLinks(t *testing.T) {
	data := randomBytes(5*mib+5000, 61)
	for _, c := range []struct {
		name    string
		dataDir bool
		chunked bool
	}{{"memory, whole", false, false}, {"memory, chunks", false, true}, {"disk, whole", true, false}, {"disk, chunks", true, true}} {
		t.Run(c.name, func(t *testing.T) {
			var opts []sandbox.Option
			if c.dataDir {
				opts = append(opts, sandbox.WithDataDir(t.TempDir()))
			}
			srv := sandboxtest.NewServer(t, opts...)
			tok := newToken(t, srv)
			var r apiResponse
			if c.chunked {
				rng := func(from, to int) string { return fmt.Sprintf("bytes %d-%d/%d", from, to, len(data)) }
				r = upload(t, srv, uploadReq{token: tok, data: data[:5*mib], contentRange: rng(0, 5*mib-1), fileName: "a <b>.mp4"})
				require.Equal(t, http.StatusCreated, r.Status, "body: %s", r.Raw)
				id := r.str("videoId")
				r = upload(t, srv, uploadReq{token: tok, videoID: id, data: data[5*mib:], contentRange: rng(5*mib, len(data)-1)})
			} else {
				r = upload(t, srv, uploadReq{token: tok, data: data, fileName: "a <b>.mp4"})
			}
			require.Equal(t, http.StatusCreated, r.Status, "body: %s", r.Raw)
			assets := r.Body["assets"].(map[string]any)
			player, mp4, thumb := assets["player"].(string), assets["mp4"].(string), assets["thumbnail"].(string)

			resp, page := get(t, http.MethodGet, player)
			require.Equal(t, http.StatusOK, resp.StatusCode, "%s: %s", player, page)
			assert.Equal(t, "text/html; charset=utf-8", resp.Header.Get("Content-Type"))
			m := regexp.MustCompile(`<video id="player"[^>]* src="([^"]+)"`).FindSubmatch(page)
			require.NotNil(t, m, "a <video> element: %s", page)
			assert.Equal(t, mp4, resolve(t, player, string(m[1])), "the page plays the mp4 link")
			assert.Contains(t, string(page), "a &lt;b&gt;.mp4", "the title is escaped")

			resp, body := get(t, http.MethodGet, mp4)
			require.Equal(t, http.StatusOK, resp.StatusCode)
			assert.Equal(t, "video/mp4", resp.Header.Get("Content-Type"))
			assert.Equal(t, "bytes", resp.Header.Get("Accept-Ranges"))
			assert.Equal(t, sha(data), sha(body), "the stored bytes")

			for _, rg := range [][2]int{{0, 99}, {5*mib - 10, 5*mib + 9}, {len(data) - 7, len(data) - 1}} {
				resp, body = get(t, http.MethodGet, mp4, "Range", fmt.Sprintf("bytes=%d-%d", rg[0], rg[1]))
				require.Equal(t, http.StatusPartialContent, resp.StatusCode)
				assert.Equal(t, fmt.Sprintf("bytes %d-%d/%d", rg[0], rg[1], len(data)), resp.Header.Get("Content-Range"))
				assert.Equal(t, data[rg[0]:rg[1]+1], body, "range %v", rg)
			}
			resp, _ = get(t, http.MethodGet, mp4, "Range", fmt.Sprintf("bytes=%d-", len(data)+10))
			assert.Equal(t, http.StatusRequestedRangeNotSatisfiable, resp.StatusCode)
			resp, body = get(t, http.MethodHead, mp4)
			assert.Equal(t, http.StatusOK, resp.StatusCode)
			assert.Equal(t, fmt.Sprint(len(data)), resp.Header.Get("Content-Length"))
			assert.Empty(t, body)

			resp, body = get(t, http.MethodGet, thumb)
			require.Equal(t, http.StatusOK, resp.StatusCode)
			assert.Equal(t, "image/jpeg", resp.Header.Get("Content-Type"))
			_, err := jpeg.Decode(bytes.NewReader(body))
			assert.NoError(t, err, "the thumbnail is an image")
		})
	}
}

// TestPlayerLinksOfMissingVideos: unknown and incomplete videos answer 404.
func TestPlayerLinksOfMissingVideos(t *testing.T) {
	srv := sandboxtest.NewServer(t)
	tok := newToken(t, srv)
	r := upload(t, srv, uploadReq{token: tok, data: randomBytes(5*mib, 62), contentRange: "part 1/*"})
	require.Equal(t, http.StatusCreated, r.Status, "body: %s", r.Raw)
	partial := r.str("videoId")
	for _, path := range []string{"/vod/viUnknown000000000000000", "/vod/viUnknown000000000000000/mp4/source.mp4",
		"/vod/" + partial, "/vod/" + partial + "/mp4/source.mp4", "/vod/" + partial + "/thumbnail.jpg"} {
		resp, body := get(t, http.MethodGet, srv.URL+path)
		assert.Equal(t, http.StatusNotFound, resp.StatusCode, "%s: %s", path, body)
	}
	resp, _ := get(t, http.MethodPost, srv.URL+"/vod/"+partial)
	assert.Equal(t, http.StatusMethodNotAllowed, resp.StatusCode)
}
