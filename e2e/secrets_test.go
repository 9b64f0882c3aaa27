package e2e

import (
	"bytes"
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/avupload/avupload/sandbox"
	"github.com/avupload/avupload/wrapper"
)

// secretChecker collects texts that must hold none of the secrets.
type secretChecker struct {
	secrets []string
}

// check fails t if text holds a secret; what names the text.
func (s *secretChecker) check(t *testing.T, what, text string) {
	t.Helper()
	for _, secret := range s.secrets {
		assert.NotContains(t, text, secret, "%s holds a secret", what)
	}
}

// checkErr checks every rendering of err.
func (s *secretChecker) checkErr(t *testing.T, what string, err error) {
	t.Helper()
	require.Error(t, err, what)
	s.check(t, what+" (%v)", fmt.Sprintf("%v", err))
	s.check(t, what+" (%+v)", fmt.Sprintf("%+v", err))
}

// checkDir checks every file under dir.
func (s *secretChecker) checkDir(t *testing.T, dir string) int {
	t.Helper()
	n := 0
	require.NoError(t, filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		data, err := os.ReadFile(p)
		require.NoError(t, err)
		s.check(t, "file "+p, string(data))
		n++
		return nil
	}))
	return n
}

// deadURL returns the URL of a loopback port nothing listens on.
func deadURL(t *testing.T) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	url := "http://" + ln.Addr().String()
	require.NoError(t, ln.Close())
	return url
}

