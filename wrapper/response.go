package wrapper

import (
	"bytes"
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
		_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, maxErrorBody))
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
