package wrapper

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"time"

	"golang.org/x/time/rate"
)

// ErrRetryBudget matches a failure that would have been retried but was
// not, because the client's retries failed too often of late and spent its
// retry budget (see WithRetryBudget). The error also wraps the failure
// itself: an *APIError, or a connection error.
var ErrRetryBudget = errors.New("avupload: the server is failing too often; not retrying")

// DefaultRetryBudget is the capacity of a client's retry budget unless
// WithRetryBudget says otherwise: 100 retries in a row with no success in
// between, 50 after timeouts.
const DefaultRetryBudget = 500

const (
	retryCost        = 5  // what a retry takes from the budget
	timeoutRetryCost = 10 // what a retry after a timeout or a stall takes
	successRefund    = 1  // what an answer at the first attempt puts back
	// maxBandwidthPiece caps each read of a request body under a
	// bandwidth limit.
	maxBandwidthPiece = 64 << 10
)

// WithBandwidthLimit caps the bytes per second of request bodies the client
// sends, all its requests together: every chunk in flight of every upload
// (and every file of a batch made with the client), token calls and Raw()
// calls share the one limit. It is a token bucket filled at bytesPerSecond
// that holds a tenth of a second's worth, at least 64 KiB: a body is read
// in pieces of at most 64 KiB (a tenth of a second's worth below 640 KiB/s),
// each sent once the bucket holds it, so that no second carries more than
// 1.1 times the limit, and a request that waits for a moment (the scheduler
// of a busy machine, a chunk between two requests) does not lose its share.
// Waiting for the bucket counts as progress for the stall timeout.
// 0 means no limit, the default; a negative value is refused.
func WithBandwidthLimit(bytesPerSecond int64) Option {
	return func(s *settings) error {
		if bytesPerSecond < 0 {
			return invalidInput("bandwidth limit %d: want 0 (none) or a positive number of bytes per second", bytesPerSecond)
		}
		s.bwlimit = bytesPerSecond
		return nil
	}
}

// WithRetryBudget sets the capacity of the client's retry budget, shared by
// all its requests, so that a storm of failures across many uploads cannot
// multiply the requests the client sends (in the spirit of aws-sdk-go-v2's
// retry token bucket). The budget starts full. Each retry takes 5 from it,
// 10 when the attempt timed out or stalled; an answer that is not a
// failure (anything but 408, 429 or 5xx) puts back 1 when it came at the
// first attempt, or what the retry that led to it took. When a retry would
// take more than is left, the call fails at once with an error matching
// ErrRetryBudget (and the failure itself). A server that fails now and then
// never spends the budget: one upload's retries cost at most 15 of the
// default DefaultRetryBudget (500), which allows 100 retries in a row without
// a success. 0 turns the budget off: every call retries as its RetryPolicy
// allows. A negative capacity is refused.
func WithRetryBudget(capacity int) Option {
	return func(s *settings) error {
		if capacity < 0 {
			return invalidInput("retry budget %d: want 0 (none) or a positive capacity", capacity)
		}
		s.budget = capacity
		return nil
	}
}

// pacer is what every request of a Client passes: the bandwidth limit, the
// pause a server asked for, and the retry budget. It is safe for
// concurrent use; a nil *pacer paces nothing.
type pacer struct {
	bw      *rate.Limiter // nil: no bandwidth limit
	piece   int           // the most read of a body at once, under bw
	maxWait time.Duration // the longest pause a server may impose

	mu        sync.Mutex
	notBefore time.Time // no new attempt starts before
	capacity  int       // 0: no budget
	tokens    int
}

func newPacer(bytesPerSecond int64, budget int, maxWait time.Duration) *pacer {
	p := &pacer{maxWait: maxWait, capacity: budget, tokens: budget}
	if bytesPerSecond > 0 {
		p.piece = int(min(maxBandwidthPiece, max(bytesPerSecond/10, 1)))
		bucket := min(max(int64(p.piece), bytesPerSecond/10), 1<<30) // an int on 32-bit platforms too
		p.bw = rate.NewLimiter(rate.Limit(bytesPerSecond), int(bucket))
	}
	return p
}

// hold waits, with sleep, until the pause a server asked for is over,
// unless the call's own wait already lasted until then (ownUntil: the end
// of the wait before this attempt, zero for none).
func (p *pacer) hold(ctx context.Context, sleep func(context.Context, time.Duration) error, ownUntil time.Time) error {
	if p == nil {
		return nil
	}
	p.mu.Lock()
	until := p.notBefore
	p.mu.Unlock()
	// A pause that ends with the call's own wait is covered by it: the two
	// are counted from the same answer at instants a few microseconds apart.
	if !until.After(ownUntil.Add(holdSlack)) {
		return nil
	}
	if d := time.Until(until); d > 0 {
		return sleep(ctx, d)
	}
	return nil
}

// holdSlack is how far past a call's own wait a pause may end and still
// count as covered by that wait.
const holdSlack = 50 * time.Millisecond

