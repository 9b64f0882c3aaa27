package wrapper

import (
	"context"
	"crypto/tls"
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

// TestAdaptiveRule walks the rule on UploadOptions.Concurrency through
// its steps on a clock of its own: a level is measured from half a window
// after it began, over a window; the first is kept, the next ones while
// they send 10% more; one that does not goes back down for good; a push
// back takes one off at most once a window and ends the raising; nothing
// moves past the ceiling or once no chunk is left to start.
func TestAdaptiveRule(t *testing.T) {
	const w = time.Second
	var sent int64
	more := true
	g := newAdaptive(4, 7, w, -1, func() int64 { return sent }, func() bool { return more }, nil)
	t0 := g.from

	// Level 4: half a window to settle, then a window of measure.
	assert.Equal(t, tickWait, g.tick(t0.Add(w/4)))
	sent = 3 << 20 // what new connections' buffers took: not counted
	assert.Equal(t, tickWait, g.tick(t0.Add(w/2)), "the measure starts")
	assert.Equal(t, tickWait, g.tick(t0.Add(w)), "half a window measured")
	sent += 40 << 20
	assert.Equal(t, tickRaise, g.tick(t0.Add(w/2+w)), "the first level is kept: one more is tried")
	assert.Equal(t, tickWait, g.tick(t0.Add(2*w)), "nothing moves while the connection opens")
	assert.Equal(t, 4, g.level())
	g.raise(t0.Add(2 * w))
	assert.Equal(t, 5, g.level())

	// Level 5 sends 20% more: kept, one more.
	t1 := t0.Add(2 * w)
	g.tick(t1.Add(w / 2))
	sent += 48 << 20
	assert.Equal(t, tickRaise, g.tick(t1.Add(w/2+w)))
	g.raise(t1.Add(w/2 + w))
	assert.Equal(t, 6, g.level())

	// Level 6 sends 5% more than 5: back to 5, for good.
	t2 := t1.Add(w/2 + w)
	g.tick(t2.Add(w / 2))
	sent += 50 << 20
	assert.Equal(t, tickStop, g.tick(t2.Add(w/2+w)))
	assert.Equal(t, 5, g.level())
	assert.Equal(t, tickStop, g.tick(t2.Add(10*w)), "settled")

	t.Run("too little left to judge one more", func(t *testing.T) {
		var sent int64
		g := newAdaptive(4, 8, w, 100<<20, func() int64 { return sent }, func() bool { return true }, nil)
		t0 := g.from
		g.tick(t0.Add(w / 2))
		sent = 50 << 20 // 50 MiB/s: the 50 MiB left go in 1 s, a level takes 1.5 windows
		assert.Equal(t, tickStop, g.tick(t0.Add(w/2+w)))
		assert.Equal(t, 4, g.level())

		sent = 0
		g = newAdaptive(4, 8, w, 1<<30, func() int64 { return sent }, func() bool { return true }, nil)
		t0 = g.from
		g.tick(t0.Add(w / 2))
		sent = 40 << 20
		assert.Equal(t, tickRaise, g.tick(t0.Add(w/2+w)), "a GiB at 40 MiB/s leaves time for it")
	})
	t.Run("push back", func(t *testing.T) {
		g := newAdaptive(4, 8, w, -1, func() int64 { return 0 }, func() bool { return true }, nil)
		g.pushBack()
		g.pushBack() // within the same window: one step only
		assert.Equal(t, 3, g.level())
		assert.Equal(t, tickStop, g.tick(time.Now().Add(time.Hour)), "no raising after a push back")
		g.pushed = time.Now().Add(-w) // a window later
		g.pushBack()
		assert.Equal(t, 2, g.level())
	})
	t.Run("slow chunk", func(t *testing.T) {
		g := newAdaptive(4, 8, w, -1, func() int64 { return 0 }, func() bool { return true }, nil)
		for range 4 {
			require.NoError(t, g.acquire(t.Context()))
		}
		g.release(10<<20, time.Second)
		g.release(5<<20, 600*time.Millisecond) // slower, within 3x
		assert.Equal(t, 4, g.level())
		g.release(10<<20, 4*time.Second) // 4x the fastest
		assert.Equal(t, 3, g.level(), "an answer far slower than the others is the server pushing back")
	})
	t.Run("ceiling and the last chunks", func(t *testing.T) {
		g := newAdaptive(2, 2, w, -1, func() int64 { return 0 }, func() bool { return true }, nil)
		assert.Equal(t, tickStop, g.tick(time.Now().Add(time.Hour)), "at the ceiling")
		more = false
		g = newAdaptive(2, 8, w, -1, func() int64 { return 0 }, func() bool { return more }, nil)
		assert.Equal(t, tickStop, g.tick(time.Now().Add(time.Hour)), "no chunk left to start")
		g = newAdaptive(6, 3, w, -1, func() int64 { return 0 }, func() bool { return true }, nil)
		assert.Equal(t, 3, g.level(), "the start is within the ceiling")
	})
}

// TestAdaptiveGateBlocks checks that no more than the limit hold a slot,
// that a release lets a waiter in, and that a waiter leaves when its
// context ends.
func TestAdaptiveGateBlocks(t *testing.T) {
	g := newAdaptive(2, 4, time.Second, -1, func() int64 { return 0 }, func() bool { return true }, nil)
	require.NoError(t, g.acquire(t.Context()))
	require.NoError(t, g.acquire(t.Context()))
	got := make(chan error, 1)
	go func() { got <- g.acquire(t.Context()) }()
	select {
	case err := <-got:
		t.Fatalf("a third chunk went in flight at a limit of 2 (%v)", err)
	case <-time.After(50 * time.Millisecond):
	}
	g.release(0, 0)
	require.NoError(t, <-got)

	ctx, cancel := context.WithCancel(t.Context())
	go func() { got <- g.acquire(ctx) }()
	cancel()
	assert.ErrorIs(t, <-got, context.Canceled)
}

// throttled is an upload server whose every request reads its body at
// most perConn bytes a second, or, when shared, all of them together at
// most perConn: the link of a path where each connection has a window of
// its own, or one where they share a bottleneck. It can answer 503 to one
// chunk. It records the most requests it served at once.
type throttled struct {
	perConn float64
	shared  bool
	fail503 atomic.Int32 // chunks still to refuse
	mu      sync.Mutex
	next    time.Time // shared: when the link is free
	now     atomic.Int32
	most    atomic.Int32
}

func (s *throttled) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	n := s.now.Add(1)
	defer s.now.Add(-1)
	for {
		m := s.most.Load()
		if n <= m || s.most.CompareAndSwap(m, n) {
			break
		}
	}
	if r.Header.Get("Content-Range") != "" && !strings.HasPrefix(r.Header.Get("Content-Range"), "bytes 0-") && s.fail503.Add(-1) >= 0 {
		_, _ = io.Copy(io.Discard, r.Body)
		w.Header().Set("Retry-After", "0")
		w.WriteHeader(http.StatusServiceUnavailable)
		return
	}
	buf := make([]byte, 64<<10)
	start := time.Now()
	var read int64
	for {
		k, err := r.Body.Read(buf)
		read += int64(k)
		if s.shared {
			s.mu.Lock()
			at := s.next
			if now := time.Now(); at.Before(now) {
				at = now
			}
			at = at.Add(time.Duration(float64(k) / s.perConn * float64(time.Second)))
			s.next = at
			s.mu.Unlock()
			time.Sleep(time.Until(at))
		} else {
			time.Sleep(time.Until(start.Add(time.Duration(float64(read) / s.perConn * float64(time.Second)))))
		}
		if err != nil {
			break
		}
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusCreated)
	_, _ = io.WriteString(w, `{"videoId":"vi1adapt"}`)
}

