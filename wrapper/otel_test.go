package wrapper

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"

	"github.com/avupload/avupload/sandbox"
	"github.com/avupload/avupload/sandbox/sandboxtest"
)

// telemetryEnv is what a client's spans and metrics go to: the SDK's
// in-memory exporter and a manual reader.
type telemetryEnv struct {
	spans  *tracetest.InMemoryExporter
	reader *sdkmetric.ManualReader
	opts   []Option
}

func newTelemetryEnv(t *testing.T) *telemetryEnv {
	t.Helper()
	spans := tracetest.NewInMemoryExporter()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSyncer(spans))
	reader := sdkmetric.NewManualReader()
	mp := sdkmetric.NewMeterProvider(sdkmetric.WithReader(reader))
	t.Cleanup(func() {
		_ = tp.Shutdown(context.Background())
		_ = mp.Shutdown(context.Background())
	})
	return &telemetryEnv{spans: spans, reader: reader, opts: []Option{WithTracerProvider(tp), WithMeterProvider(mp)}}
}

// metrics collects what the reader holds, by metric name.
func (e *telemetryEnv) metrics(t *testing.T) map[string]metricdata.Metrics {
	t.Helper()
	var rm metricdata.ResourceMetrics
	require.NoError(t, e.reader.Collect(context.Background(), &rm))
	out := map[string]metricdata.Metrics{}
	for _, sm := range rm.ScopeMetrics {
		for _, m := range sm.Metrics {
			out[m.Name] = m
		}
	}
	return out
}

// byName returns the ended spans called name.
func (e *telemetryEnv) byName(name string) []sdktrace.ReadOnlySpan {
	var out []sdktrace.ReadOnlySpan
	for _, s := range e.spans.GetSpans().Snapshots() {
		if s.Name() == name {
			out = append(out, s)
		}
	}
	return out
}

// attrs maps a span's (or a data point's) attributes by key.
func attrs(kvs []attribute.KeyValue) map[attribute.Key]attribute.Value {
	m := make(map[attribute.Key]attribute.Value, len(kvs))
	for _, kv := range kvs {
		m[kv.Key] = kv.Value
	}
	return m
}

// counterValues sums an int64 counter's points by the value of key.
func counterValues(t *testing.T, m metricdata.Metrics, key attribute.Key) map[string]int64 {
	t.Helper()
	sum, ok := m.Data.(metricdata.Sum[int64])
	require.True(t, ok, "%s is an int64 sum, not %T", m.Name, m.Data)
	assert.True(t, sum.IsMonotonic, "%s is a counter", m.Name)
	out := map[string]int64{}
	for _, p := range sum.DataPoints {
		v, _ := p.Attributes.Value(key)
		out[v.String()] += p.Value
	}
	return out
}

// histogramPoints returns a float64 histogram's points.
func histogramPoints(t *testing.T, m metricdata.Metrics) []metricdata.HistogramDataPoint[float64] {
	t.Helper()
	h, ok := m.Data.(metricdata.Histogram[float64])
	require.True(t, ok, "%s is a float64 histogram, not %T", m.Name, m.Data)
	return h.DataPoints
}

// flakyFront stands before a sandbox and answers the requests the test
// picks with status (a 503 for the token call), asking for a wait, after
// reading their bodies whole; it records every upload request's body
// length.
type flakyFront struct {
	mu       sync.Mutex
	uploads  int
	creates  int
	bodySent []int64 // of every upload request that reached it
}

