package sandbox_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/avupload/avupload/internal/recorded"
	"github.com/avupload/avupload/sandbox"
	"github.com/avupload/avupload/sandbox/sandboxtest"
)

func TestParseFault(t *testing.T) {
	cases := []struct {
		spec string
		want sandbox.Fault
	}{
		{"uploadWithUploadToken:2:status=503", sandbox.Fault{Op: "uploadWithUploadToken", Request: 2, Kind: sandbox.FaultStatus, Status: 503}},
		{"upload:3:cut=1048576", sandbox.Fault{Op: "uploadWithUploadToken", Request: 3, Kind: sandbox.FaultCutRequest, AfterBytes: 1048576}},
		{"upload:3:cut=2MiB", sandbox.Fault{Op: "uploadWithUploadToken", Request: 3, Kind: sandbox.FaultCutRequest, AfterBytes: 2 << 20}},
		// Sizes are spelled as avupload's flags spell them (internal/size).
		{"upload:1:cut=512K", sandbox.Fault{Op: "uploadWithUploadToken", Request: 1, Kind: sandbox.FaultCutRequest, AfterBytes: 512 << 10}},
		{"upload:1:cut=1.5MiB", sandbox.Fault{Op: "uploadWithUploadToken", Request: 1, Kind: sandbox.FaultCutRequest, AfterBytes: 3 << 19}},
		{"upload:1:stall=5s", sandbox.Fault{Op: "uploadWithUploadToken", Request: 1, Kind: sandbox.FaultStall, Stall: 5 * time.Second}},
		{"upload:4:commit-cut", sandbox.Fault{Op: "uploadWithUploadToken", Request: 4, Kind: sandbox.FaultCommitThenCut}},
		{"*:*:status=500", sandbox.Fault{Kind: sandbox.FaultStatus, Status: 500}},
		{"create:*:status=429", sandbox.Fault{Op: "createUploadToken", Kind: sandbox.FaultStatus, Status: 429}},
		{"list:1:status=403", sandbox.Fault{Op: "listUploadTokens", Request: 1, Kind: sandbox.FaultStatus, Status: 403}},
		{"get:1:status=502", sandbox.Fault{Op: "getUploadToken", Request: 1, Kind: sandbox.FaultStatus, Status: 502}},
		{"delete:2:status=504", sandbox.Fault{Op: "deleteUploadToken", Request: 2, Kind: sandbox.FaultStatus, Status: 504}},
		{"upload:upload/1:status=503", sandbox.Fault{Op: "uploadWithUploadToken", Request: 1, EachUpload: true, Kind: sandbox.FaultStatus, Status: 503}},
		{"upload:first:status=500", sandbox.Fault{Op: "uploadWithUploadToken", Chunk: sandbox.FirstChunk, Kind: sandbox.FaultStatus, Status: 500}},
		{"upload:first/2:cut=10", sandbox.Fault{Op: "uploadWithUploadToken", Chunk: sandbox.FirstChunk, Request: 2, Kind: sandbox.FaultCutRequest, AfterBytes: 10}},
		{"upload:later:commit-cut", sandbox.Fault{Op: "uploadWithUploadToken", Chunk: sandbox.LaterChunk, Kind: sandbox.FaultCommitThenCut}},
		{"upload:later/1:status=503", sandbox.Fault{Op: "uploadWithUploadToken", Chunk: sandbox.LaterChunk, Request: 1, Kind: sandbox.FaultStatus, Status: 503}},
		{"upload:later-each/2:status=503", sandbox.Fault{Op: "uploadWithUploadToken", Chunk: sandbox.LaterChunk, EachUpload: true, Request: 2, Kind: sandbox.FaultStatus, Status: 503}},
		{"upload:first-each:status=503", sandbox.Fault{Op: "uploadWithUploadToken", Chunk: sandbox.FirstChunk, EachUpload: true, Kind: sandbox.FaultStatus, Status: 503}},
	}
	for _, c := range cases {
		t.Run(c.spec, func(t *testing.T) {
			f, err := sandbox.ParseFault(c.spec)
			require.NoError(t, err)
			assert.Equal(t, c.want, f)
			again, err := sandbox.ParseFault(f.String())
			require.NoError(t, err)
			assert.Equal(t, f, again, "String round-trips")
		})
	}
	for _, bad := range []string{"", "upload", "upload:1", "nope:1:status=500", "upload:x:status=500", "upload:-1:status=500",
		"upload:0:status=500", "upload:+1:status=500", "upload:01:status=500", "upload: 1:status=500", "upload::status=500",
		"upload:1:status=404", "upload:1:status=abc", "upload:1:cut=-1", "upload:1:cut=lots", "upload:1:stall=0s",
		"upload:1:stall=forever", "upload:1:commit-cut=1", "upload:1:explode",
		"upload:upload/*:status=503", "upload:upload/0:status=503", "upload:each/1:status=503", "upload:first/x:status=503",
		"list:first:status=503", "*:upload/1:status=503", "create:later/1:status=503"} {
		t.Run("bad "+bad, func(t *testing.T) {
			_, err := sandbox.ParseFault(bad)
			assert.Error(t, err)
		})
	}
	_, err := sandbox.New(sandbox.WithFaults(sandbox.Fault{Op: "upload", Kind: sandbox.FaultStatus, Status: 500}))
	assert.Error(t, err, "WithFaults takes operationIds")
}

