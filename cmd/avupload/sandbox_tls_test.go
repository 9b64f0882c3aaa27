package main

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/avupload/avupload/internal/testutil"
	"github.com/avupload/avupload/sandbox"
)

// runSandbox starts `avupload sandbox args...` and waits until it prints its
// URL. stop cancels it and waits for a clean exit.
func runSandbox(t *testing.T, args ...string) (url string, out *testutil.SyncBuffer, stop func()) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	out = &testutil.SyncBuffer{}
	cmd := newRootCommand()
	cmd.SetArgs(append([]string{"sandbox", "--addr", "127.0.0.1:0"}, args...))
	cmd.SetOut(out)
	cmd.SetErr(out)
	done := make(chan error, 1)
	go func() { done <- cmd.ExecuteContext(ctx) }()

	re := regexp.MustCompile(`sandbox listening on (\S+)`)
	require.Eventually(t, func() bool {
		m := re.FindStringSubmatch(out.String())
		if m != nil {
			url = m[1]
		}
		return m != nil
	}, 10*time.Second, 10*time.Millisecond, "output: %s", out)
	stop = func() {
		cancel()
		select {
		case err := <-done:
			require.NoError(t, err)
		case <-time.After(10 * time.Second):
			t.Fatal("the sandbox did not shut down")
		}
	}
	return url, out, stop
}

// trustingClient returns a client whose only root is the certificate in certPEM.
func trustingClient(t *testing.T, certPEM []byte) *http.Client {
	t.Helper()
	roots := x509.NewCertPool()
	require.True(t, roots.AppendCertsFromPEM(certPEM))
	tr := &http.Transport{TLSClientConfig: &tls.Config{RootCAs: roots}}
	t.Cleanup(tr.CloseIdleConnections)
	return &http.Client{Transport: tr}
}

func listTokens(t *testing.T, c *http.Client, url string) *http.Response {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, url+"/upload-tokens", nil)
	require.NoError(t, err)
	req.SetBasicAuth(sandbox.DefaultAPIKey, "")
	req.Header.Set("Origin", "https://page.test")
	resp, err := c.Do(req)
	require.NoError(t, err)
	require.NoError(t, resp.Body.Close())
	return resp
}

func TestSandboxCommandSelfSignedTLS(t *testing.T) {
	// The sandbox's goroutines, not those of earlier tests' servers still
	// closing their connections (which the check after all tests sees).
	defer goleak.VerifyNone(t, goleak.IgnoreCurrent())
	url, out, stop := runSandbox(t, "--tls", "--cors-origin", "https://page.test")
	assert.Regexp(t, `^https://127\.0\.0\.1:\d+$`, url)

	m := regexp.MustCompile(`sandbox TLS certificate: (\S+)`).FindStringSubmatch(out.String())
	require.NotNil(t, m, "the certificate's path is printed: %s", out)
	certPath := m[1]
	certPEM, err := os.ReadFile(certPath)
	require.NoError(t, err)
	assert.Contains(t, out.String(), "curl --cacert "+certPath)
	pin, err := sandbox.SPKIPin(certPEM)
	require.NoError(t, err)
	assert.Contains(t, out.String(), "sandbox TLS public-key pin: "+pin)
	info, err := os.Stat(filepath.Join(filepath.Dir(certPath), "key.pem"))
	require.NoError(t, err)
	if os.PathSeparator == '/' {
		assert.Equal(t, os.FileMode(0o600), info.Mode().Perm(), "only the owner reads the key")
	}

	resp := listTokens(t, trustingClient(t, certPEM), url)
	assert.Equal(t, http.StatusOK, resp.StatusCode)
	assert.Equal(t, "https://page.test", resp.Header.Get("Access-Control-Allow-Origin"), "--cors-origin")

	stop()
	_, err = os.Stat(certPath)
	assert.True(t, os.IsNotExist(err), "the self-signed certificate goes away with the sandbox")
}

