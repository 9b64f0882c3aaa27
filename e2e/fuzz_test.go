package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/avupload/avupload/sandbox"
	"github.com/avupload/avupload/wrapper"
)

// Secrets planted in fuzzed answers: the client must scrub them.
const (
	fuzzKey   = "fuzz-api-key-3f9c1"
	fuzzToken = "tofuzzTokenAbCdEf0123456"
)

// FuzzProblemDocument feeds arbitrary error answers (status, content type,
// body) to the client. Every one must become an *APIError with the answer's
// status, matching exactly the sentinel of its status class, and its text
// must hold neither the API key nor the token asked about, even when the
// server echoes them.
func FuzzProblemDocument(f *testing.F) {
	for _, s := range []struct {
		status int
		ct     string
		body   string
	}{
		{404, "application/json", `{"type":"https://docs.api.video/reference/resource-not-found","title":"The requested resource was not found.","name":"uploadToken","status":404}`},
		{429, "application/json", `{"type":"https://docs.api.video/reference/too-many-requests","title":"Too many requests.","status":429}`},
		{400, "application/problem+json", `{"type":"https://docs.api.video/reference/invalid-attribute","title":"An attribute is invalid.","name":"ttl","status":400,"detail":"x","problems":[{"type":"t","title":"a","name":"ttl","status":400}]}`},
		{401, "application/json", `{"title":"The API key is invalid.","detail":"key ` + fuzzKey + ` refused"}`},
		{404, "application/json", `{"title":"no token ` + fuzzToken + `","detail":"\u0074ofuzzTokenAbCdEf0123456"}`},
		{500, "text/html", `<html>` + fuzzKey + `</html>`},
		{503, "", ""},
		{403, "application/json", `{"title":"Suspended account"`},
		{400, "application/json", `{"problems":[{"title":"` + strings.Repeat("x", 70000) + `"}]}`},
		{418, "application/json", `[1,2,3]`},
	} {
		f.Add(s.status, s.ct, []byte(s.body))
	}
	f.Fuzz(func(t *testing.T, status int, contentType string, body []byte) {
		status = 400 + (status%200+200)%200 // 400 to 599: an error answer
		hc := &http.Client{Transport: roundTripFunc(func(r *http.Request) (*http.Response, error) {
			h := http.Header{}
			if contentType != "" {
				h.Set("Content-Type", contentType)
			}
			return &http.Response{StatusCode: status, Header: h, Body: io.NopCloser(bytes.NewReader(body)),
				ContentLength: int64(len(body)), Request: r}, nil
		})}
		c, err := wrapper.New(wrapper.WithBaseURL("https://api.example.test"), wrapper.WithAPIKey(fuzzKey),
			wrapper.WithHTTPClient(hc), wrapper.WithoutRetries())
		require.NoError(t, err)
		_, err = c.GetUploadToken(context.Background(), fuzzToken)
		var apiErr *wrapper.APIError
		require.ErrorAs(t, err, &apiErr)
		require.Equal(t, status, apiErr.StatusCode)
		sentinels := map[error]bool{
			wrapper.ErrBadRequest:   status == 400,
			wrapper.ErrUnauthorized: status == 401,
			wrapper.ErrForbidden:    status == 403,
			wrapper.ErrNotFound:     status == 404,
			wrapper.ErrRateLimited:  status == 429,
			wrapper.ErrServer:       status >= 500,
		}
		for sentinel, want := range sentinels {
			require.Equal(t, want, errors.Is(err, sentinel), "errors.Is(%v) for status %d", sentinel, status)
		}
		for _, text := range []string{err.Error(), apiErr.Title, apiErr.Detail, apiErr.Type, apiErr.Name} {
			require.NotContains(t, text, fuzzKey)
			require.NotContains(t, text, fuzzToken)
		}
		for _, p := range apiErr.Problems {
			require.NotContains(t, p.Title+p.Type+p.Name, fuzzKey)
			require.NotContains(t, p.Title+p.Type+p.Name, fuzzToken)
		}
	})
}

// validState is a state file StateFile must accept.
var validState = `{"version":3,"baseUrl":"https://sandbox.api.video","source":"/videos/talk.mp4","videoId":"vi4k0jvEUuaTdRAEjQ4Jfrgz",` +
	`"chunkSize":5242880,"firstChunkSize":5242880,"total":10485761,"modTime":"2026-01-02T03:04:05.123456789Z","acked":[` +
	`{"index":0,"size":5242880,"prefixSha256":"` + strings.Repeat("b", 64) + `"},` +
	`{"index":2,"size":1,"prefixSha256":"` + strings.Repeat("c", 64) + `"}],"updatedAt":"2026-01-02T03:04:05Z"}`

