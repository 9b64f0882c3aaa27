package main

import (
	"bytes"
	"context"
	"encoding/json"
	"mime/multipart"
	"net"
	"net/http"
	"os"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/avupload/avupload/internal/testutil"
	"github.com/avupload/avupload/sandbox"
)

// listeningURL waits for the sandbox to print the URL it listens on.
func listeningURL(t *testing.T, out *testutil.SyncBuffer) string {
	t.Helper()
	re := regexp.MustCompile(`sandbox listening on (http://127\.0\.0\.1:\d+)`)
	var url string
	require.Eventually(t, func() bool {
		m := re.FindStringSubmatch(out.String())
		if m != nil {
			url = m[1]
		}
		return m != nil
	}, 5*time.Second, 10*time.Millisecond)
	return url
}

func TestSandboxCommand(t *testing.T) {
	// The sandbox's goroutines, not those of earlier tests' servers still
	// closing their connections (which the check after all tests sees).
	defer goleak.VerifyNone(t, goleak.IgnoreCurrent())
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var out testutil.SyncBuffer
	cmd := newRootCommand()
	cmd.SetArgs([]string{"sandbox", "--addr", "127.0.0.1:0", "--api-key", "cli-key", "--data-dir", t.TempDir(),
		"--rate-limit", "--fault", "list:1:status=503"})
	cmd.SetOut(&out)
	cmd.SetErr(&out)
	done := make(chan error, 1)
	go func() { done <- cmd.ExecuteContext(ctx) }()

	url := listeningURL(t, &out)
	assert.NotContains(t, url, ":0", "the real port is printed")

	client := &http.Client{}
	get := func() *http.Response {
		req, err := http.NewRequest(http.MethodGet, url+"/upload-tokens", nil)
		require.NoError(t, err)
		req.SetBasicAuth("cli-key", "")
		resp, err := client.Do(req)
		require.NoError(t, err)
		resp.Body.Close()
		return resp
	}
	assert.Equal(t, 503, get().StatusCode, "the scripted fault")
	resp := get()
	assert.Equal(t, 200, resp.StatusCode)
	assert.Equal(t, "100", resp.Header.Get("X-RateLimit-Limit"), "--rate-limit uses the sandbox figures")
	client.CloseIdleConnections()

	cancel()
	select {
	case err := <-done:
		require.NoError(t, err)
	case <-time.After(10 * time.Second):
		t.Fatal("the sandbox did not shut down")
	}
	assert.Contains(t, out.String(), "sandbox stopped")
}

// TestSandboxCommandSizesAgree: the sizes of --memory-budget and of a
// fault's cut= are read alike, so that 512K is taken by both.
func TestSandboxCommandSizesAgree(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var out testutil.SyncBuffer
	cmd := newRootCommand()
	cmd.SetArgs([]string{"sandbox", "--addr", "127.0.0.1:0", "--memory-budget", "512K", "--fault", "upload:1:cut=512K"})
	cmd.SetOut(&out)
	cmd.SetErr(&out)
	done := make(chan error, 1)
	go func() { done <- cmd.ExecuteContext(ctx) }()
	select {
	case err := <-done:
		require.NoError(t, err, "the sandbox refused to start")
		t.Fatal("the sandbox stopped on its own")
	case <-time.After(50 * time.Millisecond):
	}
	listeningURL(t, &out)
	cancel()
	require.NoError(t, <-done)
}

func TestSandboxCommandBadFault(t *testing.T) {
	cmd := newRootCommand()
	var out bytes.Buffer
	cmd.SetOut(&out)
	cmd.SetErr(&out)
	cmd.SetArgs([]string{"sandbox", "--addr", "127.0.0.1:0", "--fault", "upload:1:explode"})
	err := cmd.ExecuteContext(context.Background())
	require.Error(t, err)
	assert.Contains(t, err.Error(), "unknown action")
	assert.NotContains(t, out.String(), "Usage:", "SilenceUsage")
}

