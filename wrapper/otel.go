package wrapper

import (
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/metric"
	metricnoop "go.opentelemetry.io/otel/metric/noop"
	"go.opentelemetry.io/otel/trace"
	tracenoop "go.opentelemetry.io/otel/trace/noop"
)

// This file holds the client's OpenTelemetry instrumentation: the spans of
// the token calls, of each upload and of each chunk attempt, and the
// metrics (see docs/OBSERVABILITY.md for the names). It depends on the
// OpenTelemetry API only: the program chooses the SDK and the exporter and
// hands their providers to WithTracerProvider and WithMeterProvider.
// Nothing it records holds the API key or an upload token: no URL (the
// token is in the upload's query and in the path of the token calls), no
// header, no error text but the upload's, which is scrubbed of both.

// InstrumentationName is the name of the tracer and meter the client gets
// from the providers given to WithTracerProvider and WithMeterProvider.
const InstrumentationName = "github.com/avupload/avupload/wrapper"

// Span names.
const (
	spanUpload = "avupload.upload"
	spanChunk  = "avupload.chunk"
	spanCall   = "avupload.call" // a call of Raw() that is not a token call
	eventRetry = "avupload.retry"
)

// Attribute keys, documented in docs/OBSERVABILITY.md.
const (
	keyOperation     = attribute.Key("avupload.operation")
	keyAttempts      = attribute.Key("avupload.attempts")
	keyAttempt       = attribute.Key("avupload.attempt")
	keyWaitBefore    = attribute.Key("avupload.attempt.wait_before")
	keyStatus        = attribute.Key("http.response.status_code")
	keyChunkIndex    = attribute.Key("avupload.chunk.index")
	keyChunkRange    = attribute.Key("avupload.chunk.range")
	keyChunkSent     = attribute.Key("avupload.chunk.bytes_sent")
	keyChunkResult   = attribute.Key("avupload.chunk.result")
	keyRetryReason   = attribute.Key("avupload.retry.reason")
	keyRetryWait     = attribute.Key("avupload.retry.wait")
	keyServerAsked   = attribute.Key("avupload.retry.server_asked")
	keySize          = attribute.Key("avupload.upload.size")
	keyChunkSize     = attribute.Key("avupload.upload.chunk_size")
	keyConcurrency   = attribute.Key("avupload.upload.concurrency")
	keyChunks        = attribute.Key("avupload.upload.chunks")
	keyResumedBytes  = attribute.Key("avupload.upload.resumed_bytes")
	keyResumedChunks = attribute.Key("avupload.upload.resumed_chunks")
	keyOutcome       = attribute.Key("avupload.upload.outcome")
	keyVideoID       = attribute.Key("avupload.video.id")
)

// Metric names, documented in docs/OBSERVABILITY.md.
const (
	metricBytesSent  = "avupload.upload.bytes_sent"
	metricBytesAcked = "avupload.upload.bytes_acknowledged"
	metricChunkTime  = "avupload.chunk.duration"
	metricRetries    = "avupload.retries"
	metricServerWait = "avupload.server_wait.duration"
	metricUploads    = "avupload.uploads"
)

// otelSettings are the providers the options gave; nil when not given.
type otelSettings struct {
	tp trace.TracerProvider
	mp metric.MeterProvider
}

// WithTracerProvider makes the client record spans through tp: one for each
// token call ("avupload.token.create", "avupload.token.list",
// "avupload.token.get", "avupload.token.delete"), one for each Upload
// ("avupload.upload") and, under it, one for each attempt of each chunk
// ("avupload.chunk"); docs/OBSERVABILITY.md lists their attributes. No
// span holds the API key or an upload token. Without this option the
// client records no span: it does not fall back to the global provider
// (otel.GetTracerProvider), as a library should hold no global state; pass
// otel.GetTracerProvider() to use it.
func WithTracerProvider(tp trace.TracerProvider) Option {
	return func(s *settings) error {
		if tp == nil {
			return invalidInput("tracer provider is nil")
		}
		s.otel.tp = tp
		return nil
	}
}

