package wrapper

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"
)

// EventKind says what an Event reports.
type EventKind int

// The kinds of Event.
const (
	// EventRetry: an attempt failed and the client waits Event.Wait before
	// the next one.
	EventRetry EventKind = iota + 1
	// EventIdle: an attempt has sent nothing and received nothing for
	// Event.Idle. It comes every IdleNotice while that lasts, until the
	// stall timeout abandons the attempt.
	EventIdle
	// EventServerPause: an answer asked the client to wait (a 429,
	// Retry-After, or X-RateLimit-Retry-After once the rate window is
	// spent), and every new request of the client, on every goroutine,
	// waits until then. It comes once per pause: an answer that lengthens a
	// pause under way says nothing more. Event.Wait is the
	// pause, capped by the client's RetryPolicy.MaxServerWait; Event.Status
	// is the status of the answer that asked for it, Event.Op its operation.
	EventServerPause
)

// IdleNotice is how often an attempt with no progress is reported as an
// EventIdle.
const IdleNotice = 10 * time.Second

// Event is something a call went through that a program may want to show
// while it waits: a retry and its wait, or an attempt with no progress.
// Its strings never hold the API key or an upload token.
type Event struct {
	// Kind says what happened.
	Kind EventKind
	// Op is the operation, named by its operationId.
	Op string
	// Attempt is the attempt that failed (EventRetry) or is idle
	// (EventIdle), counted from 1.
	Attempt int
	// Wait is how long the client waits before the next attempt (EventRetry).
	Wait time.Duration
	// ServerAsked reports whether the server named Wait (EventRetry).
	ServerAsked bool
	// Status is the HTTP status of the answer that failed, 0 when no answer
	// came (EventRetry).
	Status int
	// Err is why the attempt failed, when no answer came or its 2xx answer
	// was not the API's (EventRetry).
	Err error
	// Idle is how long nothing has moved (EventIdle).
	Idle time.Duration
}

// caller makes every request of a Client: the generated client's (so token
// calls and Raw()) through Do, and upload chunks through do. It is the one
// retry loop: one classifier, one policy, one stall rule for every attempt.
// Redirects are never followed: its http.Clients hand a 3xx back as an
// answer, which is not retried.
type caller struct {
	*config                     // the Client's: its key, base path, retry policy and logger
	hc            *http.Client  // every call's, unless the call names another
	chunks        *http.Client  // upload chunks' over HTTP/1.1; hc when there is none of its own
	stall         time.Duration // for every call but upload chunks
	tokenOverHTTP bool          // the upload token may go over plain http to any host
	events        func(Event)
	idleEvery     time.Duration
	sleep         func(context.Context, time.Duration) error
	tel           *telemetry // spans and metrics (otel.go); nil: none
	pace          *pacer     // the Client's: bandwidth limit, server-asked pauses, retry budget
}

// call is what one logical call asks of the loop.
type call struct {
	hc      *http.Client // nil: the caller's own
	op      string
	policy  RetryPolicy
	stall   time.Duration // 0: none
	attrs   []slog.Attr   // said in every log line, such as a chunk's index
	secrets []string      // scrubbed from every error text, with the API key
	// check, when set, judges each 2xx answer, whose body it reads: the
	// call returns the answer when check returns nil, and otherwise its
	// error, after retrying the request as a 5xx would be when the error
	// is an *unexpectedAnswer that may be retried (see retryableAnswer).
	check func(*http.Response) error
	// retried, when set, is told of every retry, before its wait.
	retried func(Event)
}

// Do makes req, retrying it as the client's policy allows. It implements
// the generated client's HttpRequestDoer. A failure to get an answer is an
// *OpError; any answer, 3xx to 5xx included, is returned as a response.
func (c *caller) Do(req *http.Request) (*http.Response, error) {
	op := operationOf(req.Method, strings.TrimPrefix(req.URL.Path, c.basePath))
	cl := call{op: op, policy: c.retry, stall: c.stall}
	if op == opUpload {
		cl.secrets = []string{req.URL.Query().Get("token")}
	}
	req, traced := c.tel.startCall(req, op)
	resp, n, err := c.do(req, cl)
	traced(resp, n, err)
	return resp, err
}

// do makes req as cl says and returns the last answer and the number of
// attempts made. An answer is returned whole: its body was read into memory
// within the attempt's stall rule; a 2xx whose body was cut short returns
// what came, then the cause.
func (c *caller) do(req *http.Request, cl call) (*http.Response, int, error) {
	ctx := req.Context()
	secrets := slices.Concat(cl.secrets, []string{c.apiKey})
	if err := c.checkScheme(req, cl.op); err != nil {
		return nil, 0, err
	}
	attempts := cl.policy.attempts()
	if req.Body != nil && req.Body != http.NoBody && req.GetBody == nil {
		attempts = 1 // the body cannot be sent again
	}
	t := c.tel.track(ctx, &cl)
	defer t.end()
	var paid int           // pacer: what the latest retry took from the retry budget
	var waitedTo time.Time // pacer: when the call's own wait before this attempt ended
	for attempt := 1; ; attempt++ {
		if err := c.pace.hold(ctx, c.sleep, waitedTo); err != nil {
			return nil, attempt - 1, wrapTransportError(cl.op, err, secrets...)
		}
		resp, err := c.attempt(t.attempt(req, attempt), attempt, cl)
		t.answered(resp, err)
		c.afterAttempt(ctx, resp, paid, cl)
		var h http.Header
		var unexpected error // a 2xx answer check did not understand
		switch {
		case err != nil:
			if attempt >= attempts || !retryableError(ctx, err) {
				return nil, attempt, wrapTransportError(cl.op, err, secrets...)
			}
		case attempt < attempts && retryableStatus(resp.StatusCode):
			h = resp.Header
		case cl.check != nil && resp.StatusCode >= 200 && resp.StatusCode <= 299:
			unexpected = cl.check(resp)
			if unexpected == nil {
				return resp, attempt, nil
			}
			if attempt >= attempts || !retryableAnswer(ctx, unexpected) {
				_ = resp.Body.Close()
				return nil, attempt, unexpected
			}
		default:
			return resp, attempt, nil
		}
		wait, ok := cl.policy.wait(attempt, h)
		if !ok {
			// The server asks for a longer wait than the policy allows:
			// its answer ends the call, and the caller decides.
			return resp, attempt, nil
		}
		cost, berr := c.spendRetry(resp, err, unexpected, cl, secrets)
		if berr != nil {
			return nil, attempt, berr
		}
		paid, waitedTo = cost, time.Now().Add(wait)
		ev := Event{Kind: EventRetry, Op: cl.op, Attempt: attempt, Wait: wait}
		if resp != nil {
			ev.Status = resp.StatusCode
			_, ev.ServerAsked = serverWait(h)
			ev.Err = unexpected
			_ = resp.Body.Close()
		} else {
			ev.Err = wrapTransportError(cl.op, err, secrets...)
		}
		c.logRetry(ctx, cl, ev)
		c.emit(ev)
		t.retry(ev)
		if cl.retried != nil {
			cl.retried(ev)
		}
		if err := c.sleep(ctx, wait); err != nil {
			return nil, attempt, wrapTransportError(cl.op, err, secrets...)
		}
	}
}

