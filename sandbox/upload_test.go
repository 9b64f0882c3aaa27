package sandbox_test

import (
	"fmt"
	"io"
	"mime/multipart"
	"net/http"
	"net/textproto"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/avupload/avupload/sandbox"
	"github.com/avupload/avupload/sandbox/sandboxtest"
)

// The whole video, byte for byte: the recorded answer's field order and
// timestamp form, and the iframe as HTML, unescaped.
func TestUploadAnswerBytes(t *testing.T) {
	clock := newFakeClock(time.Date(2024, 7, 14, 23, 36, 7, 123_000_000, time.UTC))
	srv := sandboxtest.NewServer(t, sandbox.WithClock(clock.Now))
	tok := newToken(t, srv)
	r := upload(t, srv, uploadReq{token: tok, data: []byte("a video"), fileName: "Maths video.mp4"})
	require.Equal(t, 201, r.Status, "body: %s", r.Raw)
	id, vod := r.str("videoId"), srv.URL+"/vod/"+r.str("videoId")
	want := `{"videoId":"` + id + `","title":"Maths video.mp4","description":"","public":true,"panoramic":false,"mp4Support":true,` +
		`"tags":[],"metadata":[],"publishedAt":"2024-07-14T23:36:07+00:00","createdAt":"2024-07-14T23:36:07+00:00","updatedAt":"2024-07-14T23:36:07+00:00",` +
		`"discarded":false,"discardedAt":null,"deletesAt":null,"source":{"uri":"/videos/` + id + `/source"},` +
		`"assets":{"iframe":"<iframe src=\"` + vod + `\" width=\"100%\" height=\"100%\" frameborder=\"0\" scrolling=\"no\" allowfullscreen=\"\"></iframe>",` +
		`"player":"` + vod + `","hls":"` + vod + `/hls/manifest.m3u8","thumbnail":"` + vod + `/thumbnail.jpg","mp4":"` + vod + `/mp4/source.mp4"}}` + "\n"
	assert.Equal(t, want, string(r.Raw))
}

