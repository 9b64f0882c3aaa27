package wrapper

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/avupload/avupload/internal/human"
)

// Sentinel errors a caller may branch on with errors.Is. An *APIError matches
// the sentinel of its HTTP status; ErrNoAPIKey and ErrInvalidInput are
// returned before any request is made.
var (
	// ErrBadRequest matches a 400 answer: the request was refused as invalid.
	ErrBadRequest = errors.New("avupload: bad request")
	// ErrUnauthorized matches a 401 answer: the API key or upload token is missing, invalid or expired.
	ErrUnauthorized = errors.New("avupload: unauthorized")
	// ErrForbidden matches a 403 answer, which the API gives for a suspended account.
	ErrForbidden = errors.New("avupload: forbidden")
	// ErrNotFound matches a 404 answer.
	ErrNotFound = errors.New("avupload: not found")
	// ErrRateLimited matches a 429 answer that outlasted the retry policy.
	ErrRateLimited = errors.New("avupload: rate limited")
	// ErrServer matches a 5xx answer that outlasted the retry policy.
	ErrServer = errors.New("avupload: server error")
	// ErrRedirected matches a 3xx answer. The client never follows a
	// redirect (a POST turned into a GET that another host answers 2xx would
	// look like success, and the request would carry its token elsewhere):
	// the answer is an *APIError whose Detail names the status and the host
	// it pointed to, and nothing it answered to counts as done.
	ErrRedirected = errors.New("avupload: redirected")
	// ErrVideoChanged matches an upload chunk answered with another videoId
	// than the one the upload adds its chunks to. The chunk is not counted.
	ErrVideoChanged = errors.New("avupload: the API answered for another video")
	// ErrNoAPIKey is returned by the calls that need the API key when the
	// client was built without one.
	ErrNoAPIKey = errors.New("avupload: this call needs an API key; build the client with WithAPIKey")
	// ErrInvalidInput wraps every argument the library refuses before sending
	// anything: a TTL out of range, a chunk size outside the allowed window.
	ErrInvalidInput = errors.New("avupload: invalid input")
)

// Problem is one entry of a problem document's "problems" list.
type Problem struct {
	Type   string `json:"type,omitempty"`
	Title  string `json:"title,omitempty"`
	Name   string `json:"name,omitempty"`
	Status int    `json:"status,omitempty"`
}

// RateLimit holds the rate-limit figures a response carried. A zero value
// means the response had no such headers.
type RateLimit struct {
	// Limit is the number of requests allowed per minute (X-RateLimit-Limit).
	Limit int
	// Remaining is the number left in the current window (X-RateLimit-Remaining).
	Remaining int
	// RetryAfter is how long until the window resets (X-RateLimit-Retry-After).
	RetryAfter time.Duration
}

// APIError is an answer from the API that was not a success. It carries the
// problem document's fields, the HTTP status, the rate-limit figures and the
// operation that failed. Match it with errors.As, or its status class with
// errors.Is and the sentinels above (ErrNotFound, ErrRateLimited, ...).
//
// Its strings never hold the API key or an upload token.
type APIError struct {
	// Op is the operation that failed, named by its operationId (for example
	// "createUploadToken").
	Op string
	// StatusCode is the HTTP status of the answer.
	StatusCode int
	// Type is a URI that names the kind of problem.
	Type string
	// Title says what went wrong, in the API's words.
	Title string
	// Name is the parameter or field at fault, where the API names one.
	Name string
	// Detail gives the specifics, where the API gives them.
	Detail string
	// Problems lists every problem found, where the API lists several.
	Problems []Problem
	// RateLimit holds the response's rate-limit figures.
	RateLimit RateLimit
	// ServerWait is how long the server asked the client to wait before
	// trying again (Retry-After, or X-RateLimit-Retry-After once
	// X-RateLimit-Remaining is 0); 0 when it asked for no wait. An answer
	// asking for more than RetryPolicy.MaxServerWait ends the call at once.
	ServerWait time.Duration
}

