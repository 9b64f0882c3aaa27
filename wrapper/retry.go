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
// Retries cover connection errors, 408, 429 and 5xx answers; no other 4xx is
// ever retried, nor a request whose body cannot be sent again. Waits grow
// exponentially with full jitter, except that a server's X-RateLimit-Retry-After
// or Retry-After is honoured as given.
//
// The zero value makes a single attempt: no retries.
type RetryPolicy struct {
	// MaxAttempts is the number of tries in all, the first included. 0 or 1 means no retry.
	MaxAttempts int
	// InitialBackoff caps the first wait; each later cap doubles. 0 means DefaultRetryPolicy's.
	InitialBackoff time.Duration
	// MaxBackoff caps any computed wait. 0 means DefaultRetryPolicy's.
	MaxBackoff time.Duration
}

// DefaultRetryPolicy is the policy a client uses unless told otherwise: four
// attempts, waits drawn from [0, 500ms), [0, 1s), [0, 2s), capped at 30s.
func DefaultRetryPolicy() RetryPolicy {
	return RetryPolicy{MaxAttempts: 4, InitialBackoff: 500 * time.Millisecond, MaxBackoff: 30 * time.Second}
}

// NoRetries is a policy that makes exactly one attempt.
func NoRetries() RetryPolicy { return RetryPolicy{MaxAttempts: 1} }

func (p RetryPolicy) validate() error {
	if p.MaxAttempts < 0 || p.InitialBackoff < 0 || p.MaxBackoff < 0 {
		return invalidInput("retry policy: negative values are not allowed")
	}
	if p.MaxBackoff > 0 && p.InitialBackoff > p.MaxBackoff {
		return invalidInput("retry policy: InitialBackoff %s is above MaxBackoff %s", p.InitialBackoff, p.MaxBackoff)
	}
	return nil
}

// attempts is the number of tries the policy allows, at least one.
func (p RetryPolicy) attempts() int { return max(p.MaxAttempts, 1) }

// backoff is the wait after the attempt-th try (counted from 1) failed. A
// server-given wait in h wins; otherwise a full-jitter draw from
// [0, min(MaxBackoff, InitialBackoff*2^(attempt-1))).
func (p RetryPolicy) backoff(attempt int, h http.Header) time.Duration {
	if d, ok := serverWait(h); ok {
		return d
	}
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
		if n, err := strconv.Atoi(v); err == nil && n >= 0 {
			return time.Duration(n) * time.Second, true
		}
	}
	if v := strings.TrimSpace(h.Get("Retry-After")); v != "" {
		if n, err := strconv.Atoi(v); err == nil && n >= 0 {
			return time.Duration(n) * time.Second, true
		}
		if t, err := http.ParseTime(v); err == nil {
			return max(time.Until(t), 0), true
		}
	}
	return 0, false
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

// retryableError reports whether a failure to get any answer may be retried:
// connection errors, resets, unexpected EOFs and timeouts, but never the
// caller's own cancellation, nor a failure that would recur every time (a
// certificate the client does not trust, too many redirects).
func retryableError(ctx context.Context, err error) bool {
	if err == nil || ctx.Err() != nil || errors.Is(err, context.Canceled) {
		return false
	}
	// Every failure of http.Client.Do is a *url.Error, itself a net.Error:
	// judge what it wraps.
	if uerr := (*url.Error)(nil); errors.As(err, &uerr) {
		err = uerr.Err
	}
	var (
		certErr      *tls.CertificateVerificationError
		unknownCA    x509.UnknownAuthorityError
		badHost      x509.HostnameError
		badCert      x509.CertificateInvalidError
		tlsHeaderErr tls.RecordHeaderError
		netErr       net.Error
	)
	switch {
	case errors.As(err, &certErr), errors.As(err, &unknownCA), errors.As(err, &badHost),
		errors.As(err, &badCert), errors.As(err, &tlsHeaderErr):
		return false
	case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF),
		errors.Is(err, syscall.ECONNRESET), errors.Is(err, syscall.ECONNREFUSED),
		errors.Is(err, syscall.EPIPE), errors.Is(err, context.DeadlineExceeded),
		errors.As(err, &netErr):
		return true
	}
	// http.Transport reports some connection failures only as text.
	msg := err.Error()
	return strings.Contains(msg, "connection reset") || strings.Contains(msg, "broken pipe") ||
		strings.Contains(msg, "server closed") || strings.Contains(msg, "EOF")
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
