package wrapper

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"net/http/httptest"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/avupload/avupload/internal/testutil"
)

// These tests put the client in front of servers that misbehave as real
// networks do (captive portals, proxies, stalled connections, rate
// limiters, servers echoing what they were sent) and check that it never
// reports a success that did not happen, never hangs, never sleeps without
// bound and never prints a secret.

// counter is a second listener: the host a redirect points to. It counts
// the requests it gets and answers every one with success.
type counter struct {
	srv *httptest.Server
	n   atomic.Int32
}

func newCounter(t *testing.T) *counter {
	t.Helper()
	c := &counter{}
	c.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c.n.Add(1)
		_, _ = io.Copy(io.Discard, r.Body)
		reply(w, http.StatusCreated, `{"videoId":"viElsewhere","token":"toElsewhere"}`)
	}))
	t.Cleanup(c.srv.Close)
	return c
}

// twoChunks is a source of two chunks: MinChunkSize bytes, then 1000.
func twoChunks() Source {
	return ReaderAt(strings.NewReader(strings.Repeat("v", int(MinChunkSize)+1000)), MinChunkSize+1000)
}

// uploadOpts sends two-chunk sources in two chunks.
func uploadOpts() *UploadOptions { return &UploadOptions{ChunkSize: MinChunkSize} }

// isFirstChunk reports whether r is an upload's first chunk (or a whole upload).
func isFirstChunk(r *http.Request) bool {
	cr := r.Header.Get("Content-Range")
	return cr == "" || strings.HasPrefix(cr, "bytes 0-")
}

// checkNoSecret fails when s holds the test's token or key.
func checkNoSecret(t *testing.T, s string) {
	t.Helper()
	assert.NotContains(t, s, testToken)
	assert.NotContains(t, s, testKey)
}

// apiCall is one call of the Client, named for subtests.
type apiCall struct {
	name string
	do   func(ctx context.Context, c *Client) error
}

// tokenCalls are the token calls, each on testToken where it takes one.
var tokenCalls = []apiCall{
	{"create", func(ctx context.Context, c *Client) error { _, err := c.CreateUploadToken(ctx, time.Hour); return err }},
	{"list", func(ctx context.Context, c *Client) error {
		_, err := c.ListUploadTokens(ctx, ListOptions{})
		return err
	}},
	{"get", func(ctx context.Context, c *Client) error { _, err := c.GetUploadToken(ctx, testToken); return err }},
	{"delete", func(ctx context.Context, c *Client) error { return c.DeleteUploadToken(ctx, testToken) }},
}

// TestRedirectsAreNeverFollowed answers every call, and an upload's second
// chunk, with a redirect to another host whose URL holds the token. Nothing
// may reach that host, the call must fail with ErrRedirected naming the
// status and the host, never the token, and nothing counts as done.
func TestRedirectsAreNeverFollowed(t *testing.T) {
	calls := slices.Concat(tokenCalls, []apiCall{
		{"whole upload", func(ctx context.Context, c *Client) error {
			_, err := c.Upload(ctx, testToken, ReaderAt(strings.NewReader("tiny video"), 10), nil)
			return err
		}},
		{"second chunk", func(ctx context.Context, c *Client) error {
			_, err := c.Upload(ctx, testToken, twoChunks(), uploadOpts())
			return err
		}},
	})
	for _, status := range []int{301, 302, 303, 307, 308} {
		for _, call := range calls {
			t.Run(fmt.Sprintf("%d %s", status, call.name), func(t *testing.T) {
				other := newCounter(t)
				target := other.srv.URL + "/upload?token=" + testToken
				f := newFake(t, func(w http.ResponseWriter, r *http.Request) {
					if r.URL.Path == "/upload" && call.name == "second chunk" && isFirstChunk(r) {
						reply(w, http.StatusCreated, `{"videoId":"viFirst"}`)
						return
					}
					http.Redirect(w, r, target, status)
				})
				c, waits := newTestClient(t, f)

				err := call.do(t.Context(), c)
				require.Error(t, err)
				assert.ErrorIs(t, err, ErrRedirected)
				assert.Zero(t, other.n.Load(), "the other host got a request")
				assert.Contains(t, err.Error(), strconv.Itoa(status))
				assert.Contains(t, err.Error(), other.srv.Listener.Addr().String())
				checkNoSecret(t, err.Error())
				assert.Empty(t, waits.all(), "a redirect is not retried")
				var upErr *UploadError
				if errors.As(err, &upErr) && upErr.State != nil {
					assert.NotContains(t, ackedIndexes(upErr.State), 1, "the redirected chunk is not acknowledged")
				}
			})
		}
	}
}