// WithMeterProvider makes the client record metrics through mp: bytes sent
// and acknowledged, chunk attempt durations, retries by reason, waits the
// server asked for and uploads by outcome (see docs/OBSERVABILITY.md).
// Without this option the client records none, and does not fall back to
// the global provider (otel.GetMeterProvider); pass it to use it.
func WithMeterProvider(mp metric.MeterProvider) Option {
	return func(s *settings) error {
		if mp == nil {
			return invalidInput("meter provider is nil")
		}
		s.otel.mp = mp
		return nil
	}
}

// MeterProvider returns the meter provider the client was built with
// (WithMeterProvider), or a no-op one: a package built on the client, such
// as wrapper/batch, records its own metrics there, next to the client's.
func (c *Client) MeterProvider() metric.MeterProvider {
	if t := c.caller.tel; t != nil {
		return t.mp
	}
	return metricnoop.NewMeterProvider()
}

// telemetry is a client's instrumentation; a nil *telemetry, that of a
// client given neither provider, records nothing and costs nothing.
type telemetry struct {
	tracer     trace.Tracer
	mp         metric.MeterProvider
	bytesSent  metric.Int64Counter
	bytesAcked metric.Int64Counter
	chunkTime  metric.Float64Histogram
	retries    metric.Int64Counter
	serverWait metric.Float64Histogram
	uploads    metric.Int64Counter
}

// newTelemetry returns the instrumentation of s's providers, the missing
// one no-op, or nil when neither was given.
func newTelemetry(s otelSettings) *telemetry {
	if s.tp == nil && s.mp == nil {
		return nil
	}
	if s.tp == nil {
		s.tp = tracenoop.NewTracerProvider()
	}
	if s.mp == nil {
		s.mp = metricnoop.NewMeterProvider()
	}
	m := s.mp.Meter(InstrumentationName, metric.WithInstrumentationVersion(Version))
	fallback := metricnoop.NewMeterProvider().Meter(InstrumentationName)
	// An SDK refuses an instrument only for a name or unit it does not
	// take, which these are not; a refused one records nothing.
	counter := func(name, unit, desc string) metric.Int64Counter {
		c, err := m.Int64Counter(name, metric.WithUnit(unit), metric.WithDescription(desc))
		if err != nil || c == nil {
			c, _ = fallback.Int64Counter(name)
		}
		return c
	}
	histogram := func(name, desc string, bounds ...float64) metric.Float64Histogram {
		h, err := m.Float64Histogram(name, metric.WithUnit("s"), metric.WithDescription(desc),
			metric.WithExplicitBucketBoundaries(bounds...))
		if err != nil || h == nil {
			h, _ = fallback.Float64Histogram(name)
		}
		return h
	}
	return &telemetry{
		tracer: s.tp.Tracer(InstrumentationName, trace.WithInstrumentationVersion(Version)),
		mp:     s.mp,
		bytesSent: counter(metricBytesSent, "By",
			"Request body bytes of upload chunks read by the transport, every attempt included"),
		bytesAcked: counter(metricBytesAcked, "By",
			"Bytes of the source the API acknowledged in upload chunks"),
		chunkTime: histogram(metricChunkTime, "Time from an upload chunk attempt's start to its whole answer",
			0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 25, 50, 100, 250, 500),
		retries: counter(metricRetries, "{retry}",
			"Attempts that failed and were tried again, by operation and reason"),
		serverWait: histogram(metricServerWait, "Waits the server asked for (Retry-After, X-RateLimit-Retry-After) that the client honoured",
			0.1, 0.5, 1, 2, 5, 10, 30, 60, 120, 300),
		uploads: counter(metricUploads, "{upload}", "Uploads by outcome"),
	}
}

// operationName is op as an attribute: a route's operationId, or "other"
// for a path no route matches, which may hold a token.
func operationName(op string) string {
	if op == "" || strings.ContainsAny(op, " /") {
		return "other"
	}
	return op
}

