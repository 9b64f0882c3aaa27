package wrapper

import "log/slog"

// What follows serves the packages built on the wrapper, such as
// wrapper/batch, which see no more of it than any other program.

// Logger returns the logger the client was built with (WithLogger), which
// discards everything by default: a package built on the client logs its
// own warnings there, next to the client's.
func (c *Client) Logger() *slog.Logger { return c.logger }

// Validate checks the options as Upload does before any request, and
// returns the same error matching ErrInvalidInput for a value out of
// bounds; it changes nothing. A nil *UploadOptions, as Upload takes it,
// is valid.
func (o *UploadOptions) Validate() error {
	if o == nil {
		return nil
	}
	c := *o
	return c.normalize()
}