// TestRawDoesNotFollowRedirects: Raw() hands the 3xx back as it is.
func TestRawDoesNotFollowRedirects(t *testing.T) {
	other := newCounter(t)
	f := newFake(t, func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, other.srv.URL+"/upload-tokens/"+testToken, http.StatusFound)
	})
	c, _ := newTestClient(t, f)
	resp, err := c.Raw().GetUploadTokenWithResponse(t.Context(), testToken)
	require.NoError(t, err)
	assert.Equal(t, http.StatusFound, resp.StatusCode())
	assert.Zero(t, other.n.Load())
}

// TestRedirectsIgnoreTheUsersCheckRedirect: WithHTTPClient copies the
// caller's client; its CheckRedirect, which would follow, is not used.
func TestRedirectsIgnoreTheUsersCheckRedirect(t *testing.T) {
	other := newCounter(t)
	f := newFake(t, func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, other.srv.URL+"/upload-tokens", http.StatusTemporaryRedirect)
	})
	hc := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return nil }}
	c, err := New(WithBaseURL(f.URL()), WithAPIKey(testKey), WithHTTPClient(hc), WithoutRetries())
	require.NoError(t, err)
	_, err = c.CreateUploadToken(t.Context(), time.Hour)
	require.ErrorIs(t, err, ErrRedirected)
	assert.Zero(t, other.n.Load())
	assert.NotNil(t, hc.CheckRedirect, "the caller's client is left as it was")
}

// dripBody answers 200 at once, then a byte of the body every 20 ms;
// dripHeaders writes the status line and headers a byte every 20 ms.
var (
	dripBody    = testutil.DripBody(http.StatusOK, tokenJSON+strings.Repeat(" ", 1<<20), 20*time.Millisecond)
	dripHeaders = testutil.DripHeaders(20 * time.Millisecond)
)

// TestStalledCallsEnd points token calls at servers that never answer, or
// answer a byte at a time: each attempt is abandoned after the stall
// timeout, and the call ends with ErrStalled instead of hanging.
func TestStalledCallsEnd(t *testing.T) {
	tests := []struct {
		name     string
		h        http.HandlerFunc
		requests int
	}{
		{"no answer", testutil.Silent, testPolicy.MaxAttempts},
		{"headers a byte at a time", dripHeaders, testPolicy.MaxAttempts},
		// A 200 whose body stalls did its work: it is not sent again.
		{"body a byte at a time", dripBody, 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFake(t, tt.h)
			c, waits := newTestClient(t, f, WithStallTimeout(300*time.Millisecond))
			// A guard, so that a client without the rule fails instead of hanging.
			ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
			defer cancel()

			_, err := c.GetUploadToken(ctx, testToken)
			require.Error(t, err)
			assert.ErrorIs(t, err, ErrStalled)
			assert.NotErrorIs(t, err, context.DeadlineExceeded)
			assert.Contains(t, err.Error(), "stall timeout of 300ms")
			checkNoSecret(t, err.Error())
			assert.Equal(t, tt.requests, f.count())
			assert.Len(t, waits.all(), tt.requests-1)
		})
	}
}

// TestStalledChunkAnswerEnds drips the answer to an upload's first
// request, the one whose answer names the video: the upload ends with
// ErrStalled instead of hanging, after one request (the 201 did its work).
func TestStalledChunkAnswerEnds(t *testing.T) {
	f := newFake(t, dripBody)
	c, _ := newTestClient(t, f)
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	_, err := c.Upload(ctx, testToken, ReaderAt(strings.NewReader("tiny video"), 10), &UploadOptions{StallTimeout: 300 * time.Millisecond})
	require.Error(t, err)
	assert.ErrorIs(t, err, ErrStalled)
	assert.NotErrorIs(t, err, context.DeadlineExceeded)
	assert.Equal(t, 1, f.count())
}