func TestSandboxCommandTLSFromFiles(t *testing.T) {
	// The sandbox's goroutines, not those of earlier tests' servers still
	// closing their connections (which the check after all tests sees).
	defer goleak.VerifyNone(t, goleak.IgnoreCurrent())
	certPEM, keyPEM, err := sandbox.SelfSignedCertificate()
	require.NoError(t, err)
	dir := t.TempDir()
	certFile, keyFile := filepath.Join(dir, "c.pem"), filepath.Join(dir, "k.pem")
	require.NoError(t, os.WriteFile(certFile, certPEM, 0o600))
	require.NoError(t, os.WriteFile(keyFile, keyPEM, 0o600))

	url, out, stop := runSandbox(t, "--tls-cert", certFile, "--tls-key", keyFile)
	assert.Regexp(t, `^https://`, url)
	assert.NotContains(t, out.String(), "sandbox TLS certificate:", "nothing is written for a given certificate")
	resp := listTokens(t, trustingClient(t, certPEM), url)
	assert.Equal(t, http.StatusOK, resp.StatusCode)
	assert.Empty(t, resp.Header.Get("Access-Control-Allow-Origin"), "by default only loopback origins, not https://page.test")
	stop()
	_, err = os.Stat(certFile)
	assert.NoError(t, err, "a given certificate is left alone")
}

func TestSandboxCommandTLSFlagErrors(t *testing.T) {
	dir := t.TempDir()
	missing := filepath.Join(dir, "missing.pem")
	tests := []struct {
		name string
		args []string
		want string
	}{
		{"cert without key", []string{"--tls-cert", missing}, "tls-key"},
		{"both --tls and --tls-cert", []string{"--tls", "--tls-cert", missing, "--tls-key", missing}, "tls"},
		{"unreadable files", []string{"--tls-cert", missing, "--tls-key", missing}, "--tls-cert " + missing},
		{"not an origin", []string{"--cors-origin", "app.test"}, `"app.test"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cmd := newRootCommand()
			var out bytes.Buffer
			cmd.SetOut(&out)
			cmd.SetErr(&out)
			cmd.SetArgs(append([]string{"sandbox", "--addr", "127.0.0.1:0"}, tt.args...))
			err := cmd.ExecuteContext(context.Background())
			require.Error(t, err)
			assert.Contains(t, err.Error(), tt.want)
			assert.NotContains(t, out.String(), "sandbox listening")
		})
	}
}

// TestSandboxCommandCORSDefault: by default only pages of this machine may
// call the sandbox from a browser; --cors-origin '*' opens it to any page,
// with a warning.
func TestSandboxCommandCORSDefault(t *testing.T) {
	cases := []struct {
		name    string
		args    []string
		allowed map[string]string // origin: the Access-Control-Allow-Origin it gets
		warns   bool
	}{
		{"default", nil, map[string]string{"http://localhost:3000": "http://localhost:3000", "https://evil.test": ""}, false},
		{"any origin", []string{"--cors-origin", "*"}, map[string]string{"http://localhost:3000": "*", "https://evil.test": "*"}, true},
		{"named origin", []string{"--cors-origin", "https://evil.test"}, map[string]string{"http://localhost:3000": "", "https://evil.test": "https://evil.test"}, false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			url, out, stop := runSandbox(t, c.args...)
			defer stop()
			client := &http.Client{}
			defer client.CloseIdleConnections()
			for origin, want := range c.allowed {
				req, err := http.NewRequest(http.MethodGet, url+"/upload-tokens", nil)
				require.NoError(t, err)
				req.SetBasicAuth(sandbox.DefaultAPIKey, "")
				req.Header.Set("Origin", origin)
				resp, err := client.Do(req)
				require.NoError(t, err)
				require.NoError(t, resp.Body.Close())
				assert.Equal(t, want, resp.Header.Get("Access-Control-Allow-Origin"), origin)
			}
			if c.warns {
				assert.Contains(t, out.String(), "warning: --cors-origin '*' lets any web page")
			} else {
				assert.NotContains(t, out.String(), "warning")
			}
		})
	}
}
