package e2e

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"io"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/avupload/avupload/sandbox"
	"github.com/avupload/avupload/wrapper"
)

// rig is a sandbox served on 127.0.0.1 behind a tap: a handler that records
// every request the sandbox sees (path, credentials, range, bytes read) and
// can aim a sandbox fault at one chosen chunk.
type rig struct {
	URL    string
	APIKey string
	SB     *sandbox.Sandbox
	tap    *tap
	faults atomic.Int64 // faults the sandbox reported applying
}

// rigOption adjusts a rig before its sandbox starts.
type rigOption func(*rigConfig)

type rigConfig struct {
	aim func(contentRange string) (sandbox.Fault, bool)
}

// withAim scripts a fault on the first upload request whose Content-Range
// makes aim answer true: the tap numbers that request exactly as the
// sandbox will, and adds the fault for that number.
func withAim(aim func(contentRange string) (sandbox.Fault, bool)) rigOption {
	return func(c *rigConfig) { c.aim = aim }
}

func newRig(t testing.TB, opts ...rigOption) *rig {
	t.Helper()
	var cfg rigConfig
	for _, o := range opts {
		o(&cfg)
	}
	g := &rig{APIKey: "e2e-api-key-" + randomWord(16)}
	g.tap = &tap{aim: cfg.aim}
	logger := slog.New(&faultHook{onFault: func() {
		g.faults.Add(1)
		g.tap.matched()
	}})
	sbOpts := []sandbox.Option{sandbox.WithAPIKeys(g.APIKey), sandbox.WithLogger(logger)}
	sb, err := sandbox.New(sbOpts...)
	require.NoError(t, err)
	g.SB = sb
	g.tap.next = sb
	srv := httptest.NewServer(g.tap)
	t.Cleanup(srv.Close)
	g.URL = srv.URL
	return g
}

// token mints an upload token that never expires.
func (g *rig) token(t testing.TB) string {
	t.Helper()
	tok, err := g.SB.CreateToken(0)
	require.NoError(t, err)
	return tok
}

// client returns a wrapper client for the rig, with its own connection
// pool closed at the end of the test. With withKey it holds the API key.
func (g *rig) client(t testing.TB, withKey bool, opts ...wrapper.Option) *wrapper.Client {
	t.Helper()
	tr := http.DefaultTransport.(*http.Transport).Clone()
	t.Cleanup(tr.CloseIdleConnections)
	all := []wrapper.Option{wrapper.WithBaseURL(g.URL), wrapper.WithHTTPClient(&http.Client{Transport: tr})}
	if withKey {
		all = append(all, wrapper.WithAPIKey(g.APIKey))
	}
	c, err := wrapper.New(append(all, opts...)...)
	require.NoError(t, err)
	t.Cleanup(c.CloseIdleConnections) // the pool of upload chunks, the client's own
	return c
}

// record is one request as the tap saw it.
type record struct {
	Method        string
	Path          string
	Authorization string
	Header        http.Header
	ContentRange  string
	ContentLength int64
	read          atomic.Int64 // body bytes the sandbox read
}

// BodyRead is the number of body bytes the sandbox read.
func (r *record) BodyRead() int64 { return r.read.Load() }

// tap records requests and serializes the admission of uploads so that its
// numbering of them matches the sandbox's fault numbering.
type tap struct {
	next http.Handler
	aim  func(contentRange string) (sandbox.Fault, bool)

	mu      sync.Mutex
	records []*record

	admit   sync.Mutex // held from an upload's numbering until the sandbox numbered it
	uploads int        // guarded by admit
	aimed   bool       // guarded by admit
	release atomic.Pointer[func()]

	read  atomic.Int64 // upload body bytes read, over all requests
	hooks atomic.Pointer[tapHooks]
}

// tapHooks are called as uploads progress; either may be nil.
type tapHooks struct {
	// read is called after each read of an upload body with the number of
	// upload body bytes read so far, over all requests.
	read func(total int64)
	// answered is called when the sandbox has finished the n-th upload
	// request (counted from 1), the answer written.
	answered func(n int)
}

// setHooks replaces the hooks; nil removes them.
func (tp *tap) setHooks(h *tapHooks) { tp.hooks.Store(h) }