// TestIdleAttemptsAreReported: while an attempt makes no progress, the
// event function hears of it at every notice interval.
func TestIdleAttemptsAreReported(t *testing.T) {
	f := newFake(t, testutil.Silent)
	var mu sync.Mutex
	var idle []Event
	c, _ := newTestClient(t, f, WithoutRetries(), WithStallTimeout(time.Second), WithEvents(func(e Event) {
		if e.Kind == EventIdle {
			mu.Lock()
			idle = append(idle, e)
			mu.Unlock()
		}
	}))
	c.caller.idleEvery = 200 * time.Millisecond
	_, err := c.ListUploadTokens(t.Context(), ListOptions{})
	require.ErrorIs(t, err, ErrStalled)
	mu.Lock()
	defer mu.Unlock()
	require.NotEmpty(t, idle)
	for i, e := range idle {
		assert.Equal(t, opListTokens, e.Op)
		assert.Equal(t, 1, e.Attempt)
		assert.GreaterOrEqual(t, e.Idle, time.Duration(i+1)*200*time.Millisecond)
		assert.Less(t, e.Idle, time.Second)
	}
}

// TestLongServerWaitsEndTheCall: a server asking for a wait above
// MaxServerWait ends the call at once with its answer, whose error says how
// long it asked for; nothing is slept.
func TestLongServerWaitsEndTheCall(t *testing.T) {
	tests := []struct {
		name     string
		status   int
		headers  map[string]string
		sentinel error
		atLeast  time.Duration
	}{
		{"503 Retry-After 3600", 503, map[string]string{"Retry-After": "3600"}, ErrServer, time.Hour},
		{"503 Retry-After in 9999", 503, map[string]string{"Retry-After": "Fri, 31 Dec 9999 23:59:59 GMT"}, ErrServer, 24 * time.Hour},
		{"429 Retry-After 99999", 429, map[string]string{"Retry-After": "99999"}, ErrRateLimited, 99999 * time.Second},
		{"429 window spent for a day", 429, map[string]string{"X-RateLimit-Remaining": "0", "X-RateLimit-Retry-After": "86400"}, ErrRateLimited, 24 * time.Hour},
		{"429 Retry-After beyond a Duration", 429, map[string]string{"Retry-After": "99999999999999999999"}, ErrRateLimited, 24 * time.Hour},
	}
	calls := []struct {
		name string
		do   func(ctx context.Context, c *Client) error
	}{
		{"get", func(ctx context.Context, c *Client) error { _, err := c.GetUploadToken(ctx, testToken); return err }},
		{"upload", func(ctx context.Context, c *Client) error {
			_, err := c.Upload(ctx, testToken, ReaderAt(strings.NewReader("tiny video"), 10), nil)
			return err
		}},
	}
	for _, tt := range tests {
		for _, call := range calls {
			t.Run(tt.name+" "+call.name, func(t *testing.T) {
				f := newFake(t, func(w http.ResponseWriter, _ *http.Request) {
					for k, v := range tt.headers {
						w.Header().Set(k, v)
					}
					reply(w, tt.status, `{"title":"busy","status":`+strconv.Itoa(tt.status)+`}`)
				})
				c, waits := newTestClient(t, f)
				// A guard: a client that sleeps the wait in full fails here.
				ctx, cancel := context.WithTimeout(t.Context(), 20*time.Second)
				defer cancel()

				err := call.do(ctx, c)
				require.Error(t, err)
				assert.ErrorIs(t, err, tt.sentinel)
				assert.NotErrorIs(t, err, context.DeadlineExceeded)
				assert.Equal(t, 1, f.count(), "the call ends at once")
				assert.Empty(t, waits.all())
				var apiErr *APIError
				require.ErrorAs(t, err, &apiErr)
				assert.GreaterOrEqual(t, apiErr.ServerWait, tt.atLeast)
				assert.Contains(t, err.Error(), "the server asks to wait ")
			})
		}
	}
}

