package main

import (
	"bytes"
	"context"
	"crypto/tls"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/spf13/cobra"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/avupload/avupload/sandbox"
	"github.com/avupload/avupload/sandbox/sandboxtest"
)

// runEnv runs avupload with args and the environment env, and returns the
// exit code, standard output and standard error.
func runEnv(t *testing.T, env map[string]string, args ...string) (int, string, string) {
	t.Helper()
	var out, errw bytes.Buffer
	code := run(context.Background(), args, stdio{strings.NewReader(""), &out, &errw}, func(k string) string { return env[k] })
	return code, out.String(), errw.String()
}

// TestServerFlagsFromEnvironment checks where the server and the trusted
// certificates come from: the flags, else the environment.
func TestServerFlagsFromEnvironment(t *testing.T) {
	certPEM, _, err := sandbox.SelfSignedCertificate()
	require.NoError(t, err)
	dir := t.TempDir()
	ca, notPEM := filepath.Join(dir, "ca.pem"), filepath.Join(dir, "not.pem")
	require.NoError(t, os.WriteFile(ca, certPEM, 0o600))
	require.NoError(t, os.WriteFile(notPEM, []byte("hello"), 0o600))
	missing := filepath.Join(dir, "missing.pem")

	tests := []struct {
		name    string
		args    []string
		env     map[string]string
		wantURL string
		roots   bool
		wantErr string
	}{
		{name: "nothing", wantURL: ""},
		{name: "environment", env: map[string]string{envBaseURL: "http://127.0.0.1:9"}, wantURL: "http://127.0.0.1:9"},
		{name: "spaces around", env: map[string]string{envBaseURL: " http://127.0.0.1:9\n"}, wantURL: "http://127.0.0.1:9"},
		{name: "only spaces", env: map[string]string{envBaseURL: "  "}, wantURL: ""},
		{name: "flag wins", args: []string{"--base-url", "http://localhost:1"}, env: map[string]string{envBaseURL: "http://127.0.0.1:9"}, wantURL: "http://localhost:1"},
		{name: "--sandbox wins", args: []string{"--sandbox"}, env: map[string]string{envBaseURL: "http://127.0.0.1:9"}, wantURL: ""},
		{name: "bad environment", env: map[string]string{envBaseURL: "127.0.0.1:8080"}, wantErr: "$AVUPLOAD_BASE_URL 127.0.0.1:8080: want a URL such as"},
		{name: "bad flag", args: []string{"--base-url", "ftp://x"}, wantErr: "--base-url ftp://x: want a URL"},
		{name: "cacert", args: []string{"--cacert", ca}, roots: true},
		{name: "cacert from environment", env: map[string]string{envCACert: ca}, roots: true},
		{name: "cacert flag wins", args: []string{"--cacert", ca}, env: map[string]string{envCACert: missing}, roots: true},
		{name: "cacert missing", args: []string{"--cacert", missing}, wantErr: "--cacert " + missing + ": no such file or directory"},
		{name: "cacert not PEM", args: []string{"--cacert", notPEM}, wantErr: "--cacert " + notPEM + ": holds no PEM certificate"},
		{name: "cacert environment missing", env: map[string]string{envCACert: missing}, wantErr: "$AVUPLOAD_CACERT " + missing + ": no such file"},
		{name: "log format", args: []string{"--log-format", "yaml", "-v"}, wantErr: "--log-format yaml: want text or json"},
		{name: "log format without verbose", args: []string{"--log-format", "json"}, wantErr: "--log-format json needs --verbose"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var s serverFlags
			cmd := &cobra.Command{Use: "x"}
			s.register(cmd.Flags())
			require.NoError(t, cmd.ParseFlags(tt.args))
			cmd.SetContext(context.Background())
			err := bindServer(cmd, &app{getenv: func(k string) string { return tt.env[k] }})
			if tt.wantErr != "" {
				require.Error(t, err)
				assert.Contains(t, err.Error(), tt.wantErr)
				assert.ErrorAs(t, err, new(usageError), "exit 2")
				return
			}
			require.NoError(t, err)
			assert.Equal(t, tt.wantURL, s.baseURL)
			assert.Equal(t, tt.roots, s.roots != nil)
		})
	}
}

// TestBaseURLFromEnvironment checks that the commands talk to
// $AVUPLOAD_BASE_URL, and that --base-url wins over it.
func TestBaseURLFromEnvironment(t *testing.T) {
	srv := sandboxtest.NewServer(t)
	var strayHits atomic.Int32
	stray := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		strayHits.Add(1)
		w.WriteHeader(http.StatusTeapot)
	}))
	t.Cleanup(stray.Close)

	code, out, errw := runEnv(t, map[string]string{envBaseURL: srv.URL, envAPIKey: srv.APIKey}, "token", "create", "-q")
	require.Equal(t, exitOK, code, errw)
	token := strings.TrimSpace(out)
	require.NotEmpty(t, token)

	code, out, errw = runEnv(t, map[string]string{envBaseURL: stray.URL, envToken: token}, "upload", "--base-url", srv.URL, smallFile(t))
	require.Equal(t, exitOK, code, errw)
	assert.Contains(t, out, "video id")
	assert.Zero(t, strayHits.Load(), "--base-url wins over $AVUPLOAD_BASE_URL")

	code, _, errw = runEnv(t, map[string]string{envBaseURL: stray.URL, envAPIKey: srv.APIKey}, "token", "list")
	assert.Equal(t, exitFailure, code)
	assert.Contains(t, errw, stray.URL, "the error names the server the environment chose")
	assert.NotZero(t, strayHits.Load())
}

