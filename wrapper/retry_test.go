package wrapper

import (
	"cmp"
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"io"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/avupload/avupload/internal/testutil"
	"github.com/avupload/avupload/sandbox"
	"github.com/avupload/avupload/sandbox/sandboxtest"
)

// TestRetriesByAnswer checks, for each kind of answer, how many requests a
// call makes, how long it waits between them and what it returns.
func TestRetriesByAnswer(t *testing.T) {
	tests := []struct {
		name     string
		status   int // 0: the connection is closed without an answer
		sentinel error
		retried  bool
	}{
		{name: "connection closed", status: 0, retried: true},
		{name: "408", status: http.StatusRequestTimeout, retried: true},
		{name: "429", status: http.StatusTooManyRequests, sentinel: ErrRateLimited, retried: true},
		{name: "500", status: http.StatusInternalServerError, sentinel: ErrServer, retried: true},
		{name: "502", status: http.StatusBadGateway, sentinel: ErrServer, retried: true},
		{name: "503", status: http.StatusServiceUnavailable, sentinel: ErrServer, retried: true},
		{name: "504", status: http.StatusGatewayTimeout, sentinel: ErrServer, retried: true},
		{name: "400", status: http.StatusBadRequest, sentinel: ErrBadRequest},
		{name: "401", status: http.StatusUnauthorized, sentinel: ErrUnauthorized},
		{name: "403", status: http.StatusForbidden, sentinel: ErrForbidden},
		{name: "404", status: http.StatusNotFound, sentinel: ErrNotFound},
		{name: "409", status: http.StatusConflict},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFake(t, func(w http.ResponseWriter, _ *http.Request) {
				if tt.status == 0 {
					testutil.HangUp(w, nil)
					return
				}
				reply(w, tt.status, `{"title":"no","status":`+strconv.Itoa(tt.status)+`}`)
			})
			c, waits := newTestClient(t, f)

			_, err := c.GetUploadToken(t.Context(), testToken)
			require.Error(t, err)

			wantRequests := 1
			if tt.retried {
				wantRequests = testPolicy.MaxAttempts
			}
			assert.Equal(t, wantRequests, f.count(), "requests")
			got := waits.all()
			require.Len(t, got, wantRequests-1, "waits")
			for i, w := range got {
				limit := min(testPolicy.InitialBackoff<<i, testPolicy.MaxBackoff)
				assert.GreaterOrEqual(t, w, time.Duration(0))
				assert.LessOrEqual(t, w, limit, "wait %d", i+1)
			}

			if tt.status == 0 {
				var opErr *OpError
				require.ErrorAs(t, err, &opErr)
				assert.Equal(t, opGetToken, opErr.Op)
				return
			}
			var apiErr *APIError
			require.ErrorAs(t, err, &apiErr)
			assert.Equal(t, tt.status, apiErr.StatusCode)
			if tt.sentinel != nil {
				assert.ErrorIs(t, err, tt.sentinel)
			}
		})
	}
}

func TestRetryRecovers(t *testing.T) {
	var n atomic.Int32
	f := newFake(t, func(w http.ResponseWriter, _ *http.Request) {
		switch n.Add(1) {
		case 1:
			testutil.HangUp(w, nil)
		case 2:
			reply(w, http.StatusServiceUnavailable, `{}`)
		default:
			reply(w, http.StatusOK, tokenJSON)
		}
	})
	c, waits := newTestClient(t, f)
	tok, err := c.GetUploadToken(t.Context(), "to1tcmSFHeYY5KzyhOqVKMKb")
	require.NoError(t, err)
	assert.Equal(t, "to1tcmSFHeYY5KzyhOqVKMKb", tok.Token)
	assert.Equal(t, 3, f.count())
	assert.Len(t, waits.all(), 2)
}