// TestMaxServerWaitIsAPolicyField: a policy allowing two hours honours an
// hour's wait, and one allowing 10 s refuses 11 s.
func TestMaxServerWaitIsAPolicyField(t *testing.T) {
	tests := []struct {
		limit, asked time.Duration
		honoured     bool
	}{
		{2 * time.Hour, time.Hour, true},
		{10 * time.Second, 10 * time.Second, true},
		{10 * time.Second, 11 * time.Second, false},
	}
	for _, tt := range tests {
		t.Run(fmt.Sprint(tt.limit, tt.asked), func(t *testing.T) {
			var n atomic.Int32
			f := newFake(t, func(w http.ResponseWriter, _ *http.Request) {
				if n.Add(1) > 1 {
					reply(w, http.StatusOK, tokenJSON)
					return
				}
				w.Header().Set("Retry-After", strconv.Itoa(int(tt.asked/time.Second)))
				reply(w, http.StatusTooManyRequests, tooManyJSON)
			})
			p := testPolicy
			p.MaxServerWait = tt.limit
			c, waits := newTestClient(t, f, WithRetryPolicy(p))
			_, err := c.GetUploadToken(t.Context(), testToken)
			if tt.honoured {
				require.NoError(t, err)
				assert.Equal(t, []time.Duration{tt.asked}, waits.all())
				return
			}
			require.ErrorIs(t, err, ErrRateLimited)
			assert.Empty(t, waits.all())
		})
	}
}

// TestVideoIDChangeIsAnError answers the second chunk with another videoId
// than the first: the chunk is retried, the upload fails and the chunk is
// not counted.
func TestVideoIDChangeIsAnError(t *testing.T) {
	f := newFake(t, func(w http.ResponseWriter, r *http.Request) {
		if isFirstChunk(r) {
			reply(w, http.StatusCreated, `{"videoId":"viFirst"}`)
			return
		}
		reply(w, http.StatusCreated, `{"videoId":"viOther","title":"t","assets":{"player":"https://p"}}`)
	})
	c, _ := newTestClient(t, f)
	var top atomic.Int64
	opts := uploadOpts()
	opts.Progress = func(p UploadProgress) { top.Store(p.Acked) }
	res, err := c.Upload(t.Context(), testToken, twoChunks(), opts)
	require.Error(t, err)
	assert.Nil(t, res)
	assert.ErrorIs(t, err, ErrVideoChanged)
	assert.Contains(t, err.Error(), "viOther")
	assert.Contains(t, err.Error(), "viFirst")
	got := f.requests()
	// The answer naming another video says nothing of this chunk: it is
	// retried as the policy allows.
	require.Len(t, got, 1+testPolicy.MaxAttempts)
	assert.Contains(t, string(got[1].Body), "name=\"videoId\"\r\n\r\nviFirst\r\n", "the chunk carried the first chunk's videoId")
	var upErr *UploadError
	require.ErrorAs(t, err, &upErr)
	require.NotNil(t, upErr.State)
	assert.Equal(t, "viFirst", upErr.State.VideoID)
	assert.Equal(t, []int{0}, ackedIndexes(upErr.State), "the second chunk is not counted")
	assert.Equal(t, MinChunkSize, top.Load())
}

// TestEveryProblemFieldIsScrubbed echoes the token and the key in every
// string of a problem document.
func TestEveryProblemFieldIsScrubbed(t *testing.T) {
	echo := func(field string) string { return field + " " + testToken + " " + testKey }
	doc, err := json.Marshal(map[string]any{
		"type": echo("https://x/"), "title": echo("title"), "name": echo("name"), "status": 400,
		"detail": echo("detail"),
		"problems": []map[string]any{
			{"type": echo("https://y/"), "title": echo("ptitle"), "name": echo("pname"), "status": 400},
		},
	})
	require.NoError(t, err)
	f := newFake(t, func(w http.ResponseWriter, _ *http.Request) { reply(w, http.StatusBadRequest, string(doc)) })
	c, _ := newTestClient(t, f)
	for name, do := range map[string]func() error{
		"get": func() error { _, err := c.GetUploadToken(t.Context(), testToken); return err },
		"upload": func() error {
			_, err := c.Upload(t.Context(), testToken, ReaderAt(strings.NewReader("tiny video"), 10), nil)
			return err
		},
	} {
		t.Run(name, func(t *testing.T) {
			err := do()
			var apiErr *APIError
			require.ErrorAs(t, err, &apiErr)
			assert.Contains(t, apiErr.Name, "name", "the rest of the field stays")
			checkNoSecret(t, err.Error())
			checkNoSecret(t, fmt.Sprintf("%+v", *apiErr))
			out, err := json.Marshal(apiErr)
			require.NoError(t, err)
			checkNoSecret(t, string(out))
		})
	}
}

