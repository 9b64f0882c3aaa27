package wrapper

import (
	"crypto/tls"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// protoServer is a TLS server offering HTTP/2 and HTTP/1.1, as the API's
// do, that records by which protocol and over which connection every
// request came, and answers token calls and chunks with success.
type protoServer struct {
	srv  *httptest.Server
	gate *gate // holds the chunks after the first until enough are in flight
	mu   sync.Mutex
	// protos and conns are, per operation, the HTTP major versions seen
	// and the client connections (remote addresses) used.
	protos map[string]map[int]int
	conns  map[string]map[string]int
	opened atomic.Int32 // connections the server accepted
}

// newProtoServer starts a protoServer whose chunks after the first are held
// until hold of them are in flight together (none are held when hold is 1).
func newProtoServer(t *testing.T, hold int) *protoServer {
	t.Helper()
	p := &protoServer{gate: newGate(t, hold), protos: map[string]map[int]int{}, conns: map[string]map[string]int{}}
	p.srv = httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		op := operationOf(r.Method, strings.TrimPrefix(r.URL.Path, basePath))
		p.mu.Lock()
		if p.protos[op] == nil {
			p.protos[op], p.conns[op] = map[int]int{}, map[string]int{}
		}
		p.protos[op][r.ProtoMajor]++
		p.conns[op][r.RemoteAddr]++
		p.mu.Unlock()
		if op == opCreateToken {
			reply(w, http.StatusOK, tokenJSON)
			return
		}
		p.gate.pass(r)
		reply(w, http.StatusCreated, `{"videoId":"vi4k0jvEUuaTdRAEjQ4Jfrgz"}`)
	}))
	p.srv.EnableHTTP2 = true
	p.srv.Config.ConnState = func(_ net.Conn, s http.ConnState) {
		if s == http.StateNew {
			p.opened.Add(1)
		}

	}
	p.srv.StartTLS()
	t.Cleanup(p.srv.Close)
	return p
}

// seen returns the protocols and the number of connections op came by.
func (p *protoServer) seen(op string) (protos map[int]int, conns int) {
	p.mu.Lock()
	defer p.mu.Unlock()
	protos = map[int]int{}
	for k, v := range p.protos[op] {
		protos[k] = v
	}
	return protos, len(p.conns[op])
}

// sparseFile is a file of size zero bytes that takes no room on disk.
func sparseFile(t *testing.T, size int64) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "sparse.mp4")
	f, err := os.Create(path)
	require.NoError(t, err)
	require.NoError(t, f.Truncate(size))
	require.NoError(t, f.Close())
	return path
}

// TestChunkProtocol checks how chunks travel: by default over HTTP/1.1,
// one connection per chunk in flight, kept alive and reused (two uploads
// of 2*DefaultConcurrency+1 chunks open DefaultConcurrency connections in
// all, which http.Transport's default of 2 idle connections per host would
// not keep); with HTTP2, multiplexed over one HTTP/2 connection. Token calls
// use HTTP/2 either way. A transport whose TLS configuration offers h2
// (httptest's does, and so does any that already spoke HTTP/2) must not
// drag chunks back to it.
func TestChunkProtocol(t *testing.T) {
	tests := []struct {
		name      string
		http2     bool
		warm      bool // the transport made an HTTP/2 request before New
		wantProto int
		maxConns  int
	}{
		// Over https the connections for the chunks after the first are
		// opened ahead; on loopback a chunk may open its own while one of
		// them is still in its handshake, which then joins the pool.
		{"default", false, false, 1, 2*DefaultConcurrency - 1},
		{"default, transport that spoke HTTP/2", false, true, 1, 2*DefaultConcurrency - 1},
		{"HTTP2", true, false, 2, 1},
	}
	const chunks = 2*DefaultConcurrency + 1
	size := chunks*testChunk - 100
	path := sparseFile(t, size)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := newProtoServer(t, DefaultConcurrency)
			hc := p.srv.Client()
			if tt.warm {
				resp, err := hc.Post(p.srv.URL+basePath+"/upload-tokens", "application/json", strings.NewReader("{}"))
				require.NoError(t, err)
				require.NoError(t, resp.Body.Close())
				require.Equal(t, 2, resp.ProtoMajor, "the warm-up spoke HTTP/2")
			}
			c, err := New(WithBaseURL(p.srv.URL+basePath), WithAPIKey(testKey), WithHTTPClient(hc))
			require.NoError(t, err)
			t.Cleanup(c.CloseIdleConnections)

			_, err = c.CreateUploadToken(t.Context(), time.Hour)
			require.NoError(t, err)
			// Twice: the connections of the first upload, all idle when it
			// ends, carry the second.
			for range 2 {
				res, err := c.Upload(t.Context(), testToken, File(path), &UploadOptions{ChunkSize: testChunk, HTTP2: tt.http2})
				require.NoError(t, err)
				assert.Equal(t, chunks, res.Chunks)
			}
			assert.Equal(t, DefaultConcurrency, p.gate.mostInFlight(), "chunks in flight at once after the first")

			protos, conns := p.seen(opUpload)
			assert.Equal(t, map[int]int{tt.wantProto: 2 * chunks}, protos, "every chunk over HTTP/%d", tt.wantProto)
			assert.LessOrEqual(t, conns, tt.maxConns, "connections are kept alive and reused, not one per chunk")
			assert.Positive(t, conns)
			tokenProtos, _ := p.seen(opCreateToken)
			assert.Zero(t, tokenProtos[1], "token calls use HTTP/2 when the server offers it: %v", tokenProtos)
			assert.Positive(t, tokenProtos[2])
		})
	}
}

