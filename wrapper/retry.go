package wrapper

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// RetryPolicy says when and how long to wait before trying a request again.
// It is the one policy of the client: token calls, Raw() calls and every
// chunk of an upload go through the same loop and the same rules.
//
//   - Retried: failures to get an answer that may pass (a refused or reset
//     connection, a connection closed before the answer, a timeout, a stall:
//     see [ErrStalled]), and 408, 429 and 5xx answers.
//   - Never retried: any other answer (no other 4xx, no 3xx: redirects are
//     never followed, see [ErrRedirected]); a failure that would recur (a
//     host name that does not resolve, a TLS or certificate error); the
//     caller's own cancellation; a request whose body cannot be sent again;
//     a 2xx whose body was cut short (the request did its work), but for
//     an upload chunk's (next).
//   - An upload chunk answered 2xx with anything but the API's answer
//     naming the video (an HTML page, {}, an empty or cut body, another
//     videoId) is retried like a 5xx: nothing says the chunk was stored.
//     The request that makes a new video is the exception, as a retry
//     could make a second video.
//   - Waits grow exponentially with full jitter: the n-th is drawn from
//     [0, min(MaxBackoff, InitialBackoff*2^(n-1))].
//   - A wait the server names replaces that draw: Retry-After (seconds or a
//     date), or X-RateLimit-Retry-After once X-RateLimit-Remaining says the
//     rate window is spent. It is honoured as given up to MaxServerWait; a
//     server asking for longer ends the call at once with its answer (an
//     [*APIError] matching [ErrRateLimited] or [ErrServer] whose ServerWait
//     says how long it asked for), so that the caller decides.
//
// The zero value makes a single attempt: no retries.
type RetryPolicy struct {
	// MaxAttempts is the number of tries in all, the first included. 0 or 1 means no retry.
	MaxAttempts int
	// InitialBackoff caps the first wait; each later cap doubles. 0 means DefaultRetryPolicy's.
	InitialBackoff time.Duration
	// MaxBackoff caps any computed wait. 0 means DefaultRetryPolicy's.
	MaxBackoff time.Duration
	// MaxServerWait is the longest wait a server may ask for and get; a
	// longer one ends the call. 0 means DefaultMaxServerWait.
	MaxServerWait time.Duration
}

// DefaultMaxServerWait is the longest wait a server may ask for unless
// RetryPolicy.MaxServerWait says otherwise: one minute, the length of the
// API's rate-limit window.
const DefaultMaxServerWait = time.Minute

// DefaultRetryPolicy is the policy a client uses unless told otherwise: four
// attempts, waits drawn from [0, 500ms), [0, 1s), [0, 2s), capped at 30s;
// a server may ask for at most DefaultMaxServerWait.
func DefaultRetryPolicy() RetryPolicy {
	return RetryPolicy{MaxAttempts: 4, InitialBackoff: 500 * time.Millisecond, MaxBackoff: 30 * time.Second, MaxServerWait: DefaultMaxServerWait}
}

// NoRetries is a policy that makes exactly one attempt.
func NoRetries() RetryPolicy { return RetryPolicy{MaxAttempts: 1} }

func (p RetryPolicy) validate() error {
	if p.MaxAttempts < 0 || p.InitialBackoff < 0 || p.MaxBackoff < 0 || p.MaxServerWait < 0 {
		return invalidInput("retry policy: negative values are not allowed")
	}
	if p.MaxBackoff > 0 && p.InitialBackoff > p.MaxBackoff {
		return invalidInput("retry policy: InitialBackoff %s is above MaxBackoff %s", p.InitialBackoff, p.MaxBackoff)
	}
	return nil
}

// attempts is the number of tries the policy allows, at least one.
func (p RetryPolicy) attempts() int { return max(p.MaxAttempts, 1) }

// maxServerWait is the longest server-named wait the policy honours.
func (p RetryPolicy) maxServerWait() time.Duration {
	if p.MaxServerWait == 0 {
		return DefaultMaxServerWait
	}
	return p.MaxServerWait
}

// backoff is the wait after the attempt-th try (counted from 1) failed: a
// full-jitter draw from [0, min(MaxBackoff, InitialBackoff*2^(attempt-1))].
func (p RetryPolicy) backoff(attempt int) time.Duration {
	def := DefaultRetryPolicy()
	initial, ceiling := p.InitialBackoff, p.MaxBackoff
	if initial == 0 {
		initial = def.InitialBackoff
	}
	if ceiling == 0 {
		ceiling = def.MaxBackoff
	}
	limit := ceiling
	if shift := attempt - 1; shift < 32 && initial<<shift > 0 && initial<<shift < ceiling {
		limit = initial << shift
	}
	return time.Duration(rand.Int64N(int64(limit) + 1))
}

// wait is how long to wait after the attempt-th try failed with an answer
// whose header is h (nil for no answer), and whether the policy accepts it:
// a server-named wait above MaxServerWait is refused.
func (p RetryPolicy) wait(attempt int, h http.Header) (time.Duration, bool) {
	if d, ok := serverWait(h); ok {
		return d, d <= p.maxServerWait()
	}
	return p.backoff(attempt), true
}

