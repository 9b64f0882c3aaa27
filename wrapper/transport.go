package wrapper

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"slices"
	"strings"
	"time"
)

// transport is the RoundTripper every request of a Client goes through, the
// raw generated client's included. It identifies the client, adds the API key
// where (and only where) it belongs, and retries what the policy allows.
type transport struct {
	base     http.RoundTripper
	apiKey   string
	scheme   string // the API's scheme and host: the key is never sent
	host     string // anywhere else, nor over http when the API is https
	basePath string // the API's path prefix, without a trailing slash
	headers  http.Header
	policy   RetryPolicy
	logger   *slog.Logger
	sleep    func(context.Context, time.Duration) error
}

type ctxKey int

const noTransportRetryKey ctxKey = iota

// withoutTransportRetry marks requests made with ctx as retried by their
// caller, so that the transport does not retry them a second time.
func withoutTransportRetry(ctx context.Context) context.Context {
	return context.WithValue(ctx, noTransportRetryKey, true)
}

// RoundTrip sends req, retrying it as the policy allows. It never modifies req.
func (t *transport) RoundTrip(req *http.Request) (*http.Response, error) {
	ctx := req.Context()
	out := req.Clone(ctx)
	for k, v := range t.headers {
		out.Header[k] = slices.Clone(v)
	}
	op := operationOf(req.Method, strings.TrimPrefix(req.URL.Path, t.basePath))
	if t.apiKey != "" && req.URL.Scheme == t.scheme && req.URL.Host == t.host && op != opUpload {
		out.SetBasicAuth(t.apiKey, "")
	}

	replayable := req.Body == nil || req.Body == http.NoBody || req.GetBody != nil
	attempts := t.policy.attempts()
	if skip, _ := ctx.Value(noTransportRetryKey).(bool); skip || !replayable {
		attempts = 1
	}
	for attempt := 1; ; attempt++ {
		if attempt > 1 && req.GetBody != nil {
			body, err := req.GetBody()
			if err != nil {
				return nil, err
			}
			out.Body = body
		}
		resp, err := t.base.RoundTrip(out)
		if attempt >= attempts {
			return resp, err
		}
		var h http.Header
		switch {
		case err != nil && retryableError(ctx, err):
		case err == nil && retryableStatus(resp.StatusCode):
			h = resp.Header
		default:
			return resp, err
		}
		wait := t.policy.backoff(attempt, h)
		t.logRetry(ctx, op, attempt, resp, err, wait)
		if resp != nil {
			_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, maxErrorBody))
			_ = resp.Body.Close()
		}
		if err := t.sleep(ctx, wait); err != nil {
			return nil, err
		}
	}
}

func (t *transport) logRetry(ctx context.Context, op string, attempt int, resp *http.Response, err error, wait time.Duration) {
	attrs := []slog.Attr{slog.String("op", op), slog.Int("attempt", attempt), slog.Duration("wait", wait)}
	if resp != nil {
		attrs = append(attrs, slog.Int("status", resp.StatusCode))
	}
	if err != nil {
		attrs = append(attrs, slog.String("error", wrapTransportError(op, err, t.apiKey).Error()))
	}
	t.logger.LogAttrs(ctx, slog.LevelWarn, "avupload: retrying", attrs...)
}

// The operations, named by their operationIds.
const (
	opCreateToken = "createUploadToken"
	opListTokens  = "listUploadTokens"
	opGetToken    = "getUploadToken"
	opDeleteToken = "deleteUploadToken"
	opUpload      = "uploadWithUploadToken"
)

// operationOf names the operation a method and API-relative path address.
func operationOf(method, path string) string {
	path = strings.TrimSuffix(path, "/")
	switch {
	case path == "/upload":
		return opUpload
	case path == "/upload-tokens" && method == http.MethodPost:
		return opCreateToken
	case path == "/upload-tokens":
		return opListTokens
	case strings.HasPrefix(path, "/upload-tokens/") && method == http.MethodDelete:
		return opDeleteToken
	case strings.HasPrefix(path, "/upload-tokens/"):
		return opGetToken
	}
	return method + " " + path
}
