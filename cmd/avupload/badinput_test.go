package main

import (
	"bytes"
	"context"
	"io"
	"io/fs"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"runtime"
	"runtime/debug"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/avupload/avupload/internal/testutil"
	"github.com/avupload/avupload/sandbox"
	"github.com/avupload/avupload/sandbox/sandboxtest"
	"github.com/avupload/avupload/wrapper"
)

// The tests of the bad inputs of issue 23, item 6: each says what is wrong
// in the user's words, with the exit code of the table in the help.

// longKey is an API key long enough to be redacted wherever it appears.
const longKey = "key-Sup3rS3cretApiKey-0123456789"

// failingWriter is a standard output whose every write fails with err.
type failingWriter struct{ err error }

func (w failingWriter) Write([]byte) (int, error) { return 0, w.err }

// runOut runs avupload with args, the environment env and out as its
// standard output, and returns the exit code and standard error.
func runOut(t *testing.T, out io.Writer, env map[string]string, args ...string) (int, string) {
	t.Helper()
	var errw bytes.Buffer
	code := run(context.Background(), args, stdio{strings.NewReader(""), out, &errw}, func(k string) string { return env[k] })
	return code, errw.String()
}

func TestVersionCommand(t *testing.T) {
	code, out, errw := runEnv(t, nil, "version")
	require.Equal(t, exitOK, code, errw)
	assert.Contains(t, out, "avupload "+wrapper.Version+"\n")
	assert.Contains(t, out, "commit:")
	assert.Contains(t, out, "go:       "+runtime.Version())
	assert.Contains(t, out, "platform: "+runtime.GOOS+"/"+runtime.GOARCH)

	code, out, _ = runEnv(t, nil, "--version")
	assert.Equal(t, exitOK, code)
	assert.Regexp(t, `^avupload version `+regexp.QuoteMeta(wrapper.Version), out, "--version keeps working")

	code, _, errw = runEnv(t, nil, "version", "extra")
	assert.Equal(t, exitUsage, code)
	assert.Contains(t, errw, `avupload version takes no arguments, got "extra"`)
}

func TestBuildInfoOf(t *testing.T) {
	b := buildInfoOf(&debug.BuildInfo{GoVersion: "go1.25.3", Settings: []debug.BuildSetting{
		{Key: "vcs.revision", Value: "5bd2b20c1a2b3c4d5e6f"}, {Key: "vcs.time", Value: "2026-12-01T10:00:00Z"}, {Key: "vcs.modified", Value: "true"},
	}})
	assert.Equal(t, "5bd2b20c1a2b3c4d5e6f (2026-12-01T10:00:00Z), with uncommitted changes", b.commit())
	assert.Equal(t, "go1.25.3", b.goVersion)
	assert.Equal(t, runtime.GOOS+"/"+runtime.GOARCH, b.platform)
	assert.Contains(t, buildInfoOf(nil).commit(), "not recorded", "a build without version control says so")
}

func TestCompletionUnknownShell(t *testing.T) {
	code, out, errw := runEnv(t, nil, "completion", "tcsh")
	assert.Equal(t, exitUsage, code, "stdout: %s", out)
	assert.Contains(t, errw, "avupload completion tcsh: no such shell; avupload writes completion scripts for bash, zsh, fish, powershell")
	assert.Empty(t, out, "no help on standard output")

	code, out, _ = runEnv(t, nil, "completion", "bash")
	assert.Equal(t, exitOK, code)
	assert.Contains(t, out, "bash completion")
}

