package e2e

import (
	"bytes"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/stretchr/testify/require"
)

// otelKind is the collector a case's runs export their telemetry to with
// --otel, if any.
type otelKind string

const (
	otelNone      otelKind = ""
	otelCollector otelKind = "a collector"
	otelRefused   otelKind = "a collector refusing connections"
	otelStalled   otelKind = "a collector that never answers"
)

var (
	otelChoices = []otelKind{otelCollector, otelRefused, otelStalled}
	otelWeights = []int{3, 1, 1}
)

// otelFailed is what a run says when its telemetry could not be sent.
const otelFailed = "--otel: the traces and metrics could not all be sent"

// otelSink is where the runs of a case send their telemetry: a collector
// that keeps every export, an address that refuses connections, or a
// listener that takes connections and never answers (each export then waits
// for the run's flush timeout).
type otelSink struct {
	kind otelKind
	url  string

	mu     sync.Mutex
	traces [][]byte // the bodies of trace exports
	all    [][]byte // every export's body
}

func newOTelSink(t *testing.T, kind otelKind) *otelSink {
	s := &otelSink{kind: kind}
	switch kind {
	case otelCollector:
		srv := httptest.NewServer(http.HandlerFunc(s.serve))
		t.Cleanup(srv.Close)
		s.url = srv.URL
	case otelRefused:
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		require.NoError(t, err)
		s.url = "http://" + ln.Addr().String()
		require.NoError(t, ln.Close())
	case otelStalled:
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		require.NoError(t, err)
		s.url = "http://" + ln.Addr().String()
		var held []net.Conn
		var mu sync.Mutex
		go func() {
			for {
				c, err := ln.Accept()
				if err != nil {
					return
				}
				mu.Lock()
				held = append(held, c)
				mu.Unlock()
			}
		}()
		t.Cleanup(func() {
			_ = ln.Close()
			mu.Lock()
			defer mu.Unlock()
			for _, c := range held {
				_ = c.Close()
			}
		})
	}
	return s
}

// serve takes one OTLP/HTTP export and answers it with an empty success.
// The runs send it uncompressed (see env): a compressed export would hide
// a secret from leaked, but would also fail traced, loudly.
func (s *otelSink) serve(w http.ResponseWriter, r *http.Request) {
	b, err := io.ReadAll(r.Body)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	s.mu.Lock()
	s.all = append(s.all, b)
	if strings.HasSuffix(r.URL.Path, "/v1/traces") {
		s.traces = append(s.traces, b)
	}
	s.mu.Unlock()
	w.Header().Set("Content-Type", "application/x-protobuf")
	w.WriteHeader(http.StatusOK)
}

// env is what a run needs to export to the sink, its resource naming it
// by id so that its exports can be told from the others'.
func (s *otelSink) env(id string) []string {
	return []string{"OTEL_EXPORTER_OTLP_ENDPOINT=" + s.url, "OTEL_RESOURCE_ATTRIBUTES=avupload.check_run=" + id,
		"OTEL_EXPORTER_OTLP_PROTOCOL=http/protobuf", "OTEL_EXPORTER_OTLP_COMPRESSION=none"}
}

// traced reports whether a trace export names the run id.
func (s *otelSink) traced(id string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return anyHolds(s.traces, id)
}

// leaked reports whether an export holds secret.
func (s *otelSink) leaked(secret string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return anyHolds(s.all, secret)
}

// anyHolds reports whether one of bodies contains text.
func anyHolds(bodies [][]byte, text string) bool {
	for _, b := range bodies {
		if bytes.Contains(b, []byte(text)) {
			return true
		}
	}
	return false
}

// otelRunID names the run k of a case in its telemetry: no id is a
// prefix of another.
func otelRunID(k int) string { return fmt.Sprintf("checkrun%03dx", k) }

// checkOTel checks what the runs of a case with --otel exported, or said
// they could not: a run that ended by itself (not killed) flushed its trace
// to a collector, or said on stderr that it could not; no export holds a
// token or the API key.
func (pc *pcase) checkOTel() {
	s := pc.otel
	if s == nil {
		return
	}
	for _, r := range pc.runs {
		if r.signal != 0 {
			continue // killed: nothing is flushed
		}
		switch {
		case s.kind == otelCollector && !s.traced(r.otelID):
			pc.fail("telemetry lost", "%s ended (exit %d) but its trace never reached the collector", r.label, r.code)
		case s.kind != otelCollector && !strings.Contains(r.stderr, otelFailed):
			pc.fail("telemetry failure unsaid", "%s ended (exit %d) with --otel to %s, and did not say its telemetry was not sent",
				r.label, r.code, s.kind)
		}
	}
	for _, sec := range pc.allSecrets() {
		if len(sec) >= 8 && s.leaked(sec) {
			pc.fail("a secret in telemetry", "an export to the collector holds %s", secretKind(sec))
		}
	}
}
