package wrapper

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/avupload/avupload/sandbox"
)

// These tests hold the upload to its promise against servers that lie: a
// chunk counts only from the API's answer naming the video, or from an
// "already received" answer for a range this upload itself sent before.

// chunkReq is what chunkServer makes of one upload request.
type chunkReq struct {
	index   int    // the chunk's 0-based index, from its Content-Range
	attempt int    // the requests for this chunk so far, this one included
	rng     string // the Content-Range header
	from    int64  // the range's first byte (bytes form)
	to      int64  // the range's last byte (bytes form)
	videoID string // the videoId field, empty for the first chunk
	last    bool   // the range ends the source
}

// chunkServer is a fake API for uploads in chunks of testChunk bytes: it
// reads each request whole and lets its answer function decide what to
// send back. The answer function can be changed between runs, so that a
// resumed upload (whose state is keyed by the server's URL) meets another
// behaviour at the same address.
type chunkServer struct {
	srv    *httptest.Server
	mu     sync.Mutex
	tries  map[int]int
	answer func(w http.ResponseWriter, r *http.Request, c chunkReq)
}

var (
	bytesHeader = regexp.MustCompile(`^bytes (\d+)-(\d+)/(\d+)$`)
	partHeader  = regexp.MustCompile(`^part (\d+)/(\d+|\*)$`)
)

func newChunkServer(t *testing.T, answer func(w http.ResponseWriter, r *http.Request, c chunkReq)) *chunkServer {
	t.Helper()
	s := &chunkServer{tries: map[int]int{}, answer: answer}
	s.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c := chunkReq{rng: r.Header.Get("Content-Range")}
		mr, err := r.MultipartReader()
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		for {
			p, err := mr.NextPart()
			if err != nil {
				break
			}
			if p.FormName() == "videoId" {
				v, _ := io.ReadAll(p)
				c.videoID = string(v)
			} else {
				_, _ = io.Copy(io.Discard, p)
			}
		}
		if m := bytesHeader.FindStringSubmatch(c.rng); m != nil {
			c.from, _ = strconv.ParseInt(m[1], 10, 64)
			c.to, _ = strconv.ParseInt(m[2], 10, 64)
			total, _ := strconv.ParseInt(m[3], 10, 64)
			c.index, c.last = int(c.from/testChunk), c.to == total-1
		} else if m := partHeader.FindStringSubmatch(c.rng); m != nil {
			n, _ := strconv.Atoi(m[1])
			c.index, c.last = n-1, m[2] == m[1]
		}
		s.mu.Lock()
		s.tries[c.index]++
		c.attempt = s.tries[c.index]
		answer := s.answer
		s.mu.Unlock()
		answer(w, r, c)
	}))
	t.Cleanup(s.srv.Close)
	return s
}

// setAnswer replaces the answer function.
func (s *chunkServer) setAnswer(answer func(w http.ResponseWriter, r *http.Request, c chunkReq)) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.answer = answer
}

// triesOf returns the requests chunk i got.
func (s *chunkServer) triesOf(i int) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.tries[i]
}

func (s *chunkServer) client(t *testing.T) *Client {
	t.Helper()
	c, err := New(WithBaseURL(s.srv.URL), WithRetryPolicy(fastRetries))
	require.NoError(t, err)
	return c
}

const ackVideo = "viAckTestVideo00000000001"

// videoOK answers a chunk as the API does: with the video, whole on the
// last chunk.
func videoOK(w http.ResponseWriter, c chunkReq) {
	if c.last {
		reply(w, http.StatusCreated, `{"videoId":"`+ackVideo+`","title":"clip","assets":{"player":"https://embed.api.video/vod/`+ackVideo+`"}}`)
		return
	}
	reply(w, http.StatusCreated, `{"videoId":"`+ackVideo+`"}`)
}

// overlapping refuses a chunk as the API refuses a range it holds; detail
// may be empty.
func overlapping(w http.ResponseWriter, detail string) {
	body, _ := json.Marshal(map[string]any{
		"type":   "https://docs.api.video/reference/invalid-content-range",
		"title":  `The "Content-Range" header range overlaps a range already sent.`,
		"name":   "Content-Range",
		"status": 400,
		"detail": detail,
	})
	reply(w, http.StatusBadRequest, string(body))
}