// TestChunksThroughTheCallersRoundTripper gives the client a RoundTripper
// that is not an *http.Transport: chunks go through it as they are, with
// or without HTTP2, and the client makes no pool of its own.
func TestChunksThroughTheCallersRoundTripper(t *testing.T) {
	for _, http2 := range []bool{false, true} {
		t.Run(map[bool]string{false: "default", true: "HTTP2"}[http2], func(t *testing.T) {
			p := newProtoServer(t, 1)
			rt := &countingTransport{base: p.srv.Client().Transport}
			c, err := New(WithBaseURL(p.srv.URL+basePath), WithHTTPClient(&http.Client{Transport: rt}))
			require.NoError(t, err)
			assert.Nil(t, c.chunkPool, "no pool of the client's own")
			res, err := c.Upload(t.Context(), testToken, ReaderAt(strings.NewReader(strings.Repeat("v", 3*int(testChunk))), 3*testChunk),
				&UploadOptions{ChunkSize: testChunk, HTTP2: http2})
			require.NoError(t, err)
			assert.Equal(t, 3, res.Chunks)
			assert.Equal(t, 3, rt.count(basePath+"/upload"), "every chunk went through the caller's RoundTripper")
			protos, _ := p.seen(opUpload)
			assert.Equal(t, map[int]int{2: 3}, protos, "as that RoundTripper sends them: over HTTP/2, which it negotiates")
		})
	}
}

// TestHTTP1Transport checks the copy made for chunks: HTTP/1 only, no h2
// offered, enough idle connections kept, and the caller's transport left
// as it was. A transport told to speak no HTTP/1 is not copied.
func TestHTTP1Transport(t *testing.T) {
	base := &http.Transport{MaxIdleConns: 10, TLSClientConfig: &tls.Config{NextProtos: []string{"h2", "http/1.1"}}}
	h1 := http1Transport(base)
	require.NotNil(t, h1)
	require.NotNil(t, h1.Protocols)
	assert.True(t, h1.Protocols.HTTP1())
	assert.False(t, h1.Protocols.HTTP2())
	assert.False(t, h1.Protocols.UnencryptedHTTP2())
	assert.Equal(t, []string{"http/1.1"}, h1.TLSClientConfig.NextProtos)
	assert.GreaterOrEqual(t, h1.MaxIdleConnsPerHost, MaxConcurrency)
	assert.GreaterOrEqual(t, h1.MaxIdleConns, MaxConcurrency)
	assert.Equal(t, []string{"h2", "http/1.1"}, base.TLSClientConfig.NextProtos, "the caller's transport is not modified")
	assert.Equal(t, 10, base.MaxIdleConns)
	assert.Nil(t, base.Protocols)

	unlimited := http1Transport(&http.Transport{})
	assert.Zero(t, unlimited.MaxIdleConns, "no limit stays no limit")

	var h2c http.Protocols
	h2c.SetUnencryptedHTTP2(true)
	assert.Nil(t, http1Transport(&http.Transport{Protocols: &h2c}), "a transport that speaks no HTTP/1 is used as it is")
	assert.Nil(t, http1Transport(roundTripFunc(func(*http.Request) (*http.Response, error) { return nil, errors.New("unused") })))
}