// TestUnknownFlagSuggests: an unknown flag of any command is named with
// the flag of that command closest to it, and a long name with one dash is
// told to take two.
func TestUnknownFlagSuggests(t *testing.T) {
	tests := []struct {
		args []string
		want string
	}{
		{[]string{"upload", "--chunksize", "5M", "a.mp4"}, "unknown flag --chunksize; did you mean --chunk-size?"},
		{[]string{"upload", "--chunk-sise=5M", "a.mp4"}, "unknown flag --chunk-sise; did you mean --chunk-size?"},
		{[]string{"token", "list", "--sortby", "ttl"}, "unknown flag --sortby; did you mean --sort-by?"},
		{[]string{"token", "create", "--tll", "1h"}, "unknown flag --tll; did you mean --ttl?"},
		{[]string{"token", "list", "--base-ulr", "http://x"}, "unknown flag --base-ulr; did you mean --base-url?"},
		{[]string{"sandbox", "--adr", ":0"}, "unknown flag --adr; did you mean --addr?"},
		{[]string{"sandbox", "--data-directory", "d"}, "unknown flag --data-directory; did you mean --data-dir?"},
		{[]string{"upload", "--frobnicate", "a.mp4"}, "unknown flag --frobnicate\n"},
		// One dash.
		{[]string{"upload", "-token", "abc", "a.mp4"}, "-token: flags with long names take two dashes: --token\n"},
		{[]string{"upload", "-token=abc", "a.mp4"}, "-token: flags with long names take two dashes: --token\n"},
		{[]string{"token", "list", "-quiet"}, "-quiet: flags with long names take two dashes: --quiet\n"},
		{[]string{"upload", "-chunk-size", "5M", "a.mp4"}, "-chunk-size: flags with long names take two dashes: --chunk-size\n"},
		{[]string{"sandbox", "-addr", ":0"}, "-addr: flags with long names take two dashes: --addr\n"},
		{[]string{"token", "list", "-sortby", "ttl"}, "unknown flag -s in -sortby; did you mean --sort-by?"},
		// A file whose name starts with a dash.
		{[]string{"upload", "-x.mp4"}, "-x.mp4 is not a flag; to name a file that starts with -, put -- before it: avupload upload -- -x.mp4\n"},
	}
	for _, tt := range tests {
		t.Run(strings.Join(tt.args, " "), func(t *testing.T) {
			code, out, errw := runEnv(t, map[string]string{envAPIKey: longKey, envToken: "to1234567890abcdef"}, tt.args...)
			assert.Equal(t, exitUsage, code)
			assert.Contains(t, errw, "avupload: "+tt.want)
			assert.Contains(t, errw, "--help' for usage.")
			assert.Empty(t, out)
		})
	}
}

func TestLevenshtein(t *testing.T) {
	for _, tt := range []struct {
		a, b string
		want int
	}{{"", "", 0}, {"ttl", "", 3}, {"chunksize", "chunk-size", 1}, {"kitten", "sitting", 3}, {"sortby", "sort-by", 1}} {
		assert.Equal(t, tt.want, levenshtein(tt.a, tt.b), "%s %s", tt.a, tt.b)
		assert.Equal(t, tt.want, levenshtein(tt.b, tt.a), "%s %s", tt.b, tt.a)
	}
}

// TestNotAPIServer points the token commands at a plain web server, which
// answers 501 to POST and 404 to GET with HTML, as python -m http.server
// does, and at one answering 405.
func TestNotAPIServer(t *testing.T) {
	plain := func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html")
		switch r.Method {
		case http.MethodGet:
			w.WriteHeader(http.StatusNotFound)
		case http.MethodDelete:
			w.WriteHeader(http.StatusMethodNotAllowed)
		default:
			w.WriteHeader(http.StatusNotImplemented)
		}
		_, _ = io.WriteString(w, "<!DOCTYPE HTML><html><body><h1>Error response</h1><p>Unsupported method ('POST')</p></body></html>")
	}
	tests := []struct {
		args []string
		want string
	}{
		{[]string{"token", "create"}, "it answered 501 Not Implemented to POST /upload-tokens; is --base-url right?"},
		{[]string{"token", "list"}, "it answered 404 Not Found to GET /upload-tokens; is --base-url right?"},
		{[]string{"token", "delete", "to1234567890"}, "it answered 405 Method Not Allowed to DELETE /upload-tokens/TOKEN; is --base-url right?"},
	}
	for _, tt := range tests {
		t.Run(strings.Join(tt.args, " "), func(t *testing.T) {
			code, out, errw := runAgainst(t, plain, tt.args...)
			assert.Equal(t, exitFailure, code)
			assert.Regexp(t, `^avupload: the server at http://127\.0\.0\.1:\d+ does not speak the api\.video API: `, errw)
			assert.Contains(t, errw, tt.want)
			assert.NotContains(t, errw, "html", "no page in the message")
			assert.Empty(t, out)
		})
	}
}

