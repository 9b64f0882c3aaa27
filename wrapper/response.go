package wrapper

import (
	"bytes"
	"cmp"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
)

// maxSuccessBody bounds how much of a success answer is decoded.
const maxSuccessBody = 8 << 20

// errUnreadableAnswer marks a success answer whose body could not be used.
// The request did its work on the server, so it is never retried.
var errUnreadableAnswer = errors.New("unreadable success answer")

// decode finishes the call op: a transport failure becomes an *OpError, an
// answer outside 2xx an *APIError (a 3xx one matching ErrRedirected), and a
// success is decoded into out; a body that cannot be decoded is an *OpError
// wrapping errUnreadableAnswer. With out nil (a delete, which the API
// answers 204 with no body), a 2xx with a body is such an error too. The
// body is always closed. secrets (a token, for instance) are scrubbed from
// every error text, as is the API key.
func (c *Client) decode(op string, resp *http.Response, err error, out any, secrets ...string) error {
	_, err = c.decodeRaw(op, resp, err, out, secrets...)
	return err
}

// decodeRaw is decode that also returns the success answer's body as it was
// received, for the results that keep it (RawJSON). The body is nil when out
// is nil or the call failed.
func (c *Client) decodeRaw(op string, resp *http.Response, err error, out any, secrets ...string) ([]byte, error) {
	secrets = append(secrets, c.apiKey)
	if err != nil {
		return nil, wrapTransportError(op, err, secrets...)
	}
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return nil, readAPIError(op, resp, secrets...)
	}
	defer func() { _ = resp.Body.Close() }()
	if out == nil {
		// A delete: the API answers 204 with no body. A 2xx with a body
		// (a portal's page) does not say the token was deleted.
		body, _ := io.ReadAll(io.LimitReader(resp.Body, maxErrorBody))
		if resp.StatusCode != http.StatusNoContent && len(bytes.TrimSpace(body)) > 0 {
			ctype := cmp.Or(resp.Header.Get("Content-Type"), "no Content-Type")
			return nil, &OpError{Op: op, Err: fmt.Errorf("%w: the server answered %d with a body (%s, %d bytes) where the API answers 204 with none: nothing says it was done",
				errUnreadableAnswer, resp.StatusCode, ctype, len(body))}
		}
		return nil, nil
	}
	raw, err := io.ReadAll(io.LimitReader(resp.Body, maxSuccessBody))
	if err == nil {
		err = json.NewDecoder(bytes.NewReader(raw)).Decode(out)
	}
	if err != nil {
		return nil, &OpError{Op: op, Err: fmt.Errorf("%w: decoding the %d answer: %w", errUnreadableAnswer, resp.StatusCode, &redactedError{err: err, secrets: secrets})}
	}
	return raw, nil
}

// requireKey returns ErrNoAPIKey when the client has no API key.
func (c *Client) requireKey() error {
	if c.apiKey == "" {
		return ErrNoAPIKey
	}
	return nil
}

// unexpectedAnswer is a 2xx answer to an upload request that is not the
// API's answer naming the video: an HTML page (a captive portal, a proxy),
// an empty body, {}, a JSON array, or a Video naming another video.
// Nothing in it says the request's bytes were stored, so it never counts as
// an acknowledgement. The one retry loop retries it like a 5xx (see
// retryableAnswer), except when it answered the request that makes a new
// video: a video may then have been made whose id is unknown, and a retry
// could make a second one.
type unexpectedAnswer struct {
	status   int
	what     string // the request, in words: "chunk 2 (bytes 0-5242879/9000000)"
	ctype    string // the answer's Content-Type
	size     int    // the body's length as received
	why      string // what is wrong with the body, when it names no other video
	other    string // the videoId it named, when not the one the chunks go to
	want     string // the videoId the chunks go to
	newVideo bool   // the request makes a new video
	cause    error  // why the body could not be read whole, or nil
}

func (e *unexpectedAnswer) Error() string {
	if e.other != "" {
		return fmt.Sprintf("the server answered %d to %s naming video %q, not %q, which the chunks were sent to: nothing says the chunk was stored in %s",
			e.status, e.what, e.other, e.want, e.want)
	}
	ctype := e.ctype
	if ctype == "" {
		ctype = "no Content-Type"
	}
	said := fmt.Sprintf("the server answered %d to %s with something that is not the API's answer (%s, %d bytes: %s)",
		e.status, e.what, ctype, e.size, e.why)
	if e.newVideo {
		return said + ": a video may have been made whose id is unknown; the request was not sent again, which could make a second video"
	}
	return said + ": nothing says the chunk was stored"
}

// Is makes the error match ErrVideoChanged when it names another video,
// and errUnreadableAnswer otherwise.
func (e *unexpectedAnswer) Is(target error) bool {
	if e.other != "" {
		return target == ErrVideoChanged
	}
	return target == errUnreadableAnswer
}

// Unwrap returns why the body could not be read whole (a stall, for
// instance), or nil.
func (e *unexpectedAnswer) Unwrap() error { return e.cause }

// retryable reports whether the request may be sent again.
func (e *unexpectedAnswer) retryable() bool { return !e.newVideo }

// readVideoAnswer reads a 2xx answer to an upload request and returns it
// when it is a JSON object naming a video: videoID when the request added
// to it, any non-empty id when it made the video (videoID empty). Anything
// else is an *unexpectedAnswer. The body is read whole and closed.
func readVideoAnswer(resp *http.Response, what, videoID string) (*videoAnswer, error) {
	raw, err := io.ReadAll(resp.Body)
	_ = resp.Body.Close()
	ua := &unexpectedAnswer{status: resp.StatusCode, what: what, ctype: resp.Header.Get("Content-Type"),
		size: len(raw), want: videoID, newVideo: videoID == ""}
	var v videoAnswer
	switch trimmed := bytes.TrimLeft(raw, " \t\r\n"); {
	case err != nil:
		ua.why, ua.cause = "cut short", err
	case len(trimmed) == 0:
		ua.why = "empty"
	case trimmed[0] != '{':
		ua.why = "not a JSON object"
	case json.Unmarshal(raw, &v.Video) != nil:
		ua.why = "not a JSON object the API writes"
	case v.VideoID == "":
		ua.why = "no videoId in it"
	case videoID != "" && v.VideoID != videoID:
		ua.other = v.VideoID
	default:
		v.raw = raw
		return &v, nil
	}
	return nil, ua
}