// callSpanName is the name of the span of a call of op.
func callSpanName(op string) string {
	switch op {
	case opCreateToken:
		return "avupload.token.create"
	case opListTokens:
		return "avupload.token.list"
	case opGetToken:
		return "avupload.token.get"
	case opDeleteToken:
		return "avupload.token.delete"
	}
	return spanCall
}

func noEnd(*http.Response, int, error) {}

// startCall starts the span of a call made through caller.Do (the token
// calls, and Raw()) and returns req under it and the function that ends
// it with the call's answer, attempts and error. An upload through Raw()
// gets no span of its own: its attempts get theirs (see callTrace).
func (t *telemetry) startCall(req *http.Request, op string) (*http.Request, func(*http.Response, int, error)) {
	if t == nil || op == opUpload {
		return req, noEnd
	}
	ctx, span := t.tracer.Start(req.Context(), callSpanName(op), trace.WithSpanKind(trace.SpanKindClient),
		trace.WithAttributes(keyOperation.String(operationName(op))))
	return req.WithContext(ctx), func(resp *http.Response, attempts int, err error) {
		span.SetAttributes(keyAttempts.Int(attempts))
		switch {
		case err != nil:
			span.SetStatus(codes.Error, failureReason(0, err))
		case resp != nil:
			span.SetAttributes(keyStatus.Int(resp.StatusCode))
			if resp.StatusCode >= 400 {
				span.SetStatus(codes.Error, failureReason(resp.StatusCode, nil))
			}
		}
		span.End()
	}
}

// failureReason names why an attempt failed, in a word with few values:
// "http_" and the status of an answer, else "stalled", "unexpected_answer"
// (a 2xx that is not the API's), "timeout", "canceled" or "network".
// It never says more: an error's text may name the URL, and the URL the
// token.
func failureReason(status int, err error) string {
	var ua *unexpectedAnswer
	var ne net.Error
	switch {
	case status != 0:
		return "http_" + strconv.Itoa(status)
	case err == nil:
		return ""
	case errors.Is(err, ErrStalled):
		return "stalled"
	case errors.As(err, &ua):
		return "unexpected_answer"
	case errors.Is(err, context.Canceled):
		return "canceled"
	case errors.Is(err, context.DeadlineExceeded), errors.As(err, &ne) && ne.Timeout():
		return "timeout"
	}
	return "network"
}

// callTrace follows one call through the retry loop (caller.do): it counts
// retries and the waits the server asked for, and for an upload chunk
// gives each attempt a span and a duration. It is used by the goroutine
// making the call, but for the bytes sent, counted by the transport's.
// A nil *callTrace does nothing.
type callTrace struct {
	t      *telemetry
	ctx    context.Context // the call's
	op     attribute.KeyValue
	chunk  []attribute.KeyValue // the chunk's index, for an upload
	upload bool

	// The current attempt of an upload.
	span    trace.Span // nil when none is open
	start   time.Time
	status  int
	failure string // why it failed; empty while it has not
	sent    atomic.Int64
	waited  time.Duration // the wait before it
}

// track starts following the call cl of the retry loop. When cl checks its
// answers, the check is wrapped so that a 2xx it refuses counts as an
// attempt that failed.
func (t *telemetry) track(ctx context.Context, cl *call) *callTrace {
	if t == nil {
		return nil
	}
	ct := &callTrace{t: t, ctx: ctx, op: keyOperation.String(operationName(cl.op)), upload: cl.op == opUpload}
	for _, a := range cl.attrs {
		if a.Key == "chunk" {
			ct.chunk = append(ct.chunk, keyChunkIndex.Int64(a.Value.Int64()))
		}
	}
	if check := cl.check; check != nil {
		cl.check = func(resp *http.Response) error {
			err := check(resp)
			if err != nil {
				ct.failure = failureReason(0, err)
			}
			return err
		}
	}
	return ct
}