// TestWrongScheme speaks https to a plain http server and plain http to a
// TLS server: the message says which the server speaks, with the URL to
// use, from the flag or the variable the URL came from.
func TestWrongScheme(t *testing.T) {
	plainSrv := httptest.NewServer(http.NotFoundHandler())
	t.Cleanup(plainSrv.Close)
	tlsSrv := httptest.NewTLSServer(http.NotFoundHandler())
	t.Cleanup(tlsSrv.Close)
	plainHost := strings.TrimPrefix(plainSrv.URL, "http://")
	tlsHost := strings.TrimPrefix(tlsSrv.URL, "https://")

	// A server that reads the request and hangs up without a word, as
	// some TLS servers do to plain http.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	t.Cleanup(func() { _ = ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				_, _ = c.Read(make([]byte, 4096))
				_ = c.Close()
			}()
		}
	}()

	tests := []struct {
		name string
		args []string
		env  map[string]string
		want string
	}{
		{"https to http", []string{"--base-url", "https://" + plainHost},
			nil, "cannot reach the server at https://" + plainHost + ": it speaks plain http, not https; use --base-url http://" + plainHost},
		{"https to http, from the environment", nil, map[string]string{envBaseURL: "https://" + plainHost},
			"it speaks plain http, not https; set AVUPLOAD_BASE_URL=http://" + plainHost},
		{"http to TLS", []string{"--base-url", "http://" + tlsHost},
			nil, "the server at http://" + tlsHost + " speaks https, not plain http (it answered 400 Bad Request: Client sent an HTTP request to an HTTPS server); use --base-url https://" + tlsHost},
		{"http to a server that hangs up", []string{"--base-url", "http://" + ln.Addr().String()},
			nil, "cannot reach the server at http://" + ln.Addr().String() + ": it closed the connection without an answer; if it serves https, use --base-url https://" + ln.Addr().String()},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			env := map[string]string{envAPIKey: longKey}
			for k, v := range tt.env {
				env[k] = v
			}
			code, out, errw := runEnv(t, env, append([]string{"token", "list"}, tt.args...)...)
			assert.Equal(t, exitFailure, code)
			assert.Contains(t, errw, tt.want)
			assert.NotContains(t, errw, "HTTPS client")
			assert.NotContains(t, errw, "EOF")
			assert.Empty(t, out)
		})
	}
}

// TestUntrustedCertificate: a server whose certificate is not trusted is
// told with --cacert and $AVUPLOAD_CACERT and, for a running 'avupload
// sandbox --tls', the very file it wrote its certificate to.
func TestUntrustedCertificate(t *testing.T) {
	t.Setenv("TMPDIR", t.TempDir()) // where the sandbox writes its certificate
	url, out, stop := runSandbox(t, "--tls")
	defer stop()
	m := regexp.MustCompile(`export AVUPLOAD_CACERT=(\S+)`).FindStringSubmatch(out.String())
	require.NotNil(t, m, out.String())
	certFile := m[1]

	code, stdout, errw := runEnv(t, map[string]string{envAPIKey: sandbox.DefaultAPIKey}, "token", "list", "--base-url", url)
	assert.Equal(t, exitFailure, code)
	assert.Contains(t, errw, "cannot reach the server at "+url+": its certificate is not signed by an authority this machine trusts; "+
		"pass --cacert FILE (or set AVUPLOAD_CACERT=FILE) with the certificate to trust; "+
		"'avupload sandbox --tls' wrote this server's certificate to "+certFile+": --cacert "+certFile)
	assert.NotContains(t, errw, "x509")
	assert.Empty(t, stdout)

	// As told, it works.
	code, _, errw = runEnv(t, map[string]string{envAPIKey: sandbox.DefaultAPIKey}, "token", "list", "--base-url", url, "--cacert", certFile)
	assert.Equal(t, exitOK, code, errw)

	// Another server: no file to name, but where to find one.
	other := httptest.NewTLSServer(http.NotFoundHandler())
	defer other.Close()
	code, _, errw = runEnv(t, map[string]string{envAPIKey: longKey}, "token", "list", "--base-url", other.URL, "--cacert", certFile)
	assert.Equal(t, exitFailure, code)
	assert.Contains(t, errw, "its certificate is not signed by an authority this machine trusts nor by one in --cacert "+certFile)
	assert.Contains(t, errw, "'avupload sandbox --tls' prints the file it wrote its certificate to (its line export AVUPLOAD_CACERT=...)")
}

func TestBaseURLPortOutOfRange(t *testing.T) {
	tests := []struct {
		name string
		args []string
		env  map[string]string
		want string
	}{
		{"flag", []string{"--base-url", "http://127.0.0.1:99999"}, nil, "--base-url http://127.0.0.1:99999: port 99999 is out of range (1 to 65535)"},
		{"port 0", []string{"--base-url", "http://127.0.0.1:0"}, nil, "--base-url http://127.0.0.1:0: port 0 is out of range (1 to 65535)"},
		{"environment", nil, map[string]string{envBaseURL: "https://localhost:70000"}, "$AVUPLOAD_BASE_URL https://localhost:70000: port 70000 is out of range (1 to 65535)"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			env := map[string]string{envAPIKey: longKey, envToken: "to1234567890abcdef"}
			for k, v := range tt.env {
				env[k] = v
			}
			for _, cmd := range [][]string{{"token", "list"}, {"upload", "a.mp4"}} {
				code, _, errw := runEnv(t, env, append(cmd, tt.args...)...)
				assert.Equal(t, exitUsage, code, "%v: %s", cmd, errw)
				assert.Contains(t, errw, "avupload: "+tt.want+"\n")
			}
		})
	}
}