// tlsSandbox starts a sandbox over https with HTTP/2 and returns it with
// the path of its certificate.
func tlsSandbox(t *testing.T) (*sandbox.Server, string) {
	t.Helper()
	certPEM, keyPEM, err := sandbox.SelfSignedCertificate()
	require.NoError(t, err)
	cert, err := tls.X509KeyPair(certPEM, keyPEM)
	require.NoError(t, err)
	srv, err := sandbox.Start("127.0.0.1:0", sandbox.WithTLS(cert), sandbox.WithHTTP2(), sandbox.WithStrict(true))
	require.NoError(t, err)
	t.Cleanup(func() { _ = srv.Close() })
	path := filepath.Join(t.TempDir(), "cert.pem")
	require.NoError(t, os.WriteFile(path, certPEM, 0o600))
	return srv, path
}

// TestCACert checks that --cacert and $AVUPLOAD_CACERT make the CLI trust
// a sandbox's self-signed certificate, which it refuses without them.
func TestCACert(t *testing.T) {
	srv, ca := tlsSandbox(t)
	otherCA := filepath.Join(t.TempDir(), "other.pem")
	otherPEM, _, err := sandbox.SelfSignedCertificate()
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(otherCA, otherPEM, 0o600))

	tests := []struct {
		name string
		args []string
		env  map[string]string
		code int
		err  string
	}{
		{name: "untrusted", code: exitFailure, err: "certificate"},
		{name: "--cacert", args: []string{"--cacert", ca}, code: exitOK},
		{name: "environment", env: map[string]string{envCACert: ca}, code: exitOK},
		{name: "flag wins", args: []string{"--cacert", otherCA}, env: map[string]string{envCACert: ca}, code: exitFailure, err: "certificate"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			env := map[string]string{envAPIKey: srv.APIKey, envBaseURL: srv.URL}
			for k, v := range tt.env {
				env[k] = v
			}
			code, _, errw := runEnv(t, env, append([]string{"token", "list"}, tt.args...)...)
			assert.Equal(t, tt.code, code, errw)
			assert.Contains(t, errw, tt.err)
		})
	}
}

// TestVerboseLog checks that --verbose logs the client's work (the server,
// connections, retries) in text or JSON, and never a token or the key.
func TestVerboseLog(t *testing.T) {
	const key = "verbose-S3cr3t-key"
	srv := sandboxtest.NewServer(t, sandbox.WithAPIKeys(key))
	srv.Sandbox.AddFaults(
		sandbox.Fault{Op: sandbox.OpCreateUploadToken, Request: 1, Kind: sandbox.FaultStatus, Status: http.StatusServiceUnavailable},
		sandbox.Fault{Op: sandbox.OpUploadWithUploadToken, Request: 1, Kind: sandbox.FaultStatus, Status: http.StatusServiceUnavailable},
		sandbox.Fault{Op: sandbox.OpUploadWithUploadToken, Request: 2, Kind: sandbox.FaultCommitThenCut},
	)
	env := map[string]string{envAPIKey: key, envBaseURL: srv.URL}

	code, out, errw := runEnv(t, env, "token", "create", "-q", "--verbose")
	require.Equal(t, exitOK, code, errw)
	token := strings.TrimSpace(out)
	require.NotEmpty(t, token)
	assert.Contains(t, errw, `msg="avupload: server" url=`+srv.URL+` from=$AVUPLOAD_BASE_URL`)
	assert.Contains(t, errw, `msg="avupload: connected"`)
	assert.Contains(t, errw, `msg="avupload: retrying"`)
	assert.Contains(t, errw, "status=503")
	assert.Contains(t, errw, `msg="avupload: request" op=createUploadToken method=POST attempt=2 status=200`, "each request is logged")
	assert.NotContains(t, errw, key)

	dir := t.TempDir()
	file := filepath.Join(dir, "v.bin")
	require.NoError(t, os.WriteFile(file, bytes.Repeat([]byte("avupload"), 12<<20/8), 0o600))
	env[envToken] = token
	code, _, errw = runEnv(t, env, "upload", "-v", "--log-format", "json", "--chunk-size", "5MiB",
		"--state-file", filepath.Join(dir, "v.state"), file)
	require.Equal(t, exitOK, code, errw)
	assert.NotContains(t, errw, token)
	assert.NotContains(t, errw, key)
	var msgs []string
	for line := range strings.Lines(errw) {
		if !strings.HasPrefix(line, "{") {
			continue
		}
		var rec map[string]any
		require.NoError(t, json.Unmarshal([]byte(line), &rec), "one JSON object per line: %s", line)
		assert.NotEmpty(t, rec["level"])
		assert.NotEmpty(t, rec["time"])
		msgs = append(msgs, rec["msg"].(string))
	}
	assert.Contains(t, msgs, "avupload: server")
	assert.Contains(t, msgs, "avupload: connected")
	assert.Contains(t, msgs, "avupload: retrying", "the 503 and the cut connection were retried: %s", errw)

	// Without --verbose, no log line.
	code, out, errw = runEnv(t, env, "token", "list")
	require.Equal(t, exitOK, code, errw)
	assert.NotContains(t, out+errw, "msg=")
}