// TestServerWaitIsHonoured checks that the wait the server names replaces
// the computed backoff.
func TestServerWaitIsHonoured(t *testing.T) {
	inHalfAMinute := time.Now().Add(30 * time.Second).UTC().Format(http.TimeFormat)
	tests := []struct {
		name    string
		status  int // 429 unless set
		headers map[string]string
		min     time.Duration
		max     time.Duration
	}{
		{name: "window spent", headers: map[string]string{"X-RateLimit-Remaining": "0", "X-RateLimit-Retry-After": "41"}, min: 41 * time.Second, max: 41 * time.Second},
		{
			name: "5xx with requests to spare ignores the window", status: http.StatusServiceUnavailable,
			headers: map[string]string{"X-RateLimit-Remaining": "37", "X-RateLimit-Retry-After": "45"}, min: 0, max: testPolicy.InitialBackoff,
		},
		{
			name: "Retry-After counts with requests to spare", status: http.StatusServiceUnavailable,
			headers: map[string]string{"X-RateLimit-Remaining": "37", "X-RateLimit-Retry-After": "45", "Retry-After": "2"}, min: 2 * time.Second, max: 2 * time.Second,
		},
		{name: "X-RateLimit-Retry-After", headers: map[string]string{"X-RateLimit-Retry-After": "7"}, min: 7 * time.Second, max: 7 * time.Second},
		{name: "Retry-After seconds", headers: map[string]string{"Retry-After": "3"}, min: 3 * time.Second, max: 3 * time.Second},
		{name: "Retry-After date", headers: map[string]string{"Retry-After": inHalfAMinute}, min: 28 * time.Second, max: 30 * time.Second},
		{name: "as long as the policy allows", headers: map[string]string{"Retry-After": "60"}, min: time.Minute, max: time.Minute},
		{name: "Retry-After date past", headers: map[string]string{"Retry-After": "Mon, 02 Jan 2006 15:04:05 GMT"}, min: 0, max: 0},
		{name: "X-RateLimit-Retry-After wins", headers: map[string]string{"X-RateLimit-Retry-After": "2", "Retry-After": "9"}, min: 2 * time.Second, max: 2 * time.Second},
		{name: "zero", headers: map[string]string{"X-RateLimit-Retry-After": "0"}, min: 0, max: 0},
		{name: "malformed falls back to backoff", headers: map[string]string{"X-RateLimit-Retry-After": "soon", "Retry-After": "later"}, min: 0, max: testPolicy.InitialBackoff},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var n atomic.Int32
			f := newFake(t, func(w http.ResponseWriter, _ *http.Request) {
				if n.Add(1) > 1 {
					reply(w, http.StatusOK, tokenJSON)
					return
				}
				for k, v := range tt.headers {
					w.Header().Set(k, v)
				}
				reply(w, cmp.Or(tt.status, http.StatusTooManyRequests), tooManyJSON)
			})
			c, waits := newTestClient(t, f)
			_, err := c.GetUploadToken(t.Context(), "x")
			require.NoError(t, err)
			got := waits.all()
			require.Len(t, got, 1)
			assert.GreaterOrEqual(t, got[0], tt.min)
			assert.LessOrEqual(t, got[0], tt.max)
		})
	}
}

func TestBackoffStaysUnderItsCaps(t *testing.T) {
	tests := []struct {
		name    string
		policy  RetryPolicy
		attempt int
		limit   time.Duration
	}{
		{name: "first", policy: testPolicy, attempt: 1, limit: 100 * time.Millisecond},
		{name: "second capped", policy: testPolicy, attempt: 2, limit: 150 * time.Millisecond},
		{name: "default first", policy: DefaultRetryPolicy(), attempt: 1, limit: 500 * time.Millisecond},
		{name: "default third", policy: DefaultRetryPolicy(), attempt: 3, limit: 2 * time.Second},
		{name: "default far", policy: DefaultRetryPolicy(), attempt: 60, limit: 30 * time.Second},
		{name: "zero fields take the defaults", policy: RetryPolicy{MaxAttempts: 5}, attempt: 2, limit: time.Second},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var top time.Duration
			for range 2000 {
				d := tt.policy.backoff(tt.attempt)
				require.GreaterOrEqual(t, d, time.Duration(0))
				require.LessOrEqual(t, d, tt.limit)
				top = max(top, d)
			}
			assert.Greater(t, top, tt.limit/2, "jitter spans the whole window")
		})
	}
}