// TestStateFileSeed makes sure FuzzStateFile's first seed is accepted, so
// that its save-and-load-back path runs from the seeds on.
func TestStateFileSeed(t *testing.T) {
	p := filepath.Join(t.TempDir(), "state.json")
	require.NoError(t, os.WriteFile(p, []byte(validState), 0o600))
	s, err := wrapper.NewStateFile(p).Load(context.Background(), "any")
	require.NoError(t, err)
	require.Len(t, s.Acked, 2)
	assert.Equal(t, []int{0, 2}, []int{s.Acked[0].Index, s.Acked[1].Index})
	assert.Equal(t, int64(5<<20+1), s.AckedBytes(), "a full first chunk and the one-byte last")
}

// FuzzStateFile feeds arbitrary bytes to StateFile.Load. It must never
// panic; what it accepts must save and load back to the same state, and
// what it refuses must leave the file as it was.
func FuzzStateFile(f *testing.F) {
	valid := validState
	for _, s := range []string{
		valid,
		strings.Replace(valid, `"total":10485761`, `"total":-1`, 1),
		strings.Replace(strings.Replace(valid, `"total":10485761`, `"total":-1`, 1), `"size":1,`, `"size":5242880,`, 1),
		strings.Replace(valid, `"index":2`, `"index":0`, 1),
		strings.Replace(valid, `"index":2`, `"index":3`, 1),
		strings.Replace(valid, `"version":3`, `"version":2`, 1),
		strings.Replace(valid, `"version":3`, `"version":4`, 1),
		strings.Replace(valid, `"prefixSha256"`, `"sha256"`, 1),
		strings.Replace(valid, `}`, `,"token":"x"}`, 1),
		valid + valid,
		``, `{}`, `null`, `[]`, `{"version":1}`, `{"version":2}`, `{"version":3}`,
	} {
		f.Add([]byte(s))
	}
	dir := f.TempDir()
	var n int
	var mu sync.Mutex
	f.Fuzz(func(t *testing.T, data []byte) {
		mu.Lock()
		n++
		p := filepath.Join(dir, "state-"+strconv.Itoa(n)+".json")
		mu.Unlock()
		defer os.Remove(p)
		require.NoError(t, os.WriteFile(p, data, 0o600))
		sf := wrapper.NewStateFile(p)
		ctx := context.Background()
		s, err := sf.Load(ctx, "any")
		if err != nil {
			after, rerr := os.ReadFile(p)
			require.NoError(t, rerr)
			require.Equal(t, data, after, "a refused state file was modified")
			return
		}
		require.NotNil(t, s)
		require.NoError(t, sf.Save(ctx, "any", s), "a state that loads must save")
		again, err := sf.Load(ctx, "any")
		require.NoError(t, err, "a saved state must load")
		a, _ := json.Marshal(s)
		b, _ := json.Marshal(again)
		require.JSONEq(t, string(a), string(b))
		require.Equal(t, s.AckedBytes(), again.AckedBytes())
		require.LessOrEqual(t, s.AckedBytes(), max(s.Total, int64(len(s.Acked))*s.ChunkSize))
	})
}

// fuzzSource is shared by every FuzzChunkRanges input.
var fuzzSource = sync.OnceValue(func() source { return newSource(9, 24<<20) })

var (
	bytesRange = regexp.MustCompile(`^bytes (0|[1-9][0-9]*)-(0|[1-9][0-9]*)/([1-9][0-9]*)$`)
	partRange  = regexp.MustCompile(`^part ([1-9][0-9]*)/([1-9][0-9]*|\*)$`)
)