// pause holds every new attempt for d from now (at most maxWait). It
// reports whether this starts a pause, rather than lengthening or falling
// within one under way.
func (p *pacer) pause(d time.Duration) (time.Duration, bool) {
	if p == nil || d <= 0 {
		return 0, false
	}
	d = min(d, p.maxWait)
	now := time.Now()
	until := now.Add(d)
	p.mu.Lock()
	defer p.mu.Unlock()
	fresh := !p.notBefore.After(now)
	if until.After(p.notBefore) {
		p.notBefore = until
	}
	return d, fresh
}

// spend takes cost from the budget, and reports whether it held that much.
func (p *pacer) spend(cost int) bool {
	if p == nil || p.capacity == 0 {
		return true
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.tokens < cost {
		return false
	}
	p.tokens -= cost
	return true
}

// refund puts n back in the budget, up to its capacity.
func (p *pacer) refund(n int) {
	if p == nil || p.capacity == 0 {
		return
	}
	p.mu.Lock()
	p.tokens = min(p.capacity, p.tokens+n)
	p.mu.Unlock()
}

// paced returns body paced by the bandwidth limit under ctx; moved is
// told of each piece let through. Without a limit, or a body, it is body.
func (p *pacer) paced(ctx context.Context, body io.ReadCloser, moved func()) io.ReadCloser {
	if p == nil || p.bw == nil || body == nil || body == http.NoBody {
		return body
	}
	return &pacedBody{ReadCloser: body, ctx: ctx, p: p, moved: moved}
}

// pacedBody is a request body read in pieces of at most the piece size,
// each let through once the bandwidth bucket holds it.
type pacedBody struct {
	io.ReadCloser
	ctx   context.Context
	p     *pacer
	moved func()
}

func (b *pacedBody) Read(buf []byte) (int, error) {
	if len(buf) > b.p.piece {
		buf = buf[:b.p.piece]
	}
	n, err := b.ReadCloser.Read(buf)
	if n > 0 {
		if werr := b.p.bw.WaitN(b.ctx, n); werr != nil {
			if cause := context.Cause(b.ctx); cause != nil {
				werr = cause
			}
			return 0, werr
		}
		b.moved()
	}
	return n, err
}

// afterAttempt is what the pacer learns from an attempt's outcome: an
// answer naming a wait pauses every new request of the client (told once
// per pause as an EventServerPause); an answer that is no failure refunds
// the budget. paid is what the call's latest retry took from the budget.
// A call that goes on retries after it and pays again.
func (c *caller) afterAttempt(ctx context.Context, resp *http.Response, paid int, cl call) {
	if resp == nil {
		return
	}
	if d, ok := serverWait(resp.Header); ok {
		if d, fresh := c.pace.pause(d); fresh {
			c.logger.LogAttrs(ctx, slog.LevelWarn, "avupload: the server asked to wait; every request waits",
				slog.String("op", cl.op), slog.Int("status", resp.StatusCode), slog.Duration("wait", d))
			c.emit(Event{Kind: EventServerPause, Op: cl.op, Wait: d, ServerAsked: true, Status: resp.StatusCode})
		}
	}
	if !retryableStatus(resp.StatusCode) {
		c.pace.refund(max(paid, successRefund))
	}
}

// spendRetry takes a retry's cost from the budget before the call retries
// after an answer (resp), a failure to get one (err) or a 2xx the call did
// not understand (unexpected). It returns the cost taken, or, when the
// budget is spent, the call's error: the failure itself, matching
// ErrRetryBudget too. resp's body is then closed.
func (c *caller) spendRetry(resp *http.Response, err, unexpected error, cl call, secrets []string) (int, error) {
	cost := retryCost
	if resp == nil && isTimeout(err) {
		cost = timeoutRetryCost
	}
	if c.pace.spend(cost) {
		return cost, nil
	}
	var cause error
	switch {
	case resp == nil:
		cause = wrapTransportError(cl.op, err, secrets...)
	case unexpected != nil:
		_ = resp.Body.Close()
		cause = unexpected
	default:
		cause = readAPIError(cl.op, resp, secrets...)
	}
	return 0, &OpError{Op: cl.op, Err: &budgetError{op: cl.op, err: cause}}
}

// isTimeout reports whether err is an attempt that timed out or stalled.
func isTimeout(err error) bool {
	var ne interface{ Timeout() bool }
	return errors.Is(err, ErrStalled) || errors.Is(err, context.DeadlineExceeded) ||
		errors.As(err, &ne) && ne.Timeout()
}

// budgetError is a failure not retried because the retry budget is spent.
type budgetError struct {
	op  string
	err error
}

func (e *budgetError) Error() string {
	last := strings.TrimPrefix(e.err.Error(), "avupload: ")
	last = strings.TrimPrefix(last, e.op+": ")
	return "the server is failing too often, so this failure is not retried (the retry budget of the client is spent): " + last
}

func (e *budgetError) Unwrap() []error { return []error{ErrRetryBudget, e.err} }