func TestFaultStatus(t *testing.T) {
	srv := sandboxtest.NewServer(t, sandbox.WithFaults(sandbox.Fault{Op: sandbox.OpUploadWithUploadToken, Request: 2, Kind: sandbox.FaultStatus, Status: 503}))
	tok := newToken(t, srv)
	require.Equal(t, 201, upload(t, srv, uploadReq{token: tok, data: []byte("one")}).Status)
	r := upload(t, srv, uploadReq{token: tok, data: []byte("two")})
	require.Equal(t, 503, r.Status, "body: %s", r.Raw)
	assert.NotEmpty(t, r.Header.Get("X-RateLimit-Limit"))
	assert.Len(t, srv.Sandbox.Videos(), 1, "a status fault stores nothing")
	require.Equal(t, 201, upload(t, srv, uploadReq{token: tok, data: []byte("three")}).Status)

	srv.Sandbox.AddFaults(sandbox.Fault{Op: sandbox.OpCreateUploadToken, Kind: sandbox.FaultStatus, Status: 429})
	r = createToken(t, srv, `{}`)
	require.Equal(t, 429, r.Status)
	assert.Equal(t, recorded.TooManyRequests+"\n", string(r.Raw))
	assert.Equal(t, "0", r.Header.Get("X-RateLimit-Remaining"))
	assert.NotEqual(t, "0", r.Header.Get("X-RateLimit-Retry-After"))

	srv.Sandbox.AddFaults(sandbox.Fault{Op: sandbox.OpListUploadTokens, Request: 1, Kind: sandbox.FaultStatus, Status: 403})
	r = call(t, http.MethodGet, srv.URL+"/upload-tokens", srv.APIKey, nil, "")
	requireProblem(t, r, 403, "Suspended account", "")

	srv.Sandbox.ClearFaults()
	require.Equal(t, 200, createToken(t, srv, `{}`).Status)

	st := srv.Sandbox.Stats()
	assert.Equal(t, 3, st.Count(sandbox.OpUploadWithUploadToken))
	assert.Equal(t, 1, st.CountStatus(sandbox.OpUploadWithUploadToken, 503))
	assert.Equal(t, 2, st.CountStatus(sandbox.OpUploadWithUploadToken, 201))
	assert.Equal(t, 1, st.CountStatus(sandbox.OpCreateUploadToken, 429))
}

func TestFaultCutRequest(t *testing.T) {
	srv := sandboxtest.NewServer(t)
	tok := newToken(t, srv)
	srv.Sandbox.AddFaults(sandbox.Fault{Op: sandbox.OpUploadWithUploadToken, Request: 1, Kind: sandbox.FaultCutRequest, AfterBytes: 1 << 20})
	req := newUploadRequest(t, srv.URL, uploadReq{token: tok, data: randomBytes(5*mib, 7), contentRange: "part 1/*"})
	resp, err := http.DefaultClient.Do(req)
	if err == nil {
		resp.Body.Close()
	}
	require.Error(t, err, "a cut connection is a transport error")
	assert.Empty(t, srv.Sandbox.Videos())
	assert.Equal(t, 1, srv.Sandbox.Stats().CountStatus(sandbox.OpUploadWithUploadToken, 0))

	// The next request is served normally.
	require.Equal(t, 201, upload(t, srv, uploadReq{token: tok, data: randomBytes(5*mib, 7), contentRange: "part 1/*"}).Status)
}

