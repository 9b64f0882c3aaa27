package wrapper

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/avupload/avupload/internal/recorded"
)

const (
	// testKey and testToken are secrets the tests hunt for in error strings and logs.
	testKey   = "key-S3cr3tAPIkey"
	testToken = "toS3cr3tUploadTok"
	// basePath mounts the fake API below the host root, so that a client
	// that drops the base URL's path fails.
	basePath = "/api"
)

// seen is what the fake API received.
type seen struct {
	Method, Path, RawQuery string
	Header                 http.Header
	Body                   []byte
}

// fakeAPI is a scripted stand-in for the API: every request is recorded and
// answered by the handler the test gives.
type fakeAPI struct {
	srv *httptest.Server
	mu  sync.Mutex
	got []seen
}

func newFake(t *testing.T, h http.HandlerFunc) *fakeAPI {
	t.Helper()
	f := &fakeAPI{}
	f.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		f.mu.Lock()
		f.got = append(f.got, seen{Method: r.Method, Path: r.URL.Path, RawQuery: r.URL.RawQuery, Header: r.Header.Clone(), Body: body})
		f.mu.Unlock()
		path, ok := strings.CutPrefix(r.URL.Path, basePath)
		if !ok {
			http.Error(w, "outside the base path", http.StatusTeapot)
			return
		}
		r.URL.Path = path
		h(w, r)
	}))
	t.Cleanup(f.srv.Close)
	return f
}

// URL is the API's base URL, base path included.
func (f *fakeAPI) URL() string { return f.srv.URL + basePath }

// requests returns a copy of what the fake received so far.
func (f *fakeAPI) requests() []seen {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]seen(nil), f.got...)
}

func (f *fakeAPI) count() int { return len(f.requests()) }

// sleeps records the waits a client's transport asked for, without waiting.
type sleeps struct {
	mu    sync.Mutex
	waits []time.Duration
}

func (s *sleeps) sleep(ctx context.Context, d time.Duration) error {
	s.mu.Lock()
	s.waits = append(s.waits, d)
	s.mu.Unlock()
	return ctx.Err()
}

func (s *sleeps) all() []time.Duration {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]time.Duration(nil), s.waits...)
}

// testPolicy retries three times in all with small, known caps.
var testPolicy = RetryPolicy{MaxAttempts: 3, InitialBackoff: 100 * time.Millisecond, MaxBackoff: 150 * time.Millisecond}

// newTestClient builds a client for f, holding testKey and testPolicy
// (opts may override both), whose waits are recorded rather than slept.
func newTestClient(t *testing.T, f *fakeAPI, opts ...Option) (*Client, *sleeps) {
	t.Helper()
	all := append([]Option{
		WithBaseURL(f.URL()), WithAPIKey(testKey),
		WithHTTPClient(f.srv.Client()), WithRetryPolicy(testPolicy),
	}, opts...)
	c, err := New(all...)
	require.NoError(t, err)
	s := &sleeps{}
	c.caller.sleep = s.sleep
	return c, s
}

// reply writes a JSON answer.
func reply(w http.ResponseWriter, status int, body string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_, _ = io.WriteString(w, body)
}

// Payloads as api-facts.md records them.
const (
	tokenJSON        = recorded.CreateToken
	foreverTokenJSON = recorded.TokenWithoutTTL
	tooManyJSON      = recorded.TooManyRequests
	// notFoundJSON is the recorded 404 for a token route, whose name is the
	// token parameter.
	notFoundJSON = `{"type":"https://docs.api.video/reference/resource-not-found","title":"The requested resource was not found.","name":"uploadToken","status":404}`
	listJSON     = recorded.TokenList
)

// countingTransport counts the requests that reach the network, per path.
// Unlike the sandbox's Stats, which it records once the answer is written,
// the count is complete as soon as the call returns.
type countingTransport struct {
	base http.RoundTripper
	mu   sync.Mutex
	n    map[string]int
}

func (c *countingTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	c.mu.Lock()
	if c.n == nil {
		c.n = map[string]int{}
	}
	c.n[r.URL.Path]++
	c.mu.Unlock()
	return c.base.RoundTrip(r)
}

func (c *countingTransport) count(path string) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.n[path]
}
