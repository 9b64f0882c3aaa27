//go:build browser

// Package browser_test proves the local full stack with the official browser
// uploader: `avupload sandbox --tls` serves the API, a Go backend mints an
// upload token with the wrapper, and the npm package @api.video/video-uploader,
// unmodified, uploads a file in 5 MiB chunks from a web page of another
// origin in a real headless Chromium. TestTokenHandlerInTheBrowser has the
// page get its token from a wrapper.TokenHandler on a third origin, as a web
// app would.
//
// It needs Debian's chromium (apt-get install -y chromium; or set CHROMIUM to
// another Chromium binary) and the pinned uploader in testdata/node_modules
// (npm ci in testdata). `make browser-test` runs npm ci, then this test; it
// fails, never skips, when either is missing.
//
// Chromium trusts the sandbox's self-signed certificate through
// --ignore-certificate-errors-spki-list with the public-key pin that
// `avupload sandbox --tls` prints: only that key is accepted, every other
// certificate check stays on.
package browser_test

import (
	"bufio"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/avupload/avupload/wrapper"
)

const (
	apiKey    = "browser-test-key"
	fileSize  = 12 << 20 // 12 MiB: chunks of 5, 5 and 2 MiB
	chunkSize = 5 << 20
)

// uploaderDir is where npm ci puts the pinned uploader.
var uploaderDir = filepath.Join("testdata", "node_modules", "@api.video", "video-uploader")

// chromiumPath finds the browser, or fails the test saying how to install it.
func chromiumPath(t *testing.T) string {
	t.Helper()
	if p := os.Getenv("CHROMIUM"); p != "" {
		return p
	}
	for _, name := range []string{"chromium", "chromium-browser"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	t.Fatal("no chromium on PATH: install Debian's (apt-get install -y chromium) or set CHROMIUM to a Chromium binary")
	return ""
}

// uploaderBundle checks that npm ci installed the version package.json pins
// and returns the path of the package's browser bundle.
func uploaderBundle(t *testing.T) string {
	t.Helper()
	var pinned struct {
		Dependencies map[string]string `json:"dependencies"`
	}
	readJSON(t, filepath.Join("testdata", "package.json"), &pinned)
	want := pinned.Dependencies["@api.video/video-uploader"]
	require.Regexp(t, `^\d+\.\d+\.\d+$`, want, "package.json pins an exact version")

	var installed struct {
		Version string `json:"version"`
		Main    string `json:"main"`
	}
	if _, err := os.Stat(uploaderDir); err != nil {
		t.Fatalf("the browser uploader is not installed: run `npm ci` in e2e/browser/testdata (make browser-test does): %v", err)
	}
	readJSON(t, filepath.Join(uploaderDir, "package.json"), &installed)
	require.Equal(t, want, installed.Version, "npm ci installed the pinned version")
	return filepath.Join(uploaderDir, filepath.FromSlash(installed.Main))
}

func readJSON(t *testing.T, path string, v any) {
	t.Helper()
	b, err := os.ReadFile(path)
	require.NoError(t, err)
	require.NoError(t, json.Unmarshal(b, v), path)
}

// pageServer serves the test page and the uploader's bundle from its own
// origin, http://127.0.0.1:PORT.
func pageServer(t *testing.T, bundle string) *httptest.Server {
	t.Helper()
	mux := http.NewServeMux()
	mux.HandleFunc("GET /{$}", func(w http.ResponseWriter, r *http.Request) {
		http.ServeFile(w, r, filepath.Join("testdata", "page.html"))
	})
	mux.HandleFunc("GET /uploader.js", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/javascript")
		http.ServeFile(w, r, bundle)
	})
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	return srv
}

// sandboxProcess is a running `avupload sandbox --tls`.
type sandboxProcess struct {
	url     string
	certPEM []byte
	spkiPin string
	client  *http.Client // trusts the sandbox's certificate
}