func newFlakyFront(t *testing.T, target string, failUpload, failCreate, status int) (*flakyFront, *httptest.Server) {
	t.Helper()
	u, err := url.Parse(target)
	require.NoError(t, err)
	proxy := httputil.NewSingleHostReverseProxy(u)
	f := &flakyFront{}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		f.mu.Lock()
		fail := false
		switch {
		case r.Method == http.MethodPost && r.URL.Path == "/upload":
			f.uploads++
			fail = f.uploads == failUpload
		case r.Method == http.MethodPost && r.URL.Path == "/upload-tokens":
			f.creates++
			fail = f.creates == failCreate
		}
		f.mu.Unlock()
		if !fail {
			if r.URL.Path == "/upload" {
				body, err := io.ReadAll(r.Body)
				if err != nil {
					http.Error(w, err.Error(), http.StatusBadRequest)
					return
				}
				f.mu.Lock()
				f.bodySent = append(f.bodySent, int64(len(body)))
				f.mu.Unlock()
				r.Body = io.NopCloser(strings.NewReader(string(body)))
			}
			proxy.ServeHTTP(w, r)
			return
		}
		n, _ := io.Copy(io.Discard, r.Body)
		if r.URL.Path == "/upload" {
			f.mu.Lock()
			f.bodySent = append(f.bodySent, n)
			f.mu.Unlock()
		}
		w.Header().Set("Retry-After", "2")
		if r.URL.Path == "/upload" {
			reply(w, status, `{"title":"no","status":`+strconv.Itoa(status)+`}`)
			return
		}
		reply(w, http.StatusServiceUnavailable, `{"title":"busy","status":503}`)
	}))
	t.Cleanup(srv.Close)
	return f, srv
}

