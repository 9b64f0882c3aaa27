package sandbox_test

import (
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/avupload/avupload/sandbox"
)

// resolve returns ref, a link of the page at page, as an absolute URL.
func resolve(t *testing.T, page, ref string) string {
	t.Helper()
	base, err := url.Parse(page)
	require.NoError(t, err)
	r, err := url.Parse(ref)
	require.NoError(t, err)
	return base.ResolveReference(r).String()
}

// followPlayer uploads a small video through base (where sb answers) and
// follows its player link, and the page's video and poster links: each
// must answer 200. It returns the player link.
func followPlayer(t *testing.T, sb *sandbox.Sandbox, base string) string {
	t.Helper()
	tok, err := sb.CreateToken(0)
	require.NoError(t, err)
	r := do(t, newUploadRequest(t, base, uploadReq{token: tok, data: randomBytes(1000, 7)}))
	require.Equal(t, http.StatusCreated, r.Status, "body: %s", r.Raw)
	player := r.Body["assets"].(map[string]any)["player"].(string)
	assert.True(t, strings.HasPrefix(player, base+"/vod/"), "%s is under %s", player, base)

	resp, page := get(t, http.MethodGet, player)
	require.Equal(t, http.StatusOK, resp.StatusCode, "the player link %s: %s", player, page)
	for _, attr := range []string{"src", "poster"} {
		m := regexp.MustCompile(`<video id="player"[^>]* ` + attr + `="([^"]+)"`).FindSubmatch(page)
		require.NotNil(t, m, "%s in %s", attr, page)
		link := resolve(t, player, string(m[1]))
		resp, body := get(t, http.MethodGet, link)
		assert.Equal(t, http.StatusOK, resp.StatusCode, "the page's %s %s: %s", attr, link, body)
	}
	// With a trailing slash, the page's links hold too.
	resp, page = get(t, http.MethodGet, player+"/")
	require.Equal(t, http.StatusOK, resp.StatusCode)
	m := regexp.MustCompile(`<video id="player"[^>]* src="([^"]+)"`).FindSubmatch(page)
	require.NotNil(t, m)
	resp, _ = get(t, http.MethodGet, resolve(t, player+"/", string(m[1])))
	assert.Equal(t, http.StatusOK, resp.StatusCode)
	return player
}

// TestPlayerLinkUnderPathPrefix serves the sandbox under /api/ of another
// server, as a test mounts it: the player link the CLI prints must lead
// back to it, prefix included, and so must the page's own links.
func TestPlayerLinkUnderPathPrefix(t *testing.T) {
	sb, err := sandbox.New()
	require.NoError(t, err)
	t.Cleanup(func() { _ = sb.Close() })
	mux := http.NewServeMux()
	mux.Handle("/api/", http.StripPrefix("/api", sb))
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	followPlayer(t, sb, srv.URL+"/api")
}

// TestPlayerLinkListeningEverywhere starts a sandbox on every interface
// (avupload sandbox --addr :PORT): its links name the address the client
// used, not [::] or 0.0.0.0, which a browser does not open.
func TestPlayerLinkListeningEverywhere(t *testing.T) {
	srv, err := sandbox.Start(":0")
	require.NoError(t, err)
	t.Cleanup(func() { _ = srv.Close() })
	_, port, err := net.SplitHostPort(strings.TrimPrefix(srv.URL, "http://"))
	require.NoError(t, err)
	player := followPlayer(t, srv.Sandbox, "http://127.0.0.1:"+port)
	assert.NotContains(t, player, "[::]")
	assert.NotContains(t, player, "0.0.0.0")
}