// attempt starts the n-th attempt of the call and returns req as it is to
// be sent: for an upload, under the attempt's span and with its body
// counted.
func (ct *callTrace) attempt(req *http.Request, n int) *http.Request {
	if ct == nil || !ct.upload {
		return req
	}
	attrs := append([]attribute.KeyValue{ct.op, keyAttempt.Int(n)}, ct.chunk...)
	if r := req.Header.Get("Content-Range"); r != "" {
		attrs = append(attrs, keyChunkRange.String(r))
	}
	if n > 1 {
		attrs = append(attrs, keyWaitBefore.Float64(ct.waited.Seconds()))
	}
	ctx, span := ct.t.tracer.Start(req.Context(), spanChunk, trace.WithSpanKind(trace.SpanKindClient),
		trace.WithAttributes(attrs...))
	ct.span, ct.start, ct.status, ct.failure = span, time.Now(), 0, ""
	ct.sent.Store(0)
	out := req.WithContext(ctx)
	if req.Body != nil && req.Body != http.NoBody {
		out.Body = &countedBody{ReadCloser: req.Body, ct: ct}
	}
	if getBody := req.GetBody; getBody != nil {
		out.GetBody = func() (io.ReadCloser, error) {
			b, err := getBody()
			if err != nil || b == nil || b == http.NoBody {
				return b, err
			}
			return &countedBody{ReadCloser: b, ct: ct}, nil
		}
	}
	return out
}

// answered records what the attempt got: an answer, or err.
func (ct *callTrace) answered(resp *http.Response, err error) {
	if ct == nil {
		return
	}
	ct.failure = ""
	switch {
	case resp != nil:
		ct.status = resp.StatusCode
		if resp.StatusCode < 200 || resp.StatusCode > 299 {
			ct.failure = failureReason(resp.StatusCode, nil)
		}
	default:
		ct.failure = failureReason(0, err)
	}
}

// retry records that the attempt ev reports failed and is tried again
// after ev.Wait.
func (ct *callTrace) retry(ev Event) {
	if ct == nil {
		return
	}
	reason := ct.failure
	if reason == "" {
		reason = failureReason(ev.Status, ev.Err)
	}
	ct.t.retries.Add(ct.ctx, 1, metric.WithAttributes(ct.op, keyRetryReason.String(reason)))
	if ev.ServerAsked {
		ct.t.serverWait.Record(ct.ctx, ev.Wait.Seconds(), metric.WithAttributes(ct.op))
	}
	attrs := []attribute.KeyValue{keyRetryReason.String(reason), keyRetryWait.Float64(ev.Wait.Seconds()),
		keyServerAsked.Bool(ev.ServerAsked)}
	if !ct.upload {
		if ev.Status != 0 {
			attrs = append(attrs, keyStatus.Int(ev.Status))
		}
		trace.SpanFromContext(ct.ctx).AddEvent(eventRetry, trace.WithAttributes(append(attrs, keyAttempt.Int(ev.Attempt))...))
		return
	}
	if ct.span != nil {
		ct.span.SetAttributes(attrs...)
	}
	ct.endAttempt("retried")
	ct.waited = ev.Wait
}

// end ends the call: its last attempt, when one is open, succeeded
// unless it failed.
func (ct *callTrace) end() {
	if ct == nil || ct.span == nil {
		return
	}
	result := "ok"
	if ct.failure != "" || ct.status < 200 || ct.status > 299 {
		result = "failed"
	}
	ct.endAttempt(result)
}