func TestVersion(t *testing.T) {
	cmd := newRootCommand()
	var out bytes.Buffer
	cmd.SetOut(&out)
	cmd.SetArgs([]string{"--version"})
	require.NoError(t, cmd.Execute())
	assert.Contains(t, out.String(), "avupload version")
}

// TestSandboxCommandExitCodes checks that a sandbox that cannot run exits 1
// with the reason, and that only a bad command line exits 2.
func TestSandboxCommandExitCodes(t *testing.T) {
	busy, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	defer busy.Close()

	inUse := t.TempDir()
	holder, err := sandbox.New(sandbox.WithDataDir(inUse))
	require.NoError(t, err)
	defer holder.Close()

	cases := []struct {
		name    string
		args    []string
		code    int
		message string
	}{
		{"data dir in use", []string{"sandbox", "--addr", "127.0.0.1:0", "--data-dir", inUse}, exitFailure,
			"sandbox cannot start: --data-dir " + inUse + " is in use by another process (pid " + strconv.Itoa(os.Getpid()) + ")"},
		{"port in use", []string{"sandbox", "--addr", busy.Addr().String()}, exitFailure, "sandbox cannot start on --addr " + busy.Addr().String()},
		{"request 0", []string{"sandbox", "--addr", "127.0.0.1:0", "--fault", "upload:0:status=503"}, exitUsage, `request "0" is not a request number`},
		{"request -2", []string{"sandbox", "--addr", "127.0.0.1:0", "--fault", "upload:-2:status=503"}, exitUsage, `request "-2" is not a request number`},
		{"unknown action", []string{"sandbox", "--addr", "127.0.0.1:0", "--fault", "upload:1:explode"}, exitUsage, "unknown action"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			var stdout, stderr bytes.Buffer
			code := run(context.Background(), c.args, stdio{strings.NewReader(""), &stdout, &stderr}, func(string) string { return "" })
			assert.Equal(t, c.code, code, "stderr: %s", stderr.String())
			assert.Contains(t, stderr.String(), c.message)
			if c.code == exitFailure {
				assert.NotContains(t, stderr.String(), "--help", "a runtime failure is not a usage error")
			}
			assert.Empty(t, stdout.String())
		})
	}
}

// TestSandboxWithoutDataDirWritesNothing runs the sandbox without --data-dir,
// uploads through it and stops it: the working directory and the temporary
// directory stay empty.
func TestSandboxWithoutDataDirWritesNothing(t *testing.T) {
	tmp, cwd := t.TempDir(), t.TempDir()
	t.Setenv("TMPDIR", tmp)
	t.Chdir(cwd)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var out testutil.SyncBuffer
	done := make(chan int, 1)
	go func() {
		done <- run(ctx, []string{"sandbox", "--addr", "127.0.0.1:0", "--api-key", "cli-key"},
			stdio{strings.NewReader(""), &out, &out}, func(string) string { return "" })
	}()
	url := listeningURL(t, &out)

	client := &http.Client{}
	req, err := http.NewRequest(http.MethodPost, url+"/upload-tokens", strings.NewReader(`{"ttl":60}`))
	require.NoError(t, err)
	req.SetBasicAuth("cli-key", "")
	req.Header.Set("Content-Type", "application/json")
	resp, err := client.Do(req)
	require.NoError(t, err)
	var tok struct{ Token string }
	require.NoError(t, json.NewDecoder(resp.Body).Decode(&tok))
	resp.Body.Close()

	var body bytes.Buffer
	mw := multipart.NewWriter(&body)
	w, err := mw.CreateFormFile("file", "a.mp4")
	require.NoError(t, err)
	_, err = w.Write(bytes.Repeat([]byte("v"), 1<<20))
	require.NoError(t, err)
	require.NoError(t, mw.Close())
	resp, err = client.Post(url+"/upload?token="+tok.Token, mw.FormDataContentType(), &body)
	require.NoError(t, err)
	resp.Body.Close()
	require.Equal(t, http.StatusCreated, resp.StatusCode)
	client.CloseIdleConnections()

	cancel()
	select {
	case code := <-done:
		require.Equal(t, exitOK, code, "output: %s", out.String())
	case <-time.After(10 * time.Second):
		t.Fatal("the sandbox did not shut down")
	}
	for _, d := range []string{tmp, cwd} {
		entries, err := os.ReadDir(d)
		require.NoError(t, err)
		assert.Empty(t, entries, "the sandbox wrote in %s", d)
	}
}