func TestFaultCommitThenCut(t *testing.T) {
	srv := sandboxtest.NewServer(t)
	tok := newToken(t, srv)
	data := randomBytes(5*mib+10, 8)
	first := upload(t, srv, uploadReq{token: tok, data: data[:5*mib], contentRange: "part 1/*"})
	require.Equal(t, 201, first.Status)
	id := first.str("videoId")

	f, err := sandbox.ParseFault("upload:2:commit-cut")
	require.NoError(t, err)
	srv.Sandbox.AddFaults(f)
	req := newUploadRequest(t, srv.URL, uploadReq{token: tok, videoID: id, data: data[5*mib:], contentRange: "part 2/2"})
	resp, err := http.DefaultClient.Do(req)
	if err == nil {
		resp.Body.Close()
	}
	require.Error(t, err, "the client never sees the response")

	info, ok := srv.Sandbox.Video(id)
	require.True(t, ok)
	assert.True(t, info.Complete, "the chunk was stored before the cut")
	assert.Equal(t, sha(data), info.SHA256)

	// A retry of the landed chunk is told it already landed.
	r := upload(t, srv, uploadReq{token: tok, videoID: id, data: data[5*mib:], contentRange: "part 2/2"})
	requireProblem(t, r, 400, "This video source has already been uploaded.", "file")

	// Retrying a landed intermediate chunk names the collision.
	first = upload(t, srv, uploadReq{token: tok, data: data[:5*mib], contentRange: "bytes 0-5242879/5242890"})
	require.Equal(t, 201, first.Status)
	srv.Sandbox.AddFaults(sandbox.Fault{Op: sandbox.OpUploadWithUploadToken, Kind: sandbox.FaultCommitThenCut})
	// Only this request matches "every request" before we clear it.
	req = newUploadRequest(t, srv.URL, uploadReq{token: tok, data: data[:5*mib], contentRange: "part 1/*"})
	resp, err = http.DefaultClient.Do(req)
	if err == nil {
		resp.Body.Close()
	}
	require.Error(t, err)
	srv.Sandbox.ClearFaults()
	videos := srv.Sandbox.Videos()
	landed := videos[len(videos)-1]
	r = upload(t, srv, uploadReq{token: tok, videoID: landed.VideoID, data: data[:5*mib], contentRange: "part 1/*"})
	require.Equal(t, 400, r.Status)
	assert.Contains(t, r.str("title"), "collides")
}

func TestFaultStall(t *testing.T) {
	srv := sandboxtest.NewServer(t, sandbox.WithFaults(sandbox.Fault{Op: sandbox.OpGetUploadToken, Request: 1, Kind: sandbox.FaultStall, Stall: 300 * time.Millisecond}))
	tok := newToken(t, srv)
	start := time.Now()
	r := call(t, http.MethodGet, srv.URL+"/upload-tokens/"+tok, srv.APIKey, nil, "")
	require.Equal(t, 200, r.Status)
	assert.GreaterOrEqual(t, time.Since(start), 300*time.Millisecond)

	// A client that gives up ends the stall.
	srv.Sandbox.AddFaults(sandbox.Fault{Op: sandbox.OpGetUploadToken, Request: 2, Kind: sandbox.FaultStall, Stall: time.Hour})
	ctx, cancel := context.WithTimeout(t.Context(), 200*time.Millisecond)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, srv.URL+"/upload-tokens/"+tok, nil)
	require.NoError(t, err)
	req.SetBasicAuth(srv.APIKey, "")
	_, err = http.DefaultClient.Do(req)
	require.ErrorIs(t, err, context.DeadlineExceeded)
	require.Eventually(t, func() bool {
		return srv.Sandbox.Stats().CountStatus(sandbox.OpGetUploadToken, 0) == 1
	}, 5*time.Second, 10*time.Millisecond)
}