func TestUploadWholeFile(t *testing.T) {
	srv := sandboxtest.NewServer(t)
	tok := newToken(t, srv)
	data := randomBytes(100_000, 1)

	r := upload(t, srv, uploadReq{token: tok, data: data, fileName: "Maths video.mp4"})
	require.Equal(t, 201, r.Status, "body: %s", r.Raw)
	id := r.str("videoId")
	assert.Regexp(t, `^vi[A-Za-z0-9]{22}$`, id)
	assert.Equal(t, "Maths video.mp4", r.str("title"))
	for _, k := range []string{"createdAt", "updatedAt", "publishedAt"} {
		assert.Regexp(t, atomRE, r.str(k), k)
	}
	assert.Equal(t, true, r.Body["public"])
	assert.Equal(t, false, r.Body["panoramic"])
	assert.Equal(t, true, r.Body["mp4Support"])
	assert.Equal(t, false, r.Body["discarded"])
	assert.Contains(t, r.Body, "discardedAt")
	assert.Nil(t, r.Body["discardedAt"])
	assert.Contains(t, r.Body, "deletesAt")
	assert.Nil(t, r.Body["deletesAt"])
	assert.Equal(t, map[string]any{"uri": "/videos/" + id + "/source"}, r.Body["source"])
	assets := r.Body["assets"].(map[string]any)
	assert.Equal(t, srv.URL+"/vod/"+id+"/hls/manifest.m3u8", assets["hls"])
	assert.Equal(t, srv.URL+"/vod/"+id, assets["player"])
	assert.Equal(t, srv.URL+"/vod/"+id+"/thumbnail.jpg", assets["thumbnail"])
	assert.Equal(t, srv.URL+"/vod/"+id+"/mp4/source.mp4", assets["mp4"])
	assert.Contains(t, assets["iframe"], `<iframe src="`+srv.URL+"/vod/"+id+`"`)
	assert.NotEmpty(t, r.Header.Get("X-RateLimit-Limit"))

	info, ok := srv.Sandbox.Video(id)
	require.True(t, ok)
	assert.Equal(t, sandbox.VideoInfo{VideoID: id, Size: int64(len(data)), SHA256: sha(data), Complete: true, Chunks: 1}, info)
	got, err := srv.Sandbox.VideoBytes(id)
	require.NoError(t, err)
	assert.Equal(t, data, got)

	t.Run("any field name", func(t *testing.T) {
		body, ct := multipartBody(t, part{field: "my-clip.mov", fileName: "my-clip.mov", data: []byte("clip")})
		r := call(t, http.MethodPost, srv.URL+"/upload?token="+tok, "", body, ct)
		require.Equal(t, 201, r.Status, "body: %s", r.Raw)
		b, err := srv.Sandbox.VideoBytes(r.str("videoId"))
		require.NoError(t, err)
		assert.Equal(t, "clip", string(b))
	})
	t.Run("other fields are ignored", func(t *testing.T) {
		body, ct := multipartBody(t, part{field: "title", data: []byte("x")}, part{field: "file", fileName: "a.mp4", data: []byte("abc")})
		r := call(t, http.MethodPost, srv.URL+"/upload?token="+tok, "", body, ct)
		require.Equal(t, 201, r.Status, "body: %s", r.Raw)
	})
	t.Run("file part without a file name, named file", func(t *testing.T) {
		body, ct := multipartBody(t, part{field: "file", data: []byte("abc")})
		r := call(t, http.MethodPost, srv.URL+"/upload?token="+tok, "", body, ct)
		require.Equal(t, 201, r.Status, "body: %s", r.Raw)
	})
	t.Run("upload to a complete video", func(t *testing.T) {
		r := upload(t, srv, uploadReq{token: tok, videoID: id, data: []byte("again")})
		requireProblem(t, r, 400, "This video source has already been uploaded.", "file")
		r = upload(t, srv, uploadReq{token: tok, videoID: id, data: []byte("again"), contentRange: "bytes 0-4/5"})
		requireProblem(t, r, 400, "This video source has already been uploaded.", "file")
	})
	t.Run("unknown video", func(t *testing.T) {
		r := upload(t, srv, uploadReq{token: tok, videoID: "vi0000000000000000000000", data: []byte("abc")})
		requireProblem(t, r, 400, "The video ID is invalid.", "videoId")
	})
}

func TestUploadFileErrors(t *testing.T) {
	srv := sandboxtest.NewServer(t)
	tok := newToken(t, srv)
	post := func(body io.Reader, ct string) apiResponse {
		return call(t, http.MethodPost, srv.URL+"/upload?token="+tok, "", body, ct)
	}
	cases := []struct {
		name  string
		parts []part
		title string
	}{
		{"no file part", []part{{field: "videoId", data: []byte("vi123")}}, "There is no uploaded file in the request."},
		{"no part at all", nil, "There is no uploaded file in the request."},
		{"two files", []part{{field: "file", fileName: "a.mp4", data: []byte("a")}, {field: "other", fileName: "b.mp4", data: []byte("b")}}, "There are more than one uploaded file in the request."},
		{"empty file", []part{{field: "file", fileName: "a.mp4"}}, "The uploaded file is empty."},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			body, ct := multipartBody(t, c.parts...)
			requireProblem(t, post(body, ct), 400, c.title, "file")
		})
	}
	t.Run("not multipart", func(t *testing.T) {
		requireProblem(t, post(strings.NewReader(`{"file":"x"}`), "application/json"), 400, "There is no uploaded file in the request.", "file")
	})
	t.Run("malformed multipart", func(t *testing.T) {
		r := post(strings.NewReader("--xyz\r\nContent-Disposition: form-data; name=\"file\"; filename=\"a\"\r\n\r\nabc"), "multipart/form-data; boundary=xyz")
		requireProblem(t, r, 400, "The uploaded file is invalid.", "file")
	})
	assert.Empty(t, srv.Sandbox.Videos(), "no failed request may create a video")
}

type zeroReader struct{}

func (zeroReader) Read(p []byte) (int, error) {
	clear(p)
	return len(p), nil
}