// TestAPIKeyNeverEchoed: a TOKEN argument that is the API key is refused
// before it is sent, with none of it in the message, and any flag value
// that is the API key is redacted whole.
func TestAPIKeyNeverEchoed(t *testing.T) {
	var requests atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		requests.Add(1)
		w.Header().Set("Content-Type", "application/problem+json")
		w.WriteHeader(http.StatusNotFound)
		_, _ = io.WriteString(w, `{"type":"https://docs.api.video/reference/resource-not-found","title":"The requested resource was not found.","name":"uploadToken","status":404}`)
	}))
	defer srv.Close()
	for _, args := range [][]string{
		{"token", "get", longKey},
		{"token", "delete", longKey},
		{"token", "get", longKey + "\n"},
		{"token", "get", "--api-key", longKey, longKey},
	} {
		t.Run(strings.Join(args[:2], " "), func(t *testing.T) {
			env := map[string]string{envAPIKey: longKey}
			if slices.Contains(args, "--api-key") {
				env = nil
			}
			code, out, errw := runEnv(t, env, append(args, "--base-url", srv.URL)...)
			assert.Equal(t, exitUsage, code, errw)
			assert.Contains(t, errw, "avupload: TOKEN is the API key, not an upload token; it was not sent.")
			assert.NotContains(t, out+errw, longKey[:4], "not even its first characters")
			assert.Zero(t, requests.Load(), "the key is not sent as a token")
		})
	}
	// A mistyped flag value that is the key is not shown either.
	code, _, errw := runEnv(t, map[string]string{envAPIKey: longKey}, "token", "list", "--sort-by", longKey, "--base-url", srv.URL)
	assert.Equal(t, exitUsage, code)
	assert.Contains(t, errw, `--sort-by "REDACTED": want createdAt or ttl`)
	assert.NotContains(t, errw, longKey[:6])
}

// TestStdoutWriteFails: a command whose standard output cannot be written
// exits 1 saying so; a minted token is not lost unsaid (nor printed on
// standard error), and the message says how to find it.
func TestStdoutWriteFails(t *testing.T) {
	srv := sandboxtest.NewServer(t)
	env := map[string]string{envAPIKey: srv.APIKey, envBaseURL: srv.URL}
	full := failingWriter{&fs.PathError{Op: "write", Path: "/dev/stdout", Err: syscall.ENOSPC}}
	closed := failingWriter{&fs.PathError{Op: "write", Path: "/dev/stdout", Err: syscall.EBADF}}

	var stderrs []string
	for _, args := range [][]string{{"token", "create", "-q"}, {"token", "create", "--json"}, {"token", "create", "--ttl", "0"}} {
		code, errw := runOut(t, full, env, args...)
		assert.Equal(t, exitFailure, code, "%v", args)
		assert.Regexp(t, `^avupload: could not write the token to standard output: no space left on device; the token was minted at \d{4}-\d\d-\d\d \d\d:\d\d:\d\d UTC `+
			`and works until deleted or expired \((it expires at .* UTC|it never expires)\): 'avupload token list --sort-by createdAt --order desc' shows it first, 'avupload token delete TOKEN' deletes it\n$`, errw)
		stderrs = append(stderrs, errw)
	}
	assert.Contains(t, stderrs[2], "it never expires")
	// The tokens were minted, and none of them was told on standard error.
	code, out, errw := runEnv(t, env, "token", "list", "-q")
	require.Equal(t, exitOK, code, errw)
	tokens := strings.Fields(out)
	require.Len(t, tokens, 3)
	for _, tok := range tokens {
		for _, e := range stderrs {
			assert.NotContains(t, e, tok[:6])
		}
	}

	for _, args := range [][]string{{"token", "list"}, {"token", "list", "--json"}, {"version"}, {"--help"}} {
		code, errw := runOut(t, closed, env, args...)
		assert.Equal(t, exitFailure, code, "%v", args)
		assert.Equal(t, "avupload: could not write to standard output: it is closed\n", errw, "%v", args)
	}
}

func TestSizeUnitsMB(t *testing.T) {
	for in, want := range map[string]int64{"5MB": 5 << 20, "10M": 10 << 20, "1GB": 1 << 30, "512KB": 512 << 10, "5 mb": 5 << 20} {
		var n int64
		require.NoError(t, newSizeFlag(&n, 0, "").Set(in), in)
		assert.Equal(t, want, n, in)
	}
	code, _, errw := runEnv(t, nil, "--help")
	require.Equal(t, exitOK, code, errw)
	// The help says how sizes are read.
	code, out, _ := runEnv(t, nil, "--help")
	require.Equal(t, exitOK, code)
	assert.Contains(t, out, "KB, MB and GB mean KiB, MiB and GiB (powers of 1024)")
}