func TestFaultAnyRoute(t *testing.T) {
	srv := sandboxtest.NewServer(t, sandbox.WithFaults(sandbox.Fault{Request: 2, Kind: sandbox.FaultStatus, Status: 500}))
	require.Equal(t, 200, createToken(t, srv, `{}`).Status)
	r := call(t, http.MethodGet, srv.URL+"/upload-tokens", srv.APIKey, nil, "")
	require.Equal(t, 500, r.Status, "the second request over all routes")
	require.Equal(t, 200, createToken(t, srv, `{}`).Status)
}

func TestRateLimits(t *testing.T) {
	clock := newFakeClock(time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC))
	srv := sandboxtest.NewServer(t, sandbox.WithClock(clock.Now), sandbox.WithRateLimits(sandbox.RateLimits{Upload: 2, Write: 3, Read: 4}))
	tok := newToken(t, srv)

	for i := range 3 {
		r := createToken(t, srv, `{}`)
		require.Equal(t, 200, r.Status)
		assert.Equal(t, "3", r.Header.Get("X-RateLimit-Limit"))
		assert.Equal(t, []string{"2", "1", "0"}[i], r.Header.Get("X-RateLimit-Remaining"))
		assert.Equal(t, "60", r.Header.Get("X-RateLimit-Retry-After"))
	}
	clock.Advance(15 * time.Second)
	r := createToken(t, srv, `{}`)
	require.Equal(t, 429, r.Status)
	assert.Equal(t, recorded.TooManyRequests+"\n", string(r.Raw))
	assert.Equal(t, "0", r.Header.Get("X-RateLimit-Remaining"))
	assert.Equal(t, "45", r.Header.Get("X-RateLimit-Retry-After"))
	// Deletes share the writes budget; reads have their own.
	r = call(t, http.MethodDelete, srv.URL+"/upload-tokens/"+tok, srv.APIKey, nil, "")
	require.Equal(t, 429, r.Status)
	r = call(t, http.MethodGet, srv.URL+"/upload-tokens/"+tok, srv.APIKey, nil, "")
	require.Equal(t, 200, r.Status)
	assert.Equal(t, "4", r.Header.Get("X-RateLimit-Limit"))
	assert.Equal(t, "3", r.Header.Get("X-RateLimit-Remaining"))
	// Errors carry the headers too, and count.
	r = call(t, http.MethodGet, srv.URL+"/upload-tokens/"+tok, "wrong", nil, "")
	require.Equal(t, 401, r.Status)
	assert.Equal(t, "2", r.Header.Get("X-RateLimit-Remaining"))

	for i := range 3 {
		r = upload(t, srv, uploadReq{token: tok, data: []byte("x")})
		require.Equal(t, []int{201, 201, 429}[i], r.Status)
		assert.Equal(t, "2", r.Header.Get("X-RateLimit-Limit"))
	}
	clock.Advance(45 * time.Second)
	require.Equal(t, 200, createToken(t, srv, `{}`).Status, "a new window opens")
	require.Equal(t, 429, upload(t, srv, uploadReq{token: tok, data: []byte("x")}).Status, "the uploads window opened 15s later")
	clock.Advance(15 * time.Second)
	require.Equal(t, 201, upload(t, srv, uploadReq{token: tok, data: []byte("x")}).Status)

	assert.Equal(t, sandbox.RateLimits{Upload: 40, Write: 40, Read: 100}, sandbox.SandboxRateLimits())
	assert.Equal(t, sandbox.RateLimits{Upload: 100, Write: 200, Read: 500}, sandbox.ProductionRateLimits())
	_, err := sandbox.New(sandbox.WithRateLimits(sandbox.RateLimits{Upload: 1}))
	assert.Error(t, err)
}

func TestRateLimitHeadersWhenOff(t *testing.T) {
	srv := sandboxtest.NewServer(t)
	for range 150 {
		r := call(t, http.MethodGet, srv.URL+"/upload-tokens", srv.APIKey, nil, "")
		require.Equal(t, 200, r.Status)
		require.NotEmpty(t, r.Header.Get("X-RateLimit-Limit"))
		require.NotEmpty(t, r.Header.Get("X-RateLimit-Remaining"))
		require.NotEmpty(t, r.Header.Get("X-RateLimit-Retry-After"))
	}
}