// attempt makes one try of req (the n-th) under the stall rule and reads
// the answer whole.
func (c *caller) attempt(req *http.Request, n int, cl call) (*http.Response, error) {
	ctx := req.Context()
	actx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	out := req.WithContext(actx)
	if n > 1 && req.GetBody != nil {
		body, err := req.GetBody()
		if err != nil {
			return nil, err
		}
		out.Body = body
	}
	w := startStallWatch(cl.stall, c.idleEvery, cancel, func(idle time.Duration) {
		c.emit(Event{Kind: EventIdle, Op: cl.op, Attempt: n, Idle: idle})
	})
	defer w.stop()
	if out.Body != nil && out.Body != http.NoBody {
		out.Body = &watchedBody{ReadCloser: out.Body, w: w}
	}
	out.Body = c.pace.paced(actx, out.Body, w.moved) // the client's bandwidth limit
	// stalled gives the stall as the cause of a failure it provoked.
	stalled := func(err error) error {
		if cause := context.Cause(actx); ctx.Err() == nil && errors.Is(cause, ErrStalled) {
			return cause
		}
		return err
	}

	hc := c.hc
	if cl.hc != nil {
		hc = cl.hc
	}
	start := time.Now()
	resp, err := hc.Do(out)
	if err != nil {
		return nil, stalled(err)
	}
	w.answered()
	if c.logger.Enabled(ctx, slog.LevelDebug) {
		// The operation names the path: the path and query themselves
		// may hold a token.
		attrs := append([]slog.Attr{slog.String("op", cl.op), slog.String("method", req.Method),
			slog.Int("attempt", n), slog.Int("status", resp.StatusCode),
			slog.Duration("answered_in", time.Since(start))}, cl.attrs...)
		c.logger.LogAttrs(ctx, slog.LevelDebug, "avupload: request", attrs...)
	}
	limit := int64(maxErrorBody)
	ok := resp.StatusCode >= 200 && resp.StatusCode <= 299
	if ok {
		limit = maxSuccessBody
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, limit+1))
	_ = resp.Body.Close()
	switch {
	case err != nil:
		err = stalled(err)
	case int64(len(body)) > limit && ok:
		err = fmt.Errorf("the answer holds more than %d bytes", limit)
	}
	if int64(len(body)) > limit {
		body = body[:limit]
	}
	var r io.Reader = bytes.NewReader(body)
	if err != nil && ok {
		r = io.MultiReader(r, &failingReader{err})
	}
	resp.Body = io.NopCloser(r)
	return resp, nil
}

// failingReader fails every read with err.
type failingReader struct{ err error }

func (f *failingReader) Read([]byte) (int, error) { return 0, f.err }

// checkScheme refuses to send an upload token over plain http to anything
// but a loopback host, unless the client was told to allow it.
func (c *caller) checkScheme(req *http.Request, op string) error {
	if op != opUpload || c.tokenOverHTTP || req.URL.Scheme != "http" || isLoopback(req.URL.Hostname()) {
		return nil
	}
	return invalidInput("refusing to send the upload token over plain http to %s; use https", req.URL.Host)
}

// checkTokenScheme refuses, before anything is read or sent, an upload
// whose token would go over plain http to a host that is not loopback.
func (c *Client) checkTokenScheme() error {
	u, err := url.Parse(c.baseURL + "/upload")
	if err != nil {
		return invalidInput("base URL: %v", err)
	}
	return c.caller.checkScheme(&http.Request{URL: u}, opUpload)
}

func (c *caller) emit(ev Event) {
	if c.events != nil {
		c.events(ev)
	}
}

func (c *caller) logRetry(ctx context.Context, cl call, ev Event) {
	attrs := append([]slog.Attr{slog.String("op", cl.op)}, cl.attrs...)
	attrs = append(attrs, slog.Int("attempt", ev.Attempt), slog.Duration("wait", ev.Wait))
	if ev.Status != 0 {
		attrs = append(attrs, slog.Int("status", ev.Status))
	}
	if ev.Err != nil {
		attrs = append(attrs, slog.String("error", ev.Err.Error()))
	}
	c.logger.LogAttrs(ctx, slog.LevelWarn, "avupload: retrying", attrs...)
}
