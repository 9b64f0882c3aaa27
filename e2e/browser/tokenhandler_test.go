//go:build browser

package browser_test

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/avupload/avupload/wrapper"
)

// askResult is what the page's askToken and uploadWithBackend resolve to.
type askResult struct {
	Origin     string `json:"origin"`
	Status     int    `json:"status"`
	RetryAfter string `json:"retryAfter"`
	Body       string `json:"body"`
	Error      string `json:"error"`
	VideoID    string `json:"videoId"`
	Chunks     int    `json:"chunks"`
}

// inPage opens pageURL in a new tab of browser, chooses file in the page's
// file input (if any) and evaluates expr, awaiting its promise.
func inPage(t *testing.T, browser context.Context, pageURL, file, expr string) askResult {
	t.Helper()
	tab, cancel := chromedp.NewContext(browser)
	defer cancel()
	actions := []chromedp.Action[chromedp.Void]{chromedp.Navigate(pageURL), chromedp.WaitReady(chromedp.ID("file"))}
	if file != "" {
		actions = append(actions, chromedp.SetUploadFiles(chromedp.ID("file"), []string{file}))
	}
	require.NoError(t, chromedp.Do(tab, actions...))
	res, err := chromedp.Run(tab, chromedp.Evaluate[askResult](expr, chromedp.EvalAwaitPromise))
	require.NoError(t, err)
	return res
}

