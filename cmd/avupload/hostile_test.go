package main

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/avupload/avupload/internal/testutil"
	"github.com/avupload/avupload/wrapper"
)

// ansi is a payload a hostile server puts in its text: it renames the
// terminal window, erases the line and forges a success line, with a C1
// control sequence introducer and a right-to-left override for good measure.
const ansi = "\x1b]0;owned\x07\x1b[2K\rupload complete\u009b31m\u202e"

// runAgainst runs avupload with args against a server answering with h and
// returns the exit code, standard output and standard error.
func runAgainst(t *testing.T, h http.HandlerFunc, args ...string) (int, string, string) {
	t.Helper()
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	var out, errw bytes.Buffer
	env := map[string]string{envToken: "toS3cr3tUploadTok", envAPIKey: "key-S3cr3t"}
	code := run(context.Background(), append(args, "--base-url", srv.URL),
		stdio{strings.NewReader(""), &out, &errw}, func(k string) string { return env[k] })
	assert.NotContains(t, out.String()+errw.String(), "toS3cr3tUploadTok")
	assert.NotContains(t, out.String()+errw.String(), "key-S3cr3t")
	return code, out.String(), errw.String()
}

func smallFile(t *testing.T) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "small.bin")
	require.NoError(t, os.WriteFile(p, []byte("a small video"), 0o600))
	return p
}

// noControls fails when s holds a character that drives a terminal.
func noControls(t *testing.T, s string) {
	t.Helper()
	for _, r := range s {
		if r != '\n' && r != '\t' {
			assert.False(t, unsafeRune(r), "%q holds %U", s, r)
		}
	}
}

// TestServerTextIsEscaped feeds ANSI and OSC sequences through every place
// the CLI prints server text: an error's title and detail, a video id in
// the result, as text and as JSON, and tokens in a list.
func TestServerTextIsEscaped(t *testing.T) {
	q := func(s string) string { b, _ := jsonString(s); return b }
	tests := []struct {
		name string
		h    http.HandlerFunc
		args []string
		code int
	}{
		{"error title and detail", testutil.Answer(400, `{"title":`+q("bad "+ansi)+`,"detail":`+q(ansi)+`,"status":400}`),
			[]string{"upload", smallFile(t)}, exitFailure},
		{"video id", testutil.Answer(201, `{"videoId":`+q("vi"+ansi)+`,"assets":{"player":`+q("https://p/"+ansi)+`}}`),
			[]string{"upload", smallFile(t)}, exitOK},
		{"video id as JSON", testutil.Answer(201, `{"videoId":`+q("vi"+ansi)+`,"title":`+q(ansi)+`}`),
			[]string{"upload", "--json", smallFile(t)}, exitOK},
		{"token list", testutil.Answer(200, `{"data":[{"token":`+q("to"+ansi)+`,"ttl":0}],"pagination":{"links":[]}}`),
			[]string{"token", "list"}, exitOK},
		{"token list, quiet", testutil.Answer(200, `{"data":[{"token":`+q("to"+ansi)+`,"ttl":0}],"pagination":{"links":[]}}`),
			[]string{"token", "list", "-q"}, exitOK},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, out, errw := runAgainst(t, tt.h, tt.args...)
			assert.Equal(t, tt.code, code, "stderr: %s", errw)
			noControls(t, out)
			noControls(t, errw)
			assert.Contains(t, out+errw, "owned", "the text is shown, escaped, not dropped")
		})
	}
}

// jsonString encodes s as a JSON string.
func jsonString(s string) (string, error) {
	b, err := json.Marshal(s)
	return string(b), err
}

func TestEscapeText(t *testing.T) {
	tests := []struct{ in, want string }{
		{"plain text, accents: é, 日本", "plain text, accents: é, 日本"},
		{"\x1b[2K\r", `\x1b[2K\x0d`},
		{"a\u009bb", `a\u009bb`},
		{"a\u202eb", `a\u202eb`},
		{"a\x7fb", `a\x7fb`},
		{"bad \xff byte", `bad \xff byte`},
	}
	for _, tt := range tests {
		assert.Equal(t, tt.want, escapeText(tt.in))
	}
}

// TestRefusedLongWaitSaysWhenToRerun: a server asking to wait a day ends
// the upload at once, and the CLI says when to run it again and how it
// resumes.
func TestRefusedLongWaitSaysWhenToRerun(t *testing.T) {
	h := testutil.Answer(429, `{"title":"Too many requests.","status":429}`, "X-RateLimit-Remaining", "0", "X-RateLimit-Retry-After", "86400")
	code, _, errw := runAgainst(t, h, "upload", smallFile(t))
	assert.Equal(t, exitFailure, code)
	assert.Contains(t, errw, "the server asks to wait 24h0m0s: run the command again after ")
	assert.Contains(t, errw, "with --state-file, an upload resumes where it stopped")

	state := filepath.Join(t.TempDir(), "s.state")
	code, _, errw = runAgainst(t, h, "upload", "--state-file", state, smallFile(t))
	assert.Equal(t, exitFailure, code)
	assert.Contains(t, errw, "it resumes from "+state)
}

// TestRetryWaitIsTold: a wait of more than 2 s before a retry is told on
// standard error.
func TestRetryWaitIsTold(t *testing.T) {
	var answered atomic.Bool
	h := func(w http.ResponseWriter, r *http.Request) {
		if !answered.Swap(true) {
			testutil.Answer(503, `{}`, "Retry-After", "3")(w, r)
			return
		}
		testutil.Answer(201, `{"videoId":"vi1"}`)(w, r)
	}
	code, _, errw := runAgainst(t, h, "upload", smallFile(t))
	assert.Equal(t, exitOK, code)
	assert.Contains(t, errw, "avupload: the server answered 503 Service Unavailable and asks to wait 3s; every request waits until then\n")
	assert.Equal(t, 1, strings.Count(errw, "asks to wait"), "the wait is told once: %s", errw)
}

func TestNotifierLines(t *testing.T) {
	tests := []struct {
		name string
		e    wrapper.Event
		want string
	}{
		{"short wait", wrapper.Event{Kind: wrapper.EventRetry, Wait: time.Second, Status: 503}, ""},
		{"long backoff", wrapper.Event{Kind: wrapper.EventRetry, Wait: 5 * time.Second, Attempt: 2, Err: io.ErrUnexpectedEOF},
			"avupload: the connection failed; trying again in 5s (attempt 3)\n"},
		{"server pause", wrapper.Event{Kind: wrapper.EventServerPause, Wait: 2 * time.Second, Status: 429},
			"avupload: the server answered 429 Too Many Requests and asks to wait 2s; every request waits until then\n"},
		{"server-asked retry, told by its pause", wrapper.Event{Kind: wrapper.EventRetry, Wait: 5 * time.Second, Status: 429, ServerAsked: true}, ""},
		{"idle", wrapper.Event{Kind: wrapper.EventIdle, Idle: 10 * time.Second},
			"avupload: nothing has moved for 10s; still waiting for the server (the attempt is abandoned and retried after 2m0s; see --stall-timeout)\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var b bytes.Buffer
			newNotifier(&b, false, 2*time.Minute).event(tt.e)
			assert.Equal(t, tt.want, b.String())
			var quiet bytes.Buffer
			newNotifier(&quiet, true, 2*time.Minute).event(tt.e)
			assert.Empty(t, quiet.String())
		})
	}
}
