package sandbox

import (
	"net/http"
	"strconv"
	"sync"
	"time"
)

// RateLimits are requests allowed per minute, per category of operation.
type RateLimits struct {
	// Upload limits uploadWithUploadToken.
	Upload int
	// Write limits the other writes: createUploadToken, deleteUploadToken,
	// authenticate and refreshToken.
	Write int
	// Read limits listUploadTokens and getUploadToken.
	Read int
}

// SandboxRateLimits returns the published limits of api.video's sandbox
// environment: 40 uploads, 40 other writes and 100 reads per minute.
func SandboxRateLimits() RateLimits { return RateLimits{Upload: 40, Write: 40, Read: 100} }

// ProductionRateLimits returns the published limits of api.video's production
// environment: 100 uploads, 200 other writes and 500 reads per minute.
func ProductionRateLimits() RateLimits { return RateLimits{Upload: 100, Write: 200, Read: 500} }

// unlimited is the limit the headers show when no limit is enforced.
const unlimited = 100000

type category int

const (
	catUpload category = iota
	catWrite
	catRead
)

func categoryOf(op string) category {
	switch op {
	case OpUploadWithUploadToken:
		return catUpload
	case OpCreateUploadToken, OpDeleteUploadToken, OpAuthenticate, OpRefreshToken:
		return catWrite
	}
	return catRead
}

// rateLimiter counts requests per category in fixed one-minute windows, each
// starting with the first request after the previous one ended.
type rateLimiter struct {
	now     func() time.Time
	enforce bool
	limits  [3]int

	mu      sync.Mutex
	windows [3]struct {
		start time.Time
		count int
	}
}

func newRateLimiter(l *RateLimits, now func() time.Time) *rateLimiter {
	rl := &rateLimiter{now: now, limits: [3]int{unlimited, unlimited, unlimited}}
	if l != nil {
		rl.enforce = true
		rl.limits = [3]int{l.Upload, l.Write, l.Read}
	}
	return rl
}

// verdict is the outcome of one request against its limit.
type verdict struct {
	limit, remaining, retryAfter int
	exceeded                     bool
}

func (v verdict) setHeaders(h http.Header) {
	h.Set("X-RateLimit-Limit", strconv.Itoa(v.limit))
	h.Set("X-RateLimit-Remaining", strconv.Itoa(v.remaining))
	h.Set("X-RateLimit-Retry-After", strconv.Itoa(v.retryAfter))
}

// take counts one request of category c.
func (rl *rateLimiter) take(c category) verdict { return rl.add(c, 1) }

// peek reports category c's window without counting a request, for answers
// outside the API's routes, which carry the headers too.
func (rl *rateLimiter) peek(c category) verdict { return rl.add(c, 0) }

// add counts n requests of category c and reports the window.
func (rl *rateLimiter) add(c category, n int) verdict {
	rl.mu.Lock()
	defer rl.mu.Unlock()
	now := rl.now()
	w := &rl.windows[c]
	if w.start.IsZero() || !now.Before(w.start.Add(time.Minute)) {
		w.start, w.count = now, 0
	}
	w.count += n
	limit := rl.limits[c]
	left := w.start.Add(time.Minute).Sub(now)
	retry := int((left + time.Second - 1) / time.Second)
	v := verdict{limit: limit, remaining: max(limit-w.count, 0), retryAfter: retry}
	v.exceeded = rl.enforce && n > 0 && w.count > limit
	return v
}