// TestSandboxCommandStrict: --strict refuses a second chunk sent without
// videoId, and GET /_sandbox/lint reports it; without it the chunk starts a
// video, as on the API.
func TestSandboxCommandStrict(t *testing.T) {
	for _, strict := range []bool{false, true} {
		t.Run(strconv.FormatBool(strict), func(t *testing.T) {
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			args := []string{"sandbox", "--addr", "127.0.0.1:0", "--api-key", "cli-key"}
			if strict {
				args = append(args, "--strict")
			}
			var out testutil.SyncBuffer
			done := make(chan int, 1)
			go func() {
				done <- run(ctx, args, stdio{strings.NewReader(""), &out, &out}, func(string) string { return "" })
			}()
			url := listeningURL(t, &out)
			client := &http.Client{}
			defer client.CloseIdleConnections()

			req, err := http.NewRequest(http.MethodPost, url+"/upload-tokens", strings.NewReader(`{"ttl":60}`))
			require.NoError(t, err)
			req.SetBasicAuth("cli-key", "")
			req.Header.Set("Content-Type", "application/json")
			resp, err := client.Do(req)
			require.NoError(t, err)
			var tok struct{ Token string }
			require.NoError(t, json.NewDecoder(resp.Body).Decode(&tok))
			resp.Body.Close()

			var body bytes.Buffer
			mw := multipart.NewWriter(&body)
			w, err := mw.CreateFormFile("file", "a.mp4")
			require.NoError(t, err)
			_, err = w.Write([]byte("the last part"))
			require.NoError(t, err)
			require.NoError(t, mw.Close())
			req, err = http.NewRequest(http.MethodPost, url+"/upload?token="+tok.Token, &body)
			require.NoError(t, err)
			req.Header.Set("Content-Type", mw.FormDataContentType())
			req.Header.Set("Content-Range", "part 2/2")
			req.Header.Set("AV-Origin-Client", "go:1.4.5")
			resp, err = client.Do(req)
			require.NoError(t, err)
			var problem struct{ Name, Detail string }
			require.NoError(t, json.NewDecoder(resp.Body).Decode(&problem))
			resp.Body.Close()
			if strict {
				require.Equal(t, http.StatusBadRequest, resp.StatusCode)
				assert.Equal(t, "videoId", problem.Name)
				assert.Contains(t, problem.Detail, "without videoId")
			} else {
				require.Equal(t, http.StatusCreated, resp.StatusCode, "as on the API")
			}

			resp, err = client.Get(url + "/_sandbox/lint")
			require.NoError(t, err)
			var lint struct {
				Strict  bool
				Clients []struct {
					Client   string
					Findings []struct{ Rule string }
				}
			}
			require.NoError(t, json.NewDecoder(resp.Body).Decode(&lint))
			resp.Body.Close()
			assert.Equal(t, strict, lint.Strict)
			require.Len(t, lint.Clients, 1)
			assert.Equal(t, "go:1.4.5", lint.Clients[0].Client)
			require.Len(t, lint.Clients[0].Findings, 1)
			assert.Equal(t, "chunk-without-video-id", lint.Clients[0].Findings[0].Rule)
			assert.Contains(t, out.String(), "rule=chunk-without-video-id", "the warning is logged")

			cancel()
			select {
			case code := <-done:
				require.Equal(t, exitOK, code, "output: %s", out.String())
			case <-time.After(10 * time.Second):
				t.Fatal("the sandbox did not shut down")
			}
		})
	}
}
