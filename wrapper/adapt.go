package wrapper

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"time"
)

// The adaptive concurrency rule (see UploadOptions.Concurrency).
const (
	// adaptWindow is how long each level of concurrency is measured before
	// the next is tried (Client.adaptWindow, in tests, when set).
	adaptWindow = 2 * time.Second
	// adaptGain is how much more a level must send than the one below it
	// to be kept: 10%.
	adaptGain = 0.10
	// adaptSlow is how many times slower than the fastest chunk at the
	// same level a chunk must be for its answer to count as the server
	// pushing back.
	adaptSlow = 3
)

// adaptive bounds the chunks in flight of one pass, at a limit that starts at
// the start concurrency and moves between 1 and the ceiling by the rule on
// UploadOptions.Concurrency: up by one while each level sends at least
// adaptGain more than the one below it, the server does not push back and
// what is left lasts long enough to judge one more level;
// back down by one (and no more up) when a level does not, or when the
// server pushes back: a retry (a 429, a 5xx, a failure to answer, a stall)
// or a chunk adaptSlow times slower than the fastest at its level.
type adaptive struct {
	ceiling int
	window  time.Duration
	total   int64        // the bytes the pass sends in all; -1 when unknown
	sent    func() int64 // bytes sent so far by the pass
	more    func() bool  // whether chunks are left to start
	warm    func()       // opens a connection for one more chunk in flight; nil: none

	mu        sync.Mutex
	wake      chan struct{} // closed and replaced when a slot may have freed
	limit     int
	inflight  int
	settled   bool      // no more raising
	raising   bool      // a connection is being warmed for the next level
	measuring bool      // from is the start of the level's measure, not of the level
	from      time.Time // when the level, or its measure, began
	fromSent  int64     // g.sent() at from, once measuring
	below     float64   // bytes per second of the level below; 0 before the first window
	fastest   float64   // fewest seconds per byte of a chunk at this level; 0: none yet
	pushed    time.Time // when the limit last came down for a push back
}

// newAdaptive makes the gate of a pass. sent and more are called without
// the gate's lock held, or with it: they must not call the gate.
func newAdaptive(start, ceiling int, window time.Duration, total int64, sent func() int64, more func() bool, warm func()) *adaptive {
	return &adaptive{ceiling: ceiling, window: window, total: total, sent: sent, more: more, warm: warm, limit: min(start, ceiling),
		wake: make(chan struct{}), from: time.Now()}
}

