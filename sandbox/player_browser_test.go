//go:build browser

package sandbox_test

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/avupload/avupload/internal/testutil"
	"github.com/avupload/avupload/sandbox"
)

// TestPlayerPageInChromium uploads a real two-second MP4 (H.264, 96×54,
// 8 KiB; made with ffmpeg's test source) and opens the player link the
// answer holds in headless Chromium: the <video> element loads the video,
// reports its duration, and seeks, which takes Range requests on the mp4
// link. Run it with `go test -tags browser ./sandbox/`; it needs Chromium
// (CHROMIUM, or chromium on PATH).
func TestPlayerPageInChromium(t *testing.T) {
	chromium := os.Getenv("CHROMIUM")
	if chromium == "" {
		var err error
		chromium, err = exec.LookPath("chromium")
		require.NoError(t, err, "no chromium on PATH: install Debian's (apt-get install -y chromium) or set CHROMIUM")
	}
	data, err := os.ReadFile(filepath.Join("testdata", "two-seconds.mp4"))
	require.NoError(t, err)

	// The sandbox behind a recorder of the Range headers the browser sends.
	sb, err := sandbox.New(sandbox.WithStrict(true))
	require.NoError(t, err)
	var ranges testutil.SyncBuffer
	ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if rg := r.Header.Get("Range"); rg != "" && strings.HasSuffix(r.URL.Path, ".mp4") {
			fmt.Fprintln(&ranges, rg)
		}
		sb.ServeHTTP(w, r)
	}))
	defer ts.Close()
	tok, err := sb.CreateToken(0)
	require.NoError(t, err)
	r := upload(t, &sandbox.Server{URL: ts.URL, Sandbox: sb}, uploadReq{token: tok, data: data, fileName: "two-seconds.mp4"})
	require.Equal(t, http.StatusCreated, r.Status, "body: %s", r.Raw)
	player := r.Body["assets"].(map[string]any)["player"].(string)

	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	allocCtx, cancelAlloc := chromedp.NewExecAllocator(ctx,
		chromedp.ExecPath(chromium),
		chromedp.Headless,
		chromedp.NoSandbox,
		chromedp.DisableGPU,
		chromedp.NoFirstRun,
		chromedp.NoDefaultBrowserCheck,
		chromedp.Flag("autoplay-policy", "no-user-gesture-required"),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.UserDataDir(t.TempDir()),
	)
	defer cancelAlloc()
	browser, cancelBrowser := chromedp.NewContext(allocCtx)
	defer cancelBrowser()

	require.NoError(t, chromedp.Do(browser, chromedp.Navigate(player)))
	type metadata struct {
		Duration float64 `json:"duration"`
		Error    int     `json:"error"` // MediaError code, 0 for none
	}
	m, err := chromedp.Run(browser, chromedp.Evaluate[metadata](`new Promise(ok => {
		const v = document.getElementById("player");
		const done = () => ok({duration: v.duration, error: v.error ? v.error.code : 0});
		if (v.readyState >= 1 || v.error) { done(); return; }
		v.addEventListener("loadedmetadata", done, {once: true});
		v.addEventListener("error", done, {once: true});
	})`, chromedp.EvalAwaitPromise))
	require.NoError(t, err)
	require.Zero(t, m.Error, "the video element failed to load the video")
	assert.InDelta(t, 2.0, m.Duration, 0.15, "the video element reports the video's duration")

	position, err := chromedp.Run(browser, chromedp.Evaluate[float64](`new Promise(ok => {
		const v = document.getElementById("player");
		v.addEventListener("seeked", () => ok(v.currentTime), {once: true});
		v.currentTime = 1.5;
	})`, chromedp.EvalAwaitPromise))
	require.NoError(t, err)
	assert.InDelta(t, 1.5, position, 0.2, "the video element seeks")
	assert.Contains(t, ranges.String(), "bytes=", "the browser asked the mp4 link for byte ranges")

	cancelBrowser()
	cancelAlloc()
}