func (tp *tap) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	rec := &record{
		Method: r.Method, Path: r.URL.Path, Authorization: r.Header.Get("Authorization"),
		Header: r.Header.Clone(), ContentRange: r.Header.Get("Content-Range"), ContentLength: r.ContentLength,
	}
	tp.mu.Lock()
	tp.records = append(tp.records, rec)
	tp.mu.Unlock()

	body := &countingBody{rc: r.Body, n: &rec.read}
	r.Body = body
	if r.Method != http.MethodPost || r.URL.Path != "/upload" {
		tp.next.ServeHTTP(w, r)
		return
	}
	body.after = func(n int) {
		total := tp.read.Add(int64(n))
		if h := tp.hooks.Load(); h != nil && h.read != nil {
			h.read(total)
		}
	}
	// The sandbox numbers an upload when its handler starts, before it
	// reads the body or applies a fault: hold the others back until then.
	tp.admit.Lock()
	release := sync.OnceFunc(tp.admit.Unlock)
	tp.release.Store(&release)
	body.before = release
	tp.uploads++
	n := tp.uploads
	if tp.aim != nil && !tp.aimed {
		if f, ok := tp.aim(rec.ContentRange); ok {
			tp.aimed = true
			f.Op, f.Request = sandbox.OpUploadWithUploadToken, tp.uploads
			tp.next.(*sandbox.Sandbox).AddFaults(f)
		}
	}
	defer release()
	tp.next.ServeHTTP(w, r)
	if h := tp.hooks.Load(); h != nil && h.answered != nil {
		h.answered(n)
	}
}

// matched is called when the sandbox applies a fault, before it touches the
// body: the request holding the admission has been numbered.
func (tp *tap) matched() {
	if f := tp.release.Load(); f != nil {
		(*f)()
	}
}

// Records returns a copy of the requests seen so far.
func (tp *tap) Records() []*record {
	tp.mu.Lock()
	defer tp.mu.Unlock()
	return append([]*record(nil), tp.records...)
}

// Uploads returns the upload requests seen so far.
func (tp *tap) Uploads() []*record {
	var out []*record
	for _, r := range tp.Records() {
		if r.Method == http.MethodPost && r.Path == "/upload" {
			out = append(out, r)
		}
	}
	return out
}

// BodyBytes is the number of upload body bytes the sandbox read in all.
func (tp *tap) BodyBytes() int64 { return tp.read.Load() }

// countingBody counts what is read of a request body. It calls before
// ahead of every read and after with each read's count; both may be nil.
type countingBody struct {
	rc     io.ReadCloser
	n      *atomic.Int64
	before func()
	after  func(n int)
}

func (b *countingBody) Read(p []byte) (int, error) {
	if b.before != nil {
		b.before()
	}
	n, err := b.rc.Read(p)
	b.n.Add(int64(n))
	if b.after != nil && n > 0 {
		b.after(n)
	}
	return n, err
}

func (b *countingBody) Close() error { return b.rc.Close() }

// faultHook is a slog handler that reports the sandbox's "fault applied"
// lines and drops the rest.
type faultHook struct{ onFault func() }

func (h *faultHook) Enabled(context.Context, slog.Level) bool { return true }

func (h *faultHook) Handle(_ context.Context, r slog.Record) error {
	if r.Message == "sandbox fault" {
		h.onFault()
	}
	return nil
}

func (h *faultHook) WithAttrs([]slog.Attr) slog.Handler { return h }
func (h *faultHook) WithGroup(string) slog.Handler      { return h }

// source is deterministic pseudo-random video bytes and their SHA-256.
type source struct {
	data []byte
	sum  string
}

func newSource(seed uint64, size int64) source {
	var key [32]byte
	key[0], key[1] = byte(seed), byte(seed>>8)
	data := make([]byte, size)
	_, _ = rand.NewChaCha8(key).Read(data)
	s := sha256.Sum256(data)
	return source{data: data, sum: hex.EncodeToString(s[:])}
}

// randomWord returns n random lowercase letters.
func randomWord(n int) string {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte('a' + rand.IntN(26))
	}
	return string(b)
}

// fastRetries retries quickly and often enough for every scripted fault,
// and caps the wait a 429 asks for.
func fastRetries() *wrapper.RetryPolicy {
	return &wrapper.RetryPolicy{MaxAttempts: 5, InitialBackoff: 10 * time.Millisecond, MaxBackoff: 100 * time.Millisecond}
}
