package main

import (
	"bytes"
	"compress/gzip"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	collectormetrics "go.opentelemetry.io/proto/otlp/collector/metrics/v1"
	collectortrace "go.opentelemetry.io/proto/otlp/collector/trace/v1"
	commonpb "go.opentelemetry.io/proto/otlp/common/v1"
	"google.golang.org/protobuf/proto"

	"github.com/avupload/avupload/sandbox/sandboxtest"
)

// otlpReceiver is a local OTLP/HTTP collector: it keeps the raw bodies
// and the decoded spans and metrics of what is posted to it.
type otlpReceiver struct {
	srv     *httptest.Server
	mu      sync.Mutex
	raw     [][]byte
	spans   []span
	metrics map[string]bool // names
	service map[string]bool // service.name of every resource
	bad     []string        // requests it could not take
}

// span is what the test checks of a received span.
type span struct {
	name  string
	attrs map[string]string
}

func anyValue(v *commonpb.AnyValue) string {
	switch x := v.GetValue().(type) {
	case *commonpb.AnyValue_StringValue:
		return x.StringValue
	case *commonpb.AnyValue_IntValue:
		return strconv.FormatInt(x.IntValue, 10)
	case *commonpb.AnyValue_BoolValue:
		if x.BoolValue {
			return "true"
		}
		return "false"
	}
	return v.String()
}

func newOTLPReceiver(t *testing.T) *otlpReceiver {
	t.Helper()
	r := &otlpReceiver{metrics: map[string]bool{}, service: map[string]bool{}}
	r.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		var body io.Reader = req.Body
		if req.Header.Get("Content-Encoding") == "gzip" {
			zr, err := gzip.NewReader(req.Body)
			if err != nil {
				http.Error(w, err.Error(), http.StatusBadRequest)
				return
			}
			body = zr
		}
		raw, err := io.ReadAll(body)
		r.mu.Lock()
		defer r.mu.Unlock()
		if err != nil || req.Method != http.MethodPost || req.Header.Get("Content-Type") != "application/x-protobuf" {
			r.bad = append(r.bad, req.Method+" "+req.URL.Path+" "+req.Header.Get("Content-Type"))
			http.Error(w, "bad request", http.StatusBadRequest)
			return
		}
		r.raw = append(r.raw, raw)
		var answer proto.Message
		switch req.URL.Path {
		case "/v1/traces":
			var m collectortrace.ExportTraceServiceRequest
			if err := proto.Unmarshal(raw, &m); err != nil {
				r.bad = append(r.bad, "traces: "+err.Error())
				http.Error(w, err.Error(), http.StatusBadRequest)
				return
			}
			for _, rs := range m.GetResourceSpans() {
				r.resource(rs.GetResource().GetAttributes())
				for _, ss := range rs.GetScopeSpans() {
					for _, s := range ss.GetSpans() {
						sp := span{name: s.GetName(), attrs: map[string]string{}}
						for _, kv := range s.GetAttributes() {
							sp.attrs[kv.GetKey()] = anyValue(kv.GetValue())
						}
						r.spans = append(r.spans, sp)
					}
				}
			}
			answer = &collectortrace.ExportTraceServiceResponse{}
		case "/v1/metrics":
			var m collectormetrics.ExportMetricsServiceRequest
			if err := proto.Unmarshal(raw, &m); err != nil {
				r.bad = append(r.bad, "metrics: "+err.Error())
				http.Error(w, err.Error(), http.StatusBadRequest)
				return
			}
			for _, rm := range m.GetResourceMetrics() {
				r.resource(rm.GetResource().GetAttributes())
				for _, sm := range rm.GetScopeMetrics() {
					for _, metric := range sm.GetMetrics() {
						r.metrics[metric.GetName()] = true
					}
				}
			}
			answer = &collectormetrics.ExportMetricsServiceResponse{}
		default:
			r.bad = append(r.bad, "path "+req.URL.Path)
			http.NotFound(w, req)
			return
		}
		out, _ := proto.Marshal(answer)
		w.Header().Set("Content-Type", "application/x-protobuf")
		_, _ = w.Write(out)
	}))
	t.Cleanup(r.srv.Close)
	return r
}

func (r *otlpReceiver) resource(kvs []*commonpb.KeyValue) {
	for _, kv := range kvs {
		if kv.GetKey() == "service.name" {
			r.service[anyValue(kv.GetValue())] = true
		}
	}
}

// spanNames returns how many spans of each name arrived.
func (r *otlpReceiver) spanNames() map[string]int {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := map[string]int{}
	for _, s := range r.spans {
		out[s.name]++
	}
	return out
}