// countingReader counts the bytes read from it.
type countingReader struct {
	r io.Reader
	n atomic.Int64
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n.Add(int64(n))
	return n, err
}

// streamedUpload returns a multipart body whose file part holds size zero
// bytes, produced as it is read, and the count of body bytes read so far.
func streamedUpload(t testing.TB, size int64) (io.Reader, string, *countingReader) {
	pr, pw := io.Pipe()
	t.Cleanup(func() { _ = pr.Close() }) // ends the writer if the sandbox stopped reading
	mw := multipart.NewWriter(pw)
	go func() {
		w, err := mw.CreateFormFile("file", "big.mp4")
		if err == nil {
			_, err = io.CopyN(w, zeroReader{}, size)
		}
		if err == nil {
			err = mw.Close()
		}
		pw.CloseWithError(err)
	}()
	c := &countingReader{r: pr}
	return c, mw.FormDataContentType(), c
}

func TestChunkedByBytes(t *testing.T) {
	for _, storage := range []string{"memory", "dir"} {
		t.Run(storage, func(t *testing.T) {
			// The upload starts with its middle chunk, as the API allows:
			// not strict.
			opts := []sandbox.Option{sandbox.WithStrict(false)}
			if storage == "dir" {
				opts = append(opts, sandbox.WithDataDir(t.TempDir()))
			}
			srv := sandboxtest.NewServer(t, opts...)
			tok := newToken(t, srv)
			data := randomBytes(2*5*mib+1234, 2)
			total := len(data)
			rng := func(from, to int) string { return fmt.Sprintf("bytes %d-%d/%d", from, to, total) }

			// The middle chunk goes first and creates the video.
			r := upload(t, srv, uploadReq{token: tok, data: data[5*mib : 10*mib], contentRange: rng(5*mib, 10*mib-1)})
			require.Equal(t, 201, r.Status, "body: %s", r.Raw)
			id := r.str("videoId")
			assert.Equal(t, map[string]any{"videoId": id}, r.Body, "an intermediate chunk answers little more than videoId")

			r = upload(t, srv, uploadReq{token: tok, videoID: id, videoIDAfterFile: true, data: data[10*mib:], contentRange: rng(10*mib, total-1)})
			require.Equal(t, 201, r.Status, "body: %s", r.Raw)
			assert.Equal(t, map[string]any{"videoId": id}, r.Body)
			info, _ := srv.Sandbox.Video(id)
			assert.False(t, info.Complete)
			assert.Equal(t, 2, info.Chunks)

			r = upload(t, srv, uploadReq{token: tok, videoID: id, data: data[:5*mib], contentRange: rng(0, 5*mib-1), fileName: "later.mp4"})
			require.Equal(t, 201, r.Status, "body: %s", r.Raw)
			assert.Equal(t, id, r.str("videoId"))
			assert.Equal(t, "video.mp4", r.str("title"), "the title comes from the first chunk")
			assert.Contains(t, r.Body, "assets")
			assert.Equal(t, true, r.Body["mp4Support"])

			info, _ = srv.Sandbox.Video(id)
			assert.Equal(t, sandbox.VideoInfo{VideoID: id, Size: int64(total), SHA256: sha(data), Complete: true, Chunks: 3}, info)
			got, err := srv.Sandbox.VideoBytes(id)
			require.NoError(t, err)
			assert.Equal(t, sha(data), sha(got))
		})
	}
	t.Run("single range covering the file", func(t *testing.T) {
		srv := sandboxtest.NewServer(t)
		r := upload(t, srv, uploadReq{token: newToken(t, srv), data: []byte("hello"), contentRange: "bytes 0-4/5"})
		require.Equal(t, 201, r.Status, "body: %s", r.Raw)
		assert.Contains(t, r.Body, "assets")
		info, _ := srv.Sandbox.Video(r.str("videoId"))
		assert.True(t, info.Complete)
	})
}