func TestPolicyAttempts(t *testing.T) {
	assert.Equal(t, 1, RetryPolicy{}.attempts())
	assert.Equal(t, 1, NoRetries().attempts())
	assert.Equal(t, 4, DefaultRetryPolicy().attempts())
}

// onceReader is a body that cannot be rewound: http.NewRequest gives it no GetBody.
type onceReader struct{ r io.Reader }

func (o *onceReader) Read(p []byte) (int, error) { return o.r.Read(p) }

func TestBodiesThatCannotBeReplayedAreNotRetried(t *testing.T) {
	f := newFake(t, func(w http.ResponseWriter, _ *http.Request) { reply(w, http.StatusServiceUnavailable, `{}`) })
	c, waits := newTestClient(t, f)

	resp, err := c.Raw().CreateUploadTokenWithBodyWithResponse(t.Context(), "application/json", &onceReader{strings.NewReader(`{"ttl":60}`)})
	require.NoError(t, err)
	assert.Equal(t, http.StatusServiceUnavailable, resp.StatusCode())
	assert.Equal(t, 1, f.count())
	assert.Empty(t, waits.all())
}

func TestReplayableBodiesAreResentWhole(t *testing.T) {
	f := newFake(t, func(w http.ResponseWriter, _ *http.Request) { reply(w, http.StatusServiceUnavailable, `{}`) })
	c, _ := newTestClient(t, f)

	_, err := c.CreateUploadToken(t.Context(), time.Minute)
	require.ErrorIs(t, err, ErrServer)
	got := f.requests()
	require.Len(t, got, testPolicy.MaxAttempts)
	for _, r := range got {
		assert.JSONEq(t, `{"ttl":60}`, string(r.Body))
	}
}

func TestWithoutRetriesTriesOnce(t *testing.T) {
	f := newFake(t, func(w http.ResponseWriter, _ *http.Request) { reply(w, http.StatusTooManyRequests, tooManyJSON) })
	c, waits := newTestClient(t, f, WithoutRetries())
	_, err := c.ListUploadTokens(t.Context(), ListOptions{})
	require.ErrorIs(t, err, ErrRateLimited)
	assert.Equal(t, 1, f.count())
	assert.Empty(t, waits.all())
}

// TestCancelDuringBackoff cancels the context while the client waits 50 s
// before its second try: the call must return at once with
// context.Canceled and make no further request.
func TestCancelDuringBackoff(t *testing.T) {
	f := newFake(t, func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("X-RateLimit-Retry-After", "50")
		reply(w, http.StatusTooManyRequests, tooManyJSON)
	})
	c, _ := newTestClient(t, f)
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	var asked time.Duration
	c.caller.sleep = func(ctx context.Context, d time.Duration) error {
		asked = d
		cancel()
		return sleepCtx(ctx, d) // the real wait, which must give up on cancellation
	}

	_, err := c.GetUploadToken(ctx, testToken)
	require.Error(t, err)
	assert.ErrorIs(t, err, context.Canceled)
	assert.Equal(t, 50*time.Second, asked)
	assert.Equal(t, 1, f.count())
	var opErr *OpError
	assert.ErrorAs(t, err, &opErr)
}

func TestSleepCtx(t *testing.T) {
	assert.NoError(t, sleepCtx(t.Context(), 0))
	assert.NoError(t, sleepCtx(t.Context(), time.Microsecond))
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	assert.ErrorIs(t, sleepCtx(ctx, time.Hour), context.Canceled)
	assert.ErrorIs(t, sleepCtx(ctx, 0), context.Canceled)
}