// TestSandboxBadInputs: what the sandbox cannot use is a usage error (exit
// 2) that names the flag, in words, before it listens.
func TestSandboxBadInputs(t *testing.T) {
	dir := t.TempDir()
	notPEM := filepath.Join(dir, "not.pem")
	require.NoError(t, os.WriteFile(notPEM, []byte("hello\n"), 0o600))
	certPEM, keyPEM, err := sandbox.SelfSignedCertificate("127.0.0.1")
	require.NoError(t, err)
	otherCert, _, err := sandbox.SelfSignedCertificate("127.0.0.1")
	require.NoError(t, err)
	cert, key, other := filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem"), filepath.Join(dir, "other.pem")
	require.NoError(t, os.WriteFile(cert, certPEM, 0o600))
	require.NoError(t, os.WriteFile(key, keyPEM, 0o600))
	require.NoError(t, os.WriteFile(other, otherCert, 0o600))

	tests := []struct {
		args []string
		want string
	}{
		{[]string{"--addr", "bogus"}, "--addr bogus: want HOST:PORT, such as 127.0.0.1:8080, :8080 (every interface) or 127.0.0.1:0 (a free port)"},
		{[]string{"--addr", ":99999"}, "--addr :99999: port 99999 is out of range (0 to 65535; 0 picks a free port)"},
		{[]string{"--addr", "127.0.0.1:-1"}, "--addr 127.0.0.1:-1: port -1 is out of range"},
		{[]string{"--addr", "127.0.0.1:nosuchservice"}, `--addr 127.0.0.1:nosuchservice: unknown port "nosuchservice": want a number from 0 to 65535`},
		{[]string{"--fault", "upload:1:stall=abc"}, `--fault "upload:1:stall=abc": stall "abc" is not a duration such as 500ms, 5s or 1m30s`},
		{[]string{"--tls-cert", cert}, "--tls-cert " + cert + " needs --tls-key FILE, the certificate's private key"},
		{[]string{"--tls-key", key}, "--tls-key " + key + " needs --tls-cert FILE, the certificate it is the key of"},
		{[]string{"--tls", "--tls-cert", cert, "--tls-key", key}, "--tls and --tls-cert/--tls-key cannot be used together"},
		{[]string{"--tls-cert", notPEM, "--tls-key", key}, "--tls-cert " + notPEM + " holds no PEM certificate (want a -----BEGIN CERTIFICATE----- block)"},
		{[]string{"--tls-cert", cert, "--tls-key", notPEM}, "--tls-key " + notPEM + " holds no PEM private key"},
		{[]string{"--tls-cert", other, "--tls-key", key}, "--tls-cert " + other + " with --tls-key " + key + ": private key does not match public key"},
		{[]string{"--tls-cert", filepath.Join(dir, "missing.pem"), "--tls-key", key}, "--tls-cert " + filepath.Join(dir, "missing.pem") + ": "},
		{[]string{"--cors-origin", "not a url"}, `--cors-origin "not a url": want an origin (scheme, host and optional port, no path) such as https://app.example:8443, or *`},
		{[]string{"--cors-origin", "ftp://app.example"}, `--cors-origin "ftp://app.example": want an origin`},
		{[]string{"extra"}, `avupload sandbox takes no arguments, got "extra"`},
	}
	for _, tt := range tests {
		t.Run(strings.ReplaceAll(strings.Join(tt.args, " "), dir, "DIR"), func(t *testing.T) {
			args := append([]string{"sandbox"}, tt.args...)
			if !strings.HasPrefix(tt.args[0], "--addr") {
				args = append(args, "--addr", "127.0.0.1:0")
			}
			// A sandbox that starts all the same is stopped at once, and
			// fails the test.
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			var out, stderr testutil.SyncBuffer
			done := make(chan int, 1)
			go func() {
				done <- run(ctx, args, stdio{strings.NewReader(""), &out, &stderr}, func(string) string { return "" })
			}()
			var code int
			for waiting := true; waiting; {
				select {
				case code = <-done:
					waiting = false
				case <-time.After(10 * time.Millisecond):
					if strings.Contains(out.String(), "sandbox listening") {
						cancel()
					}
				}
			}
			errw := stderr.String()
			assert.Equal(t, exitUsage, code, errw)
			assert.Contains(t, errw, "avupload: "+tt.want)
			assert.NotContains(t, errw, "group", "not cobra's flag-group words")
			assert.NotContains(t, errw, "time: ")
			assert.NotContains(t, out.String(), "sandbox listening")
		})
	}
}

