package wrapper

import (
	"bytes"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/avupload/avupload/sandbox"
)

// pacedServer serves a sandbox and records when each upload request arrived
// and when each byte of their bodies came in; answer, when set, may answer
// a request itself (the n-th upload request, counted from 1) instead.
type pacedServer struct {
	mu     sync.Mutex
	starts []time.Time
	bytes  []timedBytes
	answer func(n int, w http.ResponseWriter) bool
}

type timedBytes struct {
	at time.Time
	n  int
}

func newPacedServer(t *testing.T, answer func(n int, w http.ResponseWriter) bool) (*pacedServer, *httptest.Server, string) {
	t.Helper()
	sb, err := sandbox.New(sandbox.WithDataDir(t.TempDir()))
	require.NoError(t, err)
	a := &pacedServer{answer: answer}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/upload" {
			sb.ServeHTTP(w, r)
			return
		}
		a.mu.Lock()
		a.starts = append(a.starts, time.Now())
		n := len(a.starts)
		a.mu.Unlock()
		if a.answer != nil && a.answer(n, w) {
			_, _ = io.Copy(io.Discard, r.Body)
			return
		}
		r.Body = &timedReader{r: r.Body, a: a}
		sb.ServeHTTP(w, r)
	}))
	t.Cleanup(srv.Close)
	token, err := sb.CreateToken(0)
	require.NoError(t, err)
	return a, srv, token
}

type timedReader struct {
	r io.ReadCloser
	a *pacedServer
}

func (r *timedReader) Read(p []byte) (int, error) {
	n, err := r.r.Read(p)
	if n > 0 {
		r.a.mu.Lock()
		r.a.bytes = append(r.a.bytes, timedBytes{time.Now(), n})
		r.a.mu.Unlock()
	}
	return n, err
}

func (r *timedReader) Close() error { return r.r.Close() }

func (a *pacedServer) times() []time.Time {
	a.mu.Lock()
	defer a.mu.Unlock()
	return append([]time.Time(nil), a.starts...)
}

// uploadAll uploads n sources of size bytes at once with c and returns
// their errors.
func uploadAll(t *testing.T, c *Client, token string, n int, size int64, opts *UploadOptions) []error {
	t.Helper()
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		data := bytes.Repeat([]byte{byte('a' + i)}, int(size))
		wg.Go(func() {
			_, errs[i] = c.Upload(t.Context(), token, ReaderAt(bytes.NewReader(data), size), opts)
		})
	}
	wg.Wait()
	return errs
}

// TestBandwidthLimitIsSharedByEverythingInFlight uploads two files of
// 8 MiB at once, each at concurrency 4, through a client limited to 8 MiB/s:
// the server must take the 16 MiB in about two seconds, and in no second
// much more than 8 MiB, however many chunks are in flight.
func TestBandwidthLimitIsSharedByEverythingInFlight(t *testing.T) {
	const limit = 8 << 20
	a, srv, token := newPacedServer(t, nil)
	c, err := New(WithBaseURL(srv.URL), WithBandwidthLimit(limit))
	require.NoError(t, err)
	t.Cleanup(c.CloseIdleConnections)

	errs := uploadAll(t, c, token, 2, 8<<20, &UploadOptions{ChunkSize: MinChunkSize, Concurrency: 4})
	for _, err := range errs {
		require.NoError(t, err)
	}

	a.mu.Lock()
	got := append([]timedBytes(nil), a.bytes...)
	a.mu.Unlock()
	require.NotEmpty(t, got)
	var total int
	for _, b := range got {
		total += b.n
	}
	require.GreaterOrEqual(t, total, 16<<20, "the server took both files")
	took := got[len(got)-1].at.Sub(got[0].at)
	// (16 MiB - the bucket's 0.8 MiB) / 8 MiB/s is 1.9 s.
	assert.GreaterOrEqual(t, took, 1800*time.Millisecond, "16 MiB at 8 MiB/s")
	// The upper bound leaves room for a loaded machine and the race
	// detector (3.5 s seen with 20 other processes on 2 cores); without a
	// limit it takes a tenth of that.
	assert.LessOrEqual(t, took, 4*time.Second, "16 MiB at 8 MiB/s")
	// No second of the upload took much more than the limit: at most the
	// limit and the bucket's tenth of a second, and what the sockets'
	// buffers hold back and hand over at once.
	for i, start := range got {
		var inWindow int
		for _, b := range got[i:] {
			if b.at.Sub(start.at) >= time.Second {
				break
			}
			inWindow += b.n
		}
		require.LessOrEqual(t, inWindow, limit*125/100, "bytes within a second from %s", start.at.Sub(got[0].at))
	}
}