// countingDialer is a base transport whose every dial fails with err.
func countingDialer(n *atomic.Int32, err error) *http.Transport {
	return &http.Transport{DialContext: func(context.Context, string, string) (net.Conn, error) {
		n.Add(1)
		return nil, err
	}}
}

// TestRetryClassification checks, by the requests a call makes, which
// failures are retried: decisions follow the error's type, never its text.
func TestRetryClassification(t *testing.T) {
	notFound := &net.OpError{Op: "dial", Net: "tcp", Err: &net.DNSError{Err: "no such host", Name: "api.example", IsNotFound: true}}
	refused := &net.OpError{Op: "dial", Net: "tcp", Err: syscall.ECONNREFUSED}
	tests := []struct {
		name     string
		base     func(n *atomic.Int32) http.RoundTripper
		attempts int
	}{
		{"no such host", func(n *atomic.Int32) http.RoundTripper { return countingDialer(n, notFound) }, 1},
		{"connection refused", func(n *atomic.Int32) http.RoundTripper { return countingDialer(n, refused) }, testPolicy.MaxAttempts},
		{"a text mentioning EOF", func(n *atomic.Int32) http.RoundTripper {
			return roundTripFunc(func(*http.Request) (*http.Response, error) {
				n.Add(1)
				return nil, errors.New("proxy said: unexpected EOF in upstream")
			})
		}, 1},
		{"a text mentioning a reset", func(n *atomic.Int32) http.RoundTripper {
			return roundTripFunc(func(*http.Request) (*http.Response, error) {
				n.Add(1)
				return nil, errors.New("connection reset by peer, says the proxy")
			})
		}, 1},
		{"a closed connection", func(n *atomic.Int32) http.RoundTripper {
			return roundTripFunc(func(*http.Request) (*http.Response, error) {
				n.Add(1)
				return nil, io.ErrUnexpectedEOF
			})
		}, testPolicy.MaxAttempts},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var n atomic.Int32
			c, err := New(WithBaseURL("https://api.example"), WithAPIKey(testKey),
				WithHTTPClient(&http.Client{Transport: tt.base(&n)}), WithRetryPolicy(testPolicy))
			require.NoError(t, err)
			waits := &sleeps{}
			c.caller.sleep = waits.sleep
			_, err = c.GetUploadToken(t.Context(), testToken)
			require.Error(t, err)
			var opErr *OpError
			assert.ErrorAs(t, err, &opErr)
			assert.Equal(t, tt.attempts, int(n.Load()))
		})
	}
}

// TestUntrustedCertificateFailsAtOnce: a TLS server the client does not
// trust is tried once.
func TestUntrustedCertificateFailsAtOnce(t *testing.T) {
	var n atomic.Int32
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { reply(w, 200, tokenJSON) }))
	srv.Config.ConnState = func(_ net.Conn, s http.ConnState) {
		if s == http.StateNew {
			n.Add(1)
		}
	}
	srv.Config.ErrorLog = log.New(io.Discard, "", 0)
	srv.StartTLS()
	t.Cleanup(srv.Close)
	c, err := New(WithBaseURL(srv.URL), WithAPIKey(testKey), WithRetryPolicy(testPolicy))
	require.NoError(t, err)
	waits := &sleeps{}
	c.caller.sleep = waits.sleep
	_, err = c.GetUploadToken(t.Context(), testToken)
	require.Error(t, err)
	assert.Empty(t, waits.all())
	assert.Equal(t, int32(1), n.Load())
}