// runSandboxCmd runs avupload sandbox args in the background and returns
// its output once it listens, and a stop that cancels it (as SIGINT does)
// and returns its exit code.
func runSandboxCmd(t *testing.T, args ...string) (out, errw *testutil.SyncBuffer, stop func() int) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	out, errw = &testutil.SyncBuffer{}, &testutil.SyncBuffer{}
	done := make(chan int, 1)
	go func() {
		done <- run(ctx, append([]string{"sandbox"}, args...), stdio{strings.NewReader(""), out, errw}, func(string) string { return "" })
	}()
	require.Eventually(t, func() bool { return strings.Contains(out.String(), "sandbox listening on") }, 10*time.Second, 10*time.Millisecond,
		"stderr: %s", errw)
	return out, errw, func() int {
		cancel()
		select {
		case code := <-done:
			return code
		case <-time.After(10 * time.Second):
			t.Fatal("the sandbox did not stop")
			return -1
		}
	}
}

// TestSandboxWarnsBeyondLoopback: listening on every interface with the
// default (public) API key warns; on loopback, or with a key of one's own,
// it does not. A stopped sandbox exits 0, as its help says.
func TestSandboxWarnsBeyondLoopback(t *testing.T) {
	tests := []struct {
		args []string
		warn bool
	}{
		{[]string{"--addr", ":0"}, true},
		{[]string{"--addr", "0.0.0.0:0"}, true},
		{[]string{"--addr", "127.0.0.1:0"}, false},
		{[]string{"--addr", "localhost:0"}, false},
		{[]string{"--addr", ":0", "--api-key", "a-key-of-my-own"}, false},
	}
	for _, tt := range tests {
		t.Run(strings.Join(tt.args, " "), func(t *testing.T) {
			_, errw, stop := runSandboxCmd(t, tt.args...)
			code := stop()
			assert.Equal(t, exitOK, code, "a sandbox stopped by a signal ends normally: %s", errw)
			if tt.warn {
				assert.Contains(t, errw.String(), "warning: the sandbox listens on "+tt.args[1]+", beyond this machine, and takes the default API key \"sandbox-api-key\"")
				assert.Contains(t, errw.String(), "give --api-key with a key of your own, or listen on 127.0.0.1 only")
			} else {
				assert.NotContains(t, errw.String(), "warning")
			}
		})
	}
	code, out, _ := runEnv(t, nil, "sandbox", "--help")
	require.Equal(t, exitOK, code)
	assert.Contains(t, out, "then shuts down cleanly and exits 0")
	assert.Contains(t, out, "'avupload sandbox' ends this way and exits 0 once shut down cleanly")
}

func TestProxyOf(t *testing.T) {
	env := func(kv ...string) func(string) string {
		return func(k string) string {
			for i := 0; i+1 < len(kv); i += 2 {
				if kv[i] == k {
					return kv[i+1]
				}
			}
			return ""
		}
	}
	tests := []struct {
		name      string
		env       func(string) string
		url       string
		wantProxy string
		wantVar   string
	}{
		{"https", env("HTTPS_PROXY", "http://u:secret@proxy.example:3128"), "https://ws.api.video", "http://proxy.example:3128", "HTTPS_PROXY"},
		{"lower case", env("https_proxy", "http://proxy.example:3128"), "https://ws.api.video", "http://proxy.example:3128", "https_proxy"},
		{"http", env("HTTP_PROXY", "proxy.example:8080", "HTTPS_PROXY", "http://other:1"), "http://api.example", "http://proxy.example:8080", "HTTP_PROXY"},
		{"no proxy", env("HTTPS_PROXY", "http://proxy.example:3128", "NO_PROXY", "api.video"), "https://ws.api.video", "", ""},
		{"loopback", env("HTTPS_PROXY", "http://proxy.example:3128"), "https://127.0.0.1:8443", "", ""},
		{"none", env(), "https://ws.api.video", "", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			proxy, from := proxyOf(tt.env, tt.url)
			if tt.wantProxy == "" {
				assert.Nil(t, proxy)
				return
			}
			require.NotNil(t, proxy)
			assert.Equal(t, tt.wantProxy, proxy.String(), "no user or password")
			assert.Equal(t, tt.wantVar, from)
		})
	}
}

