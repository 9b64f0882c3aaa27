package sandbox_test

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/avupload/avupload/internal/testutil"
	"github.com/avupload/avupload/sandbox"
	"github.com/avupload/avupload/sandbox/sandboxtest"
)

// goClientUpload replays the requests api.video's official Go client
// (go:1.4.5) sends for a file of three chunks: "part 1/3", then "part 2/3"
// and "part 3/3" without the videoId the first answer returned. The chunks
// are 5 MiB, 5 MiB and 1 MiB here (50, 50 and 20 MiB with its defaults).
func goClientUpload(t *testing.T, srv *sandbox.Server) []apiResponse {
	t.Helper()
	tok := newToken(t, srv)
	data := randomBytes(11*mib, 21)
	chunks := [][]byte{data[:5*mib], data[5*mib : 10*mib], data[10*mib:]}
	var out []apiResponse
	for i, c := range chunks {
		out = append(out, upload(t, srv, uploadReq{token: tok, data: c, fileName: "talk.mp4", client: "go:1.4.5",
			contentRange: fmt.Sprintf("part %d/3", i+1)}))
	}
	return out
}

// TestStrictRefusesChunksWithoutVideoID: under sandboxtest's default strict
// mode, the official Go client's upload is refused at its second chunk
// with a problem naming the missing videoId, and GET /_sandbox/lint says
// which client did it. The API itself would store three broken videos.
func TestStrictRefusesChunksWithoutVideoID(t *testing.T) {
	srv := sandboxtest.NewServer(t)
	rs := goClientUpload(t, srv)
	require.Equal(t, http.StatusCreated, rs[0].Status, "the first chunk is fine: %s", rs[0].Raw)
	for i, r := range rs[1:] {
		require.Equal(t, http.StatusBadRequest, r.Status, "part %d/3 without videoId: %s", i+2, r.Raw)
		assert.Equal(t, "videoId", r.str("name"))
		assert.Contains(t, r.str("title"), "videoId")
		assert.Contains(t, r.str("detail"), fmt.Sprintf(`"part %d/3" was sent without videoId`, i+2))
		assert.Contains(t, r.str("detail"), "the videoId that the answer to the first chunk returned", "the fix")
	}

	resp, err := http.Get(srv.URL + "/_sandbox/lint")
	require.NoError(t, err)
	defer resp.Body.Close()
	require.Equal(t, http.StatusOK, resp.StatusCode)
	var lint struct {
		Strict  bool
		Clients []struct {
			Client   string
			Findings []struct {
				Rule   string
				Count  int
				Detail string
			}
		}
	}
	require.NoError(t, json.NewDecoder(resp.Body).Decode(&lint))
	assert.True(t, lint.Strict)
	require.Len(t, lint.Clients, 1)
	assert.Equal(t, "go:1.4.5", lint.Clients[0].Client)
	require.Len(t, lint.Clients[0].Findings, 1)
	assert.Equal(t, "chunk-without-video-id", lint.Clients[0].Findings[0].Rule)
	assert.Equal(t, 2, lint.Clients[0].Findings[0].Count)
	assert.Contains(t, lint.Clients[0].Findings[0].Detail, `"part 2/3" was sent without videoId`)
}

// TestLaxAnswersAsTheAPIAndWarns: without strict mode the same upload is
// answered as the API answers it (three videos), with a warning in the log
// and the same lint report.
func TestLaxAnswersAsTheAPIAndWarns(t *testing.T) {
	var logs testutil.SyncBuffer
	srv := sandboxtest.NewServer(t, sandbox.WithStrict(false), sandbox.WithLogger(slog.New(slog.NewTextHandler(&logs, nil))))
	for _, r := range goClientUpload(t, srv) {
		require.Equal(t, http.StatusCreated, r.Status, "body: %s", r.Raw)
	}
	assert.Len(t, srv.Sandbox.Videos(), 3, "each chunk without videoId starts a video, as on the API")
	assert.Equal(t, 2, strings.Count(logs.String(), "rule=chunk-without-video-id"), "logs: %s", logs.String())
	assert.Contains(t, logs.String(), "level=WARN")
	lint := srv.Sandbox.Lint()
	assert.False(t, lint.Strict)
	require.Len(t, lint.Findings(), 1)
	assert.Equal(t, sandbox.LintFinding{Rule: sandbox.LintChunkWithoutVideoID, Count: 2, Detail: lint.Findings()[0].Detail}, lint.Findings()[0])
}