// TestOTelExportsToACollector runs token create and an upload with --otel
// against a sandbox, the collector named by OTEL_EXPORTER_OTLP_ENDPOINT a
// local receiver, and checks what arrives there, decoded: the command's
// span, the token call's, the upload's and its chunk's, the upload's
// metrics, avupload as the service, and neither the token nor the key
// anywhere in the bytes received.
func TestOTelExportsToACollector(t *testing.T) {
	recv := newOTLPReceiver(t)
	t.Setenv("OTEL_EXPORTER_OTLP_ENDPOINT", recv.srv.URL)
	t.Setenv("OTEL_SERVICE_NAME", "")
	t.Setenv("OTEL_RESOURCE_ATTRIBUTES", "")
	srv := sandboxtest.NewServer(t)
	env := map[string]string{envBaseURL: srv.URL, envAPIKey: srv.APIKey}

	code, out, errw := runEnv(t, env, "token", "create", "-q", "--otel")
	require.Equal(t, exitOK, code, errw)
	token := strings.TrimSpace(out)
	require.NotEmpty(t, token)
	code, out, errw = runEnv(t, map[string]string{envToken: token}, "upload", "--otel", "--base-url", srv.URL, smallFile(t))
	require.Equal(t, exitOK, code, errw)
	assert.Contains(t, out, "video id")
	assert.NotContains(t, errw, "--otel", "every export went through")

	names := recv.spanNames()
	assert.Equal(t, 1, names["avupload token create"], "the command's span: %v", names)
	assert.Equal(t, 1, names["avupload.token.create"], "%v", names)
	assert.Equal(t, 1, names["avupload.upload"], "%v", names)
	assert.Equal(t, 1, names["avupload.chunk"], "%v", names)

	recv.mu.Lock()
	defer recv.mu.Unlock()
	assert.Empty(t, recv.bad)
	assert.Equal(t, map[string]bool{"avupload": true}, recv.service)
	for _, name := range []string{"avupload.uploads", "avupload.upload.bytes_sent", "avupload.upload.bytes_acknowledged", "avupload.chunk.duration"} {
		assert.True(t, recv.metrics[name], "metric %s arrived: %v", name, recv.metrics)
	}
	for _, s := range recv.spans {
		if s.name == "avupload.upload" {
			assert.Equal(t, "ok", s.attrs["avupload.upload.outcome"])
			assert.Equal(t, "13", s.attrs["avupload.upload.size"])
			assert.NotEmpty(t, s.attrs["avupload.video.id"])
		}
	}
	require.NotEmpty(t, recv.raw)
	for _, raw := range recv.raw {
		assert.False(t, bytes.Contains(raw, []byte(token)), "the token reached the collector")
		assert.False(t, bytes.Contains(raw, []byte(srv.APIKey)), "the API key reached the collector")
		assert.False(t, bytes.Contains(raw, []byte("token=")), "a URL's query reached the collector")
	}
}

// TestOTelOffOrRefused checks that nothing is exported without --otel,
// that a protocol other than OTLP/HTTP is refused as a usage error, and
// that a collector that cannot be reached is said once, without changing
// the exit status.
func TestOTelOffOrRefused(t *testing.T) {
	srv := sandboxtest.NewServer(t)
	env := map[string]string{envBaseURL: srv.URL, envAPIKey: srv.APIKey}

	recv := newOTLPReceiver(t)
	t.Setenv("OTEL_EXPORTER_OTLP_ENDPOINT", recv.srv.URL)
	code, _, errw := runEnv(t, env, "token", "list")
	require.Equal(t, exitOK, code, errw)
	assert.Empty(t, recv.spanNames(), "nothing sent without --otel")

	t.Setenv("OTEL_EXPORTER_OTLP_PROTOCOL", "grpc")
	code, _, errw = runEnv(t, env, "token", "list", "--otel")
	assert.Equal(t, exitUsage, code)
	assert.Contains(t, errw, "--otel exports over OTLP/HTTP (http/protobuf), not grpc as $OTEL_EXPORTER_OTLP_PROTOCOL asks")

	t.Setenv("OTEL_EXPORTER_OTLP_PROTOCOL", "http/protobuf")
	gone := httptest.NewServer(http.NotFoundHandler())
	gone.Close()
	t.Setenv("OTEL_EXPORTER_OTLP_ENDPOINT", gone.URL)
	t.Setenv("OTEL_EXPORTER_OTLP_TIMEOUT", "500")
	code, _, errw = runEnv(t, env, "token", "list", "--otel")
	assert.Equal(t, exitOK, code, errw)
	assert.Equal(t, 1, strings.Count(errw, "avupload: --otel: the traces and metrics could not all be sent"), errw)
	assert.NotContains(t, errw, srv.APIKey)
}