// TestTelemetryOfAnUploadWithARetry mints a token (its first try answered
// 503), uploads three chunks one at a time (the second chunk's first try
// answered 503 with Retry-After: 2), reads the token and deletes it, and
// checks the spans and the metrics recorded, and that none holds the token
// or the key.
func TestTelemetryOfAnUploadWithARetry(t *testing.T) {
	sb := sandboxtest.NewServer(t, sandbox.WithDataDir(t.TempDir()))
	front, srv := newFlakyFront(t, sb.URL, 2, 1, http.StatusServiceUnavailable)
	tel := newTelemetryEnv(t)
	c, err := New(append([]Option{WithBaseURL(srv.URL), WithAPIKey(sb.APIKey), WithRetryPolicy(fastRetries)}, tel.opts...)...)
	require.NoError(t, err)
	waits := &sleeps{}
	c.caller.sleep = waits.sleep
	ctx := t.Context()

	tok, err := c.CreateUploadToken(ctx, time.Hour)
	require.NoError(t, err)
	const size = 2*testChunk + 100
	data := testData(size, 25)
	res, err := c.Upload(ctx, tok.Token, ReaderAt(bytesReader(data), size), &UploadOptions{ChunkSize: testChunk, Concurrency: 1})
	require.NoError(t, err)
	require.Equal(t, 3, res.Chunks)
	_, err = c.GetUploadToken(ctx, tok.Token)
	require.NoError(t, err)
	require.NoError(t, c.DeleteUploadToken(ctx, tok.Token))
	// The two waits the server asked for, honoured; the sleeps are faked,
	// so the client's pacer also holds the calls that follow each of them
	// for what it believes is left of the pause.
	asked := 0
	for _, w := range waits.all() {
		if w == 2*time.Second {
			asked++
			continue
		}
		assert.Less(t, w, 2*time.Second, "a hold for what is left of a pause")
	}
	assert.Equal(t, 2, asked, "the server's waits, honoured: %v", waits.all())

	// The token calls: one span each, the create one with its retry.
	for _, tc := range []struct {
		span, op string
		attempts int
		status   int
	}{
		{"avupload.token.create", opCreateToken, 2, http.StatusOK},
		{"avupload.token.get", opGetToken, 1, http.StatusOK},
		{"avupload.token.delete", opDeleteToken, 1, http.StatusNoContent},
	} {
		spans := tel.byName(tc.span)
		require.Len(t, spans, 1, tc.span)
		s := spans[0]
		a := attrs(s.Attributes())
		assert.Equal(t, trace.SpanKindClient, s.SpanKind(), tc.span)
		assert.Equal(t, tc.op, a[keyOperation].AsString(), tc.span)
		assert.Equal(t, int64(tc.attempts), a[keyAttempts].AsInt64(), tc.span)
		assert.Equal(t, int64(tc.status), a[keyStatus].AsInt64(), tc.span)
		assert.NotEqual(t, codes.Error, s.Status().Code, tc.span)
		if tc.attempts > 1 {
			require.Len(t, s.Events(), 1, "the retry, as an event")
			ev := attrs(s.Events()[0].Attributes)
			assert.Equal(t, "avupload.retry", s.Events()[0].Name)
			assert.Equal(t, "http_503", ev[keyRetryReason].AsString())
			assert.Equal(t, 2.0, ev[keyRetryWait].AsFloat64())
			assert.True(t, ev[keyServerAsked].AsBool())
			assert.Equal(t, int64(1), ev[keyAttempt].AsInt64())
		}
	}

	// The upload, and under it each chunk attempt.
	ups := tel.byName("avupload.upload")
	require.Len(t, ups, 1)
	up := ups[0]
	ua := attrs(up.Attributes())
	assert.Equal(t, "ok", ua[keyOutcome].AsString())
	assert.Equal(t, res.Video.VideoID, ua[keyVideoID].AsString())
	assert.Equal(t, int64(size), ua[keySize].AsInt64())
	assert.Equal(t, testChunk, ua[keyChunkSize].AsInt64())
	assert.Equal(t, int64(1), ua[keyConcurrency].AsInt64())
	assert.Equal(t, int64(3), ua[keyChunks].AsInt64())
	assert.Equal(t, int64(0), ua[keyResumedBytes].AsInt64())
	assert.Equal(t, codes.Unset, up.Status().Code)

	type attempt struct {
		index, attempt, status int64
		rng, result, reason    string
		wait, waitBefore       float64
	}
	var got []attempt
	var sentInSpans int64
	for _, s := range tel.byName("avupload.chunk") {
		assert.Equal(t, up.SpanContext().TraceID(), s.SpanContext().TraceID(), "one trace")
		assert.Equal(t, up.SpanContext().SpanID(), s.Parent().SpanID(), "a child of the upload's span")
		a := attrs(s.Attributes())
		got = append(got, attempt{index: a[keyChunkIndex].AsInt64(), attempt: a[keyAttempt].AsInt64(),
			status: a[keyStatus].AsInt64(), rng: a[keyChunkRange].AsString(), result: a[keyChunkResult].AsString(),
			reason: a[keyRetryReason].AsString(), wait: a[keyRetryWait].AsFloat64(), waitBefore: a[keyWaitBefore].AsFloat64()})
		sentInSpans += a[keyChunkSent].AsInt64()
		if a[keyChunkResult].AsString() == "retried" {
			assert.Equal(t, codes.Error, s.Status().Code)
			assert.Equal(t, "http_503", s.Status().Description)
		}
	}
	r := func(from, to int64) string { return "bytes " + itoa(from) + "-" + itoa(to) + "/" + itoa(size) }
	assert.Equal(t, []attempt{
		{index: 0, attempt: 1, status: 201, rng: r(0, testChunk-1), result: "ok"},
		{index: 1, attempt: 1, status: 503, rng: r(testChunk, 2*testChunk-1), result: "retried", reason: "http_503", wait: 2},
		{index: 1, attempt: 2, status: 201, rng: r(testChunk, 2*testChunk-1), result: "ok", waitBefore: 2},
		{index: 2, attempt: 1, status: 201, rng: r(2*testChunk, size-1), result: "ok"},
	}, got)

	// The metrics.
	front.mu.Lock()
	var bodies int64
	for _, n := range front.bodySent {
		bodies += n
	}
	front.mu.Unlock()
	m := tel.metrics(t)
	assert.Equal(t, map[string]int64{opUpload: bodies}, counterValues(t, m["avupload.upload.bytes_sent"], keyOperation),
		"every attempt's body, the one answered 503 included")
	assert.Equal(t, bodies, sentInSpans)
	assert.Greater(t, bodies, int64(size)+testChunk, "the chunk sent twice counts twice")
	assert.Equal(t, map[string]int64{"": size}, counterValues(t, m["avupload.upload.bytes_acknowledged"], keyOperation))
	assert.Equal(t, map[string]int64{opUpload: 1, opCreateToken: 1}, counterValues(t, m["avupload.retries"], keyOperation))
	assert.Equal(t, map[string]int64{"http_503": 2}, counterValues(t, m["avupload.retries"], keyRetryReason))
	assert.Equal(t, map[string]int64{"ok": 1}, counterValues(t, m["avupload.uploads"], keyOutcome))

	results := map[string]uint64{}
	for _, p := range histogramPoints(t, m["avupload.chunk.duration"]) {
		v, _ := p.Attributes.Value(keyChunkResult)
		results[v.AsString()] += p.Count
		assert.Positive(t, p.Sum)
	}
	assert.Equal(t, map[string]uint64{"ok": 3, "retried": 1}, results)
	var waitCount uint64
	var waitSum float64
	for _, p := range histogramPoints(t, m["avupload.server_wait.duration"]) {
		waitCount += p.Count
		waitSum += p.Sum
	}
	assert.Equal(t, uint64(2), waitCount, "the upload's wait and the token call's")
	assert.Equal(t, 4.0, waitSum)

	assertNoSecret(t, tel.spans.GetSpans().Snapshots(), m, tok.Token, sb.APIKey)
}