// Error reports the operation, the status and the API's own title and detail.
func (e *APIError) Error() string {
	var b strings.Builder
	b.WriteString("avupload: ")
	if e.Op != "" {
		b.WriteString(e.Op)
		b.WriteString(": ")
	}
	b.WriteString(strconv.Itoa(e.StatusCode))
	if text := http.StatusText(e.StatusCode); text != "" {
		b.WriteString(" ")
		b.WriteString(text)
	}
	if e.Title != "" {
		b.WriteString(": ")
		b.WriteString(e.Title)
	}
	if e.Detail != "" {
		b.WriteString(" (")
		b.WriteString(e.Detail)
		b.WriteString(")")
	}
	if e.ServerWait > 0 {
		b.WriteString("; the server asks to wait ")
		b.WriteString(human.Wait(e.ServerWait))
		b.WriteString(" before trying again")
	}
	return b.String()
}

// Is reports whether target is the sentinel for e's status.
func (e *APIError) Is(target error) bool {
	switch target {
	case ErrBadRequest:
		return e.StatusCode == http.StatusBadRequest
	case ErrUnauthorized:
		return e.StatusCode == http.StatusUnauthorized
	case ErrForbidden:
		return e.StatusCode == http.StatusForbidden
	case ErrNotFound:
		return e.StatusCode == http.StatusNotFound
	case ErrRateLimited:
		return e.StatusCode == http.StatusTooManyRequests
	case ErrServer:
		return e.StatusCode >= 500
	case ErrRedirected:
		return e.StatusCode >= 300 && e.StatusCode <= 399
	}
	return false
}

// maxErrorBody bounds how much of an error answer is read.
const maxErrorBody = 64 << 10

// problemDoc is the union of the API's problem documents.
type problemDoc struct {
	Type     string    `json:"type"`
	Title    string    `json:"title"`
	Name     string    `json:"name"`
	Status   int       `json:"status"`
	Detail   string    `json:"detail"`
	Problems []Problem `json:"problems"`
}

// newAPIError builds the error for a non-success answer from its status,
// headers and body. Problem documents come as application/json or
// application/problem+json; anything else keeps a short excerpt as detail.
// A 3xx is described by its status and the host it pointed to. Every
// string is scrubbed of the given secrets.
func newAPIError(op string, resp *http.Response, body []byte, secrets ...string) *APIError {
	e := &APIError{Op: op, StatusCode: resp.StatusCode, RateLimit: parseRateLimit(resp.Header)}
	if d, ok := serverWait(resp.Header); ok && retryableStatus(resp.StatusCode) {
		e.ServerWait = d
	}
	var doc problemDoc
	switch {
	case resp.StatusCode >= 300 && resp.StatusCode <= 399:
		e.Detail = "the server redirected the request to " + redirectTarget(resp) + "; avupload never follows redirects"
	case json.Unmarshal(body, &doc) == nil:
		e.Type, e.Title, e.Name, e.Detail, e.Problems = doc.Type, doc.Title, doc.Name, doc.Detail, doc.Problems
	default:
		if text := strings.TrimSpace(redact(string(body), secrets...)); text != "" {
			// Redacted before it is cut short, so that a cut cannot leave
			// part of a secret unrecognised.
			const excerpt = 200
			if len(text) > excerpt {
				text = strings.ToValidUTF8(text[:excerpt], "") + "..."
			}
			e.Detail = text
		}
	}
	for _, f := range []*string{&e.Type, &e.Title, &e.Name, &e.Detail} {
		*f = redact(*f, secrets...)
	}
	for i := range e.Problems {
		p := &e.Problems[i]
		p.Type, p.Title, p.Name = redact(p.Type, secrets...), redact(p.Title, secrets...), redact(p.Name, secrets...)
	}
	return e
}