// acquire waits for a slot, or for ctx to end.
func (g *adaptive) acquire(ctx context.Context) error {
	for {
		g.mu.Lock()
		if g.inflight < g.limit {
			g.inflight++
			g.mu.Unlock()
			return nil
		}
		wake := g.wake
		g.mu.Unlock()
		select {
		case <-wake:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

// release frees a slot. A chunk of n bytes that took d to send and be
// answered is measured against the others of its level; n is 0 for a
// chunk that was not answered.
func (g *adaptive) release(n int64, d time.Duration) {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.inflight--
	g.signal()
	if n <= 0 || d <= 0 {
		return
	}
	perByte := d.Seconds() / float64(n)
	switch {
	case g.fastest == 0 || perByte < g.fastest:
		g.fastest = perByte
	case perByte > adaptSlow*g.fastest:
		g.pushBackLocked()
	}
}

// pushBack lowers the limit by one, at most once a window, and ends the
// raising: the server asked for less.
func (g *adaptive) pushBack() {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.pushBackLocked()
}

func (g *adaptive) pushBackLocked() {
	g.settled = true
	if now := time.Now(); g.limit > 1 && now.Sub(g.pushed) >= g.window {
		g.limit--
		g.pushed = now
		g.fastest = 0
	}
}

func (g *adaptive) signal() {
	close(g.wake)
	g.wake = make(chan struct{})
}

// level returns the current limit.
func (g *adaptive) level() int {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.limit
}

// run measures each level and moves the limit until ctx ends, the limit
// settles or reaches the ceiling, or no chunk is left to start.
func (g *adaptive) run(ctx context.Context) {
	if g.level() >= g.ceiling {
		return
	}
	t := time.NewTicker(g.window / 4)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case now := <-t.C:
			switch g.tick(now) {
			case tickStop:
				return
			case tickRaise:
				if g.warm != nil {
					g.warm()
				}
				g.raise(time.Now())
			}
		}
	}
}

type tickResult int

const (
	tickWait tickResult = iota
	tickRaise
	tickStop
)

// tick moves the measure of the current level on, at now. A level is
// measured over g.window, from half a window after it began: what a new
// connection's socket buffers take at once is not the level's pace.
func (g *adaptive) tick(now time.Time) tickResult {
	sent := g.sent()
	g.mu.Lock()
	defer g.mu.Unlock()
	switch {
	case g.settled || g.limit >= g.ceiling || !g.more():
		return tickStop
	case g.raising:
		return tickWait
	case !g.measuring:
		if now.Sub(g.from) >= g.window/2 {
			g.measuring, g.from, g.fromSent = true, now, sent
		}
		return tickWait
	case now.Sub(g.from) < g.window:
		return tickWait
	}
	rate := float64(sent-g.fromSent) / now.Sub(g.from).Seconds()
	if g.below > 0 && rate < g.below*(1+adaptGain) {
		// One more chunk in flight did not pay: back to the level
		// below, for good.
		g.limit--
		g.settled = true
		return tickStop
	}
	if g.total >= 0 && float64(g.total-sent) < rate*1.5*g.window.Seconds() {
		// What is left goes before one more level could be judged: a
		// probe would cost a connection and show nothing.
		g.settled = true
		return tickStop
	}
	g.below = rate
	g.raising = true
	return tickRaise
}

// raise adds a chunk in flight, after tick said to and the connection for
// it was opened, unless the server pushed back meanwhile; the new level's
// measure begins at now.
func (g *adaptive) raise(now time.Time) {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.raising, g.measuring, g.from = false, false, now
	if !g.settled && g.limit < g.ceiling {
		g.limit++
		g.fastest = 0
		g.signal()
	}
}

// warmTimeout bounds the opening of connections ahead of chunks.
const warmTimeout = 10 * time.Second

// warm opens n connections of the Client's HTTP/1.1 pool for upload chunks
// ahead of the chunks that will need them, so that their TCP and TLS
// handshakes are done when the chunks start: it sends n requests at once
// for nothing, OPTIONS * (RFC 9110, 9.3.7: about the server, no resource),
// whose connections go back to the pool, idle, once answered. Whatever the
// answer, or its failure, it changes nothing else: the requests carry no
// token, are not retried, and do not pass the Client's pacer. It does
// nothing over plain http (a connection there costs no handshake worth
// saving), over HTTP/2 (one connection serves every chunk) or when chunks
// go through a transport given with WithHTTPClient that is not an
// *http.Transport (its pooling is its own).
func (c *Client) warm(ctx context.Context, http2 bool, n int) {
	if n <= 0 || http2 || c.chunkPool == nil || !strings.HasPrefix(c.baseURL, "https://") {
		return
	}
	ctx, cancel := context.WithTimeout(ctx, warmTimeout)
	defer cancel()
	var wg sync.WaitGroup
	for range n {
		wg.Go(func() {
			req, err := http.NewRequestWithContext(ctx, http.MethodOptions, c.baseURL, nil)
			if err != nil {
				return
			}
			req.URL.Path, req.URL.RawPath, req.URL.Opaque = "", "", "*"
			resp, err := c.caller.chunks.Do(req)
			if err != nil {
				c.logger.LogAttrs(ctx, slog.LevelDebug, "avupload: opening a connection ahead of a chunk", slog.String("error", err.Error()))
				return
			}
			_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, maxErrorBody))
			_ = resp.Body.Close()
		})
	}
	wg.Wait()
}
