package sandbox

import (
	"context"
	"log/slog"
	"regexp"
	"strings"
)

// redacted replaces a secret in log lines.
const redacted = "REDACTED"

// tokenPattern matches upload tokens as the sandbox mints them.
var tokenPattern = regexp.MustCompile(`\bto[A-Za-z0-9]{22}\b`)

// redactPath hides the token of an /upload-tokens/{token} path, whatever the
// token looks like: a mistyped token is still someone's secret.
func redactPath(path string) string {
	if rest, ok := strings.CutPrefix(path, "/upload-tokens/"); ok && rest != "" {
		return "/upload-tokens/" + redacted
	}
	return path
}

// redactingHandler is a slog.Handler that removes the API keys and anything
// shaped like an upload token from every message and string attribute before
// the wrapped handler sees them, so that no log line carries a credential.
type redactingHandler struct {
	h    slog.Handler
	keys []string
}

func newRedactingHandler(h slog.Handler, keys []string) *redactingHandler {
	return &redactingHandler{h: h, keys: keys}
}

func (r *redactingHandler) redact(s string) string {
	for _, k := range r.keys {
		s = strings.ReplaceAll(s, k, redacted)
	}
	return tokenPattern.ReplaceAllString(s, redacted)
}

func (r *redactingHandler) attr(a slog.Attr) slog.Attr {
	v := a.Value.Resolve()
	switch v.Kind() {
	case slog.KindString:
		return slog.String(a.Key, r.redact(v.String()))
	case slog.KindGroup:
		as := v.Group()
		out := make([]any, len(as))
		for i, x := range as {
			out[i] = r.attr(x)
		}
		return slog.Group(a.Key, out...)
	case slog.KindAny:
		if err, ok := v.Any().(error); ok {
			return slog.String(a.Key, r.redact(err.Error()))
		}
		if st, ok := v.Any().(interface{ String() string }); ok {
			return slog.String(a.Key, r.redact(st.String()))
		}
	}
	return slog.Attr{Key: a.Key, Value: v}
}

// Enabled implements slog.Handler.
func (r *redactingHandler) Enabled(ctx context.Context, l slog.Level) bool {
	return r.h.Enabled(ctx, l)
}

// Handle implements slog.Handler.
func (r *redactingHandler) Handle(ctx context.Context, rec slog.Record) error {
	out := slog.NewRecord(rec.Time, rec.Level, r.redact(rec.Message), rec.PC)
	rec.Attrs(func(a slog.Attr) bool {
		out.AddAttrs(r.attr(a))
		return true
	})
	return r.h.Handle(ctx, out)
}

// WithAttrs implements slog.Handler.
func (r *redactingHandler) WithAttrs(as []slog.Attr) slog.Handler {
	clean := make([]slog.Attr, len(as))
	for i, a := range as {
		clean[i] = r.attr(a)
	}
	return &redactingHandler{h: r.h.WithAttrs(clean), keys: r.keys}
}

// WithGroup implements slog.Handler.
func (r *redactingHandler) WithGroup(name string) slog.Handler {
	return &redactingHandler{h: r.h.WithGroup(name), keys: r.keys}
}