// TestLastChunkIsAnsweredUnhashed: the answer to the chunk that completes a
// video does not wait for the whole video to be read and hashed (a second
// per GiB, which no client of the API waits for); its checksum is computed
// when first asked for, and is the video's.
func TestLastChunkIsAnsweredUnhashed(t *testing.T) {
	for _, storage := range []string{"memory", "dir"} {
		t.Run(storage, func(t *testing.T) {
			var opts []sandbox.Option
			dir := t.TempDir()
			if storage == "dir" {
				opts = append(opts, sandbox.WithDataDir(dir))
			}
			srv := sandboxtest.NewServer(t, opts...)
			tok := newToken(t, srv)
			data := randomBytes(5*mib+777, 3)
			rng := fmt.Sprintf("bytes %%d-%%d/%d", len(data))

			r := upload(t, srv, uploadReq{token: tok, data: data[:5*mib], contentRange: fmt.Sprintf(rng, 0, 5*mib-1)})
			require.Equal(t, 201, r.Status, "body: %s", r.Raw)
			id := r.str("videoId")
			r = upload(t, srv, uploadReq{token: tok, videoID: id, data: data[5*mib:], contentRange: fmt.Sprintf(rng, 5*mib, len(data)-1)})
			require.Equal(t, 201, r.Status, "body: %s", r.Raw)
			assert.Contains(t, r.Body, "assets", "the answer to the last chunk is the complete video")

			assert.False(t, sandbox.Hashed(srv.Sandbox, id), "the last chunk's answer waited for the video to be hashed")
			info, _ := srv.Sandbox.Video(id)
			assert.Equal(t, sandbox.VideoInfo{VideoID: id, Size: int64(len(data)), SHA256: sha(data), Complete: true, Chunks: 2}, info)
			assert.True(t, sandbox.Hashed(srv.Sandbox, id), "the checksum is kept once computed")
			if storage == "dir" {
				state, err := os.ReadFile(filepath.Join(dir, "videos", id, "video.json"))
				require.NoError(t, err)
				assert.Contains(t, string(state), `"sha256":"`+sha(data)+`"`, "the checksum is stored with the video, for the next start")
			}
		})
	}
}

func TestChunkedByPart(t *testing.T) {
	// Some uploads start with a later part, as the API allows: not strict.
	srv := sandboxtest.NewServer(t, sandbox.WithStrict(false))
	tok := newToken(t, srv)
	data := randomBytes(2*5*mib+99, 3)
	chunks := [][]byte{data[:5*mib], data[5*mib : 10*mib], data[10*mib:]}

	t.Run("unknown total named on the last part", func(t *testing.T) {
		r := upload(t, srv, uploadReq{token: tok, data: chunks[0], contentRange: "part 1/*"})
		require.Equal(t, 201, r.Status, "body: %s", r.Raw)
		id := r.str("videoId")
		r = upload(t, srv, uploadReq{token: tok, videoID: id, data: chunks[2], contentRange: "part 3/3"})
		require.Equal(t, 201, r.Status, "body: %s", r.Raw)
		assert.Equal(t, map[string]any{"videoId": id}, r.Body)
		r = upload(t, srv, uploadReq{token: tok, videoID: id, data: chunks[1], contentRange: "part 2/*"})
		require.Equal(t, 201, r.Status, "body: %s", r.Raw)
		assert.Contains(t, r.Body, "assets")
		info, _ := srv.Sandbox.Video(id)
		assert.Equal(t, sandbox.VideoInfo{VideoID: id, Size: int64(len(data)), SHA256: sha(data), Complete: true, Chunks: 3}, info)
	})
	t.Run("known total", func(t *testing.T) {
		r := upload(t, srv, uploadReq{token: tok, data: chunks[2], contentRange: "part 3/3"})
		require.Equal(t, 201, r.Status, "body: %s", r.Raw)
		id := r.str("videoId")
		for _, i := range []int{1, 0} {
			r = upload(t, srv, uploadReq{token: tok, videoID: id, data: chunks[i], contentRange: fmt.Sprintf("part %d/3", i+1)})
			require.Equal(t, 201, r.Status, "body: %s", r.Raw)
		}
		info, _ := srv.Sandbox.Video(id)
		assert.True(t, info.Complete)
		assert.Equal(t, sha(data), info.SHA256)
	})
	t.Run("single part", func(t *testing.T) {
		r := upload(t, srv, uploadReq{token: tok, data: []byte("tiny"), contentRange: "part 1/1"})
		require.Equal(t, 201, r.Status, "body: %s", r.Raw)
		assert.Contains(t, r.Body, "assets")
	})
}