// TestExitStatusTable checks the one table of exit codes, in the help and
// in README, against what the commands do: a representative command line
// for each row exits with the row's code.
func TestExitStatusTable(t *testing.T) {
	helpCodes := regexp.MustCompile(`(?m)^  (\d+) +\S`).FindAllStringSubmatch(exitStatusHelp, -1)
	readme, err := os.ReadFile("../../README.md")
	require.NoError(t, err)
	_, section, ok := strings.Cut(string(readme), "### Exit status")
	require.True(t, ok, "README has an Exit status section")
	readmeCodes := regexp.MustCompile(`(?m)^\| (\d+) \| `).FindAllStringSubmatch(section, -1)
	var help, doc []int
	for _, m := range helpCodes {
		n, _ := strconv.Atoi(m[1])
		help = append(help, n)
	}
	for _, m := range readmeCodes {
		n, _ := strconv.Atoi(m[1])
		doc = append(doc, n)
	}
	assert.Equal(t, []int{exitOK, exitFailure, exitUsage, exitInterrupted}, help, "the help's table")
	assert.Equal(t, help, doc, "README's table is the help's")

	// A server that holds every request until the test ends.
	held := make(chan struct{})
	arrived := make(chan struct{}, 16)
	hang := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		arrived <- struct{}{}
		select {
		case <-held:
		case <-r.Context().Done():
		}
	}))
	defer hang.Close()
	defer close(held)
	srv := sandboxtest.NewServer(t)
	closed := failingWriter{&fs.PathError{Op: "write", Path: "/dev/stdout", Err: syscall.EBADF}}

	rows := []struct {
		name string
		code int
		run  func() int
	}{
		{"0 success", exitOK, func() int {
			code, _, _ := runEnv(t, map[string]string{envAPIKey: srv.APIKey}, "token", "create", "--base-url", srv.URL)
			return code
		}},
		{"0 version", exitOK, func() int { code, _, _ := runEnv(t, nil, "version"); return code }},
		{"1 the API refused", exitFailure, func() int {
			code, _, _ := runEnv(t, map[string]string{envAPIKey: "not-the-key-of-this-sandbox"}, "token", "list", "--base-url", srv.URL)
			return code
		}},
		{"1 the network failed", exitFailure, func() int {
			code, _, _ := runEnv(t, map[string]string{envAPIKey: longKey}, "token", "list", "--base-url", "http://127.0.0.1:1")
			return code
		}},
		{"1 standard output failed", exitFailure, func() int {
			code, _ := runOut(t, closed, map[string]string{envAPIKey: srv.APIKey, envBaseURL: srv.URL}, "token", "list")
			return code
		}},
		{"2 bad flag", exitUsage, func() int { code, _, _ := runEnv(t, nil, "upload", "--chunksize", "5M", "a.mp4"); return code }},
		{"2 bad argument", exitUsage, func() int { code, _, _ := runEnv(t, nil, "completion", "tcsh"); return code }},
		{"2 missing API key", exitUsage, func() int { code, _, _ := runEnv(t, nil, "token", "list", "--base-url", srv.URL); return code }},
		{"2 bad sandbox address", exitUsage, func() int { code, _, _ := runEnv(t, nil, "sandbox", "--addr", ":99999"); return code }},
		{"130 interrupted", exitInterrupted, func() int {
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			go func() {
				<-arrived
				cancel() // as SIGINT does
			}()
			var out, errw bytes.Buffer
			return run(ctx, []string{"token", "list", "--base-url", hang.URL}, stdio{strings.NewReader(""), &out, &errw},
				func(k string) string { return map[string]string{envAPIKey: longKey}[k] })
		}},
		{"0 sandbox stopped by a signal", exitOK, func() int {
			_, _, stop := runSandboxCmd(t, "--addr", "127.0.0.1:0")
			return stop()
		}},
	}
	for _, row := range rows {
		t.Run(row.name, func(t *testing.T) {
			assert.Equal(t, row.code, row.run())
		})
	}
}