// assertNoSecret checks that no span name, attribute, event or status, and
// no metric attribute, holds one of secrets or a token query.
func assertNoSecret(t *testing.T, spans []sdktrace.ReadOnlySpan, m map[string]metricdata.Metrics, secrets ...string) {
	t.Helper()
	var texts []string
	add := func(kvs []attribute.KeyValue) {
		for _, kv := range kvs {
			texts = append(texts, string(kv.Key)+"="+kv.Value.String())
		}
	}
	for _, s := range spans {
		texts = append(texts, s.Name(), s.Status().Description)
		add(s.Attributes())
		for _, ev := range s.Events() {
			texts = append(texts, ev.Name)
			add(ev.Attributes)
		}
	}
	for _, metric := range m {
		switch d := metric.Data.(type) {
		case metricdata.Sum[int64]:
			for _, p := range d.DataPoints {
				add(p.Attributes.ToSlice())
			}
		case metricdata.Histogram[float64]:
			for _, p := range d.DataPoints {
				add(p.Attributes.ToSlice())
			}
		}
	}
	require.NotEmpty(t, texts)
	for _, text := range texts {
		for _, s := range secrets {
			require.NotEmpty(t, s)
			assert.NotContains(t, text, s, "a secret in the telemetry")
		}
		assert.NotContains(t, text, "token=", "a URL's query in the telemetry")
		assert.NotContains(t, text, "Authorization")
	}
}

func itoa(n int64) string { return strconv.FormatInt(n, 10) }

// TestTelemetryOfARefusedUpload checks the outcome and the spans of an
// upload the API refuses: no retry, the refusal's status on the attempt,
// the upload counted as refused, its error free of the token.
func TestTelemetryOfARefusedUpload(t *testing.T) {
	tel := newTelemetryEnv(t)
	sb := sandboxtest.NewServer(t, sandbox.WithDataDir(t.TempDir()))
	_, srv := newFlakyFront(t, sb.URL, 2, 0, http.StatusForbidden)
	token, err := sb.Sandbox.CreateToken(0)
	require.NoError(t, err)
	c, err := New(append([]Option{WithBaseURL(srv.URL), WithRetryPolicy(fastRetries)}, tel.opts...)...)
	require.NoError(t, err)
	const size = 2*testChunk + 1
	_, err = c.Upload(t.Context(), token, ReaderAt(bytesReader(testData(size, 3)), size),
		&UploadOptions{ChunkSize: testChunk, Concurrency: 1})
	require.ErrorIs(t, err, ErrForbidden)

	ups := tel.byName("avupload.upload")
	require.Len(t, ups, 1)
	ua := attrs(ups[0].Attributes())
	assert.Equal(t, "refused", ua[keyOutcome].AsString())
	assert.NotEmpty(t, ua[keyVideoID].AsString(), "the video the first chunk made")
	assert.Equal(t, codes.Error, ups[0].Status().Code)
	assert.NotEmpty(t, ups[0].Status().Description)

	chunks := tel.byName("avupload.chunk")
	require.Len(t, chunks, 2)
	last := attrs(chunks[1].Attributes())
	assert.Equal(t, int64(403), last[keyStatus].AsInt64())
	assert.Equal(t, "failed", last[keyChunkResult].AsString())
	assert.Equal(t, "http_403", chunks[1].Status().Description)

	m := tel.metrics(t)
	assert.Equal(t, map[string]int64{"refused": 1}, counterValues(t, m["avupload.uploads"], keyOutcome))
	_, retried := m["avupload.retries"]
	assert.False(t, retried, "no retry recorded")
	assert.Equal(t, map[string]int64{"": testChunk}, counterValues(t, m["avupload.upload.bytes_acknowledged"], keyOperation))
	assertNoSecret(t, tel.spans.GetSpans().Snapshots(), m, token, sb.APIKey)
}

