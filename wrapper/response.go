package wrapper

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
)

// maxSuccessBody bounds how much of a success answer is decoded.
const maxSuccessBody = 8 << 20

// decode finishes the call op: a transport failure becomes an *OpError, an
// answer other than want an *APIError, and a wanted answer is decoded into
// out (when out is not nil). The body is always closed. secrets (a token, for
// instance) are scrubbed from every error text, as is the API key.
func (c *Client) decode(op string, resp *http.Response, err error, want int, out any, secrets ...string) error {
	secrets = append(secrets, c.apiKey)
	if err != nil {
		return wrapTransportError(op, err, secrets...)
	}
	if resp.StatusCode != want {
		return readAPIError(op, resp, secrets...)
	}
	defer func() { _ = resp.Body.Close() }()
	if out == nil {
		_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, maxErrorBody))
		return nil
	}
	if err := json.NewDecoder(io.LimitReader(resp.Body, maxSuccessBody)).Decode(out); err != nil {
		return &OpError{Op: op, Err: fmt.Errorf("decoding the %d answer: %w", resp.StatusCode, err)}
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