// TestServerPauseHoldsEveryRequest answers the fourth upload request of
// two uploads of six chunks, two at a time, 429 with Retry-After: 2: no
// request of the client
// may reach the server in the two seconds that follow, not only the one
// that was answered; both uploads then finish, and the pause is told once.
func TestServerPauseHoldsEveryRequest(t *testing.T) {
	var pausedAt atomic.Int64
	a, srv, token := newPacedServer(t, func(n int, w http.ResponseWriter) bool {
		if n != 4 {
			return false
		}
		pausedAt.Store(time.Now().UnixNano())
		w.Header().Set("Retry-After", "2")
		reply(w, http.StatusTooManyRequests, tooManyJSON)
		return true
	})
	var mu sync.Mutex
	var pauses []Event
	c, err := New(WithBaseURL(srv.URL), WithEvents(func(e Event) {
		if e.Kind == EventServerPause {
			mu.Lock()
			pauses = append(pauses, e)
			mu.Unlock()
		}
	}))
	require.NoError(t, err)
	t.Cleanup(c.CloseIdleConnections)

	errs := uploadAll(t, c, token, 2, 6*MinChunkSize, &UploadOptions{ChunkSize: MinChunkSize, Concurrency: 2})
	for _, err := range errs {
		require.NoError(t, err)
	}

	require.NotZero(t, pausedAt.Load(), "the server asked for a pause")
	paused := time.Unix(0, pausedAt.Load())
	// The requests sent before the 429 reached the client may still
	// arrive just after it.
	const grace = 150 * time.Millisecond
	var after int
	first := time.Duration(-1) // the first arrival past the grace
	for i, at := range a.times() {
		if since := at.Sub(paused); since > grace && (first < 0 || since < first) {
			first = since
		}
		since := at.Sub(paused)
		assert.False(t, since > grace && since < 2*time.Second-grace,
			"upload request %d arrived %s after the 429 asked for 2s", i+1, since)
		if since >= 2*time.Second-grace {
			after++
		}
	}
	assert.Positive(t, after, "requests went on after the pause")
	t.Logf("%d upload requests; the first after the 429 (past %s) arrived %s after it", len(a.times()), grace, first)
	mu.Lock()
	defer mu.Unlock()
	require.Len(t, pauses, 1, "the pause is told once")
	assert.Equal(t, 2*time.Second, pauses[0].Wait)
	assert.Equal(t, http.StatusTooManyRequests, pauses[0].Status)
	assert.Equal(t, opUpload, pauses[0].Op)
}

// TestServerPauseIsCappedByMaxServerWait: a server asking for an hour on a
// 2xx holds the client's other requests for MaxServerWait at most.
func TestServerPauseIsCappedByMaxServerWait(t *testing.T) {
	var calls atomic.Int32
	f := newFake(t, func(w http.ResponseWriter, _ *http.Request) {
		if calls.Add(1) == 1 {
			w.Header().Set("Retry-After", "3600")
		}
		reply(w, http.StatusOK, tokenJSON)
	})
	c, s := newTestClient(t, f, WithRetryPolicy(RetryPolicy{MaxAttempts: 2, MaxServerWait: 3 * time.Second}))
	_, err := c.CreateUploadToken(t.Context(), time.Hour)
	require.NoError(t, err)
	_, err = c.CreateUploadToken(t.Context(), time.Hour)
	require.NoError(t, err)
	waits := s.all()
	require.Len(t, waits, 1, "the second call waited for the pause the first answer asked for")
	assert.InDelta(t, 3*time.Second, waits[0], float64(100*time.Millisecond))
}