// TestUploadConcurrencyAdapts uploads through servers that reward more
// connections, share one bottleneck, or push back, and checks how many
// chunks went at once: more than the start where each connection adds
// pace, up to the ceiling; short of the ceiling where they share one link;
// never above the start after a push back. On the code before the rule,
// every one of them saw the ceiling at once.
func TestUploadConcurrencyAdapts(t *testing.T) {
	const mib = 1 << 20
	path := filepath.Join(t.TempDir(), "v.bin")
	require.NoError(t, os.WriteFile(path, make([]byte, 60*mib), 0o600))
	cases := []struct {
		name     string
		srv      *throttled
		min, max int32
	}{
		{"each connection adds pace", &throttled{perConn: 10 * mib}, 5, 8},
		// One more is tried, and dropped; noise may make it two.
		{"one shared link", &throttled{perConn: 24 * mib, shared: true}, 4, 6},
		{"the server pushes back", func() *throttled { s := &throttled{perConn: 10 * mib}; s.fail503.Store(1); return s }(), 1, 4},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			// Small socket buffers on both ends, so that what the client
			// counts as sent is what the server took, give or take them.
			srv := httptest.NewUnstartedServer(tc.srv)
			srv.Config.ConnState = func(c net.Conn, s http.ConnState) {
				if tc, ok := c.(*net.TCPConn); ok && s == http.StateNew {
					_ = tc.SetReadBuffer(64 << 10)
				}
			}
			srv.Start()
			defer srv.Close()
			tr := http.DefaultTransport.(*http.Transport).Clone()
			tr.DialContext = func(ctx context.Context, network, addr string) (net.Conn, error) {
				c, err := (&net.Dialer{}).DialContext(ctx, network, addr)
				if tc, ok := c.(*net.TCPConn); ok {
					_ = tc.SetWriteBuffer(64 << 10)
				}
				return c, err
			}
			c, err := New(WithBaseURL(srv.URL), WithHTTPClient(&http.Client{Transport: tr}))
			require.NoError(t, err)
			c.adaptWindow = 300 * time.Millisecond
			res, err := c.Upload(t.Context(), testToken, File(path), &UploadOptions{ChunkSize: MinChunkSize, Concurrency: 8})
			require.NoError(t, err)
			assert.Equal(t, 12, res.Chunks)
			most := tc.srv.most.Load()
			assert.GreaterOrEqual(t, most, tc.min, "the most chunks at once")
			assert.LessOrEqual(t, most, tc.max, "the most chunks at once")
		})
	}
}