// startSandbox builds the CLI and runs `avupload sandbox --tls` with extra
// flags, reading the URL, certificate and pin it prints.
func startSandbox(t *testing.T, extra ...string) *sandboxProcess {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "avupload")
	build := exec.Command("go", "build", "-o", bin, "github.com/avupload/avupload/cmd/avupload")
	out, err := build.CombinedOutput()
	require.NoError(t, err, "building avupload: %s", out)

	args := append([]string{"sandbox", "--tls", "--addr", "127.0.0.1:0", "--api-key", apiKey}, extra...)
	cmd := exec.Command(bin, args...)
	stdout, err := cmd.StdoutPipe()
	require.NoError(t, err)
	cmd.Stderr = os.Stderr
	require.NoError(t, cmd.Start())
	t.Cleanup(func() {
		_ = cmd.Process.Signal(os.Interrupt)
		_ = cmd.Wait()
	})

	var (
		sb       sandboxProcess
		certPath string
		lines    = make(chan string)
	)
	go func() {
		defer close(lines)
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			lines <- sc.Text()
		}
	}()
	reCert := regexp.MustCompile(`^sandbox TLS certificate: (\S+)`)
	rePin := regexp.MustCompile(`^sandbox TLS public-key pin: (\S+)`)
	reURL := regexp.MustCompile(`^sandbox listening on (https://\S+)`)
	timeout := time.After(30 * time.Second)
	for sb.url == "" {
		select {
		case line, ok := <-lines:
			require.True(t, ok, "avupload sandbox exited before listening")
			if m := reCert.FindStringSubmatch(line); m != nil {
				certPath = m[1]
			}
			if m := rePin.FindStringSubmatch(line); m != nil {
				sb.spkiPin = m[1]
			}
			if m := reURL.FindStringSubmatch(line); m != nil {
				sb.url = m[1]
			}
		case <-timeout:
			t.Fatal("avupload sandbox printed no URL in 30s")
		}
	}
	go func() { // keep the pipe drained
		for range lines {
		}
	}()
	require.NotEmpty(t, certPath, "--tls prints where it wrote the certificate")
	require.NotEmpty(t, sb.spkiPin, "--tls prints the public-key pin")
	sb.certPEM, err = os.ReadFile(certPath)
	require.NoError(t, err)

	roots := x509.NewCertPool()
	require.True(t, roots.AppendCertsFromPEM(sb.certPEM))
	tr := &http.Transport{TLSClientConfig: &tls.Config{RootCAs: roots}}
	t.Cleanup(tr.CloseIdleConnections)
	sb.client = &http.Client{Transport: tr, Timeout: 30 * time.Second}
	return &sb
}

// storedVideo is one entry of GET /_sandbox/videos.
type storedVideo struct {
	VideoID  string `json:"videoId"`
	Size     int64  `json:"size"`
	SHA256   string `json:"sha256"`
	Complete bool   `json:"complete"`
	Chunks   int    `json:"chunks"`
}

func (sb *sandboxProcess) videos(t *testing.T) []storedVideo {
	t.Helper()
	resp, err := sb.client.Get(sb.url + "/_sandbox/videos")
	require.NoError(t, err)
	defer resp.Body.Close()
	require.Equal(t, http.StatusOK, resp.StatusCode)
	var vs []storedVideo
	require.NoError(t, json.NewDecoder(resp.Body).Decode(&vs))
	return vs
}

// uploadResult is what the page's upload function resolves to.
type uploadResult struct {
	Origin  string `json:"origin"`
	VideoID string `json:"videoId"`
	Chunks  int    `json:"chunks"`
	Error   string `json:"error"`
}

// uploadFromPage opens pageURL in a new tab of browser, chooses file in the
// page's file input and runs the official uploader with token.
func uploadFromPage(t *testing.T, browser context.Context, pageURL, file, token, apiHost string, noRetry bool) uploadResult {
	t.Helper()
	tab, cancel := chromedp.NewContext(browser)
	defer cancel()
	expr := "upload(" + jsString(token) + ", " + jsString(apiHost) + ", " + map[bool]string{true: "true", false: "false"}[noRetry] + ")"
	require.NoError(t, chromedp.Do(tab,
		chromedp.Navigate(pageURL),
		chromedp.WaitReady(chromedp.ID("file")),
		chromedp.SetUploadFiles(chromedp.ID("file"), []string{file}),
	))
	res, err := chromedp.Run(tab, chromedp.Evaluate[uploadResult](expr, chromedp.EvalAwaitPromise))
	require.NoError(t, err)
	return res
}