// endAttempt ends the open attempt of an upload with result: "ok",
// "retried" or "failed".
func (ct *callTrace) endAttempt(result string) {
	span := ct.span
	if span == nil {
		return
	}
	ct.span = nil
	attrs := []attribute.KeyValue{ct.op, keyChunkResult.String(result)}
	if ct.status != 0 {
		attrs = append(attrs, keyStatus.Int(ct.status))
	}
	span.SetAttributes(keyChunkResult.String(result), keyChunkSent.Int64(ct.sent.Load()))
	if ct.status != 0 {
		span.SetAttributes(keyStatus.Int(ct.status))
	}
	if result != "ok" {
		reason := ct.failure
		if reason == "" {
			reason = "failed"
		}
		span.SetStatus(codes.Error, reason)
	}
	span.End()
	ct.t.chunkTime.Record(ct.ctx, time.Since(ct.start).Seconds(), metric.WithAttributes(attrs...))
}

// countedBody counts the bytes the transport reads from a chunk's request
// body.
type countedBody struct {
	io.ReadCloser
	ct *callTrace
}

func (b *countedBody) Read(p []byte) (int, error) {
	n, err := b.ReadCloser.Read(p)
	if n > 0 {
		b.ct.sent.Add(int64(n))
		b.ct.t.bytesSent.Add(b.ct.ctx, int64(n), metric.WithAttributes(b.ct.op))
	}
	return n, err
}

// acked counts n bytes of the source acknowledged by the API.
func (t *telemetry) acked(ctx context.Context, n int64) {
	if t != nil {
		t.bytesAcked.Add(ctx, n)
	}
}

// resumed records on the upload's span what it goes on from: saved, nil
// for a new video.
func (t *telemetry) resumed(ctx context.Context, saved *UploadState) {
	if t == nil {
		return
	}
	var chunks int
	var bytes int64
	if saved != nil {
		chunks, bytes = len(saved.Acked), saved.AckedBytes()
	}
	trace.SpanFromContext(ctx).SetAttributes(keyResumedChunks.Int(chunks), keyResumedBytes.Int64(bytes))
}

// runTraced runs the upload under its span, and counts it by outcome.
func (u *upload) runTraced(ctx context.Context) (*UploadResult, error) {
	t := u.c.caller.tel
	if t == nil {
		return u.run(ctx)
	}
	attrs := []attribute.KeyValue{keyConcurrency.Int(u.opts.Concurrency)}
	if u.opts.ChunkSize != 0 {
		attrs = append(attrs, keyChunkSize.Int64(u.opts.ChunkSize)) // else the layout's, set at the end
	}
	if u.src.size >= 0 {
		attrs = append(attrs, keySize.Int64(u.src.size))
	}
	if u.opts.VideoID != "" {
		attrs = append(attrs, keyVideoID.String(u.opts.VideoID))
	}
	ctx, span := t.tracer.Start(ctx, spanUpload, trace.WithAttributes(attrs...))
	defer span.End()
	res, err := u.run(ctx)
	outcome := uploadOutcome(ctx, err)
	span.SetAttributes(keyOutcome.String(outcome))
	var ue *UploadError
	switch {
	case res != nil:
		span.SetAttributes(keyVideoID.String(res.Video.VideoID), keySize.Int64(res.Size),
			keyChunkSize.Int64(res.ChunkSize), keyChunks.Int(res.Chunks),
			keyResumedChunks.Int(res.ResumedChunks), keyResumedBytes.Int64(res.ResumedBytes))
	case errors.As(err, &ue) && ue.State != nil && ue.State.VideoID != "":
		span.SetAttributes(keyVideoID.String(ue.State.VideoID))
	}
	if err != nil {
		// The package's errors hold no token nor key; scrubbed again all
		// the same, as a span leaves the process.
		span.SetStatus(codes.Error, redact(err.Error(), u.token, u.c.apiKey))
	}
	t.uploads.Add(ctx, 1, metric.WithAttributes(keyOutcome.String(outcome)))
	return res, err
}

// uploadOutcome names how an upload ended: "ok", "canceled" (its context
// ended), "refused" (the API refused a chunk) or "failed".
func uploadOutcome(ctx context.Context, err error) string {
	switch {
	case err == nil:
		return "ok"
	case ctx.Err() != nil && errors.Is(err, ctx.Err()):
		return "canceled"
	case refused(err):
		return "refused"
	}
	return "failed"
}