// TestTrialFindings covers what a trial of other bad inputs found: a flag
// with no value, -v or --verbose before the command, a one-letter flag the
// command lacks, an upload token given as the API key.
func TestTrialFindings(t *testing.T) {
	srv := sandboxtest.NewServer(t)
	tok, err := srv.Sandbox.CreateToken(time.Hour)
	require.NoError(t, err)
	tests := []struct {
		args []string
		env  map[string]string
		code int
		want string
	}{
		{[]string{"token", "create", "--ttl"}, nil, exitUsage, "avupload: --ttl needs a value\n"},
		{[]string{"sandbox", "--addr"}, nil, exitUsage, "avupload: --addr needs a value\n"},
		{[]string{"-v", "token", "list"}, nil, exitUsage, "avupload: -v goes after the command, as in 'avupload token list -v'; before it, -v is --version\n"},
		{[]string{"--verbose", "token", "list"}, nil, exitUsage, "avupload: --verbose goes after the command"},
		{[]string{"upload", "-c", "4", "a.mp4"}, nil, exitUsage, "avupload: unknown flag -c\n"},
		{[]string{"token", "list", "--base-url", srv.URL}, map[string]string{envAPIKey: tok}, exitFailure,
			"avupload: The API key is invalid; $APIVIDEO_API_KEY holds an upload token, not the API key"},
		{[]string{"token", "list", "--base-url", srv.URL, "--api-key", tok}, nil, exitFailure,
			"avupload: The API key is invalid; --api-key holds an upload token, not the API key"},
		{[]string{"token", "list", "--base-url", srv.URL}, map[string]string{envAPIKey: "not-the-key-at-all"}, exitFailure,
			"avupload: The API key is invalid.\n"},
	}
	for _, tt := range tests {
		t.Run(strings.Join(tt.args, " "), func(t *testing.T) {
			code, out, errw := runEnv(t, tt.env, tt.args...)
			assert.Equal(t, tt.code, code, errw)
			assert.Contains(t, errw, tt.want)
			assert.NotContains(t, errw, tok, "the token is never shown")
			assert.Empty(t, out)
		})
	}
	code, out, _ := runEnv(t, nil, "-v")
	assert.Equal(t, exitOK, code, "-v alone is --version")
	assert.Contains(t, out, "avupload version ")
}

// TestNotAPIServerAnswers200 points the token commands at a web server
// that answers every request 200 with a page: not "cannot reach", nor the
// JSON decoder's words.
func TestNotAPIServerAnswers200(t *testing.T) {
	page := func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html")
		_, _ = io.WriteString(w, "<html><body>Welcome to nginx!</body></html>")
	}
	for _, tt := range []struct {
		args []string
		want string
	}{
		{[]string{"token", "create"}, "it answered POST /upload-tokens with something that is not the API's answer (not its JSON); is --base-url right?"},
		{[]string{"token", "list"}, "it answered GET /upload-tokens with something that is not the API's answer (not its JSON); is --base-url right?"},
		{[]string{"token", "get", "to1234567890"}, "it answered GET /upload-tokens/TOKEN with something that is not the API's answer (not its JSON); is --base-url right?"},
	} {
		t.Run(strings.Join(tt.args, " "), func(t *testing.T) {
			code, out, errw := runAgainst(t, page, tt.args...)
			assert.Equal(t, exitFailure, code)
			assert.Regexp(t, `^avupload: the server at http://127\.0\.0\.1:\d+ does not speak the api\.video API: `, errw)
			assert.Contains(t, errw, tt.want)
			assert.NotContains(t, errw, "invalid character")
			assert.NotContains(t, errw, "cannot reach")
			assert.Empty(t, out)
		})
	}
}

// TestMoreTrialFindings: a base URL with a password is refused without
// echoing it, in the flag's words; an empty --data-dir or --cors-origin is
// refused instead of meaning "none".
func TestMoreTrialFindings(t *testing.T) {
	tests := []struct {
		args []string
		want string
	}{
		{[]string{"token", "list", "--base-url", "http://user:Pa55w0rdSecret@127.0.0.1:8080/api"},
			"avupload: --base-url http://127.0.0.1:8080/api: a base URL holds no user, password, query or fragment; give the server alone, e.g. http://127.0.0.1:8080/api\n"},
		{[]string{"token", "list", "--base-url", "http://127.0.0.1:8080?x=1"}, "avupload: --base-url http://127.0.0.1:8080?x=1: a base URL holds no user, password, query or fragment"},
		{[]string{"sandbox", "--data-dir", ""}, "avupload: --data-dir is empty; give a value, or leave the flag out\n"},
		{[]string{"sandbox", "--cors-origin", ""}, "avupload: --cors-origin is empty; give a value, or leave the flag out\n"},
	}
	for _, tt := range tests {
		t.Run(strings.Join(tt.args, " "), func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second) // a sandbox that starts fails
			defer cancel()
			var out, errw bytes.Buffer
			code := run(ctx, tt.args, stdio{strings.NewReader(""), &out, &errw}, func(k string) string { return map[string]string{envAPIKey: longKey}[k] })
			assert.Equal(t, exitUsage, code, errw.String())
			assert.Contains(t, errw.String(), tt.want)
			assert.NotContains(t, errw.String(), "Pa55w0rd")
			assert.NotContains(t, out.String(), "sandbox listening")
		})
	}
}