// TestRetryBudgetBoundsRequests: a server answering 503 to everything and
// 20 uploads at once: the retries stop when the budget is spent, so the
// requests are bounded by the uploads plus the retries the budget pays for,
// where each upload alone would have made 4; the uploads that could not
// retry fail with ErrRetryBudget and say why. With the default budget one
// upload still makes its 4 attempts.
func TestRetryBudgetBoundsRequests(t *testing.T) {
	tests := []struct {
		name         string
		budget       Option // nil: the default
		uploads      int
		maxRequests  int
		minBudgetErr int
	}{
		// 50 pays for 10 retries; one upload spends at most 3, so at
		// most 3 uploads end on their last 503 and 17 on the budget.
		{name: "budget of 50, 20 uploads", budget: WithRetryBudget(50), uploads: 20, maxRequests: 20 + 10, minBudgetErr: 17},
		{name: "default budget, one upload", uploads: 1, maxRequests: 4, minBudgetErr: 0},
		{name: "no budget, 20 uploads", budget: WithRetryBudget(0), uploads: 20, maxRequests: 80, minBudgetErr: 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFake(t, func(w http.ResponseWriter, _ *http.Request) {
				reply(w, http.StatusServiceUnavailable, `{"title":"unavailable"}`)
			})
			opts := []Option{WithRetryPolicy(DefaultRetryPolicy())}
			if tt.budget != nil {
				opts = append(opts, tt.budget)
			}
			c, _ := newTestClient(t, f, opts...)
			errs := uploadAll(t, c, testToken, tt.uploads, 1000, nil)
			var budget int
			for _, err := range errs {
				require.Error(t, err)
				if errors.Is(err, ErrRetryBudget) {
					budget++
					assert.Contains(t, err.Error(), "the server is failing too often")
					checkNoSecret(t, err.Error())
				}
				assert.ErrorIs(t, err, ErrServer, "the 503 itself is kept")
				var apiErr *APIError
				if assert.ErrorAs(t, err, &apiErr) {
					assert.Equal(t, http.StatusServiceUnavailable, apiErr.StatusCode)
				}
			}
			assert.LessOrEqual(t, f.count(), tt.maxRequests)
			assert.GreaterOrEqual(t, budget, tt.minBudgetErr)
			if tt.minBudgetErr == 0 {
				assert.Equal(t, tt.maxRequests, f.count(), "every upload made its 4 attempts")
				assert.Zero(t, budget)
			}
		})
	}
}

// TestRetryBudgetRefillsOnSuccess spends a budget of 10 (two retries) on
// a failing server, then lets five calls succeed at once, which put back
// one retry's worth: the next failing call retries exactly once.
func TestRetryBudgetRefillsOnSuccess(t *testing.T) {
	var failing atomic.Bool
	f := newFake(t, func(w http.ResponseWriter, _ *http.Request) {
		if failing.Load() {
			reply(w, http.StatusServiceUnavailable, `{"title":"unavailable"}`)
			return
		}
		reply(w, http.StatusOK, tokenJSON)
	})
	c, _ := newTestClient(t, f, WithRetryPolicy(RetryPolicy{MaxAttempts: 4}), WithRetryBudget(10))
	call := func() (int, error) {
		before := f.count()
		_, err := c.CreateUploadToken(t.Context(), time.Hour)
		return f.count() - before, err
	}

	failing.Store(true)
	n, err := call()
	assert.Equal(t, 3, n, "two retries paid, the third refused")
	require.ErrorIs(t, err, ErrRetryBudget)
	assert.ErrorIs(t, err, ErrServer)
	n, err = call()
	assert.Equal(t, 1, n, "the budget is empty: no retry")
	require.ErrorIs(t, err, ErrRetryBudget)

	failing.Store(false)
	for range 5 {
		_, err := call()
		require.NoError(t, err)
	}

	failing.Store(true)
	n, err = call()
	assert.Equal(t, 2, n, "five successes paid for one retry")
	require.ErrorIs(t, err, ErrRetryBudget)
}

// TestRetryAfterSuccessRefundsItsCost: under a server failing every other
// request, a retry that succeeds puts its cost back, so the budget never
// runs out.
func TestRetryAfterSuccessRefundsItsCost(t *testing.T) {
	var n atomic.Int32
	f := newFake(t, func(w http.ResponseWriter, _ *http.Request) {
		if n.Add(1)%2 == 1 {
			reply(w, http.StatusServiceUnavailable, `{"title":"unavailable"}`)
			return
		}
		reply(w, http.StatusOK, tokenJSON)
	})
	c, _ := newTestClient(t, f, WithRetryBudget(5))
	for i := range 20 {
		_, err := c.CreateUploadToken(t.Context(), time.Hour)
		require.NoError(t, err, "call %d", i)
	}
	assert.Equal(t, 40, f.count())
}

func TestPacerOptionsRefuseNegatives(t *testing.T) {
	tests := []struct {
		name string
		opt  Option
		ok   bool
	}{
		{"bandwidth negative", WithBandwidthLimit(-1), false},
		{"bandwidth none", WithBandwidthLimit(0), true},
		{"bandwidth 1 B/s", WithBandwidthLimit(1), true},
		{"budget negative", WithRetryBudget(-1), false},
		{"budget none", WithRetryBudget(0), true},
		{"budget 1", WithRetryBudget(1), true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := New(tt.opt)
			if tt.ok {
				assert.NoError(t, err)
				return
			}
			assert.ErrorIs(t, err, ErrInvalidInput)
			assert.False(t, strings.Contains(err.Error(), "settings"), "speaks no Go identifier: %v", err)
		})
	}
}