// TestTelemetryOptions checks the options' refusals and that a client
// given neither provider records nothing and hands a no-op meter provider
// to the packages built on it.
func TestTelemetryOptions(t *testing.T) {
	_, err := New(WithTracerProvider(nil))
	require.ErrorIs(t, err, ErrInvalidInput)
	_, err = New(WithMeterProvider(nil))
	require.ErrorIs(t, err, ErrInvalidInput)

	c, err := New()
	require.NoError(t, err)
	assert.Nil(t, c.caller.tel)
	require.NotNil(t, c.MeterProvider())

	tel := newTelemetryEnv(t)
	c, err = New(tel.opts[1]) // the meter provider alone
	require.NoError(t, err)
	require.NotNil(t, c.caller.tel)
	counter, err := c.MeterProvider().Meter("test").Int64Counter("test.count")
	require.NoError(t, err)
	counter.Add(t.Context(), 3)
	assert.Equal(t, map[string]int64{"": 3}, counterValues(t, tel.metrics(t)["test.count"], "none"),
		"the meter provider given is the one handed on")
}

// TestFailureReason names every kind of failed attempt.
func TestFailureReason(t *testing.T) {
	for _, tc := range []struct {
		status int
		err    error
		want   string
	}{
		{503, nil, "http_503"},
		{429, nil, "http_429"},
		{0, nil, ""},
		{0, ErrStalled, "stalled"},
		{0, &unexpectedAnswer{}, "unexpected_answer"},
		{0, context.Canceled, "canceled"},
		{0, context.DeadlineExceeded, "timeout"},
		{0, &url.Error{Op: "Post", URL: "https://x/upload?token=" + testToken, Err: io.ErrUnexpectedEOF}, "network"},
	} {
		assert.Equal(t, tc.want, failureReason(tc.status, tc.err), "%d %v", tc.status, tc.err)
	}
}

// TestObservabilityDocNamesEverything checks that docs/OBSERVABILITY.md
// names every span, attribute key and metric the client records.
func TestObservabilityDocNamesEverything(t *testing.T) {
	doc, err := os.ReadFile(filepath.Join("..", "docs", "OBSERVABILITY.md"))
	require.NoError(t, err)
	names := []string{spanUpload, spanChunk, spanCall, eventRetry,
		callSpanName(opCreateToken), callSpanName(opListTokens), callSpanName(opGetToken), callSpanName(opDeleteToken),
		metricBytesSent, metricBytesAcked, metricChunkTime, metricRetries, metricServerWait, metricUploads}
	for _, k := range []attribute.Key{keyOperation, keyAttempts, keyAttempt, keyWaitBefore, keyStatus, keyChunkIndex,
		keyChunkRange, keyChunkSent, keyChunkResult, keyRetryReason, keyRetryWait, keyServerAsked, keySize,
		keyChunkSize, keyConcurrency, keyChunks, keyResumedBytes, keyResumedChunks, keyOutcome, keyVideoID} {
		names = append(names, string(k))
	}
	for _, n := range names {
		assert.Contains(t, string(doc), "`"+n+"`", "docs/OBSERVABILITY.md does not name %s", n)
	}
}