// startBrowser starts Debian's Chromium, headless, trusting only the
// sandbox's key, and returns its context and the function that stops it
// (call it before the servers close, so that the browser is drained).
func startBrowser(t *testing.T, ctx context.Context, chromium, spkiPin string) (context.Context, func()) {
	t.Helper()
	allocCtx, cancelAlloc := chromedp.NewExecAllocator(ctx,
		chromedp.ExecPath(chromium),
		chromedp.Headless,
		chromedp.NoSandbox,
		chromedp.DisableGPU,
		chromedp.NoFirstRun,
		chromedp.NoDefaultBrowserCheck,
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.UserDataDir(t.TempDir()),
		chromedp.Flag("ignore-certificate-errors-spki-list", spkiPin),
	)
	browser, cancelBrowser := chromedp.NewContext(allocCtx)
	stop := func() {
		cancelBrowser()
		cancelAlloc()
	}
	if err := chromedp.Do(browser); err != nil {
		stop()
		t.Fatalf("starting %s: %v", chromium, err)
	}
	return browser, stop
}

func jsString(s string) string {
	b, _ := json.Marshal(s)
	return string(b)
}

// TestMain fails the package when a test leaves a goroutine behind: the
// browser, its tabs and the sandbox's output reader must all be gone.
func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

func TestOfficialBrowserUploaderAgainstSandboxTLS(t *testing.T) {
	chromium := chromiumPath(t)
	bundle := uploaderBundle(t)

	page := pageServer(t, bundle)
	otherPage := pageServer(t, bundle)
	// Only the first page's origin may call the sandbox.
	sb := startSandbox(t, "--cors-origin", page.URL)
	sbURL, err := url.Parse(sb.url)
	require.NoError(t, err)
	require.NotEqual(t, page.URL, sb.url)

	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()

	// The backend: the Go wrapper mints an upload token with the API key.
	backend, err := wrapper.New(wrapper.WithAPIKey(apiKey), wrapper.WithBaseURL(sb.url), wrapper.WithHTTPClient(sb.client))
	require.NoError(t, err)
	token, err := backend.CreateUploadToken(ctx, time.Hour)
	require.NoError(t, err)

	// The file the user picks: 12 MiB of random bytes.
	data := make([]byte, fileSize)
	_, _ = rand.Read(data)
	file := filepath.Join(t.TempDir(), "holiday.mp4")
	require.NoError(t, os.WriteFile(file, data, 0o600))
	sum := sha256.Sum256(data)
	wantSHA := hex.EncodeToString(sum[:])

	browser, stopBrowser := startBrowser(t, ctx, chromium, sb.spkiPin)
	defer stopBrowser()

	t.Run("a page of an allowed origin uploads in 5 MiB chunks", func(t *testing.T) {
		res := uploadFromPage(t, browser, page.URL+"/", file, token.Token, sbURL.Host, false)
		require.Empty(t, res.Error, "the uploader failed")
		assert.Equal(t, page.URL, res.Origin, "the page came from its own origin")
		assert.Equal(t, 3, res.Chunks, "12 MiB in 5 MiB chunks")
		require.NotEmpty(t, res.VideoID)

		var got *storedVideo
		for _, v := range sb.videos(t) {
			if v.VideoID == res.VideoID {
				got = &v
			}
		}
		require.NotNil(t, got, "the sandbox holds video %s", res.VideoID)
		assert.True(t, got.Complete)
		assert.Equal(t, int64(fileSize), got.Size)
		assert.Equal(t, 3, got.Chunks, "three requests, one per chunk")
		assert.Equal(t, wantSHA, got.SHA256, "the stored bytes are the file's")
	})

	t.Run("a page of another origin is refused by CORS", func(t *testing.T) {
		before := len(sb.videos(t))
		res := uploadFromPage(t, browser, otherPage.URL+"/", file, token.Token, sbURL.Host, true)
		assert.Empty(t, res.VideoID)
		assert.Contains(t, res.Error, "NETWORK_ERROR", "the browser withholds the answer from the page")
		assert.Len(t, sb.videos(t), before, "the preflight was refused, so no chunk was sent")
	})

	// Drain the browser before the servers close.
	stopBrowser()
}