// FuzzChunkRanges uploads sources of fuzzed sizes, in fuzzed chunk sizes,
// as files or streams, at fuzzed concurrency, to an in-process sandbox. The
// Content-Range values the client builds must tile the source exactly, in
// the form the API wants, and the sandbox, which parses and checks each
// one, must end with the source's bytes.
func FuzzChunkRanges(f *testing.F) {
	const mib = 1 << 20
	for _, s := range []struct {
		size, chunk uint32
		conc        uint8
		stream      bool
	}{
		{1, 0, 1, false}, {5 * mib, 0, 1, false}, {5*mib + 1, 0, 1, false}, {10 * mib, 0, 2, false},
		{10*mib + 1, 1, 3, true}, {5 * mib, 0, 1, true}, {5*mib + 1, 0, 4, true}, {15 * mib, 0, 4, true},
		{24*mib - 1, 3*mib - 1, 2, false}, {7 * mib, 2 * mib, 1, true},
	} {
		f.Add(s.size, s.chunk, s.conc, s.stream)
	}
	f.Fuzz(func(t *testing.T, size, chunkExtra uint32, conc uint8, stream bool) {
		src := fuzzSource()
		n := 1 + int64(size)%int64(len(src.data))
		chunk := wrapper.MinChunkSize + int64(chunkExtra)%(3*mib)
		concurrency := 1 + int(conc)%4
		data := src.data[:n]

		sb, err := sandbox.New()
		require.NoError(t, err)
		tok, err := sb.CreateToken(time.Hour)
		require.NoError(t, err)
		var mu sync.Mutex
		var ranges []string
		hc := &http.Client{Transport: roundTripFunc(func(r *http.Request) (*http.Response, error) {
			mu.Lock()
			ranges = append(ranges, r.Header.Get("Content-Range"))
			mu.Unlock()
			rec := httptest.NewRecorder()
			sb.ServeHTTP(rec, r)
			return rec.Result(), nil
		})}
		c, err := wrapper.New(wrapper.WithBaseURL("http://127.0.0.1:1"), wrapper.WithHTTPClient(hc), wrapper.WithoutRetries())
		require.NoError(t, err)
		s := wrapper.ReaderAt(bytes.NewReader(data), n)
		if stream {
			s = wrapper.Reader(bytes.NewReader(data), -1)
		}
		res, err := c.Upload(context.Background(), tok, s, &wrapper.UploadOptions{ChunkSize: chunk, Concurrency: concurrency})
		require.NoError(t, err, "size %d, chunk %d, concurrency %d, stream %t", n, chunk, concurrency, stream)

		// With chunks going several at once, the first, which goes alone,
		// is as small as the API allows, so that the others start sooner.
		first := chunk
		if concurrency > 1 && (stream || n > chunk) {
			first = wrapper.MinChunkSize
		}
		checkRanges(t, ranges, n, first, chunk, stream)
		v, ok := sb.Video(res.Video.VideoID)
		require.True(t, ok)
		require.True(t, v.Complete)
		require.Equal(t, n, v.Size)
		got, err := sb.VideoBytes(v.VideoID)
		require.NoError(t, err)
		require.True(t, bytes.Equal(data, got), "the sandbox holds other bytes")
		require.Len(t, sb.Videos(), 1)
	})
}

// checkRanges checks, with a parser of its own, that the Content-Range
// values of one upload cover [0, n) exactly once in a chunk of first bytes
// followed by chunks of chunk bytes.
func checkRanges(t *testing.T, ranges []string, n, first, chunk int64, stream bool) {
	t.Helper()
	want := int64(1)
	if n > first {
		want = 1 + (n-first+chunk-1)/chunk
	}
	if want == 1 {
		// A stream that fits one chunk may go whole or as "part 1/1".
		if len(ranges) == 1 && (ranges[0] == "" || ranges[0] == "part 1/1" && stream) {
			return
		}
		if !stream {
			require.Equal(t, []string{""}, ranges, "a source of one chunk goes whole")
			return
		}
	}
	require.Len(t, ranges, int(want), "ranges %q", ranges)
	if !stream {
		type span struct{ from, to int64 }
		var spans []span
		for _, r := range ranges {
			m := bytesRange.FindStringSubmatch(r)
			require.NotNil(t, m, "range %q", r)
			from, _ := strconv.ParseInt(m[1], 10, 64)
			to, _ := strconv.ParseInt(m[2], 10, 64)
			total, _ := strconv.ParseInt(m[3], 10, 64)
			require.Equal(t, n, total, "range %q", r)
			spans = append(spans, span{from, to})
		}
		slices.SortFunc(spans, func(a, b span) int { return int(a.from - b.from) })
		var next int64
		for i, s := range spans {
			require.Equal(t, next, s.from, "gap or overlap at %d", next)
			size := s.to - s.from + 1
			switch {
			case i == 0 && len(spans) > 1:
				require.Equal(t, first, size)
			case i < len(spans)-1:
				require.Equal(t, chunk, size)
			default:
				require.Equal(t, n-s.from, size)
			}
			next = s.to + 1
		}
		require.Equal(t, n, next)
		return
	}
	var parts []int
	last := 0
	for _, r := range ranges {
		m := partRange.FindStringSubmatch(r)
		require.NotNil(t, m, "range %q", r)
		p, _ := strconv.Atoi(m[1])
		parts = append(parts, p)
		if m[2] != "*" {
			total, _ := strconv.Atoi(m[2])
			require.Equal(t, int(want), total, "range %q", r)
			require.Equal(t, total, p, "only the last part names the total: %q", r)
			last++
		}
	}
	assert.Equal(t, 1, last, "exactly one part names the total: %q", ranges)
	slices.Sort(parts)
	for i, p := range parts {
		require.Equal(t, i+1, p, "parts %v", parts)
	}
}