// TestStrictRules sends, for each mistake, what a correct client never
// sends. Strict or not, the sandbox answers with the API's status and
// records the finding; strict mode refuses what the API would take and
// names the mistake and the fix in the detail.
func TestStrictRules(t *testing.T) {
	const total = 10*mib + 100
	data := randomBytes(total, 31)
	other := randomBytes(5*mib, 32)
	rng := func(from, to, total int) string { return fmt.Sprintf("bytes %d-%d/%d", from, to, total) }
	// first sends the first chunk and returns the video's id.
	first := func(t *testing.T, srv *sandbox.Server, tok string) string {
		r := upload(t, srv, uploadReq{token: tok, data: data[:5*mib], contentRange: rng(0, 5*mib-1, total)})
		require.Equal(t, http.StatusCreated, r.Status, "body: %s", r.Raw)
		return r.str("videoId")
	}
	cases := []struct {
		name      string
		rule      string // "" for no finding
		send      func(t *testing.T, srv *sandbox.Server, tok string) apiResponse
		lax       int // the API's status
		strict    int
		strictFix string // in the strict detail
	}{
		{"byte range after the first without videoId", sandbox.LintChunkWithoutVideoID,
			func(t *testing.T, srv *sandbox.Server, tok string) apiResponse {
				first(t, srv, tok)
				return upload(t, srv, uploadReq{token: tok, data: data[5*mib:], contentRange: rng(5*mib, total-1, total)})
			}, http.StatusCreated, http.StatusBadRequest, "must carry, as the multipart field videoId"},
		{"small chunk", sandbox.LintSmallChunk,
			func(t *testing.T, srv *sandbox.Server, tok string) apiResponse {
				return upload(t, srv, uploadReq{token: tok, data: data[:100], contentRange: rng(0, 99, total)})
			}, http.StatusBadRequest, http.StatusBadRequest, "clients send 50 MiB chunks by default"},
		{"small part", sandbox.LintSmallChunk,
			func(t *testing.T, srv *sandbox.Server, tok string) apiResponse {
				return upload(t, srv, uploadReq{token: tok, data: data[:100], contentRange: "part 1/*"})
			}, http.StatusBadRequest, http.StatusBadRequest, "at least 5242880 bytes (5 MiB)"},
		{"total changed", sandbox.LintTotalChanged,
			func(t *testing.T, srv *sandbox.Server, tok string) apiResponse {
				id := first(t, srv, tok)
				return upload(t, srv, uploadReq{token: tok, videoID: id, data: data[5*mib:], contentRange: rng(5*mib, total-1, total+1)})
			}, http.StatusBadRequest, http.StatusBadRequest, "must announce the same total"},
		{"overlap with other bytes", sandbox.LintOverlapOtherBytes,
			func(t *testing.T, srv *sandbox.Server, tok string) apiResponse {
				id := first(t, srv, tok)
				return upload(t, srv, uploadReq{token: tok, videoID: id, data: other, contentRange: rng(0, 5*mib-1, total)})
			}, http.StatusBadRequest, http.StatusBadRequest, "the bytes differ from those already stored"},
		{"shifted overlap with other bytes", sandbox.LintOverlapOtherBytes,
			func(t *testing.T, srv *sandbox.Server, tok string) apiResponse {
				id := first(t, srv, tok)
				// The file's bytes, one byte off: a client that mixes up its offsets.
				return upload(t, srv, uploadReq{token: tok, videoID: id, data: data[4*mib : total-1], contentRange: rng(4*mib+1, total-1, total)})
			}, http.StatusBadRequest, http.StatusBadRequest, ""},
		{"same bytes again is a retry", "",
			func(t *testing.T, srv *sandbox.Server, tok string) apiResponse {
				id := first(t, srv, tok)
				return upload(t, srv, uploadReq{token: tok, videoID: id, data: data[:5*mib], contentRange: rng(0, 5*mib-1, total)})
			}, http.StatusBadRequest, http.StatusBadRequest, ""},
		{"part again with other bytes", sandbox.LintOverlapOtherBytes,
			func(t *testing.T, srv *sandbox.Server, tok string) apiResponse {
				r := upload(t, srv, uploadReq{token: tok, data: data[:5*mib], contentRange: "part 1/*"})
				require.Equal(t, http.StatusCreated, r.Status, "body: %s", r.Raw)
				return upload(t, srv, uploadReq{token: tok, videoID: r.str("videoId"), data: other, contentRange: "part 1/*"})
			}, http.StatusBadRequest, http.StatusBadRequest, "the bytes differ from those already stored"},
		{"upload token as the API key", sandbox.LintTokenAsAPIKey,
			func(t *testing.T, srv *sandbox.Server, tok string) apiResponse {
				return call(t, http.MethodGet, srv.URL+"/upload-tokens", tok, nil, "")
			}, http.StatusUnauthorized, http.StatusUnauthorized, "the token routes take the API key"},
		{"upload token as a bearer token", sandbox.LintTokenAsAPIKey,
			func(t *testing.T, srv *sandbox.Server, tok string) apiResponse {
				req, err := http.NewRequest(http.MethodGet, srv.URL+"/upload-tokens", nil)
				require.NoError(t, err)
				req.Header.Set("Authorization", "Bearer "+tok)
				return do(t, req)
			}, http.StatusUnauthorized, http.StatusUnauthorized, "the token routes take the API key"},
		{"API key as the upload token", sandbox.LintAPIKeyAsToken,
			func(t *testing.T, srv *sandbox.Server, _ string) apiResponse {
				return upload(t, srv, uploadReq{token: srv.APIKey, data: data[:100]})
			}, http.StatusUnauthorized, http.StatusUnauthorized, "an uploader must never hold the API key"},
	}
	for _, c := range cases {
		for _, strict := range []bool{false, true} {
			t.Run(fmt.Sprintf("%s/strict=%v", c.name, strict), func(t *testing.T) {
				var logs testutil.SyncBuffer
				srv := sandboxtest.NewServer(t, sandbox.WithStrict(strict), sandbox.WithLogger(slog.New(slog.NewTextHandler(&logs, nil))))
				tok := newToken(t, srv)
				r := c.send(t, srv, tok)
				want := c.lax
				if strict {
					want = c.strict
				}
				require.Equal(t, want, r.Status, "body: %s", r.Raw)
				findings := srv.Sandbox.Lint().Findings()
				if c.rule == "" {
					assert.Empty(t, findings)
					return
				}
				require.Len(t, findings, 1, "%+v", findings)
				assert.Equal(t, c.rule, findings[0].Rule)
				assert.Equal(t, 1, findings[0].Count)
				assert.Contains(t, logs.String(), "rule="+c.rule)
				if strict {
					assert.Equal(t, findings[0].Detail, r.str("detail"), "the answer names the mistake and the fix")
					assert.Contains(t, r.str("detail"), c.strictFix)
				} else if r.Status != http.StatusCreated {
					assert.NotEqual(t, findings[0].Detail, r.str("detail"), "without strict mode the answer is the API's")
				}
				for _, secret := range []string{tok, srv.APIKey, base64.StdEncoding.EncodeToString([]byte(tok + ":"))} {
					assert.NotContains(t, string(r.Raw), secret, "no credential in the answer")
					assert.NotContains(t, logs.String(), secret, "no credential in the log")
				}
			})
		}
	}
}