// redirectTarget names the host a 3xx answer points to, or says it names
// none. Only the host: the rest of the location may hold a token.
func redirectTarget(resp *http.Response) string {
	loc := resp.Header.Get("Location")
	if loc == "" {
		return "no location"
	}
	target, err := url.Parse(loc)
	if err == nil && resp.Request != nil && resp.Request.URL != nil {
		target = resp.Request.URL.ResolveReference(target)
	}
	if err != nil || target.Host == "" {
		return "an unreadable location"
	}
	return target.Host
}

// readAPIError reads (a bounded part of) resp's body, closes it and returns
// the *APIError it describes.
func readAPIError(op string, resp *http.Response, secrets ...string) *APIError {
	body, _ := io.ReadAll(io.LimitReader(resp.Body, maxErrorBody))
	_ = resp.Body.Close()
	return newAPIError(op, resp, body, secrets...)
}

// parseRateLimit reads the X-RateLimit-* headers; missing or malformed values stay zero.
func parseRateLimit(h http.Header) RateLimit {
	atoi := func(name string) int {
		n, _ := strconv.Atoi(strings.TrimSpace(h.Get(name)))
		return n
	}
	return RateLimit{
		Limit:      atoi("X-RateLimit-Limit"),
		Remaining:  atoi("X-RateLimit-Remaining"),
		RetryAfter: time.Duration(atoi("X-RateLimit-Retry-After")) * time.Second,
	}
}

// OpError is a failure to get an answer at all (a refused connection, a reset,
// a timeout), wrapped with the operation it interrupted. Unwrap gives the
// cause, so errors.Is(err, context.Canceled) and net.Error checks work.
type OpError struct {
	// Op is the operation that failed, named by its operationId.
	Op string
	// Err is the cause, with any URL in it stripped of its token.
	Err error
}

// Error reports the operation and the cause.
func (e *OpError) Error() string { return "avupload: " + e.Op + ": " + e.Err.Error() }

// Unwrap returns the cause.
func (e *OpError) Unwrap() error { return e.Err }

// wrapTransportError wraps err, a failure from the HTTP client, with op. A
// *url.Error has its URL redacted (the upload token travels in the query).
func wrapTransportError(op string, err error, secrets ...string) error {
	if err == nil {
		return nil
	}
	if opErr := (*OpError)(nil); errors.As(err, &opErr) {
		return err // wrapped already
	}
	var uerr *url.Error
	if errors.As(err, &uerr) {
		clean := *uerr
		clean.URL = redactURL(uerr.URL, secrets...)
		err = &clean
	}
	return &OpError{Op: op, Err: &redactedError{err: err, secrets: secrets}}
}

// redactedError hides secrets in the text of an error while keeping its chain.
type redactedError struct {
	err     error
	secrets []string
}

func (e *redactedError) Error() string { return redact(e.err.Error(), e.secrets...) }
func (e *redactedError) Unwrap() error { return e.err }

const redacted = "REDACTED"

// redactURL replaces the value of every token query parameter, the token
// segment of an /upload-tokens/{token} path, any user info and any secret
// anywhere in the URL with REDACTED.
func redactURL(raw string, secrets ...string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return redact(raw, secrets...)
	}
	if u.User != nil {
		u.User = url.User(redacted)
	}
	if before, after, ok := strings.Cut(u.Path, "/upload-tokens/"); ok && after != "" {
		u.Path, u.RawPath = before+"/upload-tokens/"+redacted, ""
	}
	q := u.Query()
	if q.Has("token") {
		q.Set("token", redacted)
		u.RawQuery = q.Encode()
	}
	return redact(u.String(), secrets...)
}

// redact replaces every non-empty secret in s with REDACTED.
func redact(s string, secrets ...string) string {
	for _, secret := range secrets {
		if secret != "" {
			s = strings.ReplaceAll(s, secret, redacted)
		}
	}
	return s
}

// invalidInput reports a refused argument, wrapped so that errors.Is matches
// ErrInvalidInput.
func invalidInput(format string, args ...any) error {
	return fmt.Errorf("%w: %s", ErrInvalidInput, fmt.Sprintf(format, args...))
}