// gate holds every chunk of an upload but the first until want of them
// are in flight together, then lets them all go, and every later one at
// once; it records the most it saw in flight at once. Holding the first
// ones also makes the client open all the connections it will use before
// any chunk ends: a chunk that ended while another waited for a new
// connection would hand it its own, and the new one would be one more.
type gate struct {
	t        *testing.T
	want     int
	mu       sync.Mutex
	inflight int
	most     int
	full     chan struct{} // closed when want are in flight
}

func newGate(t *testing.T, want int) *gate {
	return &gate{t: t, want: want, full: make(chan struct{})}
}

// pass returns when the chunk r may be answered.
func (g *gate) pass(r *http.Request) {
	if isFirstChunk(r) {
		return
	}
	g.mu.Lock()
	g.inflight++
	g.most = max(g.most, g.inflight)
	if g.inflight >= g.want {
		select {
		case <-g.full:
		default:
			close(g.full)
		}
	}
	g.mu.Unlock()
	// A guard, not a measure: a client that never has want chunks in
	// flight fails the test instead of hanging it.
	select {
	case <-g.full:
	case <-time.After(time.Minute):
		g.t.Errorf("fewer than %d chunks were ever in flight at once", g.want)
	case <-r.Context().Done():
	}
	g.mu.Lock()
	g.inflight--
	g.mu.Unlock()
}

// mostInFlight is the most chunks after the first seen in flight at once.
func (g *gate) mostInFlight() int {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.most
}

// TestDefaultConcurrency checks that an upload with Concurrency 0 has
// DefaultConcurrency chunks in flight after the first from a file, and
// DefaultStreamConcurrency from a stream: the server holds chunks until
// that many are in flight together, and never sees more.
func TestDefaultConcurrency(t *testing.T) {
	tests := []struct {
		name string
		want int
		src  func(t *testing.T, size int64) Source
	}{
		{"File", DefaultConcurrency, func(t *testing.T, size int64) Source { return File(sparseFile(t, size)) }},
		{"Reader", DefaultStreamConcurrency, func(_ *testing.T, size int64) Source {
			return Reader(onlyReader{io.LimitReader(zeros{}, size)}, size)
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			g := newGate(t, tt.want)
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				_, _ = io.Copy(io.Discard, r.Body)
				g.pass(r)
				reply(w, http.StatusCreated, `{"videoId":"vi4k0jvEUuaTdRAEjQ4Jfrgz"}`)
			}))
			t.Cleanup(srv.Close)
			c, err := New(WithBaseURL(srv.URL))
			require.NoError(t, err)
			t.Cleanup(c.CloseIdleConnections)
			// The first chunk, want held together, and two more.
			chunks := 1 + tt.want + 2
			res, err := c.Upload(t.Context(), testToken, tt.src(t, int64(chunks)*testChunk), &UploadOptions{ChunkSize: testChunk})
			require.NoError(t, err)
			assert.Equal(t, chunks, res.Chunks)
			assert.Equal(t, tt.want, g.mostInFlight(), "chunks in flight at once after the first")
		})
	}
}

// zeros reads as an endless run of zero bytes.
type zeros struct{}

func (zeros) Read(p []byte) (int, error) {
	clear(p)
	return len(p), nil
}

// TestCloseIdleConnections checks that the client's own pool of chunk
// connections is emptied, and that the client still uploads afterwards.
func TestCloseIdleConnections(t *testing.T) {
	p := newProtoServer(t, 1)
	c, err := New(WithBaseURL(p.srv.URL+basePath), WithHTTPClient(p.srv.Client()))
	require.NoError(t, err)
	src := func() Source { return ReaderAt(strings.NewReader(strings.Repeat("v", 3*int(testChunk))), 3*testChunk) }
	_, err = c.Upload(t.Context(), testToken, src(), &UploadOptions{ChunkSize: testChunk})
	require.NoError(t, err)
	before := p.opened.Load()
	c.CloseIdleConnections()
	_, err = c.Upload(t.Context(), testToken, src(), &UploadOptions{ChunkSize: testChunk, Concurrency: 1})
	require.NoError(t, err)
	assert.Equal(t, before+1, p.opened.Load(), "the second upload opened a new connection: the idle ones were closed")
	c.CloseIdleConnections()
}