// TestConnectionsOpenAhead checks that over https the connections the
// chunks after the first need are opened while the first one goes: every
// connection the upload used was open before the first chunk's answer,
// the requests that opened them reached no handler, and no other
// connection was opened.
func TestConnectionsOpenAhead(t *testing.T) {
	var mu sync.Mutex
	var opened []time.Time
	var firstAnswered time.Time
	conns := map[string]bool{}
	var others atomic.Int32
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodPost || r.URL.Path != "/upload" {
			others.Add(1)
		}
		_, _ = io.Copy(io.Discard, r.Body)
		first := strings.HasPrefix(r.Header.Get("Content-Range"), "bytes 0-")
		if first {
			time.Sleep(300 * time.Millisecond) // a long way: the first answer takes a while
		}
		mu.Lock()
		conns[r.RemoteAddr] = true
		if first {
			firstAnswered = time.Now()
		}
		mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusCreated)
		_, _ = io.WriteString(w, `{"videoId":"vi1ahead"}`)
	}))
	srv.Config.ConnState = func(_ net.Conn, s http.ConnState) {
		if s == http.StateNew {
			mu.Lock()
			opened = append(opened, time.Now())
			mu.Unlock()
		}
	}
	srv.StartTLS()
	defer srv.Close()
	tr := srv.Client().Transport.(*http.Transport).Clone()
	tr.TLSClientConfig = &tls.Config{RootCAs: srv.Client().Transport.(*http.Transport).TLSClientConfig.RootCAs, MinVersion: tls.VersionTLS12}
	c, err := New(WithBaseURL(srv.URL), WithHTTPClient(&http.Client{Transport: tr}))
	require.NoError(t, err)
	path := filepath.Join(t.TempDir(), "v.bin")
	require.NoError(t, os.WriteFile(path, make([]byte, 5*MinChunkSize), 0o600))

	res, err := c.Upload(t.Context(), testToken, File(path), &UploadOptions{ChunkSize: MinChunkSize, Concurrency: 4})
	require.NoError(t, err)
	assert.Equal(t, 5, res.Chunks)
	mu.Lock()
	defer mu.Unlock()
	assert.Len(t, opened, 4, "the first chunk's connection and 3 for the 4 chunks at once after it, no other")
	assert.LessOrEqual(t, len(conns), 4, "the chunks used the connections opened")
	for i, at := range opened {
		assert.True(t, at.Before(firstAnswered), "connection %d was opened %s after the first chunk's answer", i, at.Sub(firstAnswered))
	}
	assert.Zero(t, others.Load(), "the requests that open connections reach no handler")
}

// TestConnectionsOpenAheadNeverHoldTheUpload uploads to a server that
// never answers the requests that open connections ahead: the upload ends
// as soon as its chunks are answered, not when those requests give up.
func TestConnectionsOpenAheadNeverHoldTheUpload(t *testing.T) {
	release := make(chan struct{})
	var held atomic.Int32
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodOptions {
			held.Add(1)
			select { // never answered while the upload runs
			case <-release:
			case <-r.Context().Done():
			}
			return
		}
		_, _ = io.Copy(io.Discard, r.Body)
		if strings.HasPrefix(r.Header.Get("Content-Range"), "bytes 0-") {
			time.Sleep(100 * time.Millisecond)
		}
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusCreated)
		_, _ = io.WriteString(w, `{"videoId":"vi1held"}`)
	}))
	srv.Config.DisableGeneralOptionsHandler = true // OPTIONS * reaches the handler
	srv.StartTLS()
	defer srv.Close()
	defer close(release)
	c, err := New(WithBaseURL(srv.URL), WithHTTPClient(srv.Client()))
	require.NoError(t, err)
	path := filepath.Join(t.TempDir(), "v.bin")
	require.NoError(t, os.WriteFile(path, make([]byte, 3*MinChunkSize), 0o600))

	start := time.Now()
	res, err := c.Upload(t.Context(), testToken, File(path), &UploadOptions{ChunkSize: MinChunkSize, Concurrency: 4})
	require.NoError(t, err)
	assert.Equal(t, 3, res.Chunks)
	assert.Positive(t, held.Load(), "connections were opened ahead")
	assert.Less(t, time.Since(start), warmTimeout/2, "the upload waited for the requests opening connections")
}