// exactOverlap is the API's detail for a range that holds exactly c's.
func exactOverlap(c chunkReq) string {
	return fmt.Sprintf("range %d-%d overlaps range %d-%d already received", c.from, c.to, c.from, c.to)
}

func stateIndexes(cs []AckedChunk) []int {
	out := []int{}
	for _, c := range cs {
		out = append(out, c.Index)
	}
	return out
}

// TestGarbageSuccessIsNotAnAcknowledgement answers chunks 2 and 3 with a
// 2xx that is not the API's answer naming the video, as captive portals,
// proxies and load balancers do: each try of chunk 2 is retried, then the
// upload fails with a clear error, and neither chunk is counted. On
// feb85f2 every case but the last returned success with the full SHA-256.
func TestGarbageSuccessIsNotAnAcknowledgement(t *testing.T) {
	for _, tc := range []struct {
		name, ctype, body string
		status            int
		is                error
		says              string
	}{
		{"html 200", "text/html; charset=utf-8", "<html><body>Welcome to the hotel wifi</body></html>", 200, errUnreadableAnswer,
			"answered 200 to chunk 2 (bytes 10485760-15728639/20971521) with something that is not the API's answer (text/html; charset=utf-8, 51 bytes: not a JSON object): nothing says the chunk was stored"},
		{"empty object 201", "application/json", "{}", 201, errUnreadableAnswer, "(application/json, 2 bytes: no videoId in it)"},
		{"empty 200", "", "", 200, errUnreadableAnswer, "answered 200 to chunk 2"},
		{"json array 201", "application/json", `[{"videoId":"` + ackVideo + `"}]`, 201, errUnreadableAnswer, "not a JSON object"},
		{"null 201", "application/json", "null", 201, errUnreadableAnswer, "not a JSON object"},
		{"trailing page 201", "application/json", `{"videoId":"` + ackVideo + `"}<html></html>`, 201, errUnreadableAnswer, "not a JSON object the API writes"},
		{"another videoId 201", "application/json", `{"videoId":"viSomebodyElsesVideo0001"}`, 201, ErrVideoChanged,
			`naming video "viSomebodyElsesVideo0001", not "` + ackVideo + `"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := newChunkServer(t, func(w http.ResponseWriter, _ *http.Request, c chunkReq) {
				if c.index == 2 || c.index == 3 {
					if tc.ctype != "" {
						w.Header().Set("Content-Type", tc.ctype)
					}
					w.WriteHeader(tc.status)
					_, _ = io.WriteString(w, tc.body)
					return
				}
				videoOK(w, c)
			})
			data := testData(4*testChunk+1, 61)
			res, err := s.client(t).Upload(t.Context(), testToken, ReaderAt(bytesReader(data), int64(len(data))),
				&UploadOptions{ChunkSize: testChunk, Concurrency: 1})
			require.Error(t, err, "a 2xx that is not the API's answer is no acknowledgement")
			assert.Nil(t, res)
			assert.ErrorIs(t, err, tc.is)
			assert.Contains(t, err.Error(), tc.says)
			assert.Equal(t, fastRetries.MaxAttempts, s.triesOf(2), "chunk 2 is retried as the policy allows")
			assert.Zero(t, s.triesOf(3), "nothing is sent after the failure")
			var upErr *UploadError
			require.ErrorAs(t, err, &upErr)
			require.NotNil(t, upErr.State)
			assert.Equal(t, []int{0, 1}, stateIndexes(upErr.State.Acked), "chunk 2 is not counted")
			assert.Equal(t, []int{2}, stateIndexes(upErr.State.Sending), "chunk 2 may be on the server")
			checkNoSecret(t, err.Error())
		})
	}
}

// TestGarbageSuccessWithConcurrentChunks: chunks 2 and 3 in flight at once,
// both answered with HTML: the upload fails, never with a nil error.
func TestGarbageSuccessWithConcurrentChunks(t *testing.T) {
	s := newChunkServer(t, func(w http.ResponseWriter, _ *http.Request, c chunkReq) {
		if c.index == 2 || c.index == 3 {
			w.Header().Set("Content-Type", "text/html")
			w.WriteHeader(http.StatusOK)
			_, _ = io.WriteString(w, "<html>portal</html>")
			return
		}
		videoOK(w, c)
	})
	data := testData(4*testChunk+1, 62)
	_, err := s.client(t).Upload(t.Context(), testToken, ReaderAt(bytesReader(data), int64(len(data))),
		&UploadOptions{ChunkSize: testChunk, Concurrency: 4})
	require.Error(t, err)
	assert.ErrorIs(t, err, errUnreadableAnswer)
	assert.Contains(t, err.Error(), "nothing says the chunk was stored")
}

// TestUnreadableFirstAnswerIsNotRetried: the first chunk of a new video
// answered with something that is not the API's answer may have made a
// video whose id is unknown; it is sent once, and the error says why.
func TestUnreadableFirstAnswerIsNotRetried(t *testing.T) {
	s := newChunkServer(t, func(w http.ResponseWriter, _ *http.Request, c chunkReq) {
		w.Header().Set("Content-Type", "text/html")
		w.WriteHeader(http.StatusCreated)
		_, _ = io.WriteString(w, "<html>created?</html>")
	})
	data := testData(2*testChunk+1, 63)
	_, err := s.client(t).Upload(t.Context(), testToken, ReaderAt(bytesReader(data), int64(len(data))),
		&UploadOptions{ChunkSize: testChunk})
	require.Error(t, err)
	assert.ErrorIs(t, err, errUnreadableAnswer)
	assert.Equal(t, 1, s.triesOf(0), "a retry could make a second video")
	assert.Contains(t, err.Error(), "a video may have been made whose id is unknown")
}

// TestAlreadyReceivedNeedsAnExactRange retries chunk 2 after a 503, and the
// retry is refused as an overlap or a collision: it counts as landed only
// when the API's detail names exactly the chunk's range (or part). On
// feb85f2 an overlap with no detail counted as landed.
func TestAlreadyReceivedNeedsAnExactRange(t *testing.T) {
	collide := func(w http.ResponseWriter, detail string) {
		body, _ := json.Marshal(map[string]any{
			"type": "https://docs.api.video/reference/invalid-content-range", "status": 400, "name": "Content-Range",
			"title": `The "Content-Range" header part collides with a part already sent.`, "detail": detail,
		})
		reply(w, http.StatusBadRequest, string(body))
	}
	for _, tc := range []struct {
		name    string
		stream  bool // by part
		refuse  func(w http.ResponseWriter, c chunkReq)
		landed  bool
		message string
	}{
		{"overlap naming the range", false, func(w http.ResponseWriter, c chunkReq) { overlapping(w, exactOverlap(c)) }, true, ""},
		{"overlap without detail", false, func(w http.ResponseWriter, _ chunkReq) { overlapping(w, "") }, false,
			"the API does not say which"},
		{"overlap naming another range", false, func(w http.ResponseWriter, c chunkReq) {
			overlapping(w, fmt.Sprintf("range %d-%d overlaps range %d-%d already received", c.from, c.to, c.from-1, c.to-1))
		}, false, "already holds another range overlapping it"},
		{"collision naming the part", true, func(w http.ResponseWriter, c chunkReq) {
			collide(w, fmt.Sprintf("part %d was already received", c.index+1))
		}, true, ""},
		{"collision without detail", true, func(w http.ResponseWriter, _ chunkReq) { collide(w, "") }, false,
			"the API does not say which"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := newChunkServer(t, func(w http.ResponseWriter, _ *http.Request, c chunkReq) {
				switch {
				case c.index == 2 && c.attempt == 1:
					reply(w, http.StatusServiceUnavailable, `{"title":"Service Unavailable","status":503}`)
				case c.index == 2:
					tc.refuse(w, c)
				default:
					videoOK(w, c)
				}
			})
			data := testData(4*testChunk+1, 64)
			src := ReaderAt(bytesReader(data), int64(len(data)))
			if tc.stream {
				src = Reader(bytesReader(data), -1)
			}
			res, err := s.client(t).Upload(t.Context(), testToken, src, &UploadOptions{ChunkSize: testChunk, Concurrency: 1})
			assert.Equal(t, 2, s.triesOf(2))
			if tc.landed {
				require.NoError(t, err)
				assert.Equal(t, sha256Hex(data), res.SHA256)
				return
			}
			require.Error(t, err, "an overlap that does not name the chunk's range is no acknowledgement")
			assert.ErrorIs(t, err, ErrRangeTaken)
			var apiErr *APIError
			assert.ErrorAs(t, err, &apiErr, "the API's refusal is kept")
			assert.Contains(t, err.Error(), tc.message)
			assert.Contains(t, err.Error(), "nothing was overwritten")
			assert.Zero(t, s.triesOf(3))
		})
	}
}

// TestVideoIDIntoAVideoThisUploadDidNotMake sends file b into the video of
// another upload with VideoID: complete, or holding the first chunks of a
// file of b's size. The API refuses b's first chunk as already there, and
// that is no acknowledgement: the upload fails with ErrRangeTaken naming the
// video, and the video holds what it held. On feb85f2 both exited 0, the
// API holding a's bytes, or a mix.
func TestVideoIDIntoAVideoThisUploadDidNotMake(t *testing.T) {
	for _, complete := range []bool{true, false} {
		t.Run(map[bool]string{true: "complete", false: "partial"}[complete], func(t *testing.T) {
			var opts []sandbox.Option
			if !complete {
				opts = append(opts, refusedAt(3)) // a stops after two chunks
			}
			e := newUploadEnv(t, opts...)
			a := testData(6*testChunk/2, 65) // 3 chunks
			b := testData(6*testChunk/2, 66)
			if complete {
				b = testData(6*testChunk+5, 66) // a larger file
			}
			ares, err := e.client.Upload(t.Context(), e.token, ReaderAt(bytesReader(a), int64(len(a))),
				&UploadOptions{ChunkSize: testChunk, Concurrency: 1})
			var video string
			if complete {
				require.NoError(t, err)
				video = ares.Video.VideoID
			} else {
				require.ErrorIs(t, err, ErrForbidden)
				var upErr *UploadError
				require.ErrorAs(t, err, &upErr)
				require.NotNil(t, upErr.State)
				video = upErr.State.VideoID
			}
			before, ok := e.srv.Sandbox.Video(video)
			require.True(t, ok)
			requests := e.srv.Sandbox.Stats().Count(sandbox.OpUploadWithUploadToken)

			res, err := e.client.Upload(t.Context(), e.token, ReaderAt(bytesReader(b), int64(len(b))),
				&UploadOptions{ChunkSize: testChunk, Concurrency: 1, VideoID: video})
			require.Error(t, err, "the video holds bytes this upload did not send")
			assert.Nil(t, res)
			assert.ErrorIs(t, err, ErrRangeTaken)
			var apiErr *APIError
			assert.ErrorAs(t, err, &apiErr)
			assert.Contains(t, err.Error(), "video "+video)
			assert.Contains(t, err.Error(), "nothing was overwritten")
			assert.Equal(t, requests+1, e.srv.Sandbox.Stats().Count(sandbox.OpUploadWithUploadToken), "one chunk, refused")
			after, ok := e.srv.Sandbox.Video(video)
			require.True(t, ok)
			assert.Equal(t, before, after, "the video holds what it held")
			if complete {
				assert.Equal(t, sha256Hex(a), after.SHA256)
			}
		})
	}
}

// TestWriteAheadRecord stops an upload (as a kill would) once the state
// records chunk 2 as being sent and the server holds it, then resumes
// against a server that answers "overlap" naming a chunk's exact range:
// for chunk 2, which the state records, the answer counts and the upload
// succeeds; for chunk 3, which nobody here sent, it is refused. On
// feb85f2 the refused case succeeded: any such answer counted on resume.
func TestWriteAheadRecord(t *testing.T) {
	for _, overlapOn := range []int{2, 3} {
		t.Run(fmt.Sprintf("overlap on chunk %d", overlapOn), func(t *testing.T) {
			ctx, cancel := context.WithCancel(t.Context())
			defer cancel()
			s := newChunkServer(t, func(w http.ResponseWriter, r *http.Request, c chunkReq) {
				if c.index == 2 {
					// The server stored the chunk; the client dies before
					// the answer.
					cancel()
					<-r.Context().Done()
					return
				}
				videoOK(w, c)
			})
			c := s.client(t)
			data := testData(4*testChunk+1, 67)
			path := writeTestFile(t, data)
			store := NewStateFile(filepath.Join(t.TempDir(), "state.json"))
			opts := &UploadOptions{ChunkSize: testChunk, Concurrency: 1, Store: store}

			_, err := c.Upload(ctx, testToken, File(path), opts)
			require.ErrorIs(t, err, context.Canceled)
			saved, err := store.Load(t.Context(), "")
			require.NoError(t, err)
			require.NotNil(t, saved)
			assert.Equal(t, stateVersion, saved.Version)
			assert.Equal(t, []int{0, 1}, stateIndexes(saved.Acked))
			require.Equal(t, []int{2}, stateIndexes(saved.Sending), "chunk 2 was recorded before its first byte went")
			assert.Equal(t, sha256Hex(data[:3*testChunk]), saved.Sending[0].PrefixSHA256)
			raw, err := os.ReadFile(store.Path())
			require.NoError(t, err)
			assert.Contains(t, string(raw), `"sending"`)

			s.setAnswer(func(w http.ResponseWriter, _ *http.Request, c chunkReq) {
				if c.index == overlapOn {
					overlapping(w, exactOverlap(c))
					return
				}
				videoOK(w, c)
			})
			res, err := c.Upload(t.Context(), testToken, File(path), opts)
			if overlapOn == 2 {
				require.NoError(t, err, "chunk 2 was sent by the run the state records")
				assert.Equal(t, sha256Hex(data), res.SHA256)
				assert.Equal(t, 2, res.ResumedChunks)
				gone, err := store.Load(t.Context(), "")
				require.NoError(t, err)
				assert.Nil(t, gone)
				return
			}
			require.Error(t, err, "chunk 3 was never sent from here")
			assert.ErrorIs(t, err, ErrRangeTaken)
			assert.Contains(t, err.Error(), "chunk 3 (bytes 15728640-20971519/20971521)")
			assert.Contains(t, err.Error(), "nothing was overwritten")
		})
	}
}

// TestWriteAheadRecordOfOtherBytes: a chunk the state records as being sent
// is trusted only with the same bytes. A stream resumed with other bytes in
// that chunk, which the API says it holds, fails with ErrSourceChanged.
func TestWriteAheadRecordOfOtherBytes(t *testing.T) {
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	s := newChunkServer(t, func(w http.ResponseWriter, r *http.Request, c chunkReq) {
		if c.index == 2 {
			cancel()
			<-r.Context().Done()
			return
		}
		videoOK(w, c)
	})
	c := s.client(t)
	data := testData(4*testChunk+1, 68)
	store := NewStateFile(filepath.Join(t.TempDir(), "state.json"))
	opts := &UploadOptions{ChunkSize: testChunk, Concurrency: 1, Store: store, FileName: "live.mp4"}
	_, err := c.Upload(ctx, testToken, Reader(bytesReader(data), int64(len(data))), opts)
	require.ErrorIs(t, err, context.Canceled)

	s.setAnswer(func(w http.ResponseWriter, _ *http.Request, c chunkReq) {
		if c.index == 2 {
			overlapping(w, exactOverlap(c))
			return
		}
		videoOK(w, c)
	})
	other := append([]byte(nil), data...)
	other[2*testChunk+10] ^= 0xff
	_, err = c.Upload(t.Context(), testToken, Reader(bytesReader(other), int64(len(other))), opts)
	require.Error(t, err)
	assert.ErrorIs(t, err, ErrSourceChanged)
	assert.NotErrorIs(t, err, ErrRangeTaken)
}

// TestVersion3StateResumes: a state file written by the previous format
// (version 3, no list of chunks being sent) still resumes; one claiming
// version 3 with such a list is refused.
func TestVersion3StateResumes(t *testing.T) {
	s := newChunkServer(t, func(w http.ResponseWriter, _ *http.Request, c chunkReq) {
		if c.index == 2 {
			// An answer that may come after the chunk landed: the
			// record of its sending stays.
			reply(w, http.StatusServiceUnavailable, `{"title":"Service unavailable","status":503}`)
			return
		}
		videoOK(w, c)
	})
	c := s.client(t)
	data := testData(4*testChunk+1, 69)
	path := writeTestFile(t, data)
	store := NewStateFile(filepath.Join(t.TempDir(), "state.json"))
	opts := &UploadOptions{ChunkSize: testChunk, Concurrency: 1, Store: store, Retry: &RetryPolicy{MaxAttempts: 1}}
	_, err := c.Upload(t.Context(), testToken, File(path), opts)
	require.ErrorIs(t, err, ErrServer)

	raw, err := os.ReadFile(store.Path())
	require.NoError(t, err)
	var doc map[string]any
	require.NoError(t, json.Unmarshal(raw, &doc))
	require.Contains(t, doc, "sending")
	doc["version"] = 3

	withSending, err := json.Marshal(doc)
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(store.Path(), withSending, 0o600))
	_, err = store.Load(t.Context(), "")
	assert.ErrorIs(t, err, ErrStateConflict, "version 3 had no list of chunks being sent")

	delete(doc, "sending")
	v3, err := json.Marshal(doc)
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(store.Path(), v3, 0o600))
	loaded, err := store.Load(t.Context(), "")
	require.NoError(t, err)
	require.NotNil(t, loaded)
	assert.Equal(t, stateVersion, loaded.Version, "read as the current version")

	s.setAnswer(func(w http.ResponseWriter, _ *http.Request, c chunkReq) { videoOK(w, c) })
	res, err := c.Upload(t.Context(), testToken, File(path), opts)
	require.NoError(t, err)
	assert.Equal(t, 2, res.ResumedChunks)
	assert.Equal(t, sha256Hex(data), res.SHA256)
	assert.Equal(t, 1, s.triesOf(0), "chunk 0 was not sent again")
}

// resizer changes the file at path when the first upload request arrives,
// before the sandbox reads it: after the hashing pass began, before the
// next chunk's request reads the file.
type resizer struct {
	h      http.Handler
	once   sync.Once
	path   string
	resize func(path string) error
	err    error
}

func (z *resizer) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.URL.Path == "/upload" {
		z.once.Do(func() { z.err = z.resize(z.path) })
	}
	z.h.ServeHTTP(w, r)
}

// TestFileThatChangesSizeDuringItsUpload grows or shrinks a file once its
// upload has begun: the upload fails with ErrSourceChanged, saying in
// words how the file changed, and discards its state. On feb85f2 a file
// that grew was reported uploaded with only its first bytes sent, and one
// that shrank failed with the transport's "ContentLength=... with Body
// length".
func TestFileThatChangesSizeDuringItsUpload(t *testing.T) {
	const size = 3*testChunk + 1
	for _, tc := range []struct {
		name    string
		newSize int64
	}{
		{"grows", size + 1000},
		{"shrinks", testChunk + testChunk/2},
	} {
		t.Run(tc.name, func(t *testing.T) {
			data := testData(size, 70)
			path := writeTestFile(t, data)
			z := &resizer{path: path, resize: func(path string) error {
				if tc.newSize > size {
					f, err := os.OpenFile(path, os.O_APPEND|os.O_WRONLY, 0)
					if err != nil {
						return err
					}
					_, err = f.Write(make([]byte, tc.newSize-size))
					return errors.Join(err, f.Close())
				}
				return os.Truncate(path, tc.newSize)
			}}
			_, c, token := behindSandbox(t, func(sb *sandbox.Sandbox) http.Handler {
				z.h = sb
				return z
			})
			store := NewStateFile(filepath.Join(t.TempDir(), "state.json"))
			res, err := c.Upload(t.Context(), token, File(path),
				&UploadOptions{ChunkSize: testChunk, Concurrency: 1, Store: store})
			require.NoError(t, z.err)
			require.Error(t, err, "the API does not hold the file as it is")
			assert.Nil(t, res)
			assert.ErrorIs(t, err, ErrSourceChanged)
			how := map[bool]string{true: "grew", false: "shrank"}[tc.newSize > size]
			assert.Contains(t, err.Error(), fmt.Sprintf("%s %s from %d to %d bytes while it was being uploaded", path, how, int64(size), tc.newSize))
			assert.NotContains(t, err.Error(), "ContentLength")
			assert.NotContains(t, err.Error(), "transport")
			assert.True(t, strings.Contains(err.Error(), "the upload state is discarded"), err.Error())
			saved, err := store.Load(t.Context(), "")
			require.NoError(t, err)
			assert.Nil(t, saved, "the video holds the file as it was: no later run goes on with it")
		})
	}
}

// shrinkAfterPass is a source whose bytes from cut to the end of the chunk
// at [from, to) vanish once the hashing pass has read that chunk: the
// request that sends the chunk, which reads it after the pass did, finds
// the source ending inside it.
type shrinkAfterPass struct {
	data          []byte
	from, to, cut int64
	mu            sync.Mutex
	served        int64
}

func (s *shrinkAfterPass) ReadAt(p []byte, off int64) (int, error) {
	end := int64(len(s.data))
	if off >= s.from && off < s.to {
		s.mu.Lock()
		if s.served >= s.to-s.from {
			end = s.cut
		} else {
			s.served += min(int64(len(p)), s.to-off)
		}
		s.mu.Unlock()
	}
	if off >= end {
		return 0, io.EOF
	}
	n := copy(p, s.data[off:end])
	if n < len(p) {
		return n, io.EOF
	}
	return n, nil
}

// TestSourceEndsInsideARequest: a request whose source ends before the
// chunk does fails with ErrSourceChanged, in words, not with the
// transport's "ContentLength=... with Body length", and is not retried.
func TestSourceEndsInsideARequest(t *testing.T) {
	s := newChunkServer(t, func(w http.ResponseWriter, _ *http.Request, c chunkReq) { videoOK(w, c) })
	data := testData(3*testChunk+1, 71)
	src := &shrinkAfterPass{data: data, from: testChunk, to: 2 * testChunk, cut: testChunk + 100}
	_, err := s.client(t).Upload(t.Context(), testToken, ReaderAt(src, int64(len(data))),
		&UploadOptions{ChunkSize: testChunk, Concurrency: 1})
	require.Error(t, err)
	assert.ErrorIs(t, err, ErrSourceChanged)
	assert.Contains(t, err.Error(), "the source ended inside chunk 1 (bytes 5242880 to 10485759) while it was being uploaded")
	assert.NotContains(t, err.Error(), "ContentLength")
	assert.LessOrEqual(t, s.triesOf(1), 1, "a source that ended is not sent again")
}

// TestVideoIDRefusalIsNotTrustedOnRerun adds a file, three chunks at once
// with a state file, to a partial video of another file of the same size:
// the API refuses the two chunks it holds and takes the third, so that the
// video is complete with a mix. The refused chunks were recorded as being
// sent before they went; had the record stayed, a rerun would have taken
// the API's "already uploaded" for them as its own and succeeded. The
// state is discarded instead, and the rerun is refused too.
func TestVideoIDRefusalIsNotTrustedOnRerun(t *testing.T) {
	e := newUploadEnv(t, refusedAt(3)) // a stops after two chunks
	a := testData(6*testChunk/2, 65)
	b := testData(6*testChunk/2, 66)
	_, err := e.client.Upload(t.Context(), e.token, ReaderAt(bytesReader(a), int64(len(a))),
		&UploadOptions{ChunkSize: testChunk, Concurrency: 1})
	var upErr *UploadError
	require.ErrorAs(t, err, &upErr)
	require.NotNil(t, upErr.State)
	video := upErr.State.VideoID

	store := NewStateFile(filepath.Join(t.TempDir(), "state.json"))
	opts := &UploadOptions{ChunkSize: testChunk, Concurrency: 3, VideoID: video, Store: store}
	for run := range 2 {
		res, err := e.client.Upload(t.Context(), e.token, ReaderAt(bytesReader(b), int64(len(b))), opts)
		require.Error(t, err, "run %d: the video holds bytes this upload did not send", run)
		assert.Nil(t, res)
		assert.ErrorIs(t, err, ErrRangeTaken, "run %d", run)
		saved, err := store.Load(t.Context(), "")
		require.NoError(t, err)
		assert.Nil(t, saved, "run %d: no state is left to trust", run)
	}
}

// TestWriteAheadRecordInAVideoNotMadeHere: into a video named by VideoID,
// which other uploads may have filled, a record of sending vouches for
// nothing: the run stops before chunk 2's answer, and the API's "overlap"
// naming chunk 2's exact range on the rerun may be about bytes that were
// there before. The rerun fails with ErrRangeTaken. Found by the promise
// checker: a --video-id rerun into another file's complete video exited 0.
func TestWriteAheadRecordInAVideoNotMadeHere(t *testing.T) {
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	s := newChunkServer(t, func(w http.ResponseWriter, r *http.Request, c chunkReq) {
		if c.index == 2 {
			cancel()
			<-r.Context().Done()
			return
		}
		videoOK(w, c)
	})
	c := s.client(t)
	data := testData(4*testChunk+1, 70)
	path := writeTestFile(t, data)
	store := NewStateFile(filepath.Join(t.TempDir(), "state.json"))
	opts := &UploadOptions{ChunkSize: testChunk, Concurrency: 1, Store: store, VideoID: ackVideo}

	_, err := c.Upload(ctx, testToken, File(path), opts)
	require.ErrorIs(t, err, context.Canceled)
	saved, err := store.Load(t.Context(), "")
	require.NoError(t, err)
	require.NotNil(t, saved)
	require.Equal(t, []int{2}, stateIndexes(saved.Sending))
	assert.False(t, saved.VideoMade)

	s.setAnswer(func(w http.ResponseWriter, _ *http.Request, c chunkReq) {
		if c.index == 2 {
			overlapping(w, exactOverlap(c))
			return
		}
		videoOK(w, c)
	})
	res, err := c.Upload(t.Context(), testToken, File(path), opts)
	require.Error(t, err, "nothing shows that the bytes the API holds in chunk 2's range are these")
	assert.Nil(t, res)
	assert.ErrorIs(t, err, ErrRangeTaken)
}

// TestRetryIntoAVideoNotMadeHere: into a video named by VideoID, a chunk
// whose first try got no usable answer and whose retry the API refuses as
// an exact overlap is not taken as landed: the range may have held other
// bytes before the first try. Into the upload's own video, it is (the first
// try landed, its answer was lost). Found by the promise checker: a stall
// then an overlap made a --video-id run exit 0 into a video of other bytes.
func TestRetryIntoAVideoNotMadeHere(t *testing.T) {
	for _, into := range []string{"", ackVideo} {
		t.Run(map[string]string{"": "own video", ackVideo: "video named by VideoID"}[into], func(t *testing.T) {
			s := newChunkServer(t, func(w http.ResponseWriter, _ *http.Request, c chunkReq) {
				switch {
				case c.index != 1:
					videoOK(w, c)
				case c.attempt == 1:
					reply(w, http.StatusServiceUnavailable, `{"title":"Service unavailable","status":503}`)
				default:
					overlapping(w, exactOverlap(c))
				}
			})
			c := s.client(t)
			data := testData(3*testChunk, 71)
			res, err := c.Upload(t.Context(), testToken, ReaderAt(bytesReader(data), int64(len(data))),
				&UploadOptions{ChunkSize: testChunk, Concurrency: 1, VideoID: into})
			assert.Equal(t, 2, s.triesOf(1))
			if into == "" {
				require.NoError(t, err)
				assert.Equal(t, sha256Hex(data), res.SHA256)
				return
			}
			require.Error(t, err)
			assert.Nil(t, res)
			assert.ErrorIs(t, err, ErrRangeTaken)
		})
	}
}