// step is one upload request of an error scenario; videoID "$" means the
// video the first step created.
type step struct {
	cr      string
	size    int
	videoID string
}

func TestContentRangeErrors(t *testing.T) {
	// The API's own answers, to chunks that start a video anywhere: not
	// strict.
	srv := sandboxtest.NewServer(t, sandbox.WithStrict(false))
	tok := newToken(t, srv)
	const (
		M   = 5 * mib
		big = 52428800000
	)
	malformed := `The "Content-Range" header value is invalid: expected format is bytes <from_byte>-<to_byte>/<total_bytes> or part <part>/<total_parts>.`
	cases := []struct {
		name  string
		setup []step
		last  step
		title string
		field string
	}{
		// Malformed headers.
		{"garbage", nil, step{cr: "nonsense", size: 10}, malformed, "Content-Range"},
		{"bytes unknown total", nil, step{cr: "bytes 0-9/*", size: 10}, malformed, "Content-Range"},
		{"bytes missing dash", nil, step{cr: "bytes 0/10", size: 10}, malformed, "Content-Range"},
		{"bytes negative", nil, step{cr: "bytes -1-9/10", size: 10}, malformed, "Content-Range"},
		{"bytes equals sign", nil, step{cr: "bytes=0-9/10", size: 10}, malformed, "Content-Range"},
		{"part missing total", nil, step{cr: "part 1", size: 10}, malformed, "Content-Range"},
		{"upper case", nil, step{cr: "BYTES 0-9/10", size: 10}, malformed, "Content-Range"},
		{"extra space", nil, step{cr: "part  1/2", size: 10}, malformed, "Content-Range"},
		// Mixing forms and whole-file uploads.
		{"part after bytes", []step{{cr: fmt.Sprintf("bytes 0-%d/%d", M-1, 2*M)}}, step{cr: "part 2/2", size: M, videoID: "$"},
			`The "Content-Range" header unit differs from the one this upload was initiated with.`, "Content-Range"},
		{"bytes after part", []step{{cr: "part 1/*", size: M}}, step{cr: fmt.Sprintf("bytes %d-%d/%d", M, 2*M-1, 2*M), videoID: "$"},
			`The "Content-Range" header unit differs from the one this upload was initiated with.`, "Content-Range"},
		{"whole file after ranges", []step{{cr: "part 1/*", size: M}}, step{size: 10, videoID: "$"},
			`This video source has already been initiated with a "Content-Range" upload.`, "Content-Range"},
		// By bytes.
		{"bytes total differs", []step{{cr: fmt.Sprintf("bytes 0-%d/%d", M-1, 2*M)}}, step{cr: fmt.Sprintf("bytes %d-%d/%d", M, 2*M, 2*M+1), videoID: "$"},
			`The "Content-Range" header total size differs from the one already set.`, "Content-Range"},
		{"bytes from after to", nil, step{cr: "bytes 9-3/10", size: 7}, `The "Content-Range" header range start is greater than its end.`, "Content-Range"},
		{"bytes file shorter than range", nil, step{cr: "bytes 0-9/10", size: 9}, `The uploaded file size differs from the "Content-Range" header range length.`, "file"},
		{"bytes file longer than range", nil, step{cr: "bytes 0-9/10", size: 11}, `The uploaded file size differs from the "Content-Range" header range length.`, "file"},
		{"bytes same range twice", []step{{cr: fmt.Sprintf("bytes 0-%d/%d", M-1, 2*M)}}, step{cr: fmt.Sprintf("bytes 0-%d/%d", M-1, 2*M), videoID: "$"},
			`The "Content-Range" header range overlaps a range already sent.`, "Content-Range"},
		{"bytes partial overlap", []step{{cr: fmt.Sprintf("bytes %d-%d/%d", M, 2*M-1, 3*M)}}, step{cr: fmt.Sprintf("bytes 1-%d/%d", M, 3*M), videoID: "$"},
			`The "Content-Range" header range overlaps a range already sent.`, "Content-Range"},
		{"bytes small chunk not last", nil, step{cr: "bytes 0-9/100", size: 10},
			`The "Content-Range" header range is smaller than 5242880 bytes and is not the last one.`, "Content-Range"},
		{"bytes to above max", nil, step{cr: fmt.Sprintf("bytes %d-%d/%d", int64(big)-10, int64(big), int64(big)), size: 11},
			`The "Content-Range" header range end exceeds the maximum of 52428799999.`, "Content-Range"},
		{"bytes to at total", nil, step{cr: "bytes 0-10/10", size: 11}, `The "Content-Range" header range ends beyond the total size.`, "Content-Range"},
		{"bytes total above max", nil, step{cr: fmt.Sprintf("bytes 0-9/%d", int64(big)+1), size: 10},
			`The "Content-Range" header total size exceeds the maximum of 52428800000 bytes.`, "Content-Range"},
		{"bytes huge numbers", nil, step{cr: "bytes 0-9/99999999999999999999999999", size: 10},
			`The "Content-Range" header total size exceeds the maximum of 52428800000 bytes.`, "Content-Range"},
		{"bytes total zero", nil, step{cr: "bytes 0-0/0", size: 1}, `The "Content-Range" header total size must be greater than 0.`, "Content-Range"},
		{"bytes after completion", []step{{cr: "bytes 0-9/10"}}, step{cr: "bytes 0-9/10", videoID: "$"}, "This video source has already been uploaded.", "file"},
		// By part.
		{"part total differs", []step{{cr: "part 1/3", size: M}}, step{cr: "part 2/4", size: M, videoID: "$"},
			`The "Content-Range" header number of parts differs from the one already set.`, "Content-Range"},
		{"part collides", []step{{cr: "part 1/*", size: M}}, step{cr: "part 1/*", size: M, videoID: "$"},
			`The "Content-Range" header part collides with a part already sent.`, "Content-Range"},
		{"part above max", nil, step{cr: "part 10001/*", size: M}, `The "Content-Range" header part number and number of parts must not exceed 10000.`, "Content-Range"},
		{"parts above max", nil, step{cr: "part 1/10001", size: M}, `The "Content-Range" header part number and number of parts must not exceed 10000.`, "Content-Range"},
		{"part zero", nil, step{cr: "part 0/3", size: M}, `The "Content-Range" header part number and number of parts must be greater than 0.`, "Content-Range"},
		{"parts zero", nil, step{cr: "part 1/0", size: M}, `The "Content-Range" header part number and number of parts must be greater than 0.`, "Content-Range"},
		{"part above its own total", nil, step{cr: "part 4/3", size: M}, `The "Content-Range" header number of parts is below a part already sent.`, "Content-Range"},
		{"total below a part already sent", []step{{cr: "part 3/*", size: M}}, step{cr: "part 2/2", size: 10, videoID: "$"},
			`The "Content-Range" header number of parts is below a part already sent.`, "Content-Range"},
		{"part beyond the total set", []step{{cr: "part 1/2", size: M}}, step{cr: "part 3/*", size: M, videoID: "$"},
			`The "Content-Range" header number of parts is below a part already sent.`, "Content-Range"},
		{"small part, unknown total", nil, step{cr: "part 1/*", size: 10},
			`The uploaded part is smaller than 5242880 bytes and is not the last one.`, "file"},
		{"small part, not last", nil, step{cr: "part 1/2", size: M - 1},
			`The uploaded part is smaller than 5242880 bytes and is not the last one.`, "file"},
		{"part after completion", []step{{cr: "part 1/1", size: 10}}, step{cr: "part 1/1", size: 10, videoID: "$"}, "This video source has already been uploaded.", "file"},
		// Headers.
		{"empty chunk", nil, step{cr: "part 1/1", size: 0}, "The uploaded file is empty.", "file"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			id := ""
			for _, s := range c.setup {
				size := s.size
				if size == 0 {
					size = rangeLen(t, s.cr)
				}
				r := upload(t, srv, uploadReq{token: tok, videoID: strings.ReplaceAll(s.videoID, "$", id), data: randomBytes(size, 4), contentRange: s.cr})
				require.Equal(t, 201, r.Status, "setup %s: %s", s.cr, r.Raw)
				if id == "" {
					id = r.str("videoId")
				}
			}
			size := c.last.size
			if size == 0 && strings.HasPrefix(c.last.cr, "bytes") && c.name != "empty chunk" {
				size = rangeLen(t, c.last.cr)
			}
			var before sandbox.VideoInfo
			if id != "" {
				before, _ = srv.Sandbox.Video(id)
			}
			r := upload(t, srv, uploadReq{token: tok, videoID: strings.ReplaceAll(c.last.videoID, "$", id), data: randomBytes(size, 5), contentRange: c.last.cr})
			requireProblem(t, r, 400, c.title, c.field)
			assert.NotEmpty(t, r.str("detail"), "detail carries the specifics")
			assert.NotEmpty(t, r.Header.Get("X-RateLimit-Limit"))
			if id != "" {
				after, _ := srv.Sandbox.Video(id)
				assert.Equal(t, before, after, "a refused chunk changes nothing")
			}
		})
	}
	t.Run("two Content-Range headers", func(t *testing.T) {
		req := newUploadRequest(t, srv.URL, uploadReq{token: tok, data: []byte("abc"), contentRange: "bytes 0-2/3"})
		req.Header.Add("Content-Range", "bytes 0-2/3")
		requireProblem(t, do(t, req), 400, malformed, "Content-Range")
	})
	t.Run("overlap and collision titles name the conflict", func(t *testing.T) {
		// Clients detect a chunk that landed before a lost response by these words.
		for _, c := range cases {
			if strings.Contains(c.name, "twice") {
				assert.Contains(t, c.title, "overlaps")
			}
			if strings.Contains(c.name, "collides") {
				assert.Contains(t, c.title, "collides")
			}
		}
	})
}