// TestUploadOverHTTP2ToSandboxTLS runs `avupload sandbox --tls`, takes the
// export lines it prints, and uploads with --http2 over h2, then without
// over HTTP/1.1; a plain h2 request gets an h2 answer.
func TestUploadOverHTTP2ToSandboxTLS(t *testing.T) {
	url, out, stop := runSandbox(t, "--tls")
	defer stop()
	env := map[string]string{}
	require.Eventually(t, func() bool {
		for _, m := range regexp.MustCompile(`(?m)^export (\w+)=(\S+)$`).FindAllStringSubmatch(out.String(), -1) {
			env[m[1]] = m[2]
		}
		return len(env) == 3
	}, 10*time.Second, 10*time.Millisecond, "three export lines: %s", out)
	assert.Equal(t, url, env[envBaseURL])
	assert.Equal(t, sandbox.DefaultAPIKey, env[envAPIKey])
	certPEM, err := os.ReadFile(env[envCACert])
	require.NoError(t, err, "AVUPLOAD_CACERT names the certificate")

	h2 := trustingClient(t, certPEM)
	h2.Transport.(*http.Transport).ForceAttemptHTTP2 = true
	resp := listTokens(t, h2, url)
	assert.Equal(t, http.StatusOK, resp.StatusCode)
	assert.Equal(t, 2, resp.ProtoMajor, "the sandbox offers h2 over TLS")

	code, tok, errw := runEnv(t, env, "token", "create", "-q")
	require.Equal(t, exitOK, code, errw)
	env[envToken] = strings.TrimSpace(tok)
	file := smallFile(t)
	code, _, errw = runEnv(t, env, "upload", "--http2", "-v", file)
	require.Equal(t, exitOK, code, errw)
	assert.Contains(t, errw, `protocol="h2 over TLS"`, "--http2 speaks h2 to the sandbox")
	code, _, errw = runEnv(t, env, "upload", "-v", file)
	require.Equal(t, exitOK, code, errw)
	assert.Contains(t, errw, `protocol="http/1.1 over TLS"`, "chunks go over HTTP/1.1 without --http2")
	assert.NotContains(t, errw, `protocol="h2`)
}

// TestRedactWriter checks the log's last guard: a secret that reached a log
// line is replaced before it is written.
func TestRedactWriter(t *testing.T) {
	a := &app{}
	a.secret("toS3cr3tUploadTok")
	var b bytes.Buffer
	log := newLogger(&redactWriter{a: a, w: &b}, "json")
	log.Info("avupload: retrying", "error", `Post "http://127.0.0.1/upload?token=toS3cr3tUploadTok": EOF`)
	assert.NotContains(t, b.String(), "toS3cr3tUploadTok")
	assert.Contains(t, b.String(), "token=REDACTED")
}

func TestPrintSandboxEnv(t *testing.T) {
	tests := []struct {
		name, goos, url, key, ca, want string
	}{
		{"posix", "linux", "http://127.0.0.1:8080", "sandbox-api-key", "",
			"export AVUPLOAD_BASE_URL=http://127.0.0.1:8080\nexport APIVIDEO_API_KEY=sandbox-api-key\n"},
		{"tls and quoting", "darwin", "https://127.0.0.1:8443", "it's mine", "/tmp/my dir/cert.pem",
			"export AVUPLOAD_BASE_URL=https://127.0.0.1:8443\nexport APIVIDEO_API_KEY='it'\\''s mine'\nexport AVUPLOAD_CACERT='/tmp/my dir/cert.pem'\n"},
		{"every interface", "linux", "http://[::]:8080", "k$y", "",
			"export AVUPLOAD_BASE_URL=http://127.0.0.1:8080\nexport APIVIDEO_API_KEY='k$y'\n"},
		{"windows", "windows", "https://0.0.0.0:8443", "it's", `C:\Temp\cert.pem`,
			"$env:AVUPLOAD_BASE_URL = 'https://127.0.0.1:8443'\n$env:APIVIDEO_API_KEY = 'it''s'\n$env:AVUPLOAD_CACERT = 'C:\\Temp\\cert.pem'\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var b strings.Builder
			printSandboxEnv(&b, tt.goos, tt.url, tt.key, tt.ca)
			first, rest, _ := strings.Cut(b.String(), "\n")
			assert.Equal(t, "to talk to this sandbox from another shell, paste there:", first)
			assert.Equal(t, tt.want, rest)
		})
	}
}