// serverWait reads how long the server asked the client to wait:
// X-RateLimit-Retry-After (seconds) first, then the standard Retry-After
// (seconds or an HTTP date).
//
// The API sends X-RateLimit-Retry-After on every answer, as the time until
// its rate window resets; it asks for a wait only once the window is spent.
// So it is honoured only when X-RateLimit-Remaining is 0 or absent: a 503
// with requests to spare is retried after the usual backoff, not after up to
// a minute.
func serverWait(h http.Header) (time.Duration, bool) {
	if h == nil {
		return 0, false
	}
	if v := strings.TrimSpace(h.Get("X-RateLimit-Retry-After")); v != "" && rateWindowSpent(h) {
		if d, ok := seconds(v); ok {
			return d, true
		}
	}
	if v := strings.TrimSpace(h.Get("Retry-After")); v != "" {
		if d, ok := seconds(v); ok {
			return d, true
		}
		if t, err := http.ParseTime(v); err == nil {
			return max(time.Until(t), 0), true
		}
	}
	return 0, false
}

// seconds parses a non-negative number of seconds, saturating where a
// time.Duration ends.
func seconds(v string) (time.Duration, bool) {
	n, err := strconv.ParseInt(v, 10, 64)
	if err != nil {
		if errors.Is(err, strconv.ErrRange) && !strings.HasPrefix(v, "-") {
			return time.Duration(1<<63 - 1), true
		}
		return 0, false
	}
	if n < 0 {
		return 0, false
	}
	if n > int64((1<<63-1)/time.Second) {
		return time.Duration(1<<63 - 1), true
	}
	return time.Duration(n) * time.Second, true
}

// rateWindowSpent reports whether the answer says no request is left in the
// current rate window, or says nothing about it.
func rateWindowSpent(h http.Header) bool {
	v := strings.TrimSpace(h.Get("X-RateLimit-Remaining"))
	if v == "" {
		return true
	}
	n, err := strconv.Atoi(v)
	return err != nil || n <= 0
}

// retryableStatus reports whether an answer with this status may be retried.
func retryableStatus(code int) bool {
	return code == http.StatusRequestTimeout || code == http.StatusTooManyRequests || code >= 500
}

// retryableError reports whether a failure to get any answer may be retried.
// It judges by the error's types alone, never by its text: a stall, a
// dial, read or write failure of the connection, a reset, a connection
// closed before the answer (io.EOF, io.ErrUnexpectedEOF) or a timeout may
// pass; the caller's own cancellation, a name that does not resolve, TLS
// and certificate failures, and a request body whose source changed
// (ErrSourceChanged) would recur every time.
func retryableError(ctx context.Context, err error) bool {
	if err == nil || ctx.Err() != nil || errors.Is(err, context.Canceled) {
		return false
	}
	if errors.Is(err, ErrStalled) {
		return true
	}
	if errors.Is(err, ErrSourceChanged) {
		// A request body whose source ended early, whatever the
		// connection made of it (a readfrom failure): it would again.
		return false
	}
	// Every failure of http.Client.Do is a *url.Error, itself a net.Error:
	// judge what it wraps.
	if uerr := (*url.Error)(nil); errors.As(err, &uerr) {
		err = uerr.Err
	}
	var (
		dnsErr       *net.DNSError
		certErr      *tls.CertificateVerificationError
		unknownCA    x509.UnknownAuthorityError
		badHost      x509.HostnameError
		badCert      x509.CertificateInvalidError
		tlsHeaderErr tls.RecordHeaderError
		opErr        *net.OpError
		netErr       net.Error
	)
	switch {
	case errors.As(err, &dnsErr):
		return !dnsErr.IsNotFound && (dnsErr.IsTimeout || dnsErr.IsTemporary)
	case errors.As(err, &certErr), errors.As(err, &unknownCA), errors.As(err, &badHost),
		errors.As(err, &badCert), errors.As(err, &tlsHeaderErr):
		return false
	case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF),
		errors.Is(err, syscall.ECONNRESET), errors.Is(err, syscall.ECONNREFUSED),
		errors.Is(err, syscall.ECONNABORTED), errors.Is(err, syscall.EPIPE),
		errors.Is(err, context.DeadlineExceeded):
		return true
	case errors.As(err, &opErr):
		// readfrom and writeto are the writes and reads of a body the
		// connection copies itself.
		switch opErr.Op {
		case "dial", "read", "write", "readfrom", "writeto":
			return true
		}
		return false
	case errors.As(err, &netErr):
		return netErr.Timeout()
	}
	return false
}

// retryableAnswer reports whether a 2xx answer that the call's check did
// not understand may be retried: an *unexpectedAnswer that says so, unless
// the caller's context ended. Like retryableError it judges by type.
func retryableAnswer(ctx context.Context, err error) bool {
	var ua *unexpectedAnswer
	return ctx.Err() == nil && errors.As(err, &ua) && ua.retryable()
}

// sleepCtx waits d or until ctx is done, whichever comes first.
func sleepCtx(ctx context.Context, d time.Duration) error {
	if d <= 0 {
		return ctx.Err()
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}