// TestUploadTokenOverPlainHTTP: the token goes over http only to a loopback
// host, unless the client is told otherwise.
func TestUploadTokenOverPlainHTTP(t *testing.T) {
	var sent atomic.Int32
	base := roundTripFunc(func(r *http.Request) (*http.Response, error) {
		sent.Add(1)
		_, _ = io.Copy(io.Discard, r.Body)
		return &http.Response{StatusCode: http.StatusCreated, Header: http.Header{"Content-Type": {"application/json"}},
			Body: io.NopCloser(strings.NewReader(`{"videoId":"vi1"}`)), Request: r}, nil
	})
	src := func() Source { return ReaderAt(strings.NewReader("tiny video"), 10) }

	c, err := New(WithBaseURL("http://api.example"), WithHTTPClient(&http.Client{Transport: base}))
	require.NoError(t, err)
	_, err = c.Upload(t.Context(), testToken, src(), nil)
	require.ErrorIs(t, err, ErrInvalidInput)
	assert.Contains(t, err.Error(), "plain http")
	checkNoSecret(t, err.Error())
	_, err = c.Raw().UploadWithUploadTokenWithBody(t.Context(), nil, "multipart/form-data", strings.NewReader("x"))
	require.ErrorIs(t, err, ErrInvalidInput)
	assert.Zero(t, sent.Load(), "nothing was sent")

	c, err = New(WithBaseURL("http://api.example"), WithHTTPClient(&http.Client{Transport: base}), WithInsecureUploadTokenOverHTTP())
	require.NoError(t, err)
	res, err := c.Upload(t.Context(), testToken, src(), nil)
	require.NoError(t, err)
	assert.Equal(t, "vi1", res.Video.VideoID)
	assert.Equal(t, int32(1), sent.Load())
}

// TestOneRetryLoop: token calls, Raw() calls and chunks are all retried by
// the same loop: the same waits, the same events.
func TestOneRetryLoop(t *testing.T) {
	var seen sync.Map
	f := newFake(t, func(w http.ResponseWriter, r *http.Request) {
		key := r.Method + " " + r.URL.Path
		if _, again := seen.LoadOrStore(key, true); !again {
			reply(w, http.StatusServiceUnavailable, `{}`)
			return
		}
		if r.URL.Path == "/upload" {
			reply(w, http.StatusCreated, `{"videoId":"vi1"}`)
			return
		}
		reply(w, http.StatusOK, tokenJSON)
	})
	var mu sync.Mutex
	var ops []string
	c, waits := newTestClient(t, f, WithEvents(func(e Event) {
		mu.Lock()
		defer mu.Unlock()
		if e.Kind == EventRetry {
			ops = append(ops, e.Op)
			assert.Equal(t, http.StatusServiceUnavailable, e.Status)
		}
	}))
	_, err := c.GetUploadToken(t.Context(), testToken)
	require.NoError(t, err)
	resp, err := c.Raw().ListUploadTokensWithResponse(t.Context(), nil)
	require.NoError(t, err)
	assert.Equal(t, http.StatusOK, resp.StatusCode())
	_, err = c.Upload(t.Context(), testToken, ReaderAt(strings.NewReader("tiny video"), 10), nil)
	require.NoError(t, err)
	assert.Equal(t, []string{opGetToken, opListTokens, opUpload}, ops)
	assert.Len(t, waits.all(), 3)
}

// TestPortalPagesAreNotTokenAnswers: a 2xx that is not the API's answer (a
// captive portal's page, say) never passes for a token call's success. The
// API answers a delete with 204 and no body, so a delete answered with a
// page must fail too: the token may still be live. A delete answered 204,
// or 200 with no body, succeeds.
func TestPortalPagesAreNotTokenAnswers(t *testing.T) {
	const page = "<html><body>Sign in to the hotel network</body></html>"
	for _, call := range tokenCalls {
		t.Run(call.name, func(t *testing.T) {
			f := newFake(t, func(w http.ResponseWriter, r *http.Request) {
				w.Header().Set("Content-Type", "text/html")
				_, _ = io.WriteString(w, page)
			})
			c, _ := newTestClient(t, f)
			err := call.do(t.Context(), c)
			require.Error(t, err, "a page passed for the API's answer")
			assert.ErrorIs(t, err, errUnreadableAnswer)
			assert.Contains(t, err.Error(), "200")
			checkNoSecret(t, err.Error())
		})
	}
	for _, status := range []int{http.StatusNoContent, http.StatusOK} {
		t.Run(fmt.Sprintf("delete answered %d with no body", status), func(t *testing.T) {
			f := newFake(t, func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(status) })
			c, _ := newTestClient(t, f)
			require.NoError(t, c.DeleteUploadToken(t.Context(), testToken))
		})
	}
}
