package wrapper

import (
	"bytes"
	"encoding/json"
	"io"
	"mime/multipart"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/avupload/avupload/sandbox"
)

// These tests hold the upload to what api-facts.md promises, against
// servers that answer differently from our sandbox but within the facts.

// A 201 whose body cannot be read made a video whose id the client cannot
// know: sending it again would make another, so it is not retried.
func TestUploadDoesNotRetryAnUnreadableSuccess(t *testing.T) {
	f := newFake(t, func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusCreated)
	})
	c, _ := newTestClient(t, f)
	_, err := c.Upload(t.Context(), testToken, ReaderAt(strings.NewReader("tiny video"), 10), nil)
	require.Error(t, err)
	assert.ErrorIs(t, err, errUnreadableAnswer)
	assert.Equal(t, 1, f.count(), "one request: a retry would make a second video")
}

// minimalAnswers rewrites every 201 but the first and the one that
// completes the video: to an answer holding the videoId alone (as the API
// may answer intermediate chunks), or to one with nothing the client can
// take for an acknowledgement: an empty JSON object, an empty body.
type minimalAnswers struct {
	h    http.Handler
	kind string // "videoId only", "empty object" or "empty body"
}

func (m minimalAnswers) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	rec := httptest.NewRecorder()
	m.h.ServeHTTP(rec, r)
	body := rec.Body.Bytes()
	first := strings.HasPrefix(r.Header.Get("Content-Range"), "bytes 0-")
	if rec.Code == http.StatusCreated && !first && !bytes.Contains(body, []byte(`"assets"`)) {
		var v struct {
			VideoID string `json:"videoId"`
		}
		_ = json.Unmarshal(body, &v)
		switch m.kind {
		case "videoId only":
			body = []byte(`{"videoId":"` + v.VideoID + `"}`)
		case "empty object":
			body = []byte("{}")
		default:
			body = nil
		}
	}
	for k, v := range rec.Header() {
		w.Header()[k] = v
	}
	w.Header().Del("Content-Length")
	w.WriteHeader(rec.Code)
	_, _ = w.Write(body)
}

// TestMinimalChunkAnswers: an intermediate answer holding the videoId
// alone acknowledges its chunk; one without it (an empty object, an empty
// body) does not, so the chunk is sent again, and the API's refusal of the
// second try, naming exactly the range the first one stored, is what
// counts it. On feb85f2 the answers without a videoId counted at once.
func TestMinimalChunkAnswers(t *testing.T) {
	for _, tc := range []struct {
		kind     string
		requests int // 4 chunks; chunks 1 and 2 are sent twice when their answers are not understood
	}{
		{"videoId only", 4},
		{"empty object", 6},
		{"empty body", 6},
	} {
		t.Run(tc.kind, func(t *testing.T) {
			sb, c, token := behindSandbox(t, func(sb *sandbox.Sandbox) http.Handler {
				return minimalAnswers{h: sb, kind: tc.kind}
			})

			data := testData(3*testChunk+7, 31)
			res, err := c.Upload(t.Context(), token, ReaderAt(bytesReader(data), int64(len(data))),
				&UploadOptions{ChunkSize: testChunk, Concurrency: 2})
			require.NoError(t, err)
			assert.Equal(t, sha256Hex(data), res.SHA256)
			videos := sb.Videos()
			require.Len(t, videos, 1)
			assert.True(t, videos[0].Complete)
			assert.Equal(t, sha256Hex(data), videos[0].SHA256)
			assert.Equal(t, videos[0].VideoID, res.Video.VideoID)
			assert.Equal(t, tc.requests, sb.Stats().Count(sandbox.OpUploadWithUploadToken))
		})
	}
}

// forgetful answers as if the videos it was told to forget never existed,
// as the API does once a sandbox video is deleted after 24 hours.
type forgetful struct {
	h      http.Handler
	forget atomic.Pointer[string]
}

func (f *forgetful) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	gone := f.forget.Load()
	if gone == nil || r.URL.Path != "/upload" {
		f.h.ServeHTTP(w, r)
		return
	}
	body, err := io.ReadAll(r.Body)
	if err != nil {
		return
	}
	_, params, _ := strings.Cut(r.Header.Get("Content-Type"), "boundary=")
	form, err := multipart.NewReader(bytes.NewReader(body), params).ReadForm(32 << 20)
	if err == nil && len(form.Value["videoId"]) == 1 && form.Value["videoId"][0] == *gone {
		reply(w, http.StatusNotFound, `{"type":"https://docs.api.video/reference/resource-not-found","title":"The requested resource was not found.","name":"videoId","status":404}`)
		return
	}
	r.Body = io.NopCloser(bytes.NewReader(body))
	f.h.ServeHTTP(w, r)
}

// TestResumeOfAVideoThatIsGone saves a state, has the server forget its
// video, and resumes: the upload starts over as a new video rather than
// failing on the dead one for ever.
func TestResumeOfAVideoThatIsGone(t *testing.T) {
	var fg *forgetful
	sb, c, token := behindSandbox(t, func(sb *sandbox.Sandbox) http.Handler {
		fg = &forgetful{h: sb}
		return fg
	}, sandbox.WithFaults(sandbox.Fault{
		Op: sandbox.OpUploadWithUploadToken, Request: 3, Kind: sandbox.FaultStatus, Status: http.StatusForbidden,
	}))
	data := testData(4*testChunk+9, 32)
	path := writeTestFile(t, data)
	store := NewStateFile(filepath.Join(t.TempDir(), "state.json"))
	// One at a time: the third request is chunk 2, so that two are saved.
	opts := &UploadOptions{ChunkSize: testChunk, Concurrency: 1, Store: store}

	_, err := c.Upload(t.Context(), token, File(path), opts)
	require.ErrorIs(t, err, ErrForbidden)
	saved, err := store.Load(t.Context(), "")
	require.NoError(t, err)
	require.NotNil(t, saved)
	require.Len(t, saved.Acked, 2)
	fg.forget.Store(&saved.VideoID)

	var last int64
	var events []StateEvent
	opts.OnState = func(e StateEvent) { events = append(events, e) }
	opts.Progress = func(p UploadProgress) {
		assert.GreaterOrEqual(t, p.Sent, last, "progress never goes back, even when the upload starts over")
		last = p.Sent
	}
	res, err := c.Upload(t.Context(), token, File(path), opts)
	require.NoError(t, err)
	assert.NotEqual(t, saved.VideoID, res.Video.VideoID, "a new video")
	assert.Equal(t, 0, res.ResumedChunks)
	assert.Equal(t, int64(len(data)), last)
	require.Len(t, events, 2, "resumed, then started over: %+v", events)
	assert.Equal(t, StateResumed, events[0].Kind)
	assert.Equal(t, StateStartedOver, events[1].Kind)
	assert.Equal(t, saved.VideoID, events[1].VideoID)
	assert.ErrorIs(t, events[1].Err, ErrNotFound, "the API's refusal is the reason")
	info, ok := sb.Video(res.Video.VideoID)
	require.True(t, ok)
	assert.True(t, info.Complete)
	assert.Equal(t, sha256Hex(data), info.SHA256)
	gone, err := store.Load(t.Context(), "")
	require.NoError(t, err)
	assert.Nil(t, gone, "the state is gone once the upload succeeded")
}