// rangeLen returns the length of a "bytes FROM-TO/TOTAL" range.
func rangeLen(t *testing.T, cr string) int {
	t.Helper()
	var from, to, total int64
	_, err := fmt.Sscanf(cr, "bytes %d-%d/%d", &from, &to, &total)
	require.NoError(t, err, cr)
	return int(to - from + 1)
}

// TestVideoIDBeforeOrAfterFile checks both field orders, with raw parts.
func TestVideoIDBeforeOrAfterFile(t *testing.T) {
	srv := sandboxtest.NewServer(t, sandbox.WithDataDir(t.TempDir()))
	tok := newToken(t, srv)
	first := upload(t, srv, uploadReq{token: tok, data: randomBytes(5*mib, 6), contentRange: "part 1/*"})
	require.Equal(t, 201, first.Status)
	id := first.str("videoId")
	var body strings.Builder
	mw := multipart.NewWriter(&body)
	h := textproto.MIMEHeader{}
	h.Set("Content-Disposition", `form-data; name="chunk"; filename="blob"`)
	w, err := mw.CreatePart(h)
	require.NoError(t, err)
	_, _ = w.Write([]byte("last part"))
	require.NoError(t, mw.WriteField("videoId", id))
	require.NoError(t, mw.Close())
	req, err := http.NewRequest(http.MethodPost, srv.URL+"/upload?token="+tok, strings.NewReader(body.String()))
	require.NoError(t, err)
	req.Header.Set("Content-Type", mw.FormDataContentType())
	req.Header.Set("Content-Range", "part 2/2")
	r := do(t, req)
	require.Equal(t, 201, r.Status, "body: %s", r.Raw)
	assert.Equal(t, id, r.str("videoId"))
	info, _ := srv.Sandbox.Video(id)
	assert.True(t, info.Complete)
	assert.Len(t, srv.Sandbox.Videos(), 1)
}