func TestInspectionOverHTTP(t *testing.T) {
	srv := sandboxtest.NewServer(t)
	tok := newToken(t, srv)
	up := upload(t, srv, uploadReq{token: tok, data: []byte("inspect me")})
	require.Equal(t, 201, up.Status)
	upload(t, srv, uploadReq{token: "bad", data: []byte("x")})

	resp, err := http.Get(srv.URL + "/_sandbox/videos")
	require.NoError(t, err)
	defer resp.Body.Close()
	require.Equal(t, 200, resp.StatusCode)
	var videos []map[string]any
	require.NoError(t, json.NewDecoder(resp.Body).Decode(&videos))
	require.Len(t, videos, 1)
	assert.Equal(t, map[string]any{"videoId": up.str("videoId"), "size": 10.0, "sha256": sha([]byte("inspect me")), "complete": true, "chunks": 1.0}, videos[0])

	resp2, err := http.Get(srv.URL + "/_sandbox/stats")
	require.NoError(t, err)
	defer resp2.Body.Close()
	var stats sandbox.Stats
	require.NoError(t, json.NewDecoder(resp2.Body).Decode(&stats))
	assert.Equal(t, 2, stats.Count(sandbox.OpUploadWithUploadToken))
	assert.Equal(t, 1, stats.CountStatus(sandbox.OpUploadWithUploadToken, 401))

	r := call(t, http.MethodGet, srv.URL+"/nowhere", "", nil, "")
	assert.Equal(t, 404, r.Status)
	r = call(t, http.MethodPut, srv.URL+"/upload-tokens", srv.APIKey, strings.NewReader("{}"), "application/json")
	assert.Equal(t, 405, r.Status)
}

// TestFaultsForSmallFiles: faults that select requests by upload or by
// chunk fire for files small enough to go in one request, where a fault on
// the route's second request would hit the next file instead.
func TestFaultsForSmallFiles(t *testing.T) {
	small, other := []byte("a small file"), []byte("another small file")
	big := randomBytes(11*mib, 41)
	parts := [][]byte{big[:5*mib], big[5*mib : 10*mib], big[10*mib:]}
	type step struct {
		data         []byte
		contentRange string
		later        bool // carries the videoId of the chunked upload
		status       int
	}
	whole := func(data []byte, status int) step { return step{data: data, status: status} }
	part := func(n, status int) step {
		return step{data: parts[n-1], contentRange: fmt.Sprintf("part %d/3", n), later: n > 1, status: status}
	}
	cases := []struct {
		name  string
		fault string
		steps []step
	}{
		{"the first request of each upload, a retry goes through", "upload:upload/1:status=503",
			[]step{whole(small, 503), whole(small, 201), whole(other, 503), whole(other, 201)}},
		{"the second request of each upload", "upload:upload/2:status=503",
			[]step{whole(small, 201), whole(other, 201), part(1, 201), part(2, 503), part(2, 201), part(3, 201)}},
		{"every first chunk", "upload:first:status=500",
			[]step{whole(small, 500), whole(small, 500), part(1, 500)}},
		{"the first first chunk", "upload:first/1:status=503",
			[]step{whole(small, 503), whole(small, 201), part(1, 201), part(2, 201), part(3, 201)}},
		{"any chunk after the first", "upload:later:status=502",
			[]step{whole(small, 201), part(1, 201), part(2, 502), part(3, 502)}},
		{"the first chunk after the first", "upload:later/1:status=503",
			[]step{whole(small, 201), part(1, 201), part(2, 503), part(2, 201), part(3, 201)}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			f, err := sandbox.ParseFault(c.fault)
			require.NoError(t, err)
			srv := sandboxtest.NewServer(t, sandbox.WithFaults(f))
			tok := newToken(t, srv)
			var videoID string
			for i, st := range c.steps {
				u := uploadReq{token: tok, data: st.data, contentRange: st.contentRange}
				if st.later {
					u.videoID = videoID
				}
				r := upload(t, srv, u)
				require.Equal(t, st.status, r.Status, "step %d: %s", i+1, r.Raw)
				if st.contentRange == "part 1/3" && r.Status == 201 {
					videoID = r.str("videoId")
				}
			}
		})
	}
}