// TestSecretsLibrary drives the client through successes, refusals,
// retries, transport failures and an interrupted upload, logging at debug
// level: neither the API key nor any upload token may appear in an error,
// a log line or a state file.
func TestSecretsLibrary(t *testing.T) {
	g := newRig(t)
	var logs bytes.Buffer
	logger := slog.New(slog.NewJSONHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	c := g.client(t, true, wrapper.WithLogger(logger), wrapper.WithRetryPolicy(*fastRetries()))
	uploader := g.client(t, false, wrapper.WithLogger(logger), wrapper.WithRetryPolicy(*fastRetries()))
	ctx := context.Background()

	tok, err := c.CreateUploadToken(ctx, time.Hour)
	require.NoError(t, err)
	unknown := "to" + randomWord(22)
	deleted, err := c.CreateUploadToken(ctx, 0)
	require.NoError(t, err)
	require.NoError(t, c.DeleteUploadToken(ctx, deleted.Token))
	sc := &secretChecker{secrets: []string{g.APIKey, tok.Token, unknown, deleted.Token}}

	_, err = c.GetUploadToken(ctx, tok.Token)
	require.NoError(t, err)
	for _, err := range c.AllUploadTokens(ctx, wrapper.ListOptions{PageSize: 1}) {
		require.NoError(t, err)
	}

	_, err = c.GetUploadToken(ctx, unknown)
	require.ErrorIs(t, err, wrapper.ErrNotFound)
	sc.checkErr(t, "get of an unknown token", err)
	err = c.DeleteUploadToken(ctx, unknown)
	require.ErrorIs(t, err, wrapper.ErrNotFound)
	sc.checkErr(t, "delete of an unknown token", err)

	src := newSource(3, 3*matrixChunk)
	body := func() wrapper.Source { return wrapper.ReaderAt(bytes.NewReader(src.data), int64(len(src.data))) }
	opts := &wrapper.UploadOptions{ChunkSize: matrixChunk, StallTimeout: matrixStall}

	_, err = uploader.Upload(ctx, deleted.Token, body(), opts)
	require.ErrorIs(t, err, wrapper.ErrUnauthorized)
	sc.checkErr(t, "upload with a deleted token", err)
	_, err = uploader.Upload(ctx, unknown, body(), opts)
	require.ErrorIs(t, err, wrapper.ErrUnauthorized)
	sc.checkErr(t, "upload with an unknown token", err)

	// Retries log the failures they retry; a chunk refused for good leaves
	// a state behind in the store.
	g.SB.AddFaults(
		sandbox.Fault{Op: sandbox.OpUploadWithUploadToken, Request: 3, Kind: sandbox.FaultStatus, Status: 503},
		sandbox.Fault{Op: sandbox.OpUploadWithUploadToken, Request: 4, Kind: sandbox.FaultCutRequest, AfterBytes: 1000},
		sandbox.Fault{Op: sandbox.OpUploadWithUploadToken, Request: 6, Kind: sandbox.FaultStatus, Status: 403},
	)
	storeDir := t.TempDir()
	store, err := wrapper.NewFileStore(storeDir)
	require.NoError(t, err)
	withStore := *opts
	withStore.Store = store
	_, err = uploader.Upload(ctx, tok.Token, body(), &withStore)
	require.ErrorIs(t, err, wrapper.ErrForbidden)
	var upErr *wrapper.UploadError
	require.ErrorAs(t, err, &upErr)
	require.NotNil(t, upErr.State, "a state to resume from")
	sc.checkErr(t, "upload refused midway", err)
	require.Positive(t, sc.checkDir(t, storeDir), "the store holds the state")
	res, err := uploader.Upload(ctx, tok.Token, body(), &withStore)
	require.NoError(t, err, "resuming")
	assert.Equal(t, src.sum, res.SHA256)

	// Transport failures quote the URL, and an upload's URL holds the token.
	dead, err := wrapper.New(wrapper.WithBaseURL(deadURL(t)), wrapper.WithAPIKey(g.APIKey),
		wrapper.WithLogger(logger), wrapper.WithRetryPolicy(*fastRetries()))
	require.NoError(t, err)
	_, err = dead.Upload(ctx, tok.Token, body(), opts)
	sc.checkErr(t, "upload to a dead server", err)
	_, err = dead.GetUploadToken(ctx, tok.Token)
	sc.checkErr(t, "token get from a dead server", err)

	require.NotZero(t, logs.Len(), "the client logged its retries")
	sc.check(t, "the client's log", logs.String())
	t.Logf("%d log bytes checked", logs.Len())

	// The API key goes, as Basic credentials, to the token routes only.
	wantAuth := "Basic " + base64.StdEncoding.EncodeToString([]byte(g.APIKey+":"))
	var uploads, tokenCalls int
	for _, r := range g.tap.Records() {
		for name, values := range r.Header {
			for _, v := range values {
				if name != "Authorization" {
					assert.NotContains(t, v, g.APIKey, "header %s of %s %s", name, r.Method, r.Path)
				}
			}
		}
		switch {
		case r.Path == "/upload":
			uploads++
			assert.Empty(t, r.Authorization, "Authorization sent to /upload")
		case strings.HasPrefix(r.Path, "/upload-tokens"):
			tokenCalls++
			assert.Equal(t, wantAuth, r.Authorization, "%s %s", r.Method, r.Path)
		}
	}
	assert.Positive(t, uploads)
	assert.Positive(t, tokenCalls)
}

// TestSecretsPlainHTTP checks that the client refuses to send an API key
// over plain http to any host but loopback, before any request.
func TestSecretsPlainHTTP(t *testing.T) {
	const key = "e2e-plain-http-key"
	for _, tc := range []struct {
		url    string
		refuse bool
	}{
		{"http://example.com", true},
		{"http://ws.api.video", true},
		{"http://10.1.2.3:8080", true},
		{"http://192.168.0.10", true},
		{"http://[2001:db8::1]:80", true},
		{"http://127.0.0.1.example.com", true},
		{"https://example.com", false},
		{"http://127.0.0.1:8080", false},
		{"http://localhost:8080", false},
		{"http://[::1]:8080", false},
	} {
		t.Run(tc.url, func(t *testing.T) {
			var sent int
			hc := &http.Client{Transport: roundTripFunc(func(*http.Request) (*http.Response, error) {
				sent++
				return nil, errors.New("no network in this test")
			})}
			c, err := wrapper.New(wrapper.WithBaseURL(tc.url), wrapper.WithAPIKey(key), wrapper.WithHTTPClient(hc))
			if !tc.refuse {
				require.NoError(t, err)
				return
			}
			require.ErrorIs(t, err, wrapper.ErrInvalidInput)
			assert.Nil(t, c)
			assert.NotContains(t, err.Error(), key)
			assert.Zero(t, sent)

			// Without a key, plain http is allowed: a token is all an upload needs.
			_, err = wrapper.New(wrapper.WithBaseURL(tc.url), wrapper.WithHTTPClient(hc))
			require.NoError(t, err)
		})
	}
}

type roundTripFunc func(*http.Request) (*http.Response, error)

func (f roundTripFunc) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

// TestSecretsCLI runs the avupload binary against the sandbox, through
// success and failure, with the credentials in flags and in the
// environment: neither may appear in what it prints or leaves on disk,
// except the token that `token create` exists to print.
func TestSecretsCLI(t *testing.T) {
	g := newRig(t)
	dir := t.TempDir()
	file := filepath.Join(dir, "video.bin")
	src := newSource(5, 2*matrixChunk+777)
	require.NoError(t, os.WriteFile(file, src.data, 0o600))
	env := cliEnv("APIVIDEO_API_KEY=" + g.APIKey)

	create := runCLI(t, env, "token", "create", "--base-url", g.URL, "--quiet")
	require.Equal(t, 0, create.code, create.stderr)
	tok := strings.TrimSpace(create.stdout)
	require.True(t, strings.HasPrefix(tok, "to"), "token create printed %q", create.stdout)
	unknown := "to" + randomWord(22)
	sc := &secretChecker{secrets: []string{g.APIKey, tok, unknown}}
	keyOnly := &secretChecker{secrets: []string{g.APIKey}}
	keyOnly.check(t, "token create's stderr", create.stderr)

	state := filepath.Join(dir, "state", "upload.json")
	require.NoError(t, os.MkdirAll(filepath.Dir(state), 0o700))
	for _, tc := range []struct {
		name     string
		env      []string
		args     []string
		wantCode int
		faults   []sandbox.Fault
		listsAll bool // the output is a token list: the token may show, the key may not
	}{
		{name: "token list, key in env", env: env, args: []string{"token", "list", "--base-url", g.URL}, listsAll: true},
		{name: "token list --all --json, key in flag", env: cliEnv(),
			args: []string{"token", "list", "--all", "--json", "--base-url", g.URL, "--api-key", g.APIKey}, listsAll: true},
		{name: "token get unknown", env: env, args: []string{"token", "get", unknown, "--base-url", g.URL}, wantCode: 1},
		{name: "token delete unknown", env: env, args: []string{"token", "delete", unknown, "--base-url", g.URL}, wantCode: 1},
		{name: "token list, wrong key in flag", env: cliEnv(),
			args: []string{"token", "list", "--base-url", g.URL, "--api-key", g.APIKey + "x"}, wantCode: 1},
		{name: "token list, dead server", env: env, args: []string{"token", "list", "--base-url", deadURL(t)}, wantCode: 1},
		{name: "token list, key over plain http", env: env, args: []string{"token", "list", "--base-url", "http://example.com"}, wantCode: 2},
		{name: "upload, token in flag", env: cliEnv(), args: []string{"upload", "--token", tok, "--base-url", g.URL, "--chunk-size", "5MiB", file}},
		{name: "upload --json, token in env", env: cliEnv("AVUPLOAD_TOKEN=" + tok),
			args: []string{"upload", "--json", "--concurrency", "2", "--base-url", g.URL, "--chunk-size", "5MiB", file}},
		{name: "upload from stdin", env: cliEnv("AVUPLOAD_TOKEN=" + tok),
			args: []string{"upload", "--base-url", g.URL, "--chunk-size", "5MiB", "-"}},
		{name: "upload, unknown token in flag", env: cliEnv(), args: []string{"upload", "--token", unknown, "--base-url", g.URL, file}, wantCode: 1},
		{name: "upload, dead server", env: cliEnv(), args: []string{"upload", "--token", tok, "--base-url", deadURL(t), file}, wantCode: 1},
		{name: "upload, bad chunk size", env: cliEnv(), args: []string{"upload", "--token", tok, "--base-url", g.URL, "--chunk-size", "1KiB", file}, wantCode: 2},
		{name: "upload refused midway, with a state file", env: cliEnv(),
			args:   []string{"upload", "--token", tok, "--base-url", g.URL, "--chunk-size", "5MiB", "--state-file", state, file},
			faults: []sandbox.Fault{{Op: sandbox.OpUploadWithUploadToken, Request: 0, Kind: sandbox.FaultStatus, Status: 403}}, wantCode: 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if tc.faults != nil {
				// Let the first chunk through, refuse the rest.
				n := g.SB.Stats().Count(sandbox.OpUploadWithUploadToken)
				for i := range tc.faults {
					tc.faults[i].Request = n + 2
				}
				g.SB.AddFaults(tc.faults...)
			}
			var run cliRun
			if tc.args[len(tc.args)-1] == "-" {
				run = runCLIStdin(t, tc.env, file, tc.args...)
			} else {
				run = runCLI(t, tc.env, tc.args...)
			}
			assert.Equal(t, tc.wantCode, run.code, "stdout: %s\nstderr: %s", run.stdout, run.stderr)
			if tc.listsAll {
				keyOnly.check(t, "stdout", run.stdout)
			} else {
				sc.check(t, "stdout", run.stdout)
			}
			sc.check(t, "stderr", run.stderr)
		})
	}
	_, err := os.Stat(state)
	require.NoError(t, err, "the refused upload left its state file")
	require.Positive(t, sc.checkDir(t, filepath.Dir(state)))
}

// runCLIStdin runs the binary with file as its standard input.
func runCLIStdin(t *testing.T, env []string, file string, args ...string) cliRun {
	t.Helper()
	f, err := os.Open(file)
	require.NoError(t, err)
	defer f.Close()
	return runCLIWith(t, env, f, args...)
}