// TestTokenHandlerInTheBrowser is the whole delegated-upload path with
// every piece real: a page on one origin asks a Go backend's
// wrapper.TokenHandler, on another origin, for a token (fetch POST with a
// session header, so a CORS preflight first), and the official uploader
// uploads with the answer, as it is, to `avupload sandbox --tls`. A refused
// user gets no token, the per-user limit answers 429 with a Retry-After the
// page can read, a page of an origin not allowed gets nothing, and Close
// leaves no token at the API.
func TestTokenHandlerInTheBrowser(t *testing.T) {
	chromium := chromiumPath(t)
	bundle := uploaderBundle(t)

	page := pageServer(t, bundle)
	otherPage := pageServer(t, bundle)
	sb := startSandbox(t, "--cors-origin", page.URL)
	sbURL, err := url.Parse(sb.url)
	require.NoError(t, err)

	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()

	// The backend: the API key stays here; its own session check says who asks.
	client, err := wrapper.New(wrapper.WithAPIKey(apiKey), wrapper.WithBaseURL(sb.url), wrapper.WithHTTPClient(sb.client))
	require.NoError(t, err)
	tokens, err := wrapper.NewTokenHandler(client, wrapper.TokenHandlerOptions{
		Authorize: func(r *http.Request) (string, error) {
			user, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Session ")
			switch {
			case !ok || user == "":
				return "", wrapper.ErrUnauthorized
			case user == "mallory":
				return "", errors.New("mallory may not upload")
			}
			return user, nil
		},
		MaxMinted:      2,
		AllowedOrigins: []string{page.URL},
	})
	require.NoError(t, err)
	closed := false
	t.Cleanup(func() {
		if !closed {
			_ = tokens.Close(context.Background())
		}
	})
	backend := httptest.NewServer(tokens)
	defer backend.Close()
	require.NotEqual(t, page.URL, backend.URL, "the endpoint is on another origin than the page")
	tokenURL := jsString(backend.URL + "/upload-token")

	alive := func() []string {
		var out []string
		for tok, err := range client.AllUploadTokens(ctx, wrapper.ListOptions{PageSize: wrapper.MaxPageSize}) {
			require.NoError(t, err)
			out = append(out, tok.Token)
		}
		return out
	}

	data := make([]byte, fileSize)
	_, _ = rand.Read(data)
	file := filepath.Join(t.TempDir(), "holiday.mp4")
	require.NoError(t, os.WriteFile(file, data, 0o600))
	sum := sha256.Sum256(data)

	browser, stopBrowser := startBrowser(t, ctx, chromium, sb.spkiPin)
	defer stopBrowser()

	t.Run("a page asks the endpoint for a token and uploads with the answer as it is", func(t *testing.T) {
		before := time.Now()
		res := inPage(t, browser, page.URL+"/", file, "uploadWithBackend("+tokenURL+", 'alice')")
		require.Equal(t, http.StatusOK, res.Status, "the endpoint's answer: %s %s", res.Body, res.Error)
		require.Empty(t, res.Error, "the uploader failed")
		assert.Equal(t, page.URL, res.Origin)
		assert.Equal(t, 3, res.Chunks, "12 MiB in 5 MiB chunks")

		var grant wrapper.TokenGrant
		require.NoError(t, json.Unmarshal([]byte(res.Body), &grant))
		assert.Equal(t, sbURL.Host, grant.APIHost, "the uploader went where apiHost said")
		assert.WithinDuration(t, before.Add(wrapper.DefaultTokenHandlerTTL), grant.ExpiresAt, 5*time.Second)
		assert.Equal(t, []string{grant.UploadToken}, alive())

		var got *storedVideo
		for _, v := range sb.videos(t) {
			if v.VideoID == res.VideoID {
				got = &v
			}
		}
		require.NotNil(t, got, "the sandbox holds video %q", res.VideoID)
		assert.True(t, got.Complete)
		assert.Equal(t, int64(fileSize), got.Size)
		assert.Equal(t, hex.EncodeToString(sum[:]), got.SHA256, "the stored bytes are the file's")
	})

	t.Run("a refused user gets no token", func(t *testing.T) {
		before := alive()
		for _, tc := range []struct {
			session string
			want    int
		}{{"mallory", http.StatusForbidden}, {"", http.StatusUnauthorized}} {
			res := inPage(t, browser, page.URL+"/", "", "askToken("+tokenURL+", "+jsString(tc.session)+")")
			assert.Equal(t, tc.want, res.Status, "session %q: %s", tc.session, res.Body)
			assert.NotContains(t, res.Body, "uploadToken")
		}
		assert.ElementsMatch(t, before, alive(), "no token minted")
	})

	t.Run("over the per-user limit the endpoint answers 429 with Retry-After", func(t *testing.T) {
		res := inPage(t, browser, page.URL+"/", "", "askToken("+tokenURL+", 'alice')")
		require.Equal(t, http.StatusOK, res.Status, "alice's second token: %s", res.Body)
		before := alive()
		res = inPage(t, browser, page.URL+"/", "", "askToken("+tokenURL+", 'alice')")
		assert.Equal(t, http.StatusTooManyRequests, res.Status, res.Body)
		wait, err := strconv.Atoi(res.RetryAfter)
		require.NoError(t, err, "the page reads Retry-After (exposed to CORS): %q", res.RetryAfter)
		assert.True(t, wait > 0 && wait <= 3600, "Retry-After %d s", wait)
		assert.Contains(t, res.Body, "at most 2 upload tokens per 1h0m0s")
		assert.ElementsMatch(t, before, alive(), "no token minted")

		res = inPage(t, browser, page.URL+"/", "", "askToken("+tokenURL+", 'bob')")
		assert.Equal(t, http.StatusOK, res.Status, "another user has a limit of its own: %s", res.Body)
	})

	t.Run("a page of another origin gets nothing", func(t *testing.T) {
		before := alive()
		res := inPage(t, browser, otherPage.URL+"/", "", "askToken("+tokenURL+", 'carol')")
		assert.Equal(t, 0, res.Status, "the browser withholds the answer")
		assert.Contains(t, res.Error, "Failed to fetch")
		assert.Empty(t, res.Body)
		assert.ElementsMatch(t, before, alive(), "the preflight was refused: no token minted")
	})

	stopBrowser()
	backend.Close()
	require.Len(t, alive(), 3, "alice's two tokens and bob's")
	require.NoError(t, tokens.Close(ctx))
	closed = true
	assert.Empty(t, alive(), "Close left no token at the API")
}