func TestRetryableError(t *testing.T) {
	canceled, cancel := context.WithCancel(context.Background())
	cancel()
	tests := []struct {
		name string
		ctx  context.Context
		err  error
		want bool
	}{
		{name: "nil", ctx: context.Background(), err: nil, want: false},
		{name: "EOF", ctx: context.Background(), err: io.EOF, want: true},
		{name: "unexpected EOF", ctx: context.Background(), err: io.ErrUnexpectedEOF, want: true},
		{name: "reset only as text: texts are not judged", ctx: context.Background(), err: errors.New("read: connection reset by peer"), want: false},
		{name: "caller canceled", ctx: canceled, err: io.EOF, want: false},
		{name: "canceled error", ctx: context.Background(), err: context.Canceled, want: false},
		{name: "refused, as Do reports it", ctx: context.Background(), err: &url.Error{Op: "Post", URL: "https://x", Err: &net.OpError{Op: "dial", Err: syscall.ECONNREFUSED}}, want: true},
		{name: "untrusted certificate", ctx: context.Background(), err: &url.Error{Op: "Post", URL: "https://x", Err: &tls.CertificateVerificationError{Err: x509.UnknownAuthorityError{}}}, want: false},
		{name: "wrong host name", ctx: context.Background(), err: &url.Error{Op: "Post", URL: "https://x", Err: x509.HostnameError{Host: "x"}}, want: false},
		{name: "TLS to a plain server", ctx: context.Background(), err: &url.Error{Op: "Post", URL: "https://x", Err: tls.RecordHeaderError{Msg: "first record does not look like a TLS handshake"}}, want: false},
		{name: "too many redirects", ctx: context.Background(), err: &url.Error{Op: "Get", URL: "https://x", Err: errors.New("stopped after 10 redirects")}, want: false},
		{name: "other", ctx: context.Background(), err: errors.New("tls: bad certificate"), want: false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			assert.Equal(t, tt.want, retryableError(tt.ctx, tt.err))
		})
	}
}

func TestRetryableStatus(t *testing.T) {
	for code := 100; code < 600; code++ {
		want := code == 408 || code == 429 || code >= 500
		assert.Equal(t, want, retryableStatus(code), "status %d", code)
	}
}

// TestRetriesAgainstSandboxFaults checks the waits against the sandbox's
// headers: a 429 waits for the window named in X-RateLimit-Retry-After, a
// 503 (whose answer names the window too, with requests to spare) waits only
// the usual backoff.
func TestRetriesAgainstSandboxFaults(t *testing.T) {
	tests := []struct {
		status   int
		min, max time.Duration
	}{
		{status: http.StatusTooManyRequests, min: time.Second, max: time.Minute},
		{status: http.StatusServiceUnavailable, min: 0, max: testPolicy.InitialBackoff},
	}
	for _, tt := range tests {
		t.Run(http.StatusText(tt.status), func(t *testing.T) {
			srv := sandboxtest.NewServer(t, sandbox.WithFaults(sandbox.Fault{
				Op: sandbox.OpCreateUploadToken, Request: 1, Kind: sandbox.FaultStatus, Status: tt.status,
			}))
			c, err := New(WithBaseURL(srv.URL), WithAPIKey(srv.APIKey), WithRetryPolicy(testPolicy))
			require.NoError(t, err)
			waits := &sleeps{}
			c.caller.sleep = waits.sleep

			tok, err := c.CreateUploadToken(t.Context(), time.Minute)
			require.NoError(t, err)
			assert.NotEmpty(t, tok.Token)
			got := waits.all()
			require.Len(t, got, 1)
			assert.GreaterOrEqual(t, got[0], tt.min)
			assert.LessOrEqual(t, got[0], tt.max)
		})
	}
}
