package wrapper

import (
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
// answer outside 2xx an *APIError (a 3xx one matching ErrRedirected), and a success is decoded into out (when
// out is not nil); a body that cannot be decoded is an *OpError wrapping
// errUnreadableAnswer. The body is always closed. secrets (a token, for
// instance) are scrubbed from every error text, as is the API key.
func (c *Client) decode(op string, resp *http.Response, err error, out any, secrets ...string) error {
	secrets = append(secrets, c.apiKey)
	if err != nil {
		return wrapTransportError(op, err, secrets...)
	}
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return readAPIError(op, resp, secrets...)
	}
	defer func() { _ = resp.Body.Close() }()
	if out == nil {
		_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, maxErrorBody))
		return nil
	}
	if err := json.NewDecoder(io.LimitReader(resp.Body, maxSuccessBody)).Decode(out); err != nil {
		return &OpError{Op: op, Err: fmt.Errorf("%w: decoding the %d answer: %w", errUnreadableAnswer, resp.StatusCode, &redactedError{err: err, secrets: secrets})}
	}
	return nil
}

// requireKey returns ErrNoAPIKey when the client has no API key.
func (c *Client) requireKey() error {
	if c.apiKey == "" {
		return ErrNoAPIKey
	}
	return nil
}
